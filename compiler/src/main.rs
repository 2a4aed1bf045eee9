//! The `sfc` command line.

use clap::{Parser, Subcommand, ValueEnum};
use sfc::driver::{self, Failure};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "sfc", version, about = "Compiler for .sf, the party-annotated language for secure multi-party computation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compiles a program into a module (.sfbc) that `sfvm run` executes.
    Compile {
        /// The .sf source file.
        file: PathBuf,
        /// Where to write the module [default: FILE with extension .sfbc].
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Print an intermediate form instead of writing the module.
        #[arg(long, value_enum)]
        emit: Option<Emit>,
        /// Fraction bits of fixed-point numbers in the 128-bit ring.
        #[arg(long, default_value_t = driver::DEFAULT_FRAC_BITS, value_parser = clap::value_parser!(u32).range(8..=62))]
        fxp_bits: u32,
        /// Largest size in bytes of any chunk in the module.
        #[arg(long, default_value_t = sf_isa::DEFAULT_CHUNK_LIMIT)]
        chunk_size: u64,
        /// human: rendered with the source; json: one JSON object a line, for editors.
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
    },
    /// Prints a module's header, constants and chunk table, and each party's size.
    Inspect {
        /// The module (.sfbc).
        module: PathBuf,
    },
    /// Prints one party's bytecode, each instruction beside its `.sf` line.
    Dis {
        /// The module (.sfbc).
        module: PathBuf,
        /// The party, by name or number.
        #[arg(long)]
        party: String,
    },
    /// Checks a program and prints its diagnostics, writing nothing.
    Check {
        file: PathBuf,
        /// human: rendered with the source; json: one JSON object a line, for editors.
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
    },
    /// Runs the language server on stdin and stdout, for editors (Language Server Protocol):
    /// diagnostics as you type, hover types, go to definition, document symbols.
    Lsp,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MessageFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    /// The typed dataflow IR after placement (one node a line).
    Ir,
    /// One segment per party, with sequence numbers of every exchange.
    Segments,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn read_source(file: &Path) -> Result<String, ExitCode> {
    std::fs::read_to_string(file).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", file.display());
        ExitCode::from(2)
    })
}

/// Prints diagnostics (rendered on stderr, or JSON lines on stdout) and counts the errors.
fn report(name: &str, source: &str, diagnostics: Vec<sfc::diagnostics::Diagnostic>, format: MessageFormat) -> usize {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    for d in diagnostics {
        match format {
            MessageFormat::Human => eprintln!("{:?}", driver::render(name, source, d)),
            MessageFormat::Json => println!("{}", d.to_json(name, source)),
        }
    }
    errors
}

/// Opens a module, or says why not (the loader's errors name the file and the chunk).
fn open_module(path: &Path) -> Result<sf_isa::ModuleFile, ExitCode> {
    sf_isa::ModuleFile::open(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn run(command: Command) -> Result<(), ExitCode> {
    match command {
        Command::Lsp => sfc::lsp::serve_stdio().map_err(|e| {
            eprintln!("error: sfc lsp: {e}");
            ExitCode::from(2)
        }),
        Command::Inspect { module } => {
            let m = open_module(&module)?;
            let len = std::fs::metadata(&module).map(|m| m.len()).unwrap_or(0);
            print!("{}", sf_isa::inspect(&m.header, len));
            Ok(())
        }
        Command::Dis { module, party } => {
            let mut m = open_module(&module)?;
            let parties = &m.header.parties;
            let Some(id) = parties.iter().position(|p| *p == party).or_else(|| party.parse().ok().filter(|&i: &usize| i < parties.len())) else {
                eprintln!("error: {}: no party `{party}`; its parties are {}", module.display(), parties.join(", "));
                return Err(ExitCode::from(2));
            };
            let fail = |e: sf_isa::LoadError| {
                eprintln!("error: {e}");
                ExitCode::from(2)
            };
            let segment = m.segment(id as u16).map_err(fail)?;
            let debug = m.debug_info().map_err(fail)?;
            print!("{}", sf_isa::disassemble(&segment, &m.header, &debug));
            Ok(())
        }
        Command::Check { file, message_format } => {
            let source = read_source(&file)?;
            let name = file.display().to_string();
            let (_, diagnostics) = driver::check_file(&name, &source);
            let errors = report(&name, &source, diagnostics, message_format);
            if errors > 0 && message_format == MessageFormat::Human {
                eprintln!("error: {name}: {errors} error{}", if errors == 1 { "" } else { "s" });
            }
            if errors > 0 {
                return Err(ExitCode::FAILURE);
            }
            Ok(())
        }
        Command::Compile { file, output, emit, fxp_bits, chunk_size, message_format } => {
            let source = read_source(&file)?;
            let name = file.display().to_string();
            let compiled = match driver::compile(&name, &source) {
                Ok(c) => c,
                Err(Failure::Diagnostics(d)) => {
                    let errors = report(&name, &source, d, message_format);
                    eprintln!("error: could not compile {name}: {errors} error{}", if errors == 1 { "" } else { "s" });
                    return Err(ExitCode::FAILURE);
                }
                Err(Failure::Bug(errors)) => {
                    for e in errors {
                        eprintln!("internal compiler error: {e}");
                    }
                    eprintln!("this is a bug in sfc; please report it with the program that triggered it");
                    return Err(ExitCode::from(101));
                }
            };
            report(&name, &source, compiled.warnings.clone(), message_format);
            match emit {
                Some(Emit::Ir) => {
                    print!("{}", compiled.ir.to_text(&name, &source));
                    return Ok(());
                }
                Some(Emit::Segments) => {
                    print!("{}", sfc::partition::to_text(&compiled.ir, &compiled.partition));
                    return Ok(());
                }
                None => {}
            }
            let out = output.unwrap_or_else(|| file.with_extension("sfbc"));
            let header = sf_isa::write_module(
                &out,
                compiled.ir.parties.clone(),
                fxp_bits,
                compiled.ir.symbols.clone(),
                &compiled.segments,
                &compiled.debug,
                &compiled.ir.constants,
                chunk_size,
            )
            .map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(2)
            })?;
            eprintln!(
                "compiled {name} -> {} ({} parties, {} instructions, module {})",
                out.display(),
                header.parties.len(),
                compiled.segments.iter().map(|s| s.body.code.len()).sum::<usize>(),
                &header.hash_hex()[..16]
            );
            Ok(())
        }
    }
}
