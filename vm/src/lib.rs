//! `sfvm`: the virtual machine that runs `.sfbc` modules under the SEMI2K protocol.
//!
//! Layers, top down: [`run`] (execution modes: scheduling and links) -> [`interp`] (one party's
//! segment on its registers, and the fixed-point layer) -> [`semi2k`] (the protocol on shares)
//! -> [`ring`] (FM128 kernels) and [`link`] (messages, and the byte and round counters).
#![forbid(unsafe_code)]

pub mod cluster;
pub mod cost;
pub mod dealer;
pub mod debugger;
pub mod error;
pub mod interp;
pub mod io;
pub mod limits;
pub mod link;
pub mod meter;
pub mod net;
pub mod nonlinear;
pub mod party;
pub mod plain;
pub mod prg;
pub mod profile;
pub mod psi;
pub mod ring;
pub mod run;
pub mod semi2k;
pub mod shape_ops;
pub mod value;

#[cfg(test)]
mod testing;
