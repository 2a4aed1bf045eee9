//! The execution modes inside one process. They differ in scheduling only, never in what an op
//! computes: both run the same `run_party` futures over the same in-memory links.
//!
//! - `sim`: one thread per party, each blocking on its own future.
//! - `debug`: one thread; each pass polls every party once, and a party yields after every
//!   instruction, so the parties advance in lockstep. The first error stops the run.

use crate::error::VmError;
use crate::interp::{run_party, PartyJob, PartyOutcome};
use crate::link::{Comm, MemTransport};
use crate::semi2k::{deal_seeds, PartySeeds, Semi2k};
use crate::value::Plain;
use sf_isa::{DebugInfo, Segment};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Sim,
    Debug,
}

/// One party's program and data, for a run of all parties in this process.
pub struct LocalParty {
    pub segment: Segment,
    pub inputs: Vec<Plain>,
    pub bindings: Vec<Option<u64>>,
}

pub struct RunSpec {
    pub parties: Vec<String>,
    pub frac_bits: u32,
    pub symbols: Arc<Vec<String>>,
    pub debug: Arc<DebugInfo>,
    /// Public constants, loaded once and shared by the parties of this process.
    pub constants: Arc<Vec<Option<Arc<Plain>>>>,
    /// Names this run's module and session (see [`PartyJob::context`]).
    pub context: [u8; 32],
    /// Fuse local elementwise runs into compiled kernels (see [`PartyJob::jit`]).
    pub jit: bool,
    /// Counts every party's progress for a progress bar.
    pub meter: Option<Arc<crate::meter::Meter>>,
    /// Watches every instruction (debug mode only: it sees every party's shares).
    pub debugger: Option<Arc<crate::debugger::Debugger>>,
    /// Record a profile of every party (`--profile`).
    pub profile: bool,
    /// What the run may ask of the machine (see [`crate::limits`]).
    pub limits: crate::limits::Limits,
}

impl RunSpec {
    /// A run of these parties with nothing beside the program: no public constants, the JIT
    /// on, no meter, debugger or profile, this machine's limits. Fields set otherwise follow
    /// with struct update syntax.
    pub fn new(parties: Vec<String>, frac_bits: u32, symbols: Arc<Vec<String>>, debug: Arc<DebugInfo>, context: [u8; 32]) -> RunSpec {
        RunSpec {
            parties,
            frac_bits,
            symbols,
            debug,
            constants: Arc::new(Vec::new()),
            context,
            jit: true,
            meter: None,
            debugger: None,
            profile: false,
            limits: Default::default(),
        }
    }
}

/// A failure, attributed to the party where it started.
#[derive(Debug)]
pub struct RunFailure {
    pub party: String,
    pub error: VmError,
}

pub fn run_local(spec: &RunSpec, parties: Vec<LocalParty>, mode: Mode) -> Result<Vec<PartyOutcome>, RunFailure> {
    let seeds = deal_seeds(spec.parties.len()).map_err(|error| RunFailure { party: spec.parties.first().cloned().unwrap_or_default(), error })?;
    run_local_seeded(spec, parties, mode, seeds)
}

/// [`run_local`] with the parties' PRG seeds given: two runs with the same seeds draw the same
/// masks and triples, so their shares can be compared bit for bit (`--no-jit` against fused
/// kernels). For tests: seeds the caller knows protect nothing.
pub fn run_local_seeded(spec: &RunSpec, parties: Vec<LocalParty>, mode: Mode, seeds: Vec<PartySeeds>) -> Result<Vec<PartyOutcome>, RunFailure> {
    if spec.debugger.is_some() && mode != Mode::Debug {
        let error = VmError::Input("a debugger (--trace, --break) shows secrets, so only debug mode has one".into());
        return Err(RunFailure { party: spec.parties.first().cloned().unwrap_or_default(), error });
    }
    let progress = (mode == Mode::Debug).then(|| Arc::new(AtomicU64::new(0)));
    let jobs: Vec<PartyJob<MemTransport>> = parties
        .into_iter()
        .zip(MemTransport::mesh(spec.parties.len()))
        .zip(seeds)
        .enumerate()
        .map(|(i, ((p, transport), seeds))| PartyJob {
            segment: p.segment,
            inputs: p.inputs,
            bindings: p.bindings,
            proto: Semi2k::new(Comm::new(transport, i as u16, spec.parties.clone()).with_progress(progress.clone()), seeds, spec.frac_bits),
            debug: spec.debug.clone(),
            symbols: spec.symbols.clone(),
            progress: progress.clone(),
            constants: spec.constants.clone(),
            context: spec.context,
            jit: spec.jit,
            meter: spec.meter.clone(),
            debugger: spec.debugger.clone(),
            profile: spec.profile,
            limits: spec.limits,
        })
        .collect();
    let results = match (mode, progress) {
        (Mode::Debug, Some(progress)) => lockstep(jobs, &progress),
        _ => std::thread::scope(|s| {
            let handles: Vec<_> = jobs.into_iter().map(|job| s.spawn(move || futures::executor::block_on(run_party(job)))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(VmError::Internal("a party's thread panicked".into()))))
                .collect()
        }),
    };
    first_failure(&spec.parties, results)
}

/// The outcomes, or the failure that caused the others: the first error that is not an echo of
/// another party's abort.
fn first_failure(names: &[String], results: Vec<Result<PartyOutcome, VmError>>) -> Result<Vec<PartyOutcome>, RunFailure> {
    let mut errors: Vec<(usize, VmError)> = Vec::new();
    let mut outcomes = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(o) => outcomes.push(o),
            Err(e) => errors.push((i, e)),
        }
    }
    if errors.is_empty() {
        return Ok(outcomes);
    }
    let pick = errors.iter().position(|(_, e)| !e.is_echo()).unwrap_or(0);
    let (i, error) = errors.swap_remove(pick);
    Err(RunFailure { party: names.get(i).cloned().unwrap_or_default(), error })
}

type PartyFuture = Pin<Box<dyn Future<Output = Result<PartyOutcome, VmError>>>>;

fn lockstep(jobs: Vec<PartyJob<MemTransport>>, progress: &AtomicU64) -> Vec<Result<PartyOutcome, VmError>> {
    let n = jobs.len();
    let mut futures: Vec<Option<PartyFuture>> = jobs.into_iter().map(|j| Some(Box::pin(run_party(j)) as PartyFuture)).collect();
    let mut results: Vec<Option<Result<PartyOutcome, VmError>>> = (0..n).map(|_| None).collect();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    // Progress is an instruction finished or a message received. A pass can also progress by
    // sending alone (receivers move on in the next pass), so two passes in a row without either
    // mean the parties wait for each other.
    let mut idle_passes = 0;
    loop {
        let before = progress.load(Ordering::Relaxed);
        let mut finished_now = false;
        for p in 0..n {
            let Some(fut) = futures[p].as_mut() else { continue };
            if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
                futures[p] = None;
                finished_now = true;
                let failed = r.is_err();
                results[p] = Some(r);
                if failed {
                    // The first error stops the run: the others are dropped where they stand.
                    return results
                        .into_iter()
                        .map(|r| r.unwrap_or_else(|| Err(VmError::Aborted { party: "debugger".into(), cause: "stopped at the first error".into() })))
                        .collect();
                }
            }
        }
        if futures.iter().all(Option::is_none) {
            return results.into_iter().map(|r| r.unwrap_or_else(|| Err(VmError::Internal("party never ran".into())))).collect();
        }
        idle_passes = if !finished_now && progress.load(Ordering::Relaxed) == before { idle_passes + 1 } else { 0 };
        if idle_passes >= 2 {
            let stuck: Vec<String> = (0..n).filter(|&p| futures[p].is_some()).map(|p| p.to_string()).collect();
            return (0..n).map(|_| Err(VmError::Internal(format!("deadlock: parties {} wait for each other", stuck.join(", "))))).collect();
        }
    }
}

/// Runs `f` as every one of `n` parties of a protocol in this process, one thread each over
/// in-memory links, and returns their results in party order: for tests, benchmarks and tools
/// that exercise kernels without a module.
pub fn simulate<R: Send>(n: usize, frac_bits: u32, f: impl Fn(Semi2k<MemTransport>) -> R + Sync) -> Result<Vec<R>, VmError> {
    let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let seeds = deal_seeds(n)?;
    std::thread::scope(|s| {
        let handles: Vec<_> = MemTransport::mesh(n)
            .into_iter()
            .zip(seeds)
            .enumerate()
            .map(|(i, (t, seeds))| {
                let proto = Semi2k::new(Comm::new(t, i as u16, names.clone()), seeds, frac_bits);
                let f = &f;
                s.spawn(move || f(proto))
            })
            .collect();
        handles.into_iter().map(|h| h.join().map_err(|_| VmError::Internal("a party's thread panicked".into()))).collect()
    })
}
