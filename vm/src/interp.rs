//! The interpreter: runs one party's segment on its registers.
//!
//! Registers hold plaintext or shares, and each instruction dispatches on what it finds: the
//! compiler has already decided placements, so the same `mul` is a local product on plaintext,
//! a local scaling of shares by a public value, or a Beaver multiplication on two shares. The
//! fixed-point layer lives here too: a product of two `fix` values is truncated by 2^f.
//!
//! A segment is validated once, before it runs ([`Plan::new`]): every register is in range and
//! written before it is read, and the plan records, for every instruction, the registers whose
//! last use it is, so that memory is freed as the program goes.

use crate::error::VmError;
use crate::link::{Steps, Tag, Traffic, Transport};
use crate::debugger::Debugger;
use crate::meter::Meter;
use crate::profile::Recorder;
use crate::ring::{self, decode_fix, decode_int, encode_fix, encode_int};
use crate::semi2k::{KeptMask, Semi2k};
use crate::shape_ops::{self, Gather, Reshape, SliceOf};
use crate::value::{self, fmt_shape, ArrayFn, Plain, Value};
use crate::plain;
use ndarray::{ArrayD, IxDyn};
use sf_isa::{BinOp, Block, Carry, DType, DebugInfo, Instr, Literal, Merge, PartyId, ReduceOp, Reg, Segment, Seq, Shape, SymId, UnaryOp};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

mod fusion;

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
    /// The module's public constants this party uses (others are `None`).
    pub constants: Arc<Vec<Option<Arc<Plain>>>>,
    /// Names the module and the session, so that protocols that hash (PSI) hash differently in
    /// every module and session.
    pub context: [u8; 32],
    /// Fuse runs of local elementwise instructions into compiled kernels (off: `--no-jit`).
    pub jit: bool,
    /// Counts instructions and bytes for the progress bar, if one is shown.
    pub meter: Option<Arc<Meter>>,
    /// Sees every instruction run, in debug mode only (`--trace`, `--break`).
    pub debugger: Option<Arc<Debugger>>,
    /// Record where time, rounds and bytes go (`--profile`).
    pub profile: bool,
    /// What the run may ask of the machine, checked before it starts.
    pub limits: crate::limits::Limits,
}

/// The context of a run: the module's hash and the session's name, hashed.
pub fn run_context(module_hash: &[u8; 32], session: &str) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("sfvm 2026-11 run context");
    h.update(module_hash);
    h.update(session.as_bytes());
    *h.finalize().as_bytes()
}

pub struct PartyOutcome {
    pub outputs: Vec<(String, Plain)>,
    pub traffic: Traffic,
    /// Instructions run inside fused kernels (each run of a chain counts all of its instructions).
    pub fused: u64,
    /// Where time, rounds and bytes went, if the job asked.
    pub profile: Option<crate::profile::PartyProfile>,
}

/// Runs a party to the end. On failure, every other party is told, so none of them hangs.
pub async fn run_party<T: Transport>(job: PartyJob<T>) -> Result<PartyOutcome, VmError> {
    let PartyJob { segment, inputs, bindings, proto, debug, symbols, progress, constants, context, jit, meter, debugger, profile, limits } = job;
    let recorder = profile.then(|| Recorder::new(proto.comm.parties.get(proto.me() as usize).cloned().unwrap_or_default()));
    if let Some(m) = &meter {
        m.plan(&segment.body);
    }
    let mut m = Machine {
        regs: vec![None; segment.n_regs as usize],
        bindings,
        proto,
        symbols,
        outputs: Vec::new(),
        inputs: inputs.into_iter().map(Some).collect(),
        iterations: Vec::new(),
        iter_key: 0,
        progress,
        debug,
        constants,
        context,
        masks: MaskCache::default(),
        kernels: jit.then(fusion::Kernels::default),
        fused: 0,
        transposes: Default::default(),
        meter,
        metered_bytes: 0,
        debugger,
        recorder,
        limits,
    };
    let result = match Plan::new(&segment) {
        Ok(plan) => m.run(&segment, &plan).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            m.proto.finish()?;
            let profile = m.recorder.take().map(|r| r.finish(&m.proto.comm.traffic));
            Ok(PartyOutcome { outputs: m.outputs, traffic: m.proto.comm.traffic, fused: m.fused, profile })
        }
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

/// Elements of one round of a large fixed-point product (16 MiB a vector).
const MUL_CHUNK: usize = 1 << 20;

fn root(e: &VmError) -> &VmError {
    match e {
        VmError::At { error, .. } => root(error),
        e => e,
    }
}

/// What the interpreter knows about a block before running it.
pub struct Plan {
    /// For each instruction, the registers to free after it.
    frees: Vec<Vec<Reg>>,
    /// For each instruction that is a loop or an `if`, the plans of its blocks.
    bodies: Vec<Vec<Plan>>,
    /// For each instruction that starts a run of candidates for fusion, the run's end.
    chains: Vec<Option<usize>>,
    /// For each product, the end of the run of independent products that starts there.
    products: Vec<Option<usize>>,
    /// Transposes made only for the left operand of one later matmul of the block, whose source
    /// lives until then: the matmul reads the source transposed instead (see `lazy_transposes`).
    lazy: Vec<bool>,
    /// The block's instructions, nested blocks included, each once: what a loop over it or a
    /// branch skipping it counts, worked out once and not at every start.
    instructions: u64,
}

impl Plan {
    /// Validates a segment and plans its register lifetimes.
    pub fn new(segment: &Segment) -> Result<Plan, VmError> {
        let mut defined = vec![false; segment.n_regs as usize];
        let inputs = segment.inputs.len();
        Plan::block(&segment.body, &mut defined, inputs, &[])
    }

    fn block(block: &Block, defined: &mut Vec<bool>, inputs: usize, live_out: &[Reg]) -> Result<Plan, VmError> {
        if block.locs.len() != block.code.len() {
            return Err(VmError::Internal("a block has no location for every instruction".into()));
        }
        let mut bodies = Vec::with_capacity(block.code.len());
        let mut defs_here: Vec<Reg> = Vec::new();
        for (pc, instr) in block.code.iter().enumerate() {
            let check = |r: Reg, defined: &Vec<bool>| -> Result<(), VmError> {
                if defined.get(r as usize).copied().unwrap_or(false) {
                    Ok(())
                } else {
                    Err(VmError::Internal(format!("instruction {pc} reads register {r} before it is written")))
                }
            };
            for r in instr.uses() {
                check(r, defined)?;
            }
            if let Instr::Input { input, .. } = instr {
                if *input as usize >= inputs {
                    return Err(VmError::Internal(format!("instruction {pc} reads input {input}, which does not exist")));
                }
            }
            for d in instr.defs() {
                *defined.get_mut(d as usize).ok_or_else(|| VmError::Internal(format!("instruction {pc} writes register {d}, out of range")))? = true;
                defs_here.push(d);
            }
            bodies.push(match instr {
                Instr::Loop { carried, body, .. } => {
                    let nexts: Vec<Reg> = carried.iter().map(|c| c.next).collect();
                    let plan = Plan::block(body, defined, inputs, &nexts)?;
                    for r in &nexts {
                        check(*r, defined)?;
                    }
                    vec![plan]
                }
                Instr::If { then, otherwise, results, .. } => {
                    let then_out: Vec<Reg> = results.iter().map(|m| m.then_src).collect();
                    let else_out: Vec<Reg> = results.iter().map(|m| m.else_src).collect();
                    let a = Plan::block(then, defined, inputs, &then_out)?;
                    let b = Plan::block(otherwise, defined, inputs, &else_out)?;
                    for r in then_out.iter().chain(&else_out) {
                        check(*r, defined)?;
                    }
                    vec![a, b]
                }
                _ => vec![],
            });
        }
        // A register defined in this block is freed after its last use here; reads inside a
        // loop body count as reads by the loop instruction.
        let mut last: Vec<Option<usize>> = vec![None; defined.len()];
        for (pc, instr) in block.code.iter().enumerate() {
            for d in instr.defs() {
                last[d as usize].get_or_insert(pc);
            }
            for r in deep_uses(instr) {
                if let Some(slot) = last.get_mut(r as usize) {
                    if slot.is_some() {
                        *slot = Some(pc);
                    }
                }
            }
        }
        let mut frees = vec![Vec::new(); block.code.len()];
        for r in defs_here {
            if live_out.contains(&r) {
                continue;
            }
            if let Some(pc) = last[r as usize].take() {
                frees[pc].push(r);
            }
        }
        let lazy = lazy_transposes(&block.code, &frees, live_out);
        let instructions = block.code.len() as u64 + bodies.iter().flatten().map(|p| p.instructions).sum::<u64>();
        Ok(Plan { frees, bodies, chains: fusion::find_chains(&block.code), products: product_runs(&block.code), lazy, instructions })
    }
}

/// For each instruction, whether it is a transpose `t = a.T` whose result is only ever the left
/// operand of one matmul later in the block, with `a` not freed before that matmul: then `t`
/// need not be made (a copy of `a`) when `a`'s kept mask lets the matmul read `a` transposed.
fn lazy_transposes(code: &[Instr], frees: &[Vec<Reg>], live_out: &[Reg]) -> Vec<bool> {
    // One pass for every register's readers (how many, and the last) and where it is freed.
    let mut readers: std::collections::HashMap<Reg, (usize, usize)> = Default::default();
    for (pc, instr) in code.iter().enumerate() {
        for r in deep_uses(instr) {
            let entry = readers.entry(r).or_insert((0, pc));
            *entry = (entry.0 + 1, pc);
        }
    }
    let freed_at: std::collections::HashMap<Reg, usize> = frees.iter().enumerate().flat_map(|(pc, regs)| regs.iter().map(move |&r| (r, pc))).collect();
    code.iter()
        .enumerate()
        .map(|(pc, instr)| {
            let Instr::Transpose { dst, a } = *instr else { return false };
            match readers.get(&dst) {
                Some(&(1, j)) if j > pc && !live_out.contains(&dst) => {
                    let left_of_matmul = matches!(code[j], Instr::Binary { op: BinOp::MatMul, a: l, b: r, .. } if l == dst && r != dst);
                    left_of_matmul && !freed_at.get(&a).is_some_and(|&f| (pc..j).contains(&f))
                }
                _ => false,
            }
        })
        .collect()
}

/// The most products one batched round takes.
const MAX_BATCH: usize = 64;

/// For each `mul` instruction, the end of the run of consecutive `mul`s from it in which none
/// reads or rewrites a register another one of the run writes: products that can share one
/// round. The compiler's schedule puts a depth's products of secrets side by side, in the same
/// order in every party's segment.
fn product_runs(code: &[Instr]) -> Vec<Option<usize>> {
    let product = |i: &Instr| match *i {
        Instr::Binary { dst, op: BinOp::Mul, a, b, .. } => Some((dst, a, b)),
        _ => None,
    };
    (0..code.len())
        .map(|pc| {
            let mut written = Vec::new();
            let mut end = pc;
            while let Some((dst, a, b)) = code.get(end).and_then(product) {
                if end - pc == MAX_BATCH || [dst, a, b].iter().any(|r| written.contains(r)) {
                    break;
                }
                written.push(dst);
                end += 1;
            }
            (end - pc >= 2).then_some(end)
        })
        .collect()
}

/// The registers an instruction reads, its blocks' reads and carried or merged values included.
fn deep_uses(instr: &Instr) -> Vec<Reg> {
    let mut out = instr.uses();
    match instr {
        Instr::Loop { carried, body, .. } => {
            out.extend(carried.iter().map(|c| c.next));
            out.extend(body.code.iter().flat_map(deep_uses));
        }
        Instr::If { then, otherwise, results, .. } => {
            out.extend(results.iter().flat_map(|m| [m.then_src, m.else_src]));
            out.extend(then.code.iter().chain(&otherwise.code).flat_map(deep_uses));
        }
        _ => {}
    }
    out
}

struct Machine<T: Transport> {
    regs: Vec<Option<Value>>,
    bindings: Vec<Option<u64>>,
    proto: Semi2k<T>,
    symbols: Arc<Vec<String>>,
    outputs: Vec<(String, Plain)>,
    inputs: Vec<Option<Plain>>,
    /// The iteration numbers of the loops being run, outermost first.
    iterations: Vec<u64>,
    /// `iterations` folded into one number, for message tags.
    iter_key: u64,
    progress: Option<Arc<AtomicU64>>,
    debug: Arc<DebugInfo>,
    constants: Arc<Vec<Option<Arc<Plain>>>>,
    context: [u8; 32],
    /// Masks of secret matmul operands, by the register that holds the operand: a later
    /// product with the same value (or its transpose) reuses the mask and opens only its other
    /// operand. An entry goes when its register is written or freed.
    masks: MaskCache,
    /// Compiled kernels for fused runs of instructions; `None` with `--no-jit`.
    kernels: Option<fusion::Kernels>,
    /// Instructions run inside fused kernels so far.
    fused: u64,
    /// Transposes not made yet: register t holds nothing, and stands for register a's transpose.
    transposes: std::collections::HashMap<Reg, Reg>,
    meter: Option<Arc<Meter>>,
    /// Bytes sent already counted into the meter.
    metered_bytes: u64,
    debugger: Option<Arc<Debugger>>,
    recorder: Option<Recorder>,
    limits: crate::limits::Limits,
}

/// Kept matmul masks, by register, and how many registers use each (a value and its
/// transposes share one mask, which the dealer forgets when the last goes).
#[derive(Default)]
struct MaskCache {
    by_reg: std::collections::HashMap<Reg, Arc<KeptMask>>,
    users: std::collections::HashMap<u32, usize>,
    next: u32,
    /// The mask of the value an instruction is computing, for its destination register.
    pending: Option<Arc<KeptMask>>,
}

impl<T: Transport> Machine<T> {
    /// Writes a register: a value that replaces another loses the other's kept mask, and the
    /// instruction's own (a transpose of a masked value) takes its place.
    fn set_reg(&mut self, r: Reg, v: Value) -> Result<(), VmError> {
        self.forget_mask(r)?;
        self.regs[r as usize] = Some(v);
        if let Some(kept) = self.masks.pending.take() {
            self.keep_mask(r, kept);
        }
        Ok(())
    }

    fn keep_mask(&mut self, r: Reg, kept: Arc<KeptMask>) {
        *self.masks.users.entry(kept.id).or_insert(0) += 1;
        self.masks.by_reg.insert(r, kept);
    }

    fn forget_mask(&mut self, r: Reg) -> Result<(), VmError> {
        // Every register write passes here; most programs keep no mask at all.
        if self.masks.by_reg.is_empty() {
            return Ok(());
        }
        let Some(kept) = self.masks.by_reg.remove(&r) else { return Ok(()) };
        let users = self.masks.users.entry(kept.id).or_insert(1);
        *users -= 1;
        if *users == 0 {
            self.masks.users.remove(&kept.id);
            self.proto.release_mask(kept.id)?;
        }
        Ok(())
    }

    /// A secret matmul whose left operand is in register `left`: with its kept mask when it
    /// has one, else with a fresh mask that is kept for the next product with it.
    async fn secret_matmul(&mut self, left: Reg, x: &ArrayD<u128>, y: &ArrayD<u128>, dims: (usize, usize, usize), tag: Tag) -> Result<Vec<u128>, VmError> {
        if let Some(kept) = self.masks.by_reg.get(&left).cloned() {
            return self.proto.matmul_reuse(&kept, &value::flat(x), &value::flat(y), dims, tag).await;
        }
        let id = self.masks.next;
        self.masks.next += 1;
        let (z, kept) = self.proto.matmul_keep(&value::flat(x), &value::flat(y), dims, tag, id).await?;
        self.keep_mask(left, Arc::new(kept));
        Ok(z)
    }

    /// Charges the profile with what the instructions from `pc` did since `mark`.
    fn charge(&mut self, mark: Option<crate::profile::Mark>, block: &Block, pc: usize, count: u64) {
        if let (Some(r), Some(mark)) = (&mut self.recorder, mark) {
            let line = self.debug.locs.get(block.locs[pc] as usize).map_or(0, |l| l.line);
            r.charge(mark, &self.proto.comm.traffic, line, block.code[pc].op_name(), count);
        }
    }

    /// Counts instructions done, and the bytes sent since the last count, into the meter.
    fn count(&mut self, instructions: u64) {
        if let Some(m) = &self.meter {
            m.ran(instructions);
            let sent = self.proto.comm.traffic.bytes_sent;
            m.sent(sent - self.metered_bytes);
            self.metered_bytes = sent;
        }
    }

    async fn run(&mut self, segment: &Segment, plan: &Plan) -> Result<(), VmError> {
        self.exchange_bindings().await?;
        crate::limits::check_segment(segment, &self.bindings, &self.symbols, &self.debug, &self.limits)?;
        self.block(&segment.body, plan).await
    }

    fn block<'a>(&'a mut self, block: &'a Block, plan: &'a Plan) -> Pin<Box<dyn Future<Output = Result<(), VmError>> + 'a>> {
        Box::pin(async move {
            let mut pc = 0;
            while pc < block.code.len() {
                // Several instructions at once: a batch of products, or a fused chain; never
                // while a debugger watches, which sees every instruction's value.
                let mut ran = None;
                let watched = self.debugger.is_some();
                let mark = self.recorder.as_ref().map(|_| Recorder::mark(&self.proto.comm.traffic));
                if let (false, Some(end)) = (watched, plan.products[pc]) {
                    ran = self.run_products(&block.code[pc..end]).await?.map(|count| pc + count);
                }
                if let (false, None, Some(end)) = (watched, ran, plan.chains[pc].filter(|&end| end - pc >= 2)) {
                    ran = self.run_fused(&block.code, plan, pc, end)?;
                    self.fused += ran.map_or(0, |end| end - pc) as u64;
                }
                if let Some(end) = ran {
                    for at in pc..end {
                        self.free_after(plan, at)?;
                    }
                    self.count((end - pc) as u64);
                    self.charge(mark, block, pc, (end - pc) as u64);
                    if let Some(p) = &self.progress {
                        p.fetch_add((end - pc) as u64, Ordering::Relaxed);
                        YieldNow(false).await;
                    }
                    pc = end;
                    continue;
                }
                let instr = &block.code[pc];
                if let (true, false, Instr::Transpose { dst, a }) = (plan.lazy[pc], watched, instr) {
                    self.transposes.insert(*dst, *a);
                    self.free_after(plan, pc)?;
                    self.count(1);
                    pc += 1;
                    continue;
                }
                let result = match (instr, plan.bodies[pc].as_slice()) {
                    (Instr::Loop { trip, index, carried, body }, [body_plan]) => self.run_loop(*trip, *index, carried, body, body_plan).await,
                    (Instr::If { cond, then, otherwise, results }, [then_plan, else_plan]) => {
                        self.run_if(*cond, (then, then_plan), (otherwise, else_plan), results).await
                    }
                    _ => self.step(instr).await,
                };
                let defined = matches!(result, Ok(Some(_)));
                match result {
                    Ok(Some(v)) => {
                        if let Some(&dst) = instr.defs().first() {
                            self.set_reg(dst, v)?;
                        }
                    }
                    Ok(None) => {}
                    Err(e @ (VmError::At { .. } | VmError::Stopped)) => return Err(e),
                    Err(error) => {
                        let loc = block.locs[pc];
                        let iterations = if self.iterations.is_empty() {
                            String::new()
                        } else {
                            format!(" (iteration {})", self.iterations.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))
                        };
                        return Err(VmError::At {
                            location: format!("{}{iterations}", self.debug.describe(loc)),
                            line: self.debug.line_text(loc).map(str::to_string),
                            error: Box::new(error),
                        });
                    }
                }
                if let Some(d) = &self.debugger {
                    let value = instr.defs().first().filter(|_| defined).and_then(|&r| self.regs.get(r as usize)).and_then(Option::as_ref);
                    d.ran(self.proto.me() as usize, instr, block.locs[pc], value);
                    if d.stopped() {
                        return Err(VmError::Stopped);
                    }
                }
                if !matches!(instr, Instr::Loop { .. } | Instr::If { .. }) {
                    self.charge(mark, block, pc, 1);
                }
                self.free_after(plan, pc)?;
                self.count(1);
                if let Some(p) = &self.progress {
                    p.fetch_add(1, Ordering::Relaxed);
                    YieldNow(false).await;
                }
                pc += 1;
            }
            Ok(())
        })
    }

    /// Runs the leading products of `run` whose operands are both shares as one Beaver round
    /// (tagged by the first one's sequence number); returns how many, or `None` if fewer than
    /// two are (the caller runs the first on its own). Every party takes the same prefix: which
    /// values are secret is the same everywhere.
    async fn run_products(&mut self, run: &[Instr]) -> Result<Option<usize>, VmError> {
        // Each product's operands, broadcast to its shape, go straight into the batch.
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        let mut parts: Vec<(usize, u32)> = Vec::new();
        let mut results: Vec<(Reg, Vec<usize>, DType)> = Vec::new();
        let mut seq = None;
        for instr in run {
            let Instr::Binary { dst, a, b, seq: s, .. } = instr else { break };
            let (Value::Shared { share: x, dtype }, Value::Shared { share: y, dtype: y_dtype }) = (self.get(*a)?, self.get(*b)?) else { break };
            let Ok(shape) = value::broadcast_shape(x.shape(), y.shape()) else { break };
            let len: usize = shape.iter().product();
            if xs.len() + len > MUL_CHUNK {
                break;
            }
            xs.extend(value::broadcast_view(x, &shape)?.iter().copied());
            ys.extend(value::broadcast_view(y, &shape)?.iter().copied());
            let bits = if *dtype == DType::Fix && *y_dtype == DType::Fix { self.frac() } else { 0 };
            parts.push((len, bits));
            results.push((*dst, shape, *dtype));
            seq.get_or_insert(*s);
        }
        let (Some(seq), true) = (seq, parts.len() >= 2) else { return Ok(None) };
        let mut steps = Steps::new(seq, self.iter_key);
        let products = self.proto.mul_shift_many(&xs, &ys, &parts, &mut steps).await?;
        for ((dst, shape, dtype), z) in results.into_iter().zip(products) {
            self.set_reg(dst, Value::Shared { share: to_array(z, &shape)?, dtype })?;
        }
        Ok(Some(parts.len()))
    }

    /// The transpose of register `a`'s value; the transpose of a masked matrix is masked by the
    /// mask's transpose (left in `masks.pending` for the register the transpose goes to).
    fn transpose(&mut self, a: Reg) -> Result<Value, VmError> {
        let t = match self.get(a)? {
            Value::Plain(p) => Value::plain(plain::transpose(p)),
            Value::Shared { share, dtype } => Value::Shared { share: value::transpose(share), dtype: *dtype },
        };
        self.masks.pending = self.masks.by_reg.get(&a).filter(|k| k.rows > 1 && k.cols > 1).map(|k| k.transposed());
        Ok(t)
    }

    /// Makes a transpose that was left for later, because its matmul could not read it lazily.
    fn make_transpose(&mut self, t: Reg, source: Reg) -> Result<(), VmError> {
        self.transposes.remove(&t);
        let v = self.transpose(source)?;
        self.set_reg(t, v)
    }

    /// `source.T @ b` without making `source.T`, when `source` is a shared matrix whose mask is
    /// kept and b is shared: the opened mask and this party's share are read transposed. `None`
    /// otherwise.
    async fn transposed_matmul(&mut self, source: Reg, b: Reg, seq: Seq) -> Result<Option<Value>, VmError> {
        let Some(kept) = self.masks.by_reg.get(&source).filter(|k| k.rows > 1 && k.cols > 1).map(|k| k.transposed()) else { return Ok(None) };
        let taken = self.take_operands(&[source, b])?;
        let result = match (operand(&taken, source), operand(&taken, b)) {
            (Value::Shared { share: x, dtype }, Value::Shared { share: y, dtype: y_dtype }) if x.ndim() == 2 => {
                let (dtype, truncate) = (*dtype, *dtype == DType::Fix && *y_dtype == DType::Fix);
                match value::matmul_dims(&[x.shape()[1], x.shape()[0]], y.shape()) {
                    Ok((dims, shape)) => {
                        let tag = self.tag(seq, 0);
                        let z = self.proto.matmul_reuse_transposed(&kept, &value::flat(x), &value::flat(y), dims, tag).await;
                        Some((z, shape, dtype, truncate))
                    }
                    Err(e) => Some((Err(e), Vec::new(), dtype, false)),
                }
            }
            _ => None,
        };
        self.restore(taken);
        let Some((z, shape, dtype, truncate)) = result else { return Ok(None) };
        let z = z?;
        let z = if truncate { self.proto.truncate(&z, self.tag(seq, 1)).await? } else { z };
        Ok(Some(Value::Shared { share: to_array(z, &shape)?, dtype }))
    }

    /// Frees the registers whose last use is instruction `pc` of the plan's block.
    fn free_after(&mut self, plan: &Plan, pc: usize) -> Result<(), VmError> {
        for &r in &plan.frees[pc] {
            self.forget_mask(r)?;
            self.regs[r as usize] = None;
            self.transposes.remove(&r);
        }
        Ok(())
    }

    async fn run_loop(&mut self, trip: Reg, index: Option<Reg>, carried: &[Carry], body: &Block, plan: &Plan) -> Result<Option<Value>, VmError> {
        let n = match self.get(trip)?.as_plain() {
            Some(Plain::Int(a)) if a.ndim() == 0 => a.iter().next().copied().unwrap_or(0).max(0) as u64,
            _ => return Err(VmError::Internal("a loop's trip count is not a public int".into())),
        };
        for c in carried {
            let v = self.get(c.init)?.clone();
            self.set_reg(c.param, v)?;
        }
        self.limits.looping(n, plan.instructions)?;
        if let Some(m) = &self.meter {
            m.looping(plan.instructions, n);
        }
        for i in 0..n {
            self.iterations.push(i);
            self.iter_key = fold_iterations(&self.iterations);
            if let Some(ix) = index {
                self.regs[ix as usize] = Some(Value::plain(Plain::Int(ArrayD::from_elem(IxDyn(&[]), i as i64))));
            }
            self.block(body, plan).await?;
            let nexts: Vec<Value> = carried.iter().map(|c| self.get(c.next).cloned()).collect::<Result<_, _>>()?;
            for (c, v) in carried.iter().zip(nexts) {
                self.set_reg(c.param, v)?;
            }
            self.iterations.pop();
            self.iter_key = fold_iterations(&self.iterations);
        }
        Ok(None)
    }

    async fn run_if(&mut self, cond: Reg, then: (&Block, &Plan), otherwise: (&Block, &Plan), results: &[Merge]) -> Result<Option<Value>, VmError> {
        let taken = match self.get(cond)?.as_plain() {
            Some(Plain::Bool(c)) if c.ndim() == 0 => c.iter().next().copied().unwrap_or(false),
            _ => return Err(VmError::Internal("an if's condition is not a public bool".into())),
        };
        let (block, plan) = if taken { then } else { otherwise };
        if let Some(m) = &self.meter {
            m.skipped(if taken { otherwise.1 } else { then.1 }.instructions);
        }
        self.block(block, plan).await?;
        let values: Vec<Value> = results.iter().map(|m| self.get(if taken { m.then_src } else { m.else_src }).cloned()).collect::<Result<_, _>>()?;
        for (m, v) in results.iter().zip(values) {
            self.set_reg(m.dst, v)?;
        }
        Ok(None)
    }

    fn tag(&self, seq: u32, step: u32) -> Tag {
        Tag { seq, step, iter: self.iter_key }
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

    /// Moves the values of `regs` out of their registers, each distinct register once, so that
    /// an operation can read them while it borrows the machine, without copying them;
    /// [`Machine::restore`] puts them back.
    fn take_operands(&mut self, regs: &[Reg]) -> Result<Vec<(Reg, Value)>, VmError> {
        let mut taken: Vec<(Reg, Value)> = Vec::with_capacity(regs.len());
        for &r in regs {
            if taken.iter().any(|(t, _)| *t == r) {
                continue;
            }
            match self.regs.get_mut(r as usize).and_then(Option::take) {
                Some(v) => taken.push((r, v)),
                None => {
                    self.restore(taken);
                    return Err(VmError::Internal(format!("register {r} is empty")));
                }
            }
        }
        Ok(taken)
    }

    fn restore(&mut self, taken: Vec<(Reg, Value)>) {
        for (r, v) in taken {
            self.regs[r as usize] = Some(v);
        }
    }

    fn plain(&self, r: Reg) -> Result<&Plain, VmError> {
        match self.get(r)? {
            Value::Plain(p) => Ok(p),
            Value::Shared { .. } => Err(VmError::Internal(format!("register {r} holds a share where plaintext was expected"))),
        }
    }

    fn eval_dim(&self, d: &sf_isa::Dim) -> Result<usize, VmError> {
        d.eval(&self.bindings).map(|v| v as usize).ok_or_else(|| VmError::Shape(format!("dimension {} is not bound or is negative", d.display(&self.symbols))))
    }

    fn eval_shape(&self, shape: &Shape) -> Result<Vec<usize>, VmError> {
        let dims = shape.iter().map(|d| self.eval_dim(d)).collect::<Result<Vec<_>, _>>()?;
        self.limits.value(&dims)?;
        Ok(dims)
    }

    fn frac(&self) -> u32 {
        self.proto.frac_bits
    }

    fn encode(&self, p: &Plain) -> Result<ArrayD<u128>, VmError> {
        match p {
            Plain::Int(a) => Ok(a.mapv(encode_int)),
            Plain::Bool(a) => Ok(a.mapv(|b| b as u128)),
            Plain::Fix(a) => {
                let f = self.frac();
                let mut bad = None;
                let out = a.mapv(|v| {
                    encode_fix(v, f).unwrap_or_else(|| {
                        bad = Some(v);
                        0
                    })
                });
                match bad {
                    Some(v) => Err(VmError::Value(format!("{v} cannot be represented in fixed point with {f} fraction bits"))),
                    None => Ok(out),
                }
            }
        }
    }

    /// A public matrix times a shared one, the public rows encoded into the ring a block at a
    /// time, so that a large constant (`load`) never exists whole in ring form (twice its
    /// float64 size).
    fn public_matmul(&self, p: &Plain, share: &ArrayD<u128>) -> Result<ArrayD<u128>, VmError> {
        /// Elements of the public matrix encoded at once: 16 MiB in the ring.
        const BLOCK: usize = 1 << 20;
        let rows = p.shape().first().copied().unwrap_or(0);
        if p.shape().len() != 2 || p.shape().iter().product::<usize>() <= BLOCK {
            return value::matmul_with(&self.encode(p)?, share, ring::matmul);
        }
        let ((_, k, n), out) = value::matmul_dims(p.shape(), share.shape())?;
        let per_block = (BLOCK / k.max(1)).max(1);
        let mut c: Vec<u128> = Vec::with_capacity(rows * n);
        for start in (0..rows).step_by(per_block) {
            let end = (start + per_block).min(rows);
            let block = value::matmul_with(&self.encode(&p.rows(start..end))?, share, ring::matmul)?;
            c.extend(block.iter());
        }
        ArrayD::from_shape_vec(IxDyn(&out), c).map_err(|e| VmError::Shape(e.to_string()))
    }

    fn decode(&self, x: ArrayD<u128>, dtype: DType) -> Plain {
        match dtype {
            DType::Int => Plain::Int(x.mapv(decode_int)),
            DType::Bool => Plain::Bool(x.mapv(|v| v != 0)),
            DType::Fix => {
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

    fn shape_op(&self, v: &Value, f: &dyn ArrayFn) -> Result<Value, VmError> {
        Ok(match v {
            Value::Plain(p) => Value::plain(p.map_array(f)?),
            Value::Shared { share, dtype } => Value::Shared { share: f.u128(share)?, dtype: *dtype },
        })
    }

    async fn step(&mut self, instr: &Instr) -> Result<Option<Value>, VmError> {
        Ok(Some(match instr {
            Instr::Input { input, .. } => {
                let v = self.inputs.get_mut(*input as usize).and_then(Option::take);
                Value::plain(v.ok_or_else(|| VmError::Internal(format!("input {input} read twice")))?)
            }
            Instr::Const { value, .. } => Value::plain(scalar(*value)),
            Instr::Constant { id, .. } => {
                let c = self.constants.get(*id as usize).and_then(Option::as_ref);
                Value::Plain(c.ok_or_else(|| VmError::Internal(format!("constant {id} was not loaded")))?.clone())
            }
            Instr::Fill { value, shape, .. } => {
                let shape = self.eval_shape(shape)?;
                Value::plain(match *value {
                    Literal::Fix(v) => Plain::Fix(ArrayD::from_elem(IxDyn(&shape), v)),
                    Literal::Int(v) => Plain::Int(ArrayD::from_elem(IxDyn(&shape), v)),
                    Literal::Bool(v) => Plain::Bool(ArrayD::from_elem(IxDyn(&shape), v)),
                })
            }
            Instr::Arange { len, .. } => {
                let n = self.eval_dim(len)?;
                Value::plain(Plain::Int(ArrayD::from_shape_vec(IxDyn(&[n]), (0..n as i64).collect()).map_err(|e| VmError::Internal(e.to_string()))?))
            }
            Instr::DimValue { dim, .. } => Value::plain(Plain::Int(ArrayD::from_elem(IxDyn(&[]), self.eval_dim(dim)? as i64))),
            Instr::Random { shape, .. } => {
                let shape = self.eval_shape(shape)?;
                let seed = crate::prg::fresh_seed().map_err(|e| VmError::Entropy(e.to_string()))?;
                let bits = crate::prg::Prg::new(seed).next_vec(shape.iter().product());
                let values = bits.into_iter().map(|b| (b >> 75) as f64 / (1u64 << 53) as f64).collect();
                Value::plain(Plain::Fix(ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| VmError::Internal(e.to_string()))?))
            }
            Instr::Unary { op, a, seq, .. } => {
                let (op, seq) = (*op, *seq);
                match self.get(*a)?.clone() {
                    Value::Plain(p) => Value::plain(plain::unary(op, &p)?),
                    Value::Shared { share, dtype } => match op {
                        UnaryOp::Neg => Value::Shared { share: share.mapv(u128::wrapping_neg), dtype },
                        UnaryOp::Not => Value::Shared { share: self.one_minus(&share), dtype },
                        UnaryOp::Abs => {
                            // |x| = x - 2 [x < 0] x: the sign bit, then one product (no truncation:
                            // the bit is an unscaled 0 or 1).
                            let mut steps = Steps::new(seq, self.iter_key);
                            let x = value::to_flat(&share);
                            let neg = self.proto.is_negative(&x, &mut steps).await?;
                            let prod = self.proto.mul(&neg, &x, steps.tag()).await?;
                            let out = x.iter().zip(prod).map(|(x, p)| x.wrapping_sub(p.wrapping_mul(2))).collect();
                            Value::Shared { share: to_array(out, share.shape())?, dtype }
                        }
                        _ => {
                            let x = value::to_flat(&share);
                            let mut steps = Steps::new(seq, self.iter_key);
                            let out = match op {
                                UnaryOp::Exp => self.proto.exp(&x, &mut steps).await?,
                                UnaryOp::Log => self.proto.log(&x, &mut steps).await?,
                                UnaryOp::Sqrt => self.proto.sqrt(&x, &mut steps).await?,
                                UnaryOp::Rsqrt => self.proto.rsqrt(&x, &mut steps).await?,
                                UnaryOp::Reciprocal => self.proto.reciprocal(&x, &mut steps).await?,
                                UnaryOp::Tanh => self.proto.tanh(&x, &mut steps).await?,
                                UnaryOp::Sigmoid => self.proto.sigmoid(&x, &mut steps).await?,
                                _ => return Err(not_yet(&format!("`{}` of a secret", op.name()))),
                            };
                            Value::Shared { share: to_array(out, share.shape())?, dtype }
                        }
                    },
                }
            }
            Instr::Binary { op, a, b, seq, .. } => {
                if let Some(&source) = self.transposes.get(a) {
                    if let Some(z) = self.transposed_matmul(source, *b, *seq).await? {
                        return Ok(Some(z));
                    }
                    self.make_transpose(*a, source)?;
                }
                let taken = self.take_operands(&[*a, *b])?;
                let result = self.binary(*op, operand(&taken, *a), operand(&taken, *b), *seq, *a).await;
                self.restore(taken);
                result?
            }
            Instr::Select { c, a, b, seq, .. } => {
                let taken = self.take_operands(&[*c, *a, *b])?;
                let result = self.select(operand(&taken, *c), operand(&taken, *a), operand(&taken, *b), *seq).await;
                self.restore(taken);
                result?
            }
            Instr::Reduce { op, a, axis, seq, .. } => match self.get(*a)?.clone() {
                Value::Plain(p) => Value::plain(plain::reduce(*op, &p, *axis as usize)?),
                Value::Shared { share, dtype } => self.reduce_shares(*op, share, dtype, *axis as usize, *seq).await?,
            },
            Instr::Reshape { a, shape, .. } => {
                let shape = self.eval_shape(shape)?;
                let v = self.get(*a)?;
                self.shape_op(v, &Reshape(shape))?
            }
            Instr::Slice { a, ranges, .. } => {
                let bounds = ranges.iter().map(|r| Ok((self.eval_dim(&r.start)?, self.eval_dim(&r.end)?))).collect::<Result<Vec<_>, VmError>>()?;
                let v = self.get(*a)?;
                self.shape_op(v, &SliceOf(bounds))?
            }
            Instr::Gather { a, index, axis, .. } => {
                let Plain::Int(idx) = self.plain(*index)? else { return Err(VmError::Internal("index is not an int".into())) };
                let g = Gather { index: shape_ops::positions(idx)?, scalar: idx.ndim() == 0, axis: *axis as usize };
                let v = self.get(*a)?;
                self.shape_op(v, &g)?
            }
            Instr::Transpose { a, .. } => self.transpose(*a)?,
            Instr::Sum { a, axis, .. } => match self.get(*a)? {
                Value::Plain(p) => Value::plain(plain::sum(p, *axis as usize)?),
                Value::Shared { share, dtype } => Value::Shared { share: value::sum_axis(share, *axis as usize, 0, u128::wrapping_add)?, dtype: *dtype },
            },
            Instr::Concat { parts, axis, .. } => {
                // The parts are read where they lie: shares are not copied before the join.
                let values: Vec<&Value> = parts.iter().map(|&r| self.get(r)).collect::<Result<_, _>>()?;
                let axis = *axis as usize;
                if values.iter().any(|v| matches!(v, Value::Shared { .. })) {
                    let shares: Vec<std::borrow::Cow<ArrayD<u128>>> = values
                        .iter()
                        .map(|v| match v {
                            Value::Shared { share, .. } => Ok(std::borrow::Cow::Borrowed(share)),
                            plain => self.as_share(plain).map(std::borrow::Cow::Owned),
                        })
                        .collect::<Result<_, _>>()?;
                    Value::Shared { share: value::concat(&shares.iter().map(|c| c.as_ref()).collect::<Vec<_>>(), axis)?, dtype: values[0].dtype() }
                } else {
                    let plains: Vec<&Plain> = values.iter().filter_map(|v| v.as_plain()).collect();
                    Value::plain(plain::concat(&plains, axis)?)
                }
            }
            Instr::Cast { a, to, .. } => match (self.get(*a)?, to) {
                (Value::Plain(p), DType::Fix) => Value::plain(plain::cast_to_fix(p)),
                (Value::Shared { share, dtype: DType::Int | DType::Bool }, DType::Fix) => {
                    let f = self.frac();
                    Value::Shared { share: share.mapv(|v| v.wrapping_shl(f)), dtype: DType::Fix }
                }
                (v, _) if v.dtype() == *to => v.clone(),
                (_, to) => return Err(VmError::Value(format!("conversion to {to} is not supported yet"))),
            },
            Instr::ShareOwn { src, shape, .. } => {
                let p = self.plain(*src)?;
                let expected = self.eval_shape(shape)?;
                if p.shape() != expected.as_slice() {
                    return Err(VmError::Shape(format!("this value has shape {} but the program needs {}", fmt_shape(p.shape()), fmt_shape(&expected))));
                }
                let dtype = p.dtype();
                let encoded = self.encode(p)?;
                let share = self.proto.share_own(&value::to_flat(&encoded))?;
                Value::Shared { share: to_array(share, &expected)?, dtype }
            }
            Instr::ShareRecv { owner, dtype, shape, .. } => {
                let shape = self.eval_shape(shape)?;
                let share = self.proto.share_recv(*owner, shape.iter().product())?;
                Value::Shared { share: to_array(share, &shape)?, dtype: *dtype }
            }
            Instr::RevealSend { src, to, seq } => {
                let (share, _) = self.shared(*src)?;
                let tag = self.tag(*seq, 0);
                self.proto.send_share(&share, *to, tag)?;
                return Ok(None);
            }
            Instr::RevealRecv { src, seq, .. } => {
                let shape = self.get(*src)?.shape().to_vec();
                let (share, dtype) = self.shared(*src)?;
                let tag = self.tag(*seq, 0);
                let sum = self.proto.collect(&share, tag).await?;
                Value::plain(self.decode(to_array(sum, &shape)?, dtype))
            }
            Instr::RevealAll { src, seq, .. } => {
                let shape = self.get(*src)?.shape().to_vec();
                let (share, dtype) = self.shared(*src)?;
                let tag = self.tag(*seq, 0);
                let sum = self.proto.open(&share, tag).await?;
                Value::plain(self.decode(to_array(sum, &shape)?, dtype))
            }
            Instr::SendPlain { src, to, seq } => {
                let bytes = plain_to_bytes(self.plain(*src)?);
                let tag = self.tag(*seq, 0);
                self.proto.comm.send(*to, tag, bytes)?;
                return Ok(None);
            }
            Instr::RecvPlain { from, dtype, shape, seq, .. } => {
                let shape = self.eval_shape(shape)?;
                let tag = self.tag(*seq, 0);
                let bytes = self.proto.comm.recv(*from, tag).await?;
                let peer = self.proto.comm.parties[*from as usize].clone();
                Value::plain(plain_from_bytes(&bytes, *dtype, &shape).map_err(|message| VmError::Link { peer, message })?)
            }
            Instr::Output { src, name } => {
                let p = self.plain(*src)?.clone();
                self.outputs.push((name.clone(), p));
                return Ok(None);
            }
            Instr::Psi { owners, keys, size, keep_first, names, seq, .. } => return self.psi(*owners, keys, *size, *keep_first, names, *seq).await,
            Instr::Loop { .. } | Instr::If { .. } => return Err(VmError::Internal("a block without a plan".into())),
        }))
    }

    /// Runs this party's side of a private set intersection and binds the size's symbol.
    async fn psi(&mut self, owners: [PartyId; 2], keys: &[Reg], size: SymId, keep_first: bool, names: &[String; 2], seq: Seq) -> Result<Option<Value>, VmError> {
        let columns = keys
            .iter()
            .map(|&r| match self.plain(r)? {
                Plain::Int(a) => Ok(a.iter().copied().collect::<Vec<i64>>()),
                _ => Err(VmError::Internal("psi keys are not ints".into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let spec = crate::psi::PsiSpec { owners, keep_first, names, context: self.context, seq, iter: self.iter_key };
        let owns = owners.contains(&self.proto.me());
        let outcome = crate::psi::run(&mut self.proto.comm, &spec, owns.then_some(&columns[..])).await?;
        *self.bindings.get_mut(size as usize).ok_or_else(|| VmError::Internal(format!("psi binds symbol {size}, which does not exist")))? = Some(outcome.size);
        Ok(outcome.rows.map(|rows| Value::plain(Plain::Int(ArrayD::from_shape_vec(IxDyn(&[rows.len()]), rows).unwrap_or_default()))))
    }

    /// The share in a register as a flat vector, with its dtype.
    fn shared(&self, r: Reg) -> Result<(Vec<u128>, DType), VmError> {
        match self.get(r)? {
            Value::Shared { share, dtype } => Ok((value::to_flat(share), *dtype)),
            Value::Plain(_) => Err(VmError::Internal(format!("register {r} holds plaintext where a share was expected"))),
        }
    }

    /// `1 - x` on shares: party 0 holds the one.
    fn one_minus(&self, x: &ArrayD<u128>) -> ArrayD<u128> {
        let first = self.proto.me() == 0;
        x.mapv(|v| if first { 1u128.wrapping_sub(v) } else { v.wrapping_neg() })
    }

    /// A comparison of two values of which at least one is shared: the sign of a difference.
    async fn compare(&mut self, op: BinOp, a: &Value, b: &Value, seq: u32) -> Result<Value, VmError> {
        let (x, y) = (self.as_share(a)?, self.as_share(b)?);
        let shape = value::broadcast_shape(x.shape(), y.shape())?;
        let (x, y) = (value::to_flat(&value::broadcast_to(&x, &shape)?), value::to_flat(&value::broadcast_to(&y, &shape)?));
        let x_minus_y: Vec<u128> = x.iter().zip(&y).map(|(p, q)| p.wrapping_sub(*q)).collect();
        let y_minus_x: Vec<u128> = x_minus_y.iter().map(|v| v.wrapping_neg()).collect();
        let mut steps = Steps::new(seq, self.iter_key);
        let result = match op {
            // x < y iff x - y < 0; x >= y is its complement.
            BinOp::Lt | BinOp::Ge => {
                let lt = to_array(self.proto.is_negative(&x_minus_y, &mut steps).await?, &shape)?;
                if op == BinOp::Lt { lt } else { self.one_minus(&lt) }
            }
            BinOp::Gt | BinOp::Le => {
                let gt = to_array(self.proto.is_negative(&y_minus_x, &mut steps).await?, &shape)?;
                if op == BinOp::Gt { gt } else { self.one_minus(&gt) }
            }
            _ => {
                let both: Vec<u128> = x_minus_y.iter().chain(&y_minus_x).copied().collect();
                let signs = self.proto.is_negative(&both, &mut steps).await?;
                let (lt, gt) = signs.split_at(x.len());
                let ne = to_array(lt.iter().zip(gt).map(|(a, b)| a.wrapping_add(*b)).collect(), &shape)?;
                if op == BinOp::Ne { ne } else { self.one_minus(&ne) }
            }
        };
        Ok(Value::Shared { share: result, dtype: DType::Bool })
    }

    /// max, min, argmax or argmin of shares along `axis`, as a tree of comparisons: each level
    /// compares neighbours in one batch and keeps the winner and its position with one product.
    /// Ties keep the earlier position.
    async fn reduce_shares(&mut self, op: ReduceOp, share: ArrayD<u128>, dtype: DType, axis: usize, seq: u32) -> Result<Value, VmError> {
        let nd = share.ndim();
        if axis >= nd || share.shape()[axis] == 0 {
            return Err(VmError::Shape(format!("cannot take {} along axis {axis} of {}", op.name(), fmt_shape(share.shape()))));
        }
        let mut order: Vec<usize> = (0..nd).filter(|&a| a != axis).collect();
        order.push(axis);
        let moved = share.permuted_axes(order).as_standard_layout().into_owned();
        let outer: Vec<usize> = moved.shape()[..nd - 1].to_vec();
        let mut width = moved.shape()[nd - 1];
        let rows: usize = outer.iter().product();
        let mut vals = value::to_flat(&moved);
        let first = self.proto.me() == 0;
        let mut idx: Vec<u128> = (0..rows * width).map(|k| if first { encode_int((k % width) as i64) } else { 0 }).collect();
        let maximum = matches!(op, ReduceOp::Max | ReduceOp::ArgMax);
        let mut steps = Steps::new(seq, self.iter_key);
        while width > 1 {
            let half = width / 2;
            let (mut a, mut b, mut ia, mut ib) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for r in 0..rows {
                for j in 0..half {
                    a.push(vals[r * width + 2 * j]);
                    b.push(vals[r * width + 2 * j + 1]);
                    ia.push(idx[r * width + 2 * j]);
                    ib.push(idx[r * width + 2 * j + 1]);
                }
            }
            // keep = [a >= b] for max, [a <= b] for min: 1 minus the sign of a - b (or b - a).
            let diff: Vec<u128> = a.iter().zip(&b).map(|(x, y)| if maximum { x.wrapping_sub(*y) } else { y.wrapping_sub(*x) }).collect();
            let neg = self.proto.is_negative(&diff, &mut steps).await?;
            let keep: Vec<u128> = neg.iter().map(|v| if first { 1u128.wrapping_sub(*v) } else { v.wrapping_neg() }).collect();
            let mut gaps: Vec<u128> = a.iter().zip(&b).map(|(x, y)| x.wrapping_sub(*y)).collect();
            gaps.extend(ia.iter().zip(&ib).map(|(x, y)| x.wrapping_sub(*y)));
            let keep2: Vec<u128> = keep.iter().chain(&keep).copied().collect();
            let picked = self.proto.mul(&keep2, &gaps, steps.tag()).await?;
            let next_width = half + width % 2;
            let (mut nv, mut ni) = (Vec::with_capacity(rows * next_width), Vec::with_capacity(rows * next_width));
            for r in 0..rows {
                for j in 0..half {
                    let k = r * half + j;
                    nv.push(b[k].wrapping_add(picked[k]));
                    ni.push(ib[k].wrapping_add(picked[rows * half + k]));
                }
                if width % 2 == 1 {
                    nv.push(vals[r * width + width - 1]);
                    ni.push(idx[r * width + width - 1]);
                }
            }
            vals = nv;
            idx = ni;
            width = next_width;
        }
        Ok(match op {
            ReduceOp::Max | ReduceOp::Min => Value::Shared { share: to_array(vals, &outer)?, dtype },
            ReduceOp::ArgMax | ReduceOp::ArgMin => Value::Shared { share: to_array(idx, &outer)?, dtype: DType::Int },
        })
    }

    /// `a op b`; `left` is a's register, by which a secret matmul finds a kept mask.
    async fn binary(&mut self, op: BinOp, a: &Value, b: &Value, seq: u32, left: Reg) -> Result<Value, VmError> {
        let dtype = a.dtype();
        if let (Value::Plain(x), Value::Plain(y)) = (a, b) {
            return Ok(Value::plain(plain::binary(op, x, y)?));
        }
        if op.is_comparison() {
            return self.compare(op, a, b, seq).await;
        }
        if op.is_logical() {
            // On 0/1 shares: a && b = ab, a || b = a + b - ab; a product of unscaled bits.
            let (x, y) = (self.as_share(a)?, self.as_share(b)?);
            let ab = self.mul_shares(&x, &y, seq).await?;
            let share = if op == BinOp::And {
                ab
            } else {
                let sum = value::zip_with(&x, &y, u128::wrapping_add)?;
                value::zip_with(&sum, &ab, u128::wrapping_sub)?
            };
            return Ok(Value::Shared { share, dtype: DType::Bool });
        }
        let truncate = dtype == DType::Fix && b.dtype() == DType::Fix && matches!(op, BinOp::Mul | BinOp::MatMul | BinOp::Div);
        let share = match (op, a, b) {
            (BinOp::Add | BinOp::Sub, a, b) => {
                let (x, y) = (self.as_share(a)?, self.as_share(b)?);
                if op == BinOp::Add {
                    value::zip_with(&x, &y, u128::wrapping_add)?
                } else {
                    value::zip_with(&x, &y, u128::wrapping_sub)?
                }
            }
            (BinOp::Mul, Value::Shared { share, .. }, Value::Plain(p)) | (BinOp::Mul, Value::Plain(p), Value::Shared { share, .. }) => {
                value::zip_with(share, &self.encode(p)?, u128::wrapping_mul)?
            }
            // Two fixed-point shares: the product and its truncation in one go.
            (BinOp::Mul, Value::Shared { share: x, .. }, Value::Shared { share: y, .. }) if truncate => {
                let shape = value::broadcast_shape(x.shape(), y.shape())?;
                // Views: operands of the result's shape are used where they lie, not copied.
                let (x, y) = (value::broadcast_view(x, &shape)?, value::broadcast_view(y, &shape)?);
                let (x, y) = (x.as_standard_layout(), y.as_standard_layout());
                let (Some(x), Some(y)) = (x.as_slice(), y.as_slice()) else {
                    return Err(VmError::Internal("a standard-layout array without a slice".into()));
                };
                // Large vectors go a chunk at a time (one round each): the triples, masked
                // operands and products of a chunk stay small, whatever the input's size.
                let mut z = Vec::with_capacity(x.len());
                for (c, (xs, ys)) in x.chunks(MUL_CHUNK).zip(y.chunks(MUL_CHUNK)).enumerate() {
                    let step = 2 * c as u32;
                    z.extend(self.proto.mul_trunc(xs, ys, [self.tag(seq, step), self.tag(seq, step + 1)]).await?);
                }
                return Ok(Value::Shared { share: to_array(z, &shape)?, dtype });
            }
            (BinOp::Mul, Value::Shared { share: x, .. }, Value::Shared { share: y, .. }) => self.mul_shares(x, y, seq).await?,
            // Division by a public value is multiplication by its reciprocal, computed in plaintext.
            (BinOp::Div, Value::Shared { share, .. }, Value::Plain(p)) => {
                let reciprocal = plain::unary(UnaryOp::Reciprocal, &plain::cast_to_fix(p))?;
                value::zip_with(share, &self.encode(&reciprocal)?, u128::wrapping_mul)?
            }
            // c / b for a public c: the reciprocal scaled by c, with no product of shares.
            (BinOp::Div, Value::Plain(c), Value::Shared { share: y, .. }) => {
                let c = plain::cast_to_fix(c);
                let shape = value::broadcast_shape(c.shape(), y.shape())?;
                let y = value::to_flat(&value::broadcast_to(y, &shape)?);
                let mut steps = Steps::new(seq, self.iter_key);
                let r = to_array(self.proto.reciprocal(&y, &mut steps).await?, &shape)?;
                let scaled = value::zip_with(&r, &self.encode(&c)?, u128::wrapping_mul)?;
                let q = self.proto.truncate(&value::to_flat(&scaled), steps.tag()).await?;
                return Ok(Value::Shared { share: to_array(q, &shape)?, dtype });
            }
            // a / b = a * (1 / b), the reciprocal by Newton's method.
            (BinOp::Div, a, b) => {
                let (x, y) = (self.as_share(a)?, self.as_share(b)?);
                let shape = value::broadcast_shape(x.shape(), y.shape())?;
                let (x, y) = (value::to_flat(&value::broadcast_to(&x, &shape)?), value::to_flat(&value::broadcast_to(&y, &shape)?));
                let mut steps = Steps::new(seq, self.iter_key);
                let r = self.proto.reciprocal(&y, &mut steps).await?;
                let q = self.proto.mul_fix(&x, &r, &mut steps).await?;
                return Ok(Value::Shared { share: to_array(q, &shape)?, dtype });
            }
            (BinOp::MatMul, Value::Shared { share, .. }, Value::Plain(p)) => value::matmul_with(share, &self.encode(p)?, ring::matmul)?,
            (BinOp::MatMul, Value::Plain(p), Value::Shared { share, .. }) => self.public_matmul(p, share)?,
            (BinOp::MatMul, Value::Shared { share: x, .. }, Value::Shared { share: y, .. }) => {
                let (dims, shape) = value::matmul_dims(x.shape(), y.shape())?;
                let tag = self.tag(seq, 0);
                let z = self.secret_matmul(left, x, y, dims, tag).await?;
                to_array(z, &shape)?
            }
            (op, _, _) => return Err(not_yet(&format!("`{}` on secrets", op.name()))),
        };
        let share = if truncate {
            let shape = share.shape().to_vec();
            let tag = self.tag(seq, 1);
            to_array(self.proto.truncate(&value::to_flat(&share), tag).await?, &shape)?
        } else {
            share
        };
        Ok(Value::Shared { share, dtype })
    }

    /// The elementwise product of two shared tensors, broadcast to one shape: one Beaver round.
    async fn mul_shares(&mut self, x: &ArrayD<u128>, y: &ArrayD<u128>, seq: u32) -> Result<ArrayD<u128>, VmError> {
        let shape = value::broadcast_shape(x.shape(), y.shape())?;
        let (x, y) = (value::broadcast_to(x, &shape)?, value::broadcast_to(y, &shape)?);
        let tag = self.tag(seq, 0);
        let z = self.proto.mul(&value::to_flat(&x), &value::to_flat(&y), tag).await?;
        to_array(z, &shape)
    }

    /// `c ? a : b`. A public condition picks shares locally; a shared one (0 or 1, unscaled)
    /// computes b + c (a - b) with one Beaver product, which needs no truncation.
    async fn select(&mut self, c: &Value, a: &Value, b: &Value, seq: u32) -> Result<Value, VmError> {
        let dtype = a.dtype();
        match (c.as_plain(), a, b) {
            (Some(Plain::Bool(c)), Value::Plain(a), Value::Plain(b)) => Ok(Value::plain(plain::select(c, a, b)?)),
            (Some(Plain::Bool(c)), _, _) => {
                let (x, y) = (self.as_share(a)?, self.as_share(b)?);
                let shape = value::broadcast_shape(c.shape(), &value::broadcast_shape(x.shape(), y.shape())?)?;
                let (c, x, y) = (value::broadcast_to(c, &shape)?, value::broadcast_to(&x, &shape)?, value::broadcast_to(&y, &shape)?);
                let share = ndarray::Zip::from(&c).and(&x).and(&y).map_collect(|&c, &x, &y| if c { x } else { y });
                Ok(Value::Shared { share, dtype })
            }
            (None, _, _) => {
                let Value::Shared { share: cs, .. } = c else { return Err(VmError::Internal("select's condition is neither plaintext nor a share".into())) };
                let (x, y) = (self.as_share(a)?, self.as_share(b)?);
                let diff = value::zip_with(&x, &y, u128::wrapping_sub)?;
                let prod = self.mul_shares(cs, &diff, seq).await?;
                Ok(Value::Shared { share: value::zip_with(&prod, &y, u128::wrapping_add)?, dtype })
            }
            _ => Err(VmError::Internal("select on a condition that is not bool".into())),
        }
    }
}

fn not_yet(what: &str) -> VmError {
    VmError::Value(format!("{what} needs a protocol this sfvm does not implement"))
}

/// The value of register `r` among operands moved out by `take_operands`.
fn operand(taken: &[(Reg, Value)], r: Reg) -> &Value {
    // take_operands moved out every register asked for, so `r` is there.
    &taken[taken.iter().position(|(t, _)| *t == r).unwrap_or(0)].1
}

fn scalar(value: Literal) -> Plain {
    let e = IxDyn(&[]);
    match value {
        Literal::Fix(v) => Plain::Fix(ArrayD::from_elem(e, v)),
        Literal::Int(v) => Plain::Int(ArrayD::from_elem(e, v)),
        Literal::Bool(v) => Plain::Bool(ArrayD::from_elem(e, v)),
    }
}

/// Folds loop iteration numbers into one tag component (FNV-1a); equal stacks give equal keys.
fn fold_iterations(stack: &[u64]) -> u64 {
    stack.iter().fold(0xcbf29ce484222325u64, |h, &i| (h ^ i).wrapping_mul(0x100000001b3)).wrapping_add(stack.len() as u64)
}

fn to_array<T>(v: Vec<T>, shape: &[usize]) -> Result<ArrayD<T>, VmError> {
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| VmError::Internal(format!("shape {}: {e}", fmt_shape(shape))))
}

fn plain_to_bytes(p: &Plain) -> Vec<u8> {
    match p {
        Plain::Fix(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Plain::Int(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Plain::Bool(a) => a.iter().flat_map(|&v| (v as i64).to_le_bytes()).collect(),
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
        DType::Bool => Plain::Bool(ArrayD::from_shape_vec(IxDyn(shape), words.map(|w| i64::from_le_bytes(w) != 0).collect()).map_err(shaped)?),
        DType::Fix => Plain::Fix(ArrayD::from_shape_vec(IxDyn(shape), words.map(f64::from_le_bytes).collect()).map_err(shaped)?),
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
