//! IR-to-IR passes, one per file. Each keeps the graph well-formed; the driver runs the verifier
//! after each.

pub mod dce;
pub mod insert_comm;
