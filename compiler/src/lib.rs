//! `sfc`: the compiler from `.sf` source to `.sfbc` modules.
//!
//! The pipeline runs in one direction (see [`driver::compile`]): parse -> lower (names, types,
//! placements) -> dead-code elimination -> insert communication -> partition into one segment
//! per party -> codegen -> module file, with a verifier between the steps.
#![forbid(unsafe_code)]

pub mod codegen;
pub mod diagnostics;
pub mod driver;
pub mod ir;
pub mod lower;
pub mod lsp;
pub mod partition;
pub mod passes;
pub mod stdlib;
pub mod syntax;
