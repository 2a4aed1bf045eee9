//! Fused elementwise kernels over Z_2^128, compiled by Cranelift while a program runs.
//!
//! A [`Chain`] is a small dataflow graph of local ring operations (additions, products by
//! public values, negations, the shifts of a local truncation) on vectors of equal length.
//! Run op by op, each operation reads and writes whole vectors, so a chain of k operations
//! moves about 3k vectors through memory; [`Kernel::compile`] turns it into one loop that
//! loads each input once, keeps every intermediate in registers and stores only the outputs.
//!
//! This crate holds the project's JIT and the `unsafe` it needs (calling generated code):
//! [`Kernel::run`] checks every length before the call, and the generated loop touches
//! exactly `n` elements of each vector.

#![deny(unsafe_op_in_unsafe_fn)]

use cranelift_codegen::ir::{types, AbiParam, InstBuilder, MemFlagsData, UserFuncName, Value};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};

/// A node of a chain: the index of an earlier operation.
pub type Node = u32;

/// One operation of a chain, on wrapping u128 elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Element i of input vector k.
    Input(u32),
    /// Scalar parameter k, the same for every element.
    Param(u32),
    Add(Node, Node),
    Sub(Node, Node),
    Mul(Node, Node),
    Neg(Node),
    /// Arithmetic shift right, reading the element as a signed i128.
    Sar(Node, u32),
}

/// A graph of elementwise operations, built in order: each operation reads only earlier ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Chain {
    ops: Vec<Op>,
    outputs: Vec<Node>,
    inputs: u32,
    params: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum JitError {
    #[error("Cranelift does not support this CPU: {0}")]
    Host(String),
    #[error("Cranelift failed to compile a fused kernel: {0}")]
    Compile(String),
}

impl Chain {
    pub fn new() -> Chain {
        Chain::default()
    }

    fn push(&mut self, op: Op) -> Node {
        let operands: &[Node] = match &op {
            Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) => &[*a, *b],
            Op::Neg(a) | Op::Sar(a, _) => &[*a],
            Op::Input(_) | Op::Param(_) => &[],
        };
        assert!(operands.iter().all(|&a| (a as usize) < self.ops.len()), "a chain operation reads a later one");
        self.ops.push(op);
        (self.ops.len() - 1) as Node
    }

    /// The next input vector.
    pub fn input(&mut self) -> Node {
        self.inputs += 1;
        self.push(Op::Input(self.inputs - 1))
    }

    /// The next scalar parameter.
    pub fn param(&mut self) -> Node {
        self.params += 1;
        self.push(Op::Param(self.params - 1))
    }

    pub fn add(&mut self, a: Node, b: Node) -> Node {
        self.push(Op::Add(a, b))
    }

    pub fn sub(&mut self, a: Node, b: Node) -> Node {
        self.push(Op::Sub(a, b))
    }

    pub fn mul(&mut self, a: Node, b: Node) -> Node {
        self.push(Op::Mul(a, b))
    }

    pub fn neg(&mut self, a: Node) -> Node {
        self.push(Op::Neg(a))
    }

    pub fn sar(&mut self, a: Node, bits: u32) -> Node {
        assert!(bits < 128, "a shift of {bits} bits");
        self.push(Op::Sar(a, bits))
    }

    /// One party's side of the two-party local truncation by `bits` (SecureML): the first
    /// party shifts its share, the second the negation of its own and negates back.
    pub fn truncate(&mut self, z: Node, bits: u32, first: bool) -> Node {
        if first {
            self.sar(z, bits)
        } else {
            let minus = self.neg(z);
            let shifted = self.sar(minus, bits);
            self.neg(shifted)
        }
    }

    /// Marks a node as an output vector; outputs come back in the order they were marked.
    pub fn output(&mut self, a: Node) {
        assert!((a as usize) < self.ops.len(), "an output that is not a node");
        self.outputs.push(a);
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub fn n_inputs(&self) -> usize {
        self.inputs as usize
    }

    pub fn n_params(&self) -> usize {
        self.params as usize
    }

    pub fn n_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Runs the chain one operation at a time, each over whole vectors, as an interpreter
    /// would: the reference the fused kernel must match bit for bit.
    pub fn run_op_by_op(&self, inputs: &[&[u128]], params: &[u128]) -> Vec<Vec<u128>> {
        let n = check_lengths(self, inputs, params);
        let mut values: Vec<std::borrow::Cow<[u128]>> = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            let v: Vec<u128> = match *op {
                Op::Input(k) => {
                    values.push(std::borrow::Cow::Borrowed(inputs[k as usize]));
                    continue;
                }
                Op::Param(k) => vec![params[k as usize]; n],
                Op::Add(a, b) => zip(&values[a as usize], &values[b as usize], u128::wrapping_add),
                Op::Sub(a, b) => zip(&values[a as usize], &values[b as usize], u128::wrapping_sub),
                Op::Mul(a, b) => zip(&values[a as usize], &values[b as usize], u128::wrapping_mul),
                Op::Neg(a) => values[a as usize].iter().map(|v| v.wrapping_neg()).collect(),
                Op::Sar(a, bits) => values[a as usize].iter().map(|&v| ((v as i128) >> bits) as u128).collect(),
            };
            values.push(std::borrow::Cow::Owned(v));
        }
        self.outputs.iter().map(|&o| values[o as usize].to_vec()).collect()
    }
}

/// Beaver's local step for one party of two, with its local truncation by `frac` bits, as
/// one chain over seven vectors (the peer's openings te and tf, the operands x and y, the
/// triple a, b, c): e = te + x - a, g = tf + y - b, z = c + e b + g a (+ e g on the first
/// party), then the truncation. Tests and benchmarks compare kernels on it.
pub fn beaver_step(first: bool, frac: u32) -> Chain {
    let mut c = Chain::new();
    let [te, tf, x, y, a, b, t] = [(); 7].map(|_| c.input());
    let e = c.add(te, x);
    let e = c.sub(e, a);
    let g = c.add(tf, y);
    let g = c.sub(g, b);
    let eb = c.mul(e, b);
    let ga = c.mul(g, a);
    let z = c.add(t, eb);
    let mut z = c.add(z, ga);
    if first {
        let eg = c.mul(e, g);
        z = c.add(z, eg);
    }
    let z = c.truncate(z, frac, first);
    c.output(z);
    c
}

/// A public polynomial combination of three shares with its truncation, one party's side:
/// (c0 + c1 x + c2 x2 - c3 x3) / 2^frac over inputs x, x2, x3 and parameters c0..c3, as a
/// program's `c0 + c1 * x + ...` fuses. Tests and benchmarks compare kernels on it.
pub fn polynomial(first: bool, frac: u32) -> Chain {
    let mut c = Chain::new();
    let [x, x2, x3] = [(); 3].map(|_| c.input());
    let [c0, c1, c2, c3] = [(); 4].map(|_| c.param());
    let t1 = c.mul(x, c1);
    let t2 = c.mul(x2, c2);
    let t3 = c.mul(x3, c3);
    let s = c.add(t1, t2);
    let s = c.sub(s, t3);
    let s = c.add(s, c0);
    let s = c.truncate(s, frac, first);
    c.output(s);
    c
}

fn zip(a: &[u128], b: &[u128], f: fn(u128, u128) -> u128) -> Vec<u128> {
    a.iter().zip(b).map(|(&a, &b)| f(a, b)).collect()
}

/// The common length of the inputs (0 for a chain without inputs); panics on a mismatch,
/// which is the caller's bug.
fn check_lengths(chain: &Chain, inputs: &[&[u128]], params: &[u128]) -> usize {
    assert_eq!(inputs.len(), chain.n_inputs(), "inputs given to a chain");
    assert_eq!(params.len(), chain.n_params(), "parameters given to a chain");
    let n = inputs.first().map_or(0, |v| v.len());
    assert!(inputs.iter().all(|v| v.len() == n), "the inputs of a chain differ in length");
    n
}

/// `fn(inputs: *const *const u128, params: *const u128, outputs: *const *mut u128, n: usize)`.
type KernelFn = unsafe extern "C" fn(*const *const u128, *const u128, *const *mut u128, usize);

/// A chain compiled to machine code.
pub struct Kernel {
    chain: Chain,
    entry: KernelFn,
    /// Owns the code `entry` points into; freed on drop.
    module: Option<JITModule>,
}

impl Kernel {
    /// Compiles `chain` for this CPU (0.2-1 ms for a chain of a few operations).
    pub fn compile(chain: &Chain) -> Result<Kernel, JitError> {
        let mut flags = settings::builder();
        for (name, value) in [("opt_level", "speed"), ("is_pic", "false"), ("use_colocated_libcalls", "false")] {
            flags.set(name, value).map_err(|e| JitError::Host(e.to_string()))?;
        }
        let isa = cranelift_native::builder()
            .map_err(|e| JitError::Host(e.to_string()))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| JitError::Host(e.to_string()))?;
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let ptr = module.target_config().pointer_type();
        let mut ctx = module.make_context();
        for _ in 0..4 {
            ctx.func.signature.params.push(AbiParam::new(ptr));
        }
        let id = module.declare_function("fused", Linkage::Local, &ctx.func.signature).map_err(|e| JitError::Compile(e.to_string()))?;
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        let mut fctx = FunctionBuilderContext::new();
        let frontend = module.target_config();
        build_loop(FunctionBuilder::new(&mut ctx.func, &mut fctx), chain, ptr).finalize(frontend);
        module.define_function(id, &mut ctx).map_err(|e| JitError::Compile(format!("{e:?}")))?;
        module.clear_context(&mut ctx);
        module.finalize_definitions().map_err(|e| JitError::Compile(e.to_string()))?;
        let code = module.get_finalized_function(id);
        // SAFETY: `code` is the finalized body of a function declared with exactly this
        // signature (four pointer-sized parameters, no result) in the C calling convention.
        let entry = unsafe { std::mem::transmute::<*const u8, KernelFn>(code) };
        Ok(Kernel { chain: chain.clone(), entry, module: Some(module) })
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Runs the kernel on equal-length inputs; returns one vector per output of the chain.
    pub fn run(&self, inputs: &[&[u128]], params: &[u128]) -> Vec<Vec<u128>> {
        let n = check_lengths(&self.chain, inputs, params);
        let mut outputs: Vec<Vec<u128>> = (0..self.chain.n_outputs()).map(|_| Vec::with_capacity(n)).collect();
        let in_ptrs: Vec<*const u128> = inputs.iter().map(|v| v.as_ptr()).collect();
        let out_ptrs: Vec<*mut u128> = outputs.iter_mut().map(|v| v.as_mut_ptr()).collect();
        // SAFETY: every input holds n elements and every output has capacity for n (checked
        // and allocated above); the generated loop reads elements 0..n of each input, reads
        // the n_params parameters, and writes elements 0..n of each output, nothing else.
        unsafe {
            (self.entry)(in_ptrs.as_ptr(), params.as_ptr(), out_ptrs.as_ptr(), n);
            for v in &mut outputs {
                v.set_len(n);
            }
        }
        outputs
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: `entry` is the only pointer into this module's code; it is not running
            // (`run` borrows the kernel) and goes with the kernel.
            unsafe { module.free_memory() };
        }
    }
}

/// The kernel's body: parameters and vector addresses loaded once, then one loop over the
/// elements in which each input is loaded, the chain computed in registers, each output stored.
fn build_loop<'a>(mut b: FunctionBuilder<'a>, chain: &Chain, ptr: types::Type) -> FunctionBuilder<'a> {
    let entry = b.create_block();
    let header = b.create_block();
    let body = b.create_block();
    let exit = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let [inputs, params, outputs, n] = [0, 1, 2, 3].map(|i| b.block_params(entry)[i]);
    // Every address is in bounds and 16-byte aligned (`Kernel::run` passes whole vectors).
    let flags = MemFlagsData::trusted();
    let word = ptr.bytes() as i32;
    let in_base: Vec<Value> = (0..chain.n_inputs()).map(|k| b.ins().load(ptr, flags, inputs, k as i32 * word)).collect();
    let out_base: Vec<Value> = (0..chain.n_outputs()).map(|k| b.ins().load(ptr, flags, outputs, k as i32 * word)).collect();
    let param: Vec<Value> = (0..chain.n_params()).map(|k| b.ins().load(types::I128, flags, params, k as i32 * 16)).collect();
    let zero = b.ins().iconst(ptr, 0);
    b.ins().jump(header, &[zero.into()]);

    b.append_block_param(header, ptr);
    b.switch_to_block(header);
    let i = b.block_params(header)[0];
    let more = b.ins().icmp(cranelift_codegen::ir::condcodes::IntCC::UnsignedLessThan, i, n);
    b.ins().brif(more, body, &[], exit, &[]);

    b.switch_to_block(body);
    let offset = b.ins().ishl_imm_u(i, 4);
    let mut values: Vec<Value> = Vec::with_capacity(chain.ops.len());
    for op in &chain.ops {
        let v = match *op {
            Op::Input(k) => {
                let addr = b.ins().iadd(in_base[k as usize], offset);
                b.ins().load(types::I128, flags, addr, 0)
            }
            Op::Param(k) => param[k as usize],
            Op::Add(x, y) => b.ins().iadd(values[x as usize], values[y as usize]),
            Op::Sub(x, y) => b.ins().isub(values[x as usize], values[y as usize]),
            Op::Mul(x, y) => b.ins().imul(values[x as usize], values[y as usize]),
            Op::Neg(x) => b.ins().ineg(values[x as usize]),
            Op::Sar(x, bits) => sar_i128(&mut b, values[x as usize], bits),
        };
        values.push(v);
    }
    for (k, &o) in chain.outputs.iter().enumerate() {
        let addr = b.ins().iadd(out_base[k], offset);
        b.ins().store(flags, values[o as usize], addr, 0);
    }
    let next = b.ins().iadd_imm_u(i, 1);
    b.ins().jump(header, &[next.into()]);

    b.switch_to_block(exit);
    b.ins().return_(&[]);
    b.seal_all_blocks();
    b
}

/// An arithmetic shift of an i128 by a constant, on its two 64-bit halves: two or three
/// instructions (shrd and sar), where Cranelift's generic i128 shift handles any amount with
/// a longer sequence.
fn sar_i128(b: &mut FunctionBuilder, x: Value, bits: u32) -> Value {
    if bits == 0 {
        return x;
    }
    let (lo, hi) = b.ins().isplit(x);
    let (lo, hi) = if bits < 64 {
        let down = b.ins().ushr_imm_u(lo, bits as i64);
        let up = b.ins().ishl_imm_u(hi, 64 - bits as i64);
        (b.ins().bor(down, up), b.ins().sshr_imm_u(hi, bits as i64))
    } else {
        (b.ins().sshr_imm_u(hi, (bits - 64) as i64), b.ins().sshr_imm_u(hi, 63))
    };
    b.ins().iconcat(lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of u128s that covers the high bits (sign, carries).
    fn words(n: usize, seed: u64) -> Vec<u128> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                let mut next = || {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    s
                };
                ((next() as u128) << 64) | next() as u128
            })
            .collect()
    }

    #[test]
    fn fused_kernels_match_the_op_by_op_run_bit_for_bit() {
        // Two outputs, one of them an intermediate that later nodes also read.
        let mut two = Chain::new();
        let [x, y] = [(); 2].map(|_| two.input());
        let p = two.mul(x, y);
        let s = two.sub(p, x);
        two.output(s);
        two.output(p);
        let chains = [
            (beaver_step(true, 40), vec![]),
            (beaver_step(false, 40), vec![]),
            (polynomial(true, 40), words(4, 99)),
            (polynomial(false, 40), words(4, 98)),
            (two, vec![]),
        ];
        for (chain, params) in chains {
            let kernel = Kernel::compile(&chain).expect("compiles");
            for len in [0, 1, 7, 1000] {
                let data: Vec<Vec<u128>> = (0..chain.n_inputs()).map(|k| words(len, k as u64 + 1)).collect();
                let inputs: Vec<&[u128]> = data.iter().map(Vec::as_slice).collect();
                assert_eq!(kernel.run(&inputs, &params), chain.run_op_by_op(&inputs, &params), "{len} elements");
            }
        }
    }

    #[test]
    fn every_operation_compiles_to_its_ring_meaning() {
        type Build = fn(&mut Chain, Node, Node) -> Node;
        let ops: [(&str, Build, fn(u128, u128) -> u128); 10] = [
            ("add", Chain::add, u128::wrapping_add),
            ("sub", Chain::sub, u128::wrapping_sub),
            ("mul", Chain::mul, u128::wrapping_mul),
            ("neg", |c, a, _| c.neg(a), |a, _| a.wrapping_neg()),
            ("sar 1", |c, a, _| c.sar(a, 1), |a, _| ((a as i128) >> 1) as u128),
            ("sar 40", |c, a, _| c.sar(a, 40), |a, _| ((a as i128) >> 40) as u128),
            ("sar 63", |c, a, _| c.sar(a, 63), |a, _| ((a as i128) >> 63) as u128),
            ("sar 64", |c, a, _| c.sar(a, 64), |a, _| ((a as i128) >> 64) as u128),
            ("sar 100", |c, a, _| c.sar(a, 100), |a, _| ((a as i128) >> 100) as u128),
            ("sar 127", |c, a, _| c.sar(a, 127), |a, _| ((a as i128) >> 127) as u128),
        ];
        let (xs, ys) = (words(257, 5), words(257, 6));
        for (name, build, meaning) in ops {
            let mut c = Chain::new();
            let (x, y) = (c.input(), c.input());
            let z = build(&mut c, x, y);
            c.output(z);
            let got = Kernel::compile(&c).expect("compiles").run(&[&xs, &ys], &[]);
            let want: Vec<u128> = xs.iter().zip(&ys).map(|(&a, &b)| meaning(a, b)).collect();
            assert_eq!(got[0], want, "{name}");
        }
    }

    #[test]
    #[should_panic(expected = "differ in length")]
    fn inputs_of_different_lengths_are_refused_before_the_call() {
        let kernel = Kernel::compile(&beaver_step(true, 40)).expect("compiles");
        let (long, short) = (words(10, 1), words(9, 2));
        kernel.run(&[&long, &long, &long, &long, &long, &long, &short], &[]);
    }
}
