//! The instruction set: one register machine per party segment.
//!
//! Registers hold either a plaintext tensor or this party's share of a secret tensor; the
//! compiler decides which, and the VM dispatches on what it finds. Instructions that exchange
//! messages carry a sequence number fixed at compile time, the same on every party that takes
//! part, so sends and receives pair up without run-time coordination.

use crate::dim::{Dim, Shape, SymId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A register of a segment's frame.
pub type Reg = u32;
/// A party's index in the module's party list.
pub type PartyId = u16;
/// The compile-time sequence number of a communication.
pub type Seq = u32;

/// Element types of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    /// A fixed-point real: a float in plaintext, an integer scaled by 2^f in the ring.
    Fix,
    /// A 64-bit signed integer.
    Int,
    Bool,
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::Fix => "fix",
            DType::Int => "int",
            DType::Bool => "bool",
        })
    }
}

/// A public scalar literal.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Literal {
    Fix(f64),
    Int(i64),
    Bool(bool),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Fix(v) => write!(f, "{v:?}"),
            Literal::Int(v) => write!(f, "{v}"),
            Literal::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// Binary operators whose meaning depends on whether operands are plaintext or shared.
/// All but `MatMul` are elementwise with broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Matrix product (`@`), for ranks 1 and 2.
    MatMul,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinOp {
    pub fn name(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "sub",
            BinOp::Mul => "mul",
            BinOp::Div => "div",
            BinOp::MatMul => "matmul",
            BinOp::Lt => "lt",
            BinOp::Le => "le",
            BinOp::Gt => "gt",
            BinOp::Ge => "ge",
            BinOp::Eq => "eq",
            BinOp::Ne => "ne",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne)
    }

    pub fn is_logical(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or)
    }

    /// The meaning of a comparison, the same for the compiler's constant folding and for the
    /// VM; `None` for an operator that is not one.
    pub fn compare<T: PartialOrd>(self, a: &T, b: &T) -> Option<bool> {
        Some(match self {
            BinOp::Lt => a < b,
            BinOp::Le => a <= b,
            BinOp::Gt => a > b,
            BinOp::Ge => a >= b,
            BinOp::Eq => a == b,
            BinOp::Ne => a != b,
            _ => return None,
        })
    }
}

/// Elementwise functions of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnaryOp {
    Neg,
    Not,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Reciprocal,
    Tanh,
    Abs,
    Sigmoid,
}

impl UnaryOp {
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Not => "not",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Rsqrt => "rsqrt",
            UnaryOp::Reciprocal => "reciprocal",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Abs => "abs",
            UnaryOp::Sigmoid => "sigmoid",
        }
    }
}

/// Reductions along one axis other than the sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReduceOp {
    Max,
    Min,
    ArgMax,
    ArgMin,
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::ArgMax => "argmax",
            ReduceOp::ArgMin => "argmin",
        }
    }
}

/// A value carried from one loop iteration to the next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carry {
    /// Holds the value before the first iteration.
    pub init: Reg,
    /// Holds the value during an iteration, and after the loop.
    pub param: Reg,
    /// Holds the next iteration's value at the end of an iteration.
    pub next: Reg,
}

/// A value an `if` sets from whichever branch ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    pub dst: Reg,
    pub then_src: Reg,
    pub else_src: Reg,
}

/// A run of instructions with the debug location of each.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Block {
    pub code: Vec<Instr>,
    pub locs: Vec<u32>,
}

/// One range of a slice, `start..end` along one axis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceRange {
    pub start: Dim,
    pub end: Dim,
}

/// One instruction. `dst` registers are written exactly once per execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Instr {
    /// Reads the segment's input number `input` (see [`Segment::inputs`]).
    Input { dst: Reg, input: u32 },
    /// A public scalar.
    Const { dst: Reg, value: Literal },
    Unary { dst: Reg, op: UnaryOp, a: Reg, seq: Seq },
    /// `seq` numbers the messages of ops on shares that need rounds (Beaver, truncation).
    Binary { dst: Reg, op: BinOp, a: Reg, b: Reg, seq: Seq },
    /// `c ? a : b` elementwise.
    Select { dst: Reg, c: Reg, a: Reg, b: Reg, seq: Seq },
    Reduce { dst: Reg, op: ReduceOp, a: Reg, axis: u32, seq: Seq },
    Reshape { dst: Reg, a: Reg, shape: Shape },
    Slice { dst: Reg, a: Reg, ranges: Vec<SliceRange> },
    /// Takes entries of `a` along `axis` at the public positions in `index` (a scalar index
    /// removes the axis).
    Gather { dst: Reg, a: Reg, index: Reg, axis: u32 },
    /// Public constant number `id` of the module (`load`).
    Constant { dst: Reg, id: u32 },
    /// A public tensor of one value.
    Fill { dst: Reg, value: Literal, shape: Shape },
    /// The public integers 0..len.
    Arange { dst: Reg, len: Dim },
    /// A shape dimension as a public integer.
    DimValue { dst: Reg, dim: Dim },
    /// Private uniform random numbers in [0, 1) on this party.
    Random { dst: Reg, shape: Shape },
    /// Runs `body` `trip` times; `index`, if any, holds the iteration number.
    Loop { trip: Reg, index: Option<Reg>, carried: Vec<Carry>, body: Block },
    /// Runs `then` or `otherwise` as the public bool `cond` says, then sets each result from the
    /// branch that ran.
    If { cond: Reg, then: Block, otherwise: Block, results: Vec<Merge> },
    /// Reverses the axes (a 1-D tensor is its own transpose).
    Transpose { dst: Reg, a: Reg },
    Sum { dst: Reg, a: Reg, axis: u32 },
    Concat { dst: Reg, parts: Vec<Reg>, axis: u32 },
    /// Converts between dtypes (int to fix).
    Cast { dst: Reg, a: Reg, to: DType },
    /// This party owns `src` and turns it into its share of a secret; the other parties run
    /// `ShareRecv`. No message is sent: the others' shares come from pairwise PRG seeds.
    ShareOwn { dst: Reg, src: Reg, shape: Shape },
    ShareRecv { dst: Reg, owner: PartyId, dtype: DType, shape: Shape },
    /// Sends this party's share of `src` to `to`, who runs `RevealRecv`.
    RevealSend { src: Reg, to: PartyId, seq: Seq },
    /// Receives every other party's share of `src` and reconstructs the plaintext.
    RevealRecv { dst: Reg, src: Reg, seq: Seq },
    /// Every party sends its share to every other party and reconstructs the plaintext.
    RevealAll { dst: Reg, src: Reg, seq: Seq },
    /// Sends a private plaintext value to `to`, who runs `RecvPlain`.
    SendPlain { src: Reg, to: PartyId, seq: Seq },
    RecvPlain { dst: Reg, from: PartyId, dtype: DType, shape: Shape, seq: Seq },
    /// Writes `src` as the output called `name` of this party.
    Output { src: Reg, name: String },
    /// Private set intersection of the key tables of `owners` (ECDH over ristretto255). An owner
    /// gives its key columns in `keys` and gets its row indices of the intersection in `dst`, in
    /// an order common to both owners; every party learns the size, which binds symbol `size`.
    Psi { owners: [PartyId; 2], keys: Vec<Reg>, dst: Option<Reg>, size: SymId, keep_first: bool, names: [String; 2], seq: Seq },
}

impl Instr {
    /// The operation's name, as profiles and traces group instructions: `mul`, `matmul`,
    /// `share`, `reveal`, `loop`...
    pub fn op_name(&self) -> &'static str {
        use Instr::*;
        match self {
            Input { .. } => "input",
            Const { .. } => "const",
            Unary { op, .. } => op.name(),
            Binary { op, .. } => op.name(),
            Select { .. } => "select",
            Reduce { op, .. } => op.name(),
            Reshape { .. } => "reshape",
            Slice { .. } => "slice",
            Gather { .. } => "gather",
            Constant { .. } => "constant",
            Fill { .. } => "fill",
            Arange { .. } => "arange",
            DimValue { .. } => "dim",
            Random { .. } => "random",
            Loop { .. } => "loop",
            If { .. } => "if",
            Transpose { .. } => "transpose",
            Sum { .. } => "sum",
            Concat { .. } => "concat",
            Cast { .. } => "cast",
            ShareOwn { .. } | ShareRecv { .. } => "share",
            RevealSend { .. } | RevealRecv { .. } | RevealAll { .. } => "reveal",
            SendPlain { .. } | RecvPlain { .. } => "send",
            Output { .. } => "output",
            Psi { .. } => "psi",
        }
    }

    /// The registers written at this level (a loop writes its index and carried registers;
    /// its body's registers belong to the body).
    pub fn defs(&self) -> Vec<Reg> {
        use Instr::*;
        match self {
            Input { dst, .. } | Const { dst, .. } | Unary { dst, .. } | Binary { dst, .. } | Select { dst, .. }
            | Constant { dst, .. } | Reduce { dst, .. } | Reshape { dst, .. } | Slice { dst, .. } | Gather { dst, .. } | Fill { dst, .. }
            | Arange { dst, .. } | DimValue { dst, .. } | Random { dst, .. } | Transpose { dst, .. } | Sum { dst, .. }
            | Concat { dst, .. } | Cast { dst, .. } | ShareOwn { dst, .. } | ShareRecv { dst, .. }
            | RevealRecv { dst, .. } | RevealAll { dst, .. } | RecvPlain { dst, .. } => vec![*dst],
            Loop { index, carried, .. } => index.iter().copied().chain(carried.iter().map(|c| c.param)).collect(),
            If { results, .. } => results.iter().map(|m| m.dst).collect(),
            RevealSend { .. } | SendPlain { .. } | Output { .. } => vec![],
            Psi { dst, .. } => dst.iter().copied().collect(),
        }
    }

    /// The registers read at this level, in operand order (for a loop: the trip count and the
    /// initial values; its body's reads are the body's).
    pub fn uses(&self) -> Vec<Reg> {
        use Instr::*;
        match self {
            Input { .. } | Const { .. } | Constant { .. } | ShareRecv { .. } | RecvPlain { .. } | Fill { .. } | Arange { .. }
            | DimValue { .. } | Random { .. } => vec![],
            Unary { a, .. } | Transpose { a, .. } | Sum { a, .. } | Cast { a, .. } | Reduce { a, .. }
            | Reshape { a, .. } | Slice { a, .. } => vec![*a],
            Binary { a, b, .. } | Gather { a, index: b, .. } => vec![*a, *b],
            Select { c, a, b, .. } => vec![*c, *a, *b],
            Concat { parts, .. } => parts.clone(),
            Loop { trip, carried, .. } => std::iter::once(*trip).chain(carried.iter().map(|c| c.init)).collect(),
            If { cond, .. } => vec![*cond],
            Psi { keys, .. } => keys.clone(),
            ShareOwn { src, .. } | RevealSend { src, .. } | RevealRecv { src, .. }
            | RevealAll { src, .. } | SendPlain { src, .. } | Output { src, .. } => vec![*src],
        }
    }

    /// The parties this instruction exchanges messages with, given the party running it.
    pub fn peers(&self, me: PartyId, parties: usize) -> Vec<PartyId> {
        use Instr::*;
        let all_others = || (0..parties as PartyId).filter(|&p| p != me).collect();
        match self {
            RevealSend { to, .. } | SendPlain { to, .. } => vec![*to],
            RecvPlain { from, .. } => vec![*from],
            RevealRecv { .. } | RevealAll { .. } => all_others(),
            Psi { owners: [a, _], .. } if me == *a => all_others(),
            Psi { owners: [a, b], .. } if me == *b => vec![*a],
            Psi { owners: [a, _], .. } => vec![*a],
            _ => vec![],
        }
    }
}

/// An input that a segment reads from its party's data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputDecl {
    pub name: String,
    pub dtype: DType,
    pub shape: Shape,
    /// Index into the debug info's locations.
    pub loc: u32,
}

/// The code one party runs: its private ops, every secret op, and its side of every exchange.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub party: PartyId,
    pub inputs: Vec<InputDecl>,
    pub n_regs: u32,
    pub body: Block,
}

impl Block {
    /// Every instruction, nested blocks included, in order.
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&'a Instr)) {
        for i in &self.code {
            visit(i);
            match i {
                Instr::Loop { body, .. } => body.walk(visit),
                Instr::If { then, otherwise, .. } => {
                    then.walk(visit);
                    otherwise.walk(visit);
                }
                _ => {}
            }
        }
    }
}

impl Segment {
    /// The public constants this segment reads, so that a party loads those and no others.
    pub fn constants_used(&self) -> Vec<u32> {
        let mut ids = Vec::new();
        self.body.walk(&mut |i| {
            if let Instr::Constant { id, .. } = i {
                ids.push(*id);
            }
        });
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}
