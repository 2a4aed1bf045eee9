//! The pipeline, as one readable list of steps with the verifier between them.

use crate::diagnostics::{Diagnostic, Rendered};
use crate::ir::verify::{verify, Stage};
use crate::ir::Ir;
use crate::partition::{self, PartySegment};
use crate::{codegen, lower, passes, syntax};
use sf_isa::{DebugInfo, Segment};

/// Fraction bits of fixed-point numbers unless `--fxp-bits` says otherwise; see spec/protocol.md.
pub const DEFAULT_FRAC_BITS: u32 = 40;

/// Everything the compiler produced for one source file.
pub struct Compiled {
    pub ir: Ir,
    pub partition: Vec<PartySegment>,
    pub segments: Vec<Segment>,
    pub debug: DebugInfo,
    /// Warnings; errors stop compilation instead.
    pub warnings: Vec<Diagnostic>,
}

/// A failure: the user's diagnostics, or a compiler bug found by a verifier.
pub enum Failure {
    Diagnostics(Vec<Diagnostic>),
    Bug(Vec<String>),
}

/// Front end only: parse and lower, with every diagnostic; `load` reads from the current folder.
pub fn check(source: &str) -> (Option<Ir>, Vec<Diagnostic>) {
    check_in(source, std::path::Path::new("."))
}

/// Front end for the source file at `file`: `load` reads relative to its folder.
pub fn check_file(file: &str, source: &str) -> (Option<Ir>, Vec<Diagnostic>) {
    check_in(source, &base_dir(file))
}

fn base_dir(file: &str) -> std::path::PathBuf {
    std::path::Path::new(file).parent().map(std::path::Path::to_path_buf).unwrap_or_else(|| ".".into())
}

/// What the editor needs of a file: its diagnostics (those of `sfc check`), its syntax tree
/// when it parses, and what each name stands for.
pub struct Analysis {
    pub diagnostics: Vec<Diagnostic>,
    pub program: Option<syntax::ast::Program>,
    pub index: crate::lower::index::Index,
}

/// The front end for the editor: `load` reads relative to `base`, the file's folder.
pub fn analyze(source: &str, base: &std::path::Path) -> Analysis {
    match syntax::parse_recovering(source) {
        Ok(program) => {
            let (_, diagnostics, index) = lower::lower_indexed(&program, base);
            Analysis { diagnostics, program: Some(program), index }
        }
        Err(diagnostics) => Analysis { diagnostics, program: None, index: Default::default() },
    }
}

fn check_in(source: &str, base: &std::path::Path) -> (Option<Ir>, Vec<Diagnostic>) {
    let program = match syntax::parse_recovering(source) {
        Ok(p) => p,
        Err(diagnostics) => return (None, diagnostics),
    };
    let (ir, diagnostics) = lower::lower(&program, base);
    let ok = diagnostics.iter().all(|d| !d.is_error());
    (ok.then_some(ir), diagnostics)
}

pub fn compile(file: &str, source: &str) -> Result<Compiled, Failure> {
    let (ir, warnings) = check_file(file, source);
    let Some(mut ir) = ir else { return Err(Failure::Diagnostics(warnings)) };
    let bug = |stage: &str, errors: Vec<String>| {
        Failure::Bug(errors.into_iter().map(|e| format!("after {stage}: {e}")).collect())
    };
    verify(&ir, Stage::Lowered).map_err(|e| bug("lower", e))?;
    passes::dce::run(&mut ir);
    verify(&ir, Stage::Lowered).map_err(|e| bug("dce", e))?;
    passes::insert_comm::run(&mut ir);
    verify(&ir, Stage::Explicit).map_err(|e| bug("insert_comm", e))?;
    let partition = partition::partition(&ir);
    partition::verify(&ir, &partition).map_err(|e| bug("partition", e))?;
    let (segments, debug) = codegen::codegen(&ir, &partition, file, source).map_err(|e| bug("codegen", vec![e]))?;
    Ok(Compiled { ir, partition, segments, debug, warnings })
}

/// Binds a diagnostic to its file for rendering.
pub fn render(file: &str, source: &str, diagnostic: Diagnostic) -> miette::Report {
    miette::Report::new(Rendered { diagnostic, source: miette::NamedSource::new(file, source.to_string()) })
}
