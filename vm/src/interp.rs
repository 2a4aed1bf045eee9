//! The interpreter: runs one party's segment on its registers.
//!
//! Registers hold plaintext or shares, and each instruction dispatches on what it finds: the
//! compiler has already decided placements, so the same `mul` is a local product on plaintext,
//! a local scaling of shares by a public value, or a Beaver multiplication on two shares. The
//! fixed-point layer lives here too: a product of two `fix` values is truncated by 2^f.

use crate::error::VmError;
use crate::link::{Tag, Traffic, Transport};
use crate::ring::{self, decode_fix, decode_int, encode_fix, encode_int};
use crate::semi2k::Semi2k;
use crate::value::{self, fmt_shape, Plain, Value};
use ndarray::{ArrayD, IxDyn};
use sf_isa::{BinOp, DType, DebugInfo, Instr, Literal, Reg, Segment, Shape};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Everything one party needs to run.
pub struct PartyJob<T: Transport> {
    pub segment: Segment,
    /// The party's inputs, in the order of `segment.inputs`, already shaped.
    pub inputs: Vec<Plain>,
    /// Shape symbols bound by this party's own inputs.
    pub bindings: Vec<Option<u64>>,
    pub proto: Semi2k<T>,
    pub debug: Arc<DebugInfo>,
    pub symbols: Arc<Vec<String>>,
    /// Set in debug mode: count instructions and yield after each, for the lockstep scheduler.
    pub progress: Option<Arc<AtomicU64>>,
}

pub struct PartyOutcome {
    pub outputs: Vec<(String, Plain)>,
    pub traffic: Traffic,
}

/// Runs a party to the end. On failure, every other party is told, so none of them hangs.
pub async fn run_party<T: Transport>(job: PartyJob<T>) -> Result<PartyOutcome, VmError> {
    let PartyJob { segment, inputs, bindings, proto, debug, symbols, progress } = job;
    let mut m = Machine { regs: vec![None; segment.n_regs as usize], bindings, proto, symbols, outputs: Vec::new() };
    let result = m.execute(&segment, inputs, &debug, progress.as_deref()).await;
    match result {
        Ok(()) => Ok(PartyOutcome { outputs: m.outputs, traffic: m.proto.comm.traffic }),
        Err(e) => {
            let me = m.proto.comm.parties.get(m.proto.me() as usize).cloned().unwrap_or_default();
            match root(&e) {
                VmError::Aborted { party, cause } => m.proto.comm.abort(party, cause),
                _ => m.proto.comm.abort(&me, &e.to_string()),
            }
            Err(e)
        }
    }
}

fn root(e: &VmError) -> &VmError {
    match e {
        VmError::At { error, .. } => root(error),
        e => e,
    }
}

struct Machine<T: Transport> {
    regs: Vec<Option<Value>>,
    bindings: Vec<Option<u64>>,
    proto: Semi2k<T>,
    symbols: Arc<Vec<String>>,
    outputs: Vec<(String, Plain)>,
}

/// For each instruction, the registers whose last use it is.
fn last_uses(segment: &Segment) -> Vec<Vec<Reg>> {
    let mut last = vec![usize::MAX; segment.n_regs as usize];
    for (pc, instr) in segment.code.iter().enumerate() {
        for r in instr.uses() {
            if let Some(l) = last.get_mut(r as usize) {
                *l = pc;
            }
        }
    }
    let mut frees = vec![Vec::new(); segment.code.len()];
    for (reg, &pc) in last.iter().enumerate() {
        if pc != usize::MAX {
            frees[pc].push(reg as Reg);
        }
    }
    frees
}

/// Validates a segment before it runs: every register in range and defined before use.
fn validate(segment: &Segment) -> Result<(), VmError> {
    let mut defined = vec![false; segment.n_regs as usize];
    if segment.locs.len() != segment.code.len() {
        return Err(VmError::Internal("segment has no location for every instruction".into()));
    }
    for (pc, instr) in segment.code.iter().enumerate() {
        for r in instr.uses() {
            if !defined.get(r as usize).copied().unwrap_or(false) {
                return Err(VmError::Internal(format!("instruction {pc} reads register {r} before it is written")));
            }
        }
        if let Instr::Input { input, .. } = instr {
            if *input as usize >= segment.inputs.len() {
                return Err(VmError::Internal(format!("instruction {pc} reads input {input}, which does not exist")));
            }
        }
        if let Some(d) = instr.dst() {
            *defined.get_mut(d as usize).ok_or_else(|| VmError::Internal(format!("instruction {pc} writes register {d}, out of range")))? = true;
        }
    }
    Ok(())
}

impl<T: Transport> Machine<T> {
    async fn execute(&mut self, segment: &Segment, inputs: Vec<Plain>, debug: &DebugInfo, progress: Option<&AtomicU64>) -> Result<(), VmError> {
        validate(segment)?;
        self.exchange_bindings().await?;
        let frees = last_uses(segment);
        let mut inputs: Vec<Option<Plain>> = inputs.into_iter().map(Some).collect();
        for (pc, instr) in segment.code.iter().enumerate() {
            let at = |error: VmError| {
                let loc = segment.locs[pc];
                VmError::At { location: debug.describe(loc), line: debug.line_text(loc).map(str::to_string), error: Box::new(error) }
            };
            let value = match instr {
                Instr::Input { input, .. } => inputs.get_mut(*input as usize).and_then(Option::take).map(Value::Plain),
                _ => self.step(instr).await.map_err(at)?,
            };
            if let (Some(dst), Some(v)) = (instr.dst(), value) {
                self.regs[dst as usize] = Some(v);
            }
            for &r in &frees[pc] {
                self.regs[r as usize] = None;
            }
            if let Some(p) = progress {
                p.fetch_add(1, Ordering::Relaxed);
                YieldNow(false).await;
            }
        }
        Ok(())
    }

    /// Every party tells every other the shape symbols its inputs bind; all must agree.
    async fn exchange_bindings(&mut self) -> Result<(), VmError> {
        let mine: Vec<u8> = self.bindings.iter().flat_map(|b| b.map_or(0, |v| v + 1).to_le_bytes()).collect();
        for p in self.proto.comm.others().collect::<Vec<_>>() {
            self.proto.comm.send(p, Tag::SETUP, mine.clone())?;
        }
        for p in self.proto.comm.others().collect::<Vec<_>>() {
            let theirs = self.proto.comm.recv(p, Tag::SETUP).await?;
            if theirs.len() != mine.len() {
                return Err(VmError::Link { peer: self.proto.comm.parties[p as usize].clone(), message: "runs a module with other shape symbols".into() });
            }
            for (i, chunk) in theirs.chunks_exact(8).enumerate() {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                let Some(v) = u64::from_le_bytes(b).checked_sub(1) else { continue };
                match self.bindings[i] {
                    Some(own) if own != v => {
                        let name = self.symbols.get(i).map_or("?", String::as_str);
                        let (me, them) = (&self.proto.comm.parties[self.proto.me() as usize], &self.proto.comm.parties[p as usize]);
                        return Err(VmError::Input(format!("shape symbol `{name}` is {own} in the inputs of {me} but {v} in the inputs of {them}")));
                    }
                    _ => self.bindings[i] = Some(v),
                }
            }
        }
        Ok(())
    }

    fn get(&self, r: Reg) -> Result<&Value, VmError> {
        self.regs.get(r as usize).and_then(Option::as_ref).ok_or_else(|| VmError::Internal(format!("register {r} is empty")))
    }

    fn eval_shape(&self, shape: &Shape) -> Result<Vec<usize>, VmError> {
        shape
            .iter()
            .map(|d| d.eval(&self.bindings).map(|v| v as usize).ok_or_else(|| VmError::Shape(format!("dimension {} is not bound", d.display(&self.symbols)))))
            .collect()
    }

    fn frac(&self) -> u32 {
        self.proto.frac_bits
    }

    fn encode(&self, p: &Plain) -> Result<ArrayD<u128>, VmError> {
        match p {
            Plain::Int(a) => Ok(a.mapv(encode_int)),
            Plain::Fix(a) => {
                let f = self.frac();
                let mut bad = None;
                let out = a.mapv(|v| encode_fix(v, f).unwrap_or_else(|| {
                    bad = Some(v);
                    0
                }));
                match bad {
                    Some(v) => Err(VmError::Value(format!("{v} cannot be represented in fixed point with {f} fraction bits"))),
                    None => Ok(out),
                }
            }
        }
    }

    fn decode(&self, x: ArrayD<u128>, dtype: DType) -> Plain {
        match dtype {
            DType::Int => Plain::Int(x.mapv(decode_int)),
            _ => {
                let f = self.frac();
                Plain::Fix(x.mapv(|v| decode_fix(v, f)))
            }
        }
    }

    /// A value as a share: a public plaintext is party 0's share, with zeros elsewhere.
    fn as_share(&self, v: &Value) -> Result<ArrayD<u128>, VmError> {
        match v {
            Value::Shared { share, .. } => Ok(share.clone()),
            Value::Plain(p) if self.proto.me() == 0 => self.encode(p),
            Value::Plain(p) => Ok(ArrayD::zeros(IxDyn(p.shape()))),
        }
    }

    async fn step(&mut self, instr: &Instr) -> Result<Option<Value>, VmError> {
        Ok(Some(match instr {
            Instr::Input { .. } => return Err(VmError::Internal("input handled by execute".into())),
            Instr::Const { value, .. } => Value::Plain(match *value {
                Literal::Fix(v) => Plain::Fix(ArrayD::from_elem(IxDyn(&[]), v)),
                Literal::Int(v) => Plain::Int(ArrayD::from_elem(IxDyn(&[]), v)),
                Literal::Bool(_) => return Err(VmError::Value("bool values are not supported yet".into())),
            }),
            Instr::Neg { a, .. } => match self.get(*a)? {
                Value::Plain(Plain::Fix(x)) => Value::Plain(Plain::Fix(x.mapv(|v| -v))),
                Value::Plain(Plain::Int(x)) => Value::Plain(Plain::Int(x.mapv(i64::wrapping_neg))),
                Value::Shared { share, dtype } => Value::Shared { share: share.mapv(u128::wrapping_neg), dtype: *dtype },
            },
            Instr::Binary { op, a, b, seq, .. } => {
                let (a, b) = (self.get(*a)?.clone(), self.get(*b)?.clone());
                self.binary(*op, a, b, *seq).await?
            }
            Instr::Transpose { a, .. } => match self.get(*a)? {
                Value::Plain(Plain::Fix(x)) => Value::Plain(Plain::Fix(value::transpose(x))),
                Value::Plain(Plain::Int(x)) => Value::Plain(Plain::Int(value::transpose(x))),
                Value::Shared { share, dtype } => Value::Shared { share: value::transpose(share), dtype: *dtype },
            },
            Instr::Sum { a, axis, .. } => {
                let axis = *axis as usize;
                match self.get(*a)? {
                    Value::Plain(Plain::Fix(x)) => Value::Plain(Plain::Fix(value::sum_axis(x, axis, 0.0, |p, q| p + q)?)),
                    Value::Plain(Plain::Int(x)) => Value::Plain(Plain::Int(value::sum_axis(x, axis, 0, i64::wrapping_add)?)),
                    Value::Shared { share, dtype } => Value::Shared { share: value::sum_axis(share, axis, 0, u128::wrapping_add)?, dtype: *dtype },
                }
            }
            Instr::Concat { parts, axis, .. } => {
                let values: Vec<Value> = parts.iter().map(|&r| self.get(r).cloned()).collect::<Result<_, _>>()?;
                let axis = *axis as usize;
                if values.iter().any(|v| matches!(v, Value::Shared { .. })) {
                    let shares: Vec<ArrayD<u128>> = values.iter().map(|v| self.as_share(v)).collect::<Result<_, _>>()?;
                    Value::Shared { share: value::concat(&shares.iter().collect::<Vec<_>>(), axis)?, dtype: values[0].dtype() }
                } else {
                    let fix: Vec<&ArrayD<f64>> = values.iter().filter_map(|v| if let Value::Plain(Plain::Fix(a)) = v { Some(a) } else { None }).collect();
                    let int: Vec<&ArrayD<i64>> = values.iter().filter_map(|v| if let Value::Plain(Plain::Int(a)) = v { Some(a) } else { None }).collect();
                    if fix.len() == values.len() {
                        Value::Plain(Plain::Fix(value::concat(&fix, axis)?))
                    } else if int.len() == values.len() {
                        Value::Plain(Plain::Int(value::concat(&int, axis)?))
                    } else {
                        return Err(VmError::Internal("concat of mixed dtypes".into()));
                    }
                }
            }
            Instr::Cast { a, to: DType::Fix, .. } => match self.get(*a)? {
                Value::Plain(Plain::Int(x)) => Value::Plain(Plain::Fix(x.mapv(|v| v as f64))),
                Value::Shared { share, dtype: DType::Int } => {
                    let f = self.frac();
                    Value::Shared { share: share.mapv(|v| v.wrapping_shl(f)), dtype: DType::Fix }
                }
                other => other.clone(),
            },
            Instr::Cast { to, .. } => return Err(VmError::Value(format!("conversion to {to} is not supported yet"))),
            Instr::ShareOwn { src, shape, .. } => {
                let Value::Plain(p) = self.get(*src)? else { return Err(VmError::Internal("share of a share".into())) };
                let expected = self.eval_shape(shape)?;
                if p.shape() != expected.as_slice() {
                    return Err(VmError::Shape(format!("this value has shape {} but the program needs {}", fmt_shape(p.shape()), fmt_shape(&expected))));
                }
                let dtype = p.dtype();
                let encoded = self.encode(p)?;
                let share = self.proto.share_own(&flat(&encoded))?;
                Value::Shared { share: to_array(share, &expected)?, dtype }
            }
            Instr::ShareRecv { owner, dtype, shape, .. } => {
                let shape = self.eval_shape(shape)?;
                let share = self.proto.share_recv(*owner, shape.iter().product())?;
                Value::Shared { share: to_array(share, &shape)?, dtype: *dtype }
            }
            Instr::RevealSend { src, to, seq } => {
                let (share, _) = self.shared(*src)?;
                self.proto.send_share(&share, *to, Tag { seq: *seq, step: 0 })?;
                return Ok(None);
            }
            Instr::RevealRecv { src, seq, .. } => {
                let shape = self.get(*src)?.shape().to_vec();
                let (share, dtype) = self.shared(*src)?;
                let sum = self.proto.collect(&share, Tag { seq: *seq, step: 0 }).await?;
                Value::Plain(self.decode(to_array(sum, &shape)?, dtype))
            }
            Instr::RevealAll { src, seq, .. } => {
                let shape = self.get(*src)?.shape().to_vec();
                let (share, dtype) = self.shared(*src)?;
                let sum = self.proto.open(&share, Tag { seq: *seq, step: 0 }).await?;
                Value::Plain(self.decode(to_array(sum, &shape)?, dtype))
            }
            Instr::SendPlain { src, to, seq } => {
                let Value::Plain(p) = self.get(*src)? else { return Err(VmError::Internal("send of a share".into())) };
                let bytes = plain_to_bytes(p);
                self.proto.comm.send(*to, Tag { seq: *seq, step: 0 }, bytes)?;
                return Ok(None);
            }
            Instr::RecvPlain { from, dtype, shape, seq, .. } => {
                let shape = self.eval_shape(shape)?;
                let bytes = self.proto.comm.recv(*from, Tag { seq: *seq, step: 0 }).await?;
                let peer = self.proto.comm.parties[*from as usize].clone();
                Value::Plain(plain_from_bytes(&bytes, *dtype, &shape).map_err(|message| VmError::Link { peer, message })?)
            }
            Instr::Output { src, name } => {
                let Value::Plain(p) = self.get(*src)? else { return Err(VmError::Internal("output of a share".into())) };
                self.outputs.push((name.clone(), p.clone()));
                return Ok(None);
            }
        }))
    }

    /// The share in a register as a flat vector, with its dtype.
    fn shared(&self, r: Reg) -> Result<(Vec<u128>, DType), VmError> {
        match self.get(r)? {
            Value::Shared { share, dtype } => Ok((flat(share), *dtype)),
            Value::Plain(_) => Err(VmError::Internal(format!("register {r} holds plaintext where a share was expected"))),
        }
    }

    async fn binary(&mut self, op: BinOp, a: Value, b: Value, seq: u32) -> Result<Value, VmError> {
        let dtype = a.dtype();
        let truncate = dtype == DType::Fix && b.dtype() == DType::Fix && matches!(op, BinOp::Mul | BinOp::MatMul);
        let tag = |step| Tag { seq, step };
        let share = match (op, a, b) {
            (op, Value::Plain(x), Value::Plain(y)) => return Ok(Value::Plain(plain_binary(op, &x, &y)?)),
            (BinOp::Add | BinOp::Sub, a, b) => {
                let (x, y) = (self.as_share(&a)?, self.as_share(&b)?);
                if op == BinOp::Add {
                    value::zip_with(&x, &y, u128::wrapping_add)?
                } else {
                    value::zip_with(&x, &y, u128::wrapping_sub)?
                }
            }
            (BinOp::Mul, Value::Shared { share, .. }, Value::Plain(p)) | (BinOp::Mul, Value::Plain(p), Value::Shared { share, .. }) => {
                value::zip_with(&share, &self.encode(&p)?, u128::wrapping_mul)?
            }
            (BinOp::Mul, Value::Shared { share: x, .. }, Value::Shared { share: y, .. }) => {
                let shape = value::broadcast_shape(x.shape(), y.shape())?;
                let (x, y) = (value::broadcast_to(&x, &shape)?, value::broadcast_to(&y, &shape)?);
                let z = self.proto.mul(&flat(&x), &flat(&y), tag(0)).await?;
                to_array(z, &shape)?
            }
            (BinOp::MatMul, Value::Shared { share, .. }, Value::Plain(p)) => value::matmul_with(&share, &self.encode(&p)?, ring::matmul)?,
            (BinOp::MatMul, Value::Plain(p), Value::Shared { share, .. }) => value::matmul_with(&self.encode(&p)?, &share, ring::matmul)?,
            (BinOp::MatMul, Value::Shared { share: x, .. }, Value::Shared { share: y, .. }) => {
                let (dims, shape) = value::matmul_dims(x.shape(), y.shape())?;
                let z = self.proto.matmul(&flat(&x), &flat(&y), dims, tag(0)).await?;
                to_array(z, &shape)?
            }
        };
        let share = if truncate {
            let shape = share.shape().to_vec();
            to_array(self.proto.truncate(&flat(&share), tag(1)).await?, &shape)?
        } else {
            share
        };
        Ok(Value::Shared { share, dtype })
    }
}

fn flat<T: Copy>(a: &ArrayD<T>) -> Vec<T> {
    a.iter().copied().collect()
}

fn to_array<T>(v: Vec<T>, shape: &[usize]) -> Result<ArrayD<T>, VmError> {
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| VmError::Internal(format!("shape {}: {e}", fmt_shape(shape))))
}

fn plain_binary(op: BinOp, x: &Plain, y: &Plain) -> Result<Plain, VmError> {
    Ok(match (x, y) {
        (Plain::Fix(a), Plain::Fix(b)) => Plain::Fix(match op {
            BinOp::Add => value::zip_with(a, b, |p, q| p + q)?,
            BinOp::Sub => value::zip_with(a, b, |p, q| p - q)?,
            BinOp::Mul => value::zip_with(a, b, |p, q| p * q)?,
            BinOp::MatMul => value::matmul_with(a, b, |a, b, m, k, n| value::matmul_generic(a, b, m, k, n, |c, x, y| c + x * y))?,
        }),
        (Plain::Int(a), Plain::Int(b)) => Plain::Int(match op {
            BinOp::Add => value::zip_with(a, b, i64::wrapping_add)?,
            BinOp::Sub => value::zip_with(a, b, i64::wrapping_sub)?,
            BinOp::Mul => value::zip_with(a, b, i64::wrapping_mul)?,
            BinOp::MatMul => value::matmul_with(a, b, |a, b, m, k, n| value::matmul_generic(a, b, m, k, n, |c: i64, x, y| c.wrapping_add(x.wrapping_mul(y))))?,
        }),
        _ => return Err(VmError::Internal("arithmetic on mixed dtypes".into())),
    })
}

fn plain_to_bytes(p: &Plain) -> Vec<u8> {
    match p {
        Plain::Fix(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Plain::Int(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn plain_from_bytes(bytes: &[u8], dtype: DType, shape: &[usize]) -> Result<Plain, String> {
    let len: usize = shape.iter().product();
    if bytes.len() != len * 8 {
        return Err(format!("sent {} bytes for a value of shape {}", bytes.len(), fmt_shape(shape)));
    }
    let words = bytes.chunks_exact(8).map(|c| {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        b
    });
    let shaped = |e: ndarray::ShapeError| e.to_string();
    Ok(match dtype {
        DType::Int => Plain::Int(ArrayD::from_shape_vec(IxDyn(shape), words.map(i64::from_le_bytes).collect()).map_err(shaped)?),
        _ => Plain::Fix(ArrayD::from_shape_vec(IxDyn(shape), words.map(f64::from_le_bytes).collect()).map_err(shaped)?),
    })
}

/// Returns `Pending` once, after asking to be polled again: lets the lockstep scheduler move on.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
