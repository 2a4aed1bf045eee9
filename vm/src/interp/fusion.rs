//! Fusion: a run of local elementwise instructions on shares executed as one compiled kernel.
//!
//! At load time the plan marks every run of two or more consecutive instructions that can be
//! local elementwise ring operations: `+`, `-`, `*`, `/` and negation ([`find_chains`]).
//! Whether they are local is known only when they run (a loop-carried value may start public
//! and become secret), so at run time the interpreter looks at the operands, instruction by
//! instruction from where it stands: while every product or division has a public side, every
//! secret operand has one shape of at least [`MIN_ELEMENTS`] elements and every public one is
//! a scalar or that shape, the instructions join a [`Chain`] whose inputs are the shares and
//! encoded public arrays, whose parameters are the encoded public scalars, and whose outputs
//! are the values used after it. The first instruction that does not fit (a product of two
//! secrets, a broadcast) ends the chain and runs on its own; fusion resumes after it.
//! Two-party truncations are part of the chain (they are local shifts); with more parties a
//! fixed-point product by a public value needs a round, and ends the chain.
//!
//! Kernels are compiled by Cranelift the first time a chain runs (about 1 ms, the work of some
//! 10^5 elements op by op, hence the minimum size) and reused for the rest of the run. The
//! fused kernel performs the same ring operations as the instructions, so results are
//! bit-identical to `--no-jit`.

use super::{Machine, Plan};
use crate::error::VmError;
use crate::link::Transport;
use crate::plain;
use crate::value::{self, Plain, Value};
use ndarray::{ArrayD, IxDyn};
use sf_isa::{BinOp, DType, Instr, Reg, UnaryOp};
use sf_jit::{Chain, Kernel, Node};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The smallest vectors worth a fused kernel.
pub const MIN_ELEMENTS: usize = 1 << 15;
/// The most instructions one kernel takes: keeps Cranelift's work and register pressure small.
const MAX_CHAIN: usize = 64;

/// For each instruction of a block inside a run of two or more candidates for fusion, the end
/// of that run (capped at [`MAX_CHAIN`] instructions from it).
pub(super) fn find_chains(code: &[Instr]) -> Vec<Option<usize>> {
    let mut chains = vec![None; code.len()];
    let mut start = 0;
    while start < code.len() {
        let mut end = start;
        let mut defs = HashSet::new();
        while end < code.len() && candidate(&code[end]) && code[end].defs().iter().all(|d| defs.insert(*d)) {
            end += 1;
        }
        if end - start >= 2 {
            for (pc, slot) in chains.iter_mut().enumerate().take(end).skip(start) {
                *slot = Some(end.min(pc + MAX_CHAIN));
            }
        }
        start = end.max(start + 1);
    }
    chains
}

fn candidate(instr: &Instr) -> bool {
    matches!(instr, Instr::Binary { op: BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div, .. } | Instr::Unary { op: UnaryOp::Neg, .. })
}

/// The kernels compiled in this run, by chain; `None` for a chain Cranelift could not compile.
#[derive(Default)]
pub(super) struct Kernels {
    by_chain: HashMap<Chain, Option<Arc<Kernel>>>,
}

/// Where a kernel input comes from.
#[derive(Clone)]
enum Source {
    /// The share in a register.
    Share(Reg),
    /// A public array, encoded.
    Encoded(Vec<u128>),
}

/// An operand as the fusion sees it.
enum Operand {
    Secret(Node, DType),
    Public(Arc<Plain>),
}

/// A run of instructions turned into a chain, with what its kernel reads and writes.
struct Fused {
    chain: Chain,
    sources: Vec<Source>,
    params: Vec<u128>,
    /// The registers the run's values go to, with their dtypes, in the chain's output order.
    outputs: Vec<(Reg, DType)>,
    shape: Vec<usize>,
    /// How many instructions the chain covers.
    len: usize,
}

/// Builds a chain from instructions, operand by operand.
struct Builder<'m, T: Transport> {
    m: &'m Machine<T>,
    chain: Chain,
    sources: Vec<Source>,
    params: Vec<u128>,
    shape: Option<Vec<usize>>,
    secrets: HashMap<Reg, (Node, DType)>,
    first: bool,
}

// Not derived: the machine is borrowed, whatever its transport.
impl<T: Transport> Clone for Builder<'_, T> {
    fn clone(&self) -> Self {
        Builder {
            m: self.m,
            chain: self.chain.clone(),
            sources: self.sources.clone(),
            params: self.params.clone(),
            shape: self.shape.clone(),
            secrets: self.secrets.clone(),
            first: self.first,
        }
    }
}

impl<T: Transport> Builder<'_, T> {
    fn operand(&mut self, r: Reg) -> Option<Operand> {
        if let Some(&(node, dtype)) = self.secrets.get(&r) {
            return Some(Operand::Secret(node, dtype));
        }
        match self.m.get(r).ok()? {
            Value::Shared { share, dtype } => {
                self.same_shape(share.shape())?;
                let node = self.chain.input();
                self.sources.push(Source::Share(r));
                self.secrets.insert(r, (node, *dtype));
                Some(Operand::Secret(node, *dtype))
            }
            Value::Plain(p) => Some(Operand::Public(p.clone())),
        }
    }

    fn same_shape(&mut self, shape: &[usize]) -> Option<()> {
        match &self.shape {
            Some(s) if s.as_slice() != shape => None,
            Some(_) => Some(()),
            None if shape.iter().product::<usize>() < MIN_ELEMENTS => None,
            None => {
                self.shape = Some(shape.to_vec());
                Some(())
            }
        }
    }

    /// A public value as a node: a parameter if it is a scalar, else an input of the run's shape.
    fn public(&mut self, p: &Plain) -> Option<Node> {
        let encoded = self.m.encode(p).ok()?;
        if p.shape().is_empty() {
            self.params.push(encoded.iter().next().copied()?);
            return Some(self.chain.param());
        }
        self.same_shape(p.shape())?;
        self.sources.push(Source::Encoded(value::to_flat(&encoded)));
        Some(self.chain.input())
    }

    /// Checks that a public operand combines with the run's shape without broadcasting, for
    /// the parties that do not add it.
    fn fits(&mut self, p: &Plain) -> Option<()> {
        if p.shape().is_empty() {
            Some(())
        } else {
            self.same_shape(p.shape())
        }
    }

    /// The two-party local truncation by f bits, this party's side.
    fn truncate(&mut self, z: Node) -> Option<Node> {
        if self.m.proto.n() != 2 {
            return None;
        }
        Some(self.chain.truncate(z, self.m.frac(), self.first))
    }

    /// One instruction, as the interpreter would run it on these operands; `None` when it is
    /// not local elementwise work on shares.
    fn instr(&mut self, instr: &Instr) -> Option<(Reg, Node, DType)> {
        use Operand::{Public, Secret};
        match *instr {
            Instr::Unary { dst, op: UnaryOp::Neg, a, .. } => match self.operand(a)? {
                Secret(x, dtype) => Some((dst, self.chain.neg(x), dtype)),
                Public(_) => None,
            },
            Instr::Binary { dst, op, a, b, .. } => {
                let (oa, ob) = (self.operand(a)?, self.operand(b)?);
                let dtype_of = |o: &Operand| match o {
                    Secret(_, d) => *d,
                    Public(p) => p.dtype(),
                };
                let (dtype, b_dtype) = (dtype_of(&oa), dtype_of(&ob));
                let truncate = dtype == DType::Fix && b_dtype == DType::Fix;
                let node = match (op, oa, ob) {
                    (BinOp::Add, Secret(x, _), Secret(y, _)) => self.chain.add(x, y),
                    (BinOp::Sub, Secret(x, _), Secret(y, _)) => self.chain.sub(x, y),
                    // Party 0 holds a public value's share; the others hold zeros.
                    (BinOp::Add | BinOp::Sub, Secret(x, _), Public(p)) => {
                        self.fits(&p)?;
                        if !self.first {
                            x
                        } else {
                            let y = self.public(&p)?;
                            if op == BinOp::Add { self.chain.add(x, y) } else { self.chain.sub(x, y) }
                        }
                    }
                    (BinOp::Add | BinOp::Sub, Public(p), Secret(y, _)) => {
                        self.fits(&p)?;
                        match (self.first, op) {
                            (true, _) => {
                                let x = self.public(&p)?;
                                if op == BinOp::Add { self.chain.add(x, y) } else { self.chain.sub(x, y) }
                            }
                            (false, BinOp::Add) => y,
                            (false, _) => self.chain.neg(y),
                        }
                    }
                    (BinOp::Mul, Secret(x, _), Public(p)) | (BinOp::Mul, Public(p), Secret(x, _)) => {
                        let k = self.public(&p)?;
                        let z = self.chain.mul(x, k);
                        if truncate { self.truncate(z)? } else { z }
                    }
                    // Division by a public value: the product with its reciprocal, computed in
                    // plaintext, as the interpreter does.
                    (BinOp::Div, Secret(x, _), Public(p)) => {
                        let reciprocal = plain::unary(UnaryOp::Reciprocal, &plain::cast_to_fix(&p)).ok()?;
                        let k = self.public(&reciprocal)?;
                        let z = self.chain.mul(x, k);
                        if truncate { self.truncate(z)? } else { z }
                    }
                    _ => return None,
                };
                Some((dst, node, dtype))
            }
            _ => None,
        }
    }
}

impl<T: Transport> Machine<T> {
    /// The chain for the longest prefix of `code` that fuses on the values now in the
    /// registers, if it has two instructions or more; `frees` are the registers each
    /// instruction frees, so that a value used only inside the chain stays in the kernel's
    /// registers.
    fn fuse(&self, code: &[Instr], frees: &[Vec<Reg>]) -> Option<Fused> {
        let mut b = Builder { m: self, chain: Chain::new(), sources: Vec::new(), params: Vec::new(), shape: None, secrets: HashMap::new(), first: self.proto.me() == 0 };
        let mut defined = Vec::with_capacity(code.len());
        for instr in code {
            // An instruction that does not fit may have added nodes before it gave up: try it
            // on a copy, and keep the chain built before it.
            let mut trial = b.clone();
            let Some((dst, node, dtype)) = trial.instr(instr) else { break };
            b = trial;
            b.secrets.insert(dst, (node, dtype));
            defined.push(dst);
        }
        if defined.len() < 2 {
            return None;
        }
        let frees = &frees[..defined.len()];
        let freed: HashSet<Reg> = frees.iter().flatten().copied().collect();
        let mut outputs = Vec::new();
        for dst in defined.into_iter().filter(|d| !freed.contains(d)) {
            let (node, dtype) = b.secrets[&dst];
            b.chain.output(node);
            outputs.push((dst, dtype));
        }
        let shape = b.shape?;
        Some(Fused { chain: b.chain, sources: b.sources, params: b.params, outputs, shape, len: frees.len() })
    }

    /// Runs instructions `start..` (before `end`) of a block as one kernel, as many as fuse;
    /// returns where the chain stopped, or `None` if fewer than two fused (the caller runs
    /// the instruction at `start` on its own).
    pub(super) fn run_fused(&mut self, code: &[Instr], plan: &Plan, start: usize, end: usize) -> Result<Option<usize>, VmError> {
        let Some(kernels) = self.kernels.as_ref() else { return Ok(None) };
        let Some(fused) = self.fuse(&code[start..end], &plan.frees[start..end]) else { return Ok(None) };
        let kernel = match kernels.by_chain.get(&fused.chain) {
            Some(Some(kernel)) => kernel.clone(),
            Some(None) => return Ok(None),
            None => {
                // A chain Cranelift cannot compile runs op by op, with the same results.
                let kernel = Kernel::compile(&fused.chain).ok().map(Arc::new);
                if let Some(kernels) = self.kernels.as_mut() {
                    kernels.by_chain.insert(fused.chain.clone(), kernel.clone());
                }
                match kernel {
                    Some(kernel) => kernel,
                    None => return Ok(None),
                }
            }
        };
        let mut inputs: Vec<Cow<[u128]>> = Vec::with_capacity(fused.sources.len());
        for source in &fused.sources {
            inputs.push(match source {
                Source::Share(r) => match self.get(*r)? {
                    Value::Shared { share, .. } => share.as_slice().map_or_else(|| Cow::Owned(value::to_flat(share)), Cow::Borrowed),
                    Value::Plain(_) => return Err(VmError::Internal("a fused input is no longer a share".into())),
                },
                Source::Encoded(v) => Cow::Borrowed(v.as_slice()),
            });
        }
        let slices: Vec<&[u128]> = inputs.iter().map(|c| c.as_ref()).collect();
        let results = kernel.run(&slices, &fused.params);
        drop(inputs);
        for ((reg, dtype), v) in fused.outputs.iter().zip(results) {
            let share = ArrayD::from_shape_vec(IxDyn(&fused.shape), v).map_err(|e| VmError::Internal(e.to_string()))?;
            self.set_reg(*reg, Value::Shared { share, dtype: *dtype })?;
        }
        Ok(Some(start + fused.len))
    }
}
