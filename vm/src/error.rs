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

    /// The error's code in spec/errors.md; an error located at a line has its cause's code.
    pub fn code(&self) -> &'static str {
        use sf_isa::LoadError as L;
        match self {
            VmError::Load(e) => match e {
                L::Io { .. } => "V0100",
                L::BadMagic { .. } => "V0101",
                L::Version { .. } => "V0102",
                L::Truncated { .. } => "V0103",
                L::HeaderCorrupt { .. } => "V0104",
                L::ChunkCorrupt { .. } => "V0105",
                L::ChunkDecode { .. } => "V0106",
                L::Missing { .. } => "V0107",
            },
            VmError::Input(_) => "V0200",
            VmError::Data { .. } => "V0201",
            VmError::Shape(_) => "V0300",
            VmError::Value(_) => "V0301",
            VmError::Limit(_) => "V0302",
            VmError::Link { .. } => "V0400",
            VmError::Aborted { .. } => "V0401",
            VmError::At { error, .. } => error.code(),
            VmError::Output { .. } => "V0500",
            VmError::Entropy(_) => "V0501",
            VmError::Internal(_) => "V0900",
            VmError::Stopped => "V0002",
        }
    }
}

/// Every code `sfvm` reports, with its cause in a few words; spec/errors.md gives each one's
/// cause and fix, and a test keeps the two in step.
pub const CODES: &[(&str, &str)] = &[
    ("V0001", "the command line is wrong"),
    ("V0002", "the run stopped at the debugger's breakpoint"),
    ("V0100", "the module cannot be read"),
    ("V0101", "the file is not a module"),
    ("V0102", "the module is of another format version"),
    ("V0103", "the module is truncated"),
    ("V0104", "the module's header is corrupted"),
    ("V0105", "a chunk of the module is corrupted"),
    ("V0106", "a chunk of the module cannot be decoded"),
    ("V0107", "the module lacks a part"),
    ("V0200", "an input is missing, unknown, given twice or unusable"),
    ("V0201", "a data file (input, cluster file, profile) is wrong"),
    ("V0300", "shapes do not agree at run time"),
    ("V0301", "a value cannot be represented or computed"),
    ("V0302", "more than the machine or the run's limits allow"),
    ("V0400", "a link to a peer failed"),
    ("V0401", "another process of the run failed"),
    ("V0500", "an output cannot be written"),
    ("V0501", "the operating system gives no randomness"),
    ("V0900", "a bug in sfvm"),
];

/// An error as the command line reports it: `error[CODE]: message`.
#[derive(Debug)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    /// `party: error`, with the error's code.
    pub fn of(party: &str, e: &VmError) -> Failure {
        Failure { code: e.code(), message: format!("{party}: {e}") }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error[{}]: {}", self.code, self.message)
    }
}

impl From<VmError> for Failure {
    fn from(e: VmError) -> Failure {
        Failure { code: e.code(), message: e.to_string() }
    }
}

impl From<sf_isa::LoadError> for Failure {
    fn from(e: sf_isa::LoadError) -> Failure {
        VmError::Load(e).into()
    }
}

/// A message without a code is about how the command was given.
impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure { code: "V0001", message }
    }
}
