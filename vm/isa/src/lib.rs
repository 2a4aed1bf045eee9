//! The contract between `sfc` and `sfvm`: the instruction set and the `.sfbc` module format.
//!
//! The compiler produces one [`Segment`] per party and writes them, with debug information, into
//! a chunked module ([`write_module`]). The VM opens a module ([`ModuleFile::open`]), which checks
//! the magic, the format version, the header hash and every chunk's bounds before anything else,
//! and then reads only the chunks it needs, verifying each chunk's hash as it goes.
//!
//! Nothing in this crate knows about protocols or source syntax; it is data and its validation.
#![forbid(unsafe_code)]

mod dim;
mod instr;
mod listing;
mod module;

pub use dim::{display_shape, Dim, Shape, SymId};
pub use instr::{BinOp, Block, Carry, DType, InputDecl, Instr, Literal, Merge, PartyId, ReduceOp, Reg, Segment, Seq, SliceRange, UnaryOp};
pub use listing::{disassemble, inspect, instr_text};
pub use module::{
    write_module, ChunkEntry, ChunkKind, ConstValues, Constant, ConstantInfo, DebugInfo, Header, LoadError, ModuleFile, SourceLoc,
    WriteError, FORMAT_VERSION, MAGIC, DEFAULT_CHUNK_LIMIT,
};

/// Number of bits of the secret-sharing ring: every share is an element of Z_2^128.
pub const RING_BITS: u32 = 128;

/// The most elements one value may hold: 2^40, about 10^12 (8 TB as float64, 16 TB as shares).
/// `sfc` refuses a constant shape above it (E0205) and `sfvm` a shape that reaches it once the
/// symbols are bound, so no size computation can overflow and no allocation is asked for that
/// no machine could give.
pub const MAX_ELEMENTS: u64 = 1 << 40;

/// The number of elements of a shape, if it is at most [`MAX_ELEMENTS`].
pub fn elements_within_limit(dims: impl IntoIterator<Item = u64>) -> Option<u64> {
    dims.into_iter().try_fold(1u64, |acc, d| acc.checked_mul(d)).filter(|&n| n <= MAX_ELEMENTS)
}
