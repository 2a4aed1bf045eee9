//! The `sfvm` command line.

// The system allocator (glibc's): it serves large share vectors from per-thread arenas, takes
// back at once what another party's thread frees (the vectors that cross the in-memory links
// in sim mode), and keeps freed memory up to its trim threshold. Measured against mimalloc in
// the same runs: logistic regression 94 MB peak against 122 MB (mimalloc handing memory back
// at once) or 165 MB (mimalloc keeping it), as fast; an exp of 10^6 elements 3.2 s against
// 3.9 s; a chain of 4 x 10^6-element products 1.3 s against 1.6 s.

use clap::{Parser, Subcommand, ValueEnum};
use sf_isa::ModuleFile;
use sfvm::debugger::{Debugger, Watching};
use sfvm::error::{Failure, VmError};
use sfvm::io;
use sfvm::value::Plain;
use sfvm::run::{run_local, LocalParty, Mode, RunSpec};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

const TRUST: &str = "Trust: SEMI2K is secure against semi-honest parties. Beaver triples and truncation pairs come from a \
dealer. By default the dealer is the trusted first party: the first party in `parties` derives every party's correlated \
randomness, so it could learn every secret if it deviated from the protocol. With a [dealer] in the cluster file (`sfvm \
cluster init --dealer`), a separate `sfvm dealer` process deals instead: no party holds another's seeds, and the dealer \
sees no share of any input or result, but it must not collude with any party. In debug mode every secret can be \
inspected: it is a debugger, not a secure run. See spec/protocol.md.";

#[derive(Parser)]
#[command(name = "sfvm", version, about = "Runs .sfbc modules under secure multi-party computation (SEMI2K over Z_2^128)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a module: every party in this process (sim, debug), or one party of a cluster
    /// (--party, --cluster) over TCP with mutual TLS.
    #[command(after_help = TRUST)]
    Run {
        /// The module written by `sfc compile`.
        module: PathBuf,
        /// sim: one thread per party over in-memory links; debug: one thread, parties in
        /// lockstep, the first error stops the run with its source line.
        #[arg(long, value_enum, default_value_t = ModeArg::Sim)]
        mode: ModeArg,
        /// An input as PARTY.NAME=FILE.csv (sim, debug) or NAME=FILE.csv (--party); repeat for
        /// each input.
        #[arg(long = "input", value_name = "PARTY.NAME=FILE")]
        inputs: Vec<String>,
        /// Folder for outputs, written as DIR/<party>/<name>.csv.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Run as this party of the cluster, in this process only.
        #[arg(long, requires = "cluster")]
        party: Option<String>,
        /// The cluster file (`sfvm cluster init` writes one).
        #[arg(long, requires = "party")]
        cluster: Option<PathBuf>,
        /// Run every instruction on its own: no fused kernels compiled by Cranelift. The
        /// results are bit-identical; fusion only saves passes over memory.
        #[arg(long)]
        no_jit: bool,
        /// Debug mode only: print every instruction as it runs, with its .sf line.
        #[arg(long)]
        trace: bool,
        /// Debug mode only: stop once FILE.sf:LINE has been computed and print every value
        /// defined on it, secrets in plaintext.
        #[arg(long = "break", value_name = "FILE.sf:LINE", conflicts_with = "trace")]
        break_at: Option<String>,
        /// Record where the time, rounds and bytes go, by source line and operation, for every
        /// party of this process, into FILE.json (`sfvm report` draws it).
        #[arg(long, value_name = "FILE.json")]
        profile: Option<PathBuf>,
        /// The most instructions a party may run. Loops whose trip counts are known are
        /// counted before the run starts, so a run that would go beyond ends at once with an
        /// error naming the loop's line, instead of running for days.
        #[arg(long, value_name = "N", default_value_t = sfvm::limits::DEFAULT_MAX_INSTRUCTIONS)]
        max_instructions: u64,
        #[command(flatten)]
        link: LinkArgs,
    },
    /// Serves one run as the separate dealer of Beaver triples and truncation pairs, for a
    /// cluster file with a [dealer]: hands every party its dealer seed and answers the first
    /// party's requests for corrections until the run ends. Start it beside the parties, with
    /// the same module and session.
    #[command(after_help = TRUST)]
    Dealer {
        /// The module the parties run: the dealer reads its header only (parties, hash).
        module: PathBuf,
        /// The cluster file, with a [dealer] entry.
        #[arg(long)]
        cluster: PathBuf,
        #[command(flatten)]
        link: LinkArgs,
    },
    /// Renders a profile written by `sfvm run --profile` as an HTML page: a chart of time and
    /// bytes by source line, and tables by line, operation and party.
    Report {
        /// The profile (.json).
        profile: PathBuf,
        /// The page to write.
        #[arg(short, long, default_value = "report.html")]
        output: PathBuf,
    },
    /// Cluster set-up.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
}

/// How a process of a cluster joins its run.
#[derive(clap::Args)]
struct LinkArgs {
    /// The processes of one run share a session number; concurrent runs over one cluster file
    /// need distinct ones (session s listens on each cluster port + s * the cluster's parties
    /// and dealer).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..1000))]
    session: u16,
    /// Seconds to keep retrying connections to parties not up yet.
    #[arg(long, default_value_t = 30.0)]
    connect_timeout: f64,
    /// Seconds one receive may wait for a peer before the run fails naming it (party mode).
    #[arg(long, default_value_t = 300.0)]
    recv_timeout: f64,
}

impl LinkArgs {
    fn connect_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.connect_timeout.max(0.0))
    }

    fn recv_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.recv_timeout.max(0.001))
    }
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Writes DIR/cluster.toml, a fresh CA, and a key and certificate per party, for trying a
    /// cluster on one machine.
    Init {
        dir: PathBuf,
        /// Party names, comma-separated, in the order of the program's `parties`.
        #[arg(long, value_delimiter = ',', required = true)]
        parties: Vec<String>,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Party k listens on base-port + k (the dealer after the last party).
        #[arg(long)]
        base_port: u16,
        /// Also a key and certificate for a separate dealer, named `dealer`, which then deals
        /// instead of the first party (`sfvm dealer`).
        #[arg(long)]
        dealer: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Sim,
    Debug,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Failure> = match cli.command {
        Command::Run { party: Some(_), trace, break_at, .. } if trace || break_at.is_some() => {
            Err("--trace and --break show secrets in plaintext, so they work in --mode debug only, never as a party of a cluster".to_string().into())
        }
        Command::Run { module, mode, inputs, out, party: Some(party), cluster: Some(cluster), no_jit, link, profile, max_instructions, .. } => {
            let _ = mode;
            sfvm::party::run(&sfvm::party::PartyRun {
                module,
                party,
                cluster,
                inputs,
                out,
                session: link.session,
                connect_timeout: link.connect_timeout(),
                recv_timeout: link.recv_timeout(),
                jit: !no_jit,
                profile,
                max_instructions,
            })
        }
        Command::Report { profile, output } => match sfvm::profile::Profile::read(&profile) {
            Err(message) => Err(Failure { code: "V0201", message }),
            Ok(p) => io::write_atomically(&output, p.html().as_bytes())
                .map(|()| eprintln!("wrote {}", output.display()))
                .map_err(|source| VmError::Output { path: output.clone(), source }.into()),
        },
        Command::Run { module, mode, inputs, out, no_jit, trace, break_at, profile, max_instructions, .. } => {
            let mode = match mode {
                ModeArg::Sim => Mode::Sim,
                ModeArg::Debug => Mode::Debug,
            };
            // A breakpoint is checked against the module's source once it is open.
            let watching = match (trace, break_at) {
                (true, _) => Ok(Some(Ok(Watching::Trace))),
                (false, Some(at)) => break_line(&at).map(|b| Some(Err(b))),
                (false, None) => Ok(None),
            };
            match watching {
                Err(e) => Err(e.into()),
                Ok(Some(_)) if mode != Mode::Debug => Err("--trace and --break show secrets in plaintext, so they work in --mode debug only".to_string().into()),
                Ok(w) => run(module, mode, inputs, out, Options { jit: !no_jit, watching: w, profile, max_instructions }),
            }
        }
        Command::Dealer { module, cluster, link } => sfvm::party::run_dealer(&sfvm::party::DealerRun {
            module,
            cluster,
            session: link.session,
            connect_timeout: link.connect_timeout(),
            recv_timeout: link.recv_timeout(),
        }),
        Command::Cluster { command: ClusterCommand::Init { dir, parties, host, base_port, dealer } } => {
            sfvm::cluster::init(&dir, &parties, &host, base_port, dealer).map(|p| eprintln!("wrote {}", p.display())).map_err(Failure::from)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::FAILURE
        }
    }
}

/// `FILE.sf:LINE` of `--break`: the file as given, checked against the module later.
fn break_line(at: &str) -> Result<(String, u32), String> {
    let (file, line) = at.rsplit_once(':').ok_or_else(|| format!("--break {at}: expected FILE.sf:LINE, e.g. model.sf:12"))?;
    let line: u32 = line.parse().ok().filter(|&l| l > 0).ok_or_else(|| format!("--break {at}: `{line}` is not a line number"))?;
    Ok((file.to_string(), line))
}

/// The debugger for `--trace` or `--break`, checked against the module's source.
fn debugger(watching: Result<Watching, (String, u32)>, header: &sf_isa::Header, debug: &Arc<sf_isa::DebugInfo>, parties: &[LocalParty]) -> Result<Arc<Debugger>, String> {
    let watching = match watching {
        Ok(w) => w,
        Err((file, line)) => {
            let name = |p: &str| Path::new(p).file_name().map(|n| n.to_os_string());
            if name(&file) != name(&debug.file) {
                return Err(format!("--break {file}:{line}: the module was compiled from {}", debug.file));
            }
            let lines = debug.source.lines().count() as u32;
            if line > lines {
                return Err(format!("--break {file}:{line}: {} has {lines} lines", debug.file));
            }
            if !debug.locs.iter().any(|l| l.line == line) {
                let text = debug.source.lines().nth(line as usize - 1).map_or("", str::trim);
                return Err(format!("--break {file}:{line}: nothing is computed on that line (`{text}`); pick a line with an expression"));
            }
            Watching::Break { line }
        }
    };
    let bodies: Vec<&sf_isa::Block> = parties.iter().map(|p| &p.segment.body).collect();
    Ok(Arc::new(Debugger::new(watching, header.clone(), debug.clone(), &bodies, Box::new(std::io::stdout()))))
}

/// How a sim or debug run goes, beside its module, inputs and outputs.
struct Options {
    jit: bool,
    watching: Option<Result<Watching, (String, u32)>>,
    profile: Option<PathBuf>,
    max_instructions: u64,
}

fn run(module_path: PathBuf, mode: Mode, input_args: Vec<String>, out: PathBuf, options: Options) -> Result<(), Failure> {
    let Options { jit, watching, profile, max_instructions } = options;
    let mut module = ModuleFile::open(&module_path)?;
    let header = module.header.clone();
    let debug = Arc::new(module.debug_info()?);
    let symbols = Arc::new(header.symbols.clone());

    let mut files: Vec<Vec<(String, PathBuf)>> = vec![Vec::new(); header.parties.len()];
    for arg in &input_args {
        let (key, file) = arg.split_once('=').ok_or_else(|| VmError::Input(format!("--input {arg}: expected PARTY.NAME=FILE")))?;
        let (party, name) = key.split_once('.').ok_or_else(|| VmError::Input(format!("--input {arg}: expected PARTY.NAME=FILE, e.g. alice.x=data/x.csv")))?;
        let p = header.parties.iter().position(|q| q == party).ok_or_else(|| {
            VmError::Input(format!("--input {arg}: unknown party `{party}`; the module's parties are {}", header.parties.join(", ")))
        })?;
        if files[p].iter().any(|(n, _)| n == name) {
            return Err(VmError::Input(format!("--input {key} is given twice")).into());
        }
        files[p].push((name.to_string(), PathBuf::from(file)));
    }

    let mut parties = Vec::new();
    for (p, party) in header.parties.iter().enumerate() {
        let segment = module.segment(p as u16)?;
        let (inputs, bindings) = io::load_inputs(&segment, party, &format!("{party}."), &mut files[p], &symbols, &debug)?;
        parties.push(LocalParty { segment, inputs, bindings });
    }

    let mut constants: Vec<Option<Arc<Plain>>> = vec![None; header.constants.len()];
    for id in parties.iter().flat_map(|p| p.segment.constants_used()) {
        if constants.get(id as usize).is_some_and(Option::is_none) {
            let c = module.constant(id)?;
            constants[id as usize] = Some(Arc::new(Plain::from_constant(c)?));
        }
    }
    let context = sfvm::interp::run_context(&header.module_hash, &format!("{mode:?}"));
    let debugger = watching.map(|w| debugger(w, &header, &debug, &parties)).transpose()?;
    let meter = Arc::new(sfvm::meter::Meter::default());
    let spec = RunSpec { parties: header.parties.clone(), frac_bits: header.frac_bits, symbols, debug, constants: Arc::new(constants), context, jit, meter: Some(meter.clone()), debugger: debugger.clone(), profile: profile.is_some(), limits: sfvm::limits::Limits::of_this_machine(max_instructions) };
    let started = Instant::now();
    // The trace and the breakpoint's values go to stdout; a bar would mix with them.
    let bar = debugger.is_none().then(|| sfvm::meter::Progress::start(meter, format!("{} parties", header.parties.len())));
    let outcomes = run_local(&spec, parties, mode);
    if let Some(bar) = bar {
        bar.finish();
    }
    if let Some(d) = &debugger {
        if d.finish() {
            eprintln!("stopped at the breakpoint after {:.3}s; no outputs are written", started.elapsed().as_secs_f64());
            return Ok(());
        }
    }
    let outcomes = outcomes.map_err(|f| Failure::of(&f.party, &f.error))?;
    let elapsed = started.elapsed();

    for (party, outcome) in header.parties.iter().zip(&outcomes) {
        for (name, value) in &outcome.outputs {
            let path = io::write_output(&out, party, name, value)?;
            eprintln!("  {:<28} {}", path.display(), sfvm::value::fmt_shape(value.shape()));
        }
    }
    if let Some(path) = &profile {
        let parties: Vec<_> = outcomes.iter().filter_map(|o| o.profile.clone()).collect();
        let mode = if mode == Mode::Sim { "sim" } else { "debug" };
        sfvm::profile::Profile::new(&module_path, &spec.debug, mode, parties).write(path).map_err(|message| Failure { code: "V0500", message })?;
        eprintln!("  {:<28} profile (`sfvm report {}` draws it)", path.display(), path.display());
    }
    let sent: u64 = outcomes.iter().map(|o| o.traffic.bytes_sent).sum();
    let rounds = outcomes.iter().map(|o| o.traffic.rounds).max().unwrap_or(0);
    let fused = outcomes.iter().map(|o| o.fused).max().unwrap_or(0);
    eprintln!(
        "ran {} ({} parties, {} mode) in {:.3}s: {} bytes sent, {} rounds, {} instructions in fused kernels",
        module_path.display(),
        header.parties.len(),
        if mode == Mode::Sim { "sim" } else { "debug" },
        elapsed.as_secs_f64(),
        sent,
        rounds,
        fused
    );
    Ok(())
}
