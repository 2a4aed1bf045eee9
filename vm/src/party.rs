//! Party mode: one party of a cluster in this process, over TCP with mutual TLS.
//!
//! The party reads its own segment of the module and nothing else, its inputs, and the public
//! constants its segment uses; connects to every other party (`net`); agrees on PRG seeds over
//! the links; and runs the same `run_party` future as sim mode, on a tokio runtime.

use crate::cluster::{Cluster, ClusterFile};
use crate::dealer::DealerMode;
use crate::error::{Failure, VmError};
use crate::interp::{run_party, PartyJob};
use crate::io;
use crate::link::Comm;
use crate::net::{self, Connect};
use crate::semi2k::{exchange_seeds, Semi2k};
use crate::value::Plain;
use sf_isa::ModuleFile;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct PartyRun {
    pub module: PathBuf,
    pub party: String,
    pub cluster: PathBuf,
    /// `NAME=FILE` for each of this party's inputs.
    pub inputs: Vec<String>,
    pub out: PathBuf,
    /// The session number: concurrent runs over one cluster file use distinct ones.
    pub session: u16,
    pub connect_timeout: Duration,
    /// The longest one receive may wait for a peer.
    pub recv_timeout: Duration,
    /// Fuse local elementwise runs into compiled kernels (`--no-jit` turns it off).
    pub jit: bool,
    /// Write this party's profile here (`--profile`).
    pub profile: Option<PathBuf>,
    /// The most instructions this party may run (`--max-instructions`).
    pub max_instructions: u64,
}

pub fn run(r: &PartyRun) -> Result<(), Failure> {
    let name = &r.party;
    let fail = |e: VmError| Failure::of(name, &e);
    let cluster = Cluster::load(&r.cluster)?;
    let mut module = ModuleFile::open(&r.module)?;
    let header = module.header.clone();
    let me = header.parties.iter().position(|p| p == name).ok_or_else(|| {
        format!("--party {name}: the module's parties are {}", header.parties.join(", "))
    })?;
    let cluster = in_module_order(cluster, &header.parties)?;
    let mode = if cluster.file.dealer.is_some() { DealerMode::Separate } else { DealerMode::FirstParty };

    let debug = Arc::new(module.debug_info()?);
    let symbols = Arc::new(header.symbols.clone());
    let segment = module.segment(me as u16)?;
    // A bad input is not the end of the story: the party still connects, to tell the others
    // why it stops, so that no one waits for it.
    let prepared = prepare(r, &mut module, &segment, &symbols, &debug, header.constants.len());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| fail(VmError::Internal(format!("cannot start the runtime: {e}"))))?;
    let started = Instant::now();
    let meter = Arc::new(crate::meter::Meter::default());
    let bar = crate::meter::Progress::start(meter.clone(), name.clone());
    let outcome = runtime.block_on(async {
        let links = net::connect(Connect {
            cluster: &cluster,
            me,
            module_hash: header.hash_hex(),
            session: r.session.to_string(),
            session_index: r.session,
            deadline: r.connect_timeout,
        })
        .await?;
        let mut comm = Comm::new(links.transport, me as u16, header.parties.clone()).with_recv_timeout(Some(r.recv_timeout));
        let outcome = match prepared {
            Err(cause) => {
                comm.abort(name, &cause.to_string());
                drop(comm);
                Err(cause)
            }
            Ok((inputs, bindings, constants)) => match exchange_seeds(&mut comm, mode).await {
                Err(e) => Err(e),
                Ok(seeds) => {
                    let job = PartyJob {
                        segment,
                        inputs,
                        bindings,
                        proto: Semi2k::new(comm, seeds, header.frac_bits),
                        debug: debug.clone(),
                        symbols,
                        progress: None,
                        constants: Arc::new(constants),
                        context: crate::interp::run_context(&header.module_hash, &r.session.to_string()),
                        jit: r.jit,
                        meter: Some(meter.clone()),
                        // A party of a cluster holds only its own shares: no debugger.
                        debugger: None,
                        profile: r.profile.is_some(),
                        limits: crate::limits::Limits::of_this_machine(r.max_instructions),
                    };
                    run_party(job).await
                }
            },
        };
        // The transport is gone with the job: its channels close, and each writer drains its
        // queue, shuts its TLS stream down and ends. Wait for that, so nothing queued is lost.
        for w in links.writers {
            let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
        }
        outcome
    });
    bar.finish();
    let outcome = outcome.map_err(fail)?;
    if let (Some(path), Some(p)) = (&r.profile, &outcome.profile) {
        crate::profile::Profile::new(&r.module, &debug, "party", vec![p.clone()]).write(path).map_err(|m| Failure { code: "V0500", message: format!("{name}: {m}") })?;
        eprintln!("  {:<28} profile of {name}", path.display());
    }
    for (output, value) in &outcome.outputs {
        let path = io::write_output(&r.out, name, output, value)?;
        eprintln!("  {:<28} {}", path.display(), crate::value::fmt_shape(value.shape()));
    }
    eprintln!(
        "ran {} as {name} in {:.3}s: {} bytes sent, {} rounds, {} instructions in fused kernels",
        r.module.display(),
        started.elapsed().as_secs_f64(),
        outcome.traffic.bytes_sent,
        outcome.traffic.rounds,
        outcome.fused
    );
    Ok(())
}

/// The cluster's entries in the module's party order (the dealer, if any, stays last).
fn in_module_order(cluster: Cluster, parties: &[String]) -> Result<Cluster, VmError> {
    let mut ordered = Vec::new();
    for p in parties {
        ordered.push(cluster.party(p)?.clone());
    }
    let file = ClusterFile { ca: cluster.file.ca.clone(), parties: ordered, dealer: cluster.file.dealer.clone() };
    Ok(Cluster { path: cluster.path, file })
}

/// `sfvm dealer`: the separate dealer of one run.
pub struct DealerRun {
    pub module: PathBuf,
    pub cluster: PathBuf,
    pub session: u16,
    pub connect_timeout: Duration,
    pub recv_timeout: Duration,
}

/// Serves one run as its separate dealer: connects to every party (it reads only the module's
/// header, to check that they run it), hands out the dealer seeds, and answers the first
/// party's requests until the run ends.
pub fn run_dealer(r: &DealerRun) -> Result<(), Failure> {
    let cluster = Cluster::load(&r.cluster)?;
    let Some(name) = cluster.file.dealer.as_ref().map(|d| d.name.clone()) else {
        return Err(VmError::Data { path: r.cluster.clone(), message: "the cluster has no [dealer]; its first party deals (make one with `sfvm cluster init --dealer`)".into() }.into());
    };
    let fail = |e: VmError| Failure::of(&name, &e);
    let header = ModuleFile::open(&r.module)?.header.clone();
    let cluster = in_module_order(cluster, &header.parties)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| fail(VmError::Internal(format!("cannot start the runtime: {e}"))))?;
    let started = Instant::now();
    let served = runtime.block_on(async {
        let links = net::connect(Connect {
            cluster: &cluster,
            me: header.parties.len(),
            module_hash: header.hash_hex(),
            session: r.session.to_string(),
            session_index: r.session,
            deadline: r.connect_timeout,
        })
        .await?;
        let mut comm = Comm::new(links.transport, header.parties.len() as u16, header.parties.clone()).with_recv_timeout(Some(r.recv_timeout));
        let served = crate::dealer::serve(&mut comm).await;
        drop(comm);
        for w in links.writers {
            let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
        }
        served
    });
    let served = served.map_err(fail)?;
    eprintln!("dealt {served} requests for {} in {:.3}s", r.module.display(), started.elapsed().as_secs_f64());
    Ok(())
}

type Prepared = (Vec<Plain>, Vec<Option<u64>>, Vec<Option<Arc<Plain>>>);

/// This party's inputs, the shape symbols they bind, and the constants its segment uses.
fn prepare(r: &PartyRun, module: &mut ModuleFile, segment: &sf_isa::Segment, symbols: &[String], debug: &sf_isa::DebugInfo, n_constants: usize) -> Result<Prepared, VmError> {
    let name = &r.party;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for arg in &r.inputs {
        let (input, file) = arg.split_once('=').ok_or_else(|| VmError::Input(format!("--input {arg}: expected NAME=FILE")))?;
        if files.iter().any(|(n, _)| n == input) {
            return Err(VmError::Input(format!("--input {input} is given twice")));
        }
        files.push((input.to_string(), PathBuf::from(file)));
    }
    let (inputs, bindings) = io::load_inputs(segment, name, "", &mut files, symbols, debug)?;
    let mut constants: Vec<Option<Arc<Plain>>> = vec![None; n_constants];
    for id in segment.constants_used() {
        let c = module.constant(id)?;
        constants[id as usize] = Some(Arc::new(Plain::from_constant(c)?));
    }

    Ok((inputs, bindings, constants))
}
