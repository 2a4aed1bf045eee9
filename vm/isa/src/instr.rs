//! The instruction set: one register machine per party segment.
//!
//! Registers hold either a plaintext tensor or this party's share of a secret tensor; the
//! compiler decides which, and the VM dispatches on what it finds. Instructions that exchange
//! messages carry a sequence number fixed at compile time, the same on every party that takes
//! part, so sends and receives pair up without run-time coordination.

use crate::dim::Shape;
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinOp {
    Add,
    Sub,
    /// Elementwise product with broadcasting.
    Mul,
    /// Matrix product (`@`), for ranks 1 and 2.
    MatMul,
}

impl BinOp {
    pub fn name(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "sub",
            BinOp::Mul => "mul",
            BinOp::MatMul => "matmul",
        }
    }
}

/// One instruction. `dst` registers are written exactly once per execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Instr {
    /// Reads the segment's input number `input` (see [`Segment::inputs`]).
    Input { dst: Reg, input: u32 },
    /// A public scalar.
    Const { dst: Reg, value: Literal },
    Neg { dst: Reg, a: Reg },
    /// `seq` is used only when both operands are shared and the op needs a Beaver round.
    Binary { dst: Reg, op: BinOp, a: Reg, b: Reg, seq: Seq },
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
}

impl Instr {
    /// The register written, if any.
    pub fn dst(&self) -> Option<Reg> {
        use Instr::*;
        match self {
            Input { dst, .. } | Const { dst, .. } | Neg { dst, .. } | Binary { dst, .. }
            | Transpose { dst, .. } | Sum { dst, .. } | Concat { dst, .. } | Cast { dst, .. }
            | ShareOwn { dst, .. } | ShareRecv { dst, .. } | RevealRecv { dst, .. }
            | RevealAll { dst, .. } | RecvPlain { dst, .. } => Some(*dst),
            RevealSend { .. } | SendPlain { .. } | Output { .. } => None,
        }
    }

    /// The registers read, in operand order.
    pub fn uses(&self) -> Vec<Reg> {
        use Instr::*;
        match self {
            Input { .. } | Const { .. } | ShareRecv { .. } | RecvPlain { .. } => vec![],
            Neg { a, .. } | Transpose { a, .. } | Sum { a, .. } | Cast { a, .. } => vec![*a],
            Binary { a, b, .. } => vec![*a, *b],
            Concat { parts, .. } => parts.clone(),
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
    pub code: Vec<Instr>,
    /// For each instruction, its index in the debug info's locations.
    pub locs: Vec<u32>,
}
