//! Errors of the VM. Each says what is wrong and where: the file, the `.sf` line, or the peer.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error(transparent)]
    Load(#[from] sf_isa::LoadError),
    #[error("{0}")]
    Input(String),
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    #[error("{0}")]
    Shape(String),
    #[error("{0}")]
    Value(String),
    /// More than the machine or the run's limits allow (spec/errors.md).
    #[error("{0}")]
    Limit(String),
    #[error("link to {peer}: {message}")]
    Link { peer: String, message: String },
    #[error("aborted by {party}: {cause}")]
    Aborted { party: String, cause: String },
    #[error("{location}: {error}{}", line.as_ref().map(|l| format!("\n    | {l}")).unwrap_or_default())]
    At { location: String, line: Option<String>, error: Box<VmError> },
    #[error("cannot write {path}: {source}")]
    Output { path: PathBuf, source: std::io::Error },
    #[error("cannot get randomness from the operating system: {0}")]
    Entropy(String),
    #[error("internal error: {0}; this is a bug in sfvm")]
    Internal(String),
    /// The debugger's breakpoint was reached: the run ends there, on purpose.
    #[error("stopped at the breakpoint")]
    Stopped,
}

impl VmError {
    /// Whether this error only reports another party's failure.
    pub fn is_echo(&self) -> bool {
        match self {
            VmError::Aborted { .. } => true,
            VmError::At { error, .. } => error.is_echo(),
            _ => false,
        }
    }
}
