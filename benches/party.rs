//! A 1,000,000-element secret fixed-point multiply between two parties: in party mode, each
//! party on its own tokio runtime over loopback TCP with mutual TLS, exactly the links of
//! `sfvm run --party`; and in sim mode, over in-memory links. Connecting and agreeing on seeds
//! happen before the clock starts; each iteration is one multiply with its truncation.
//!
//! Beside them, `exchange_only` moves the multiply's traffic (2,000,000 ring elements each way)
//! over the same TLS links with no protocol work: the floor that party mode adds to sim mode.
//! Before the timings, one line gives the CPU time (user and system, both parties) of each,
//! since on a machine with fewer cores than parties plus their network stacks, CPU time, not
//! waiting, decides the wall time.

/// The allocator `sfvm` runs with, so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sfvm::cluster::Cluster;
use sfvm::dealer::DealerMode;
use sfvm::link::{Comm, Tag, Traffic};
use sfvm::net::{self, Connect};
use sfvm::prg::Prg;
use sfvm::semi2k::{exchange_seeds, Semi2k};
use std::time::{Duration, Instant};

const LEN: usize = 1_000_000;
const FRAC: u32 = 40;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("address").port()
}

/// What each party does per iteration in party mode.
#[derive(Clone, Copy)]
enum Work {
    /// One fixed-point multiply with its truncation.
    Multiply,
    /// Only the multiply's exchange: 2 * LEN ring elements to the peer and back from it.
    Exchange,
}

/// Both parties over loopback TLS; the slowest party's time for `iters` iterations of `work`,
/// and party 0's traffic.
fn party_mode(iters: u64, work: Work) -> (Duration, Traffic) {
    let dir = std::env::temp_dir().join(format!("sf-bench-party-{}-{}", std::process::id(), free_port()));
    let parties = vec!["alice".to_string(), "bob".to_string()];
    let path = sfvm::cluster::init(&dir, &parties, "127.0.0.1", free_port(), false).expect("cluster");
    let results: Vec<(Duration, Traffic)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|me| {
                let (path, parties) = (path.clone(), parties.clone());
                s.spawn(move || {
                    let cluster = Cluster::load(&path).expect("cluster file");
                    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
                    runtime.block_on(async {
                        let c = Connect { cluster: &cluster, me, module_hash: "bench".into(), session: "0".into(), session_index: 0, deadline: Duration::from_secs(30) };
                        let links = net::connect(c).await.expect("connect");
                        let mut comm = Comm::new(links.transport, me as u16, parties);
                        let writers = links.writers;
                        let seeds = exchange_seeds(&mut comm, DealerMode::FirstParty).await.expect("seeds");
                        let mut p = Semi2k::new(comm, seeds, FRAC);
                        let mut prg = Prg::new([me as u8; 16]);
                        let (x, y) = (prg.next_vec(LEN), prg.next_vec(LEN));
                        let start = Instant::now();
                        for i in 0..iters {
                            let tags = [Tag::new(1, 0), Tag::new(1, 1)].map(|t| Tag { iter: i, ..t });
                            match work {
                                Work::Multiply => {
                                    std::hint::black_box(p.mul_trunc(&x, &y, tags).await.expect("mul"));
                                }
                                Work::Exchange => {
                                    let peer = 1 - me as u16;
                                    p.comm.send_ring_owned(peer, tags[0], vec![i as u128; 2 * LEN]).expect("send");
                                    std::hint::black_box(p.comm.recv_ring(peer, tags[0], 2 * LEN).await.expect("receive"));
                                }
                            }
                        }
                        let (elapsed, traffic) = (start.elapsed(), p.comm.traffic);
                        // Every queued message reaches the peer before this party's links go.
                        drop(p);
                        for w in writers {
                            let _ = w.await;
                        }
                        (elapsed, traffic)
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("party")).collect()
    });
    let _ = std::fs::remove_dir_all(&dir);
    (results.iter().map(|r| r.0).max().unwrap_or_default(), results[0].1)
}

fn sim_mode(iters: u64) -> Duration {
    let times = sfvm::run::simulate(2, FRAC, |mut p| {
        let mut prg = Prg::new([p.me() as u8; 16]);
        let (x, y) = (prg.next_vec(LEN), prg.next_vec(LEN));
        let start = Instant::now();
        for i in 0..iters {
            let tags = [Tag::new(1, 0), Tag::new(1, 1)].map(|t| Tag { iter: i, ..t });
            std::hint::black_box(futures::executor::block_on(p.mul_trunc(&x, &y, tags)).expect("mul"));
        }
        start.elapsed()
    })
    .expect("simulation");
    times.into_iter().max().unwrap_or_default()
}

/// CPU seconds (user and system) this process has used so far, all threads.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct it is given and reads nothing else.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Wall and CPU milliseconds per iteration of `run`, over `iters` iterations; CPU time covers
/// the setup around the timed loop too, which is small beside 20 iterations.
fn per_iteration(iters: u64, run: impl FnOnce(u64) -> Duration) -> (f64, f64) {
    let before = cpu_seconds();
    let wall = run(iters);
    let cpu = cpu_seconds() - before;
    (wall.as_secs_f64() * 1e3 / iters as f64, cpu * 1e3 / iters as f64)
}

fn party_vs_sim(c: &mut Criterion) {
    let (_, traffic) = party_mode(1, Work::Multiply);
    let declared = sfvm::cost::mul_fix(LEN as u64, 2);
    eprintln!("  party mode: party 0 sent {} bytes in {} rounds per multiply; declared {} bytes, {} rounds", traffic.bytes_sent, traffic.rounds, declared.bytes_sent, declared.rounds);
    let (sim_wall, sim_cpu) = per_iteration(20, sim_mode);
    let (party_wall, party_cpu) = per_iteration(20, |i| party_mode(i, Work::Multiply).0);
    let (exchange_wall, exchange_cpu) = per_iteration(20, |i| party_mode(i, Work::Exchange).0);
    eprintln!(
        "  per multiply, wall / CPU of both parties: sim {sim_wall:.1} / {sim_cpu:.1} ms, party {party_wall:.1} / {party_cpu:.1} ms, exchange only {exchange_wall:.1} / {exchange_cpu:.1} ms, on {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut g = c.benchmark_group("mul_1e6_2p");
    g.sample_size(10);
    g.throughput(Throughput::Elements(LEN as u64));
    g.bench_function("sim", |b| b.iter_custom(sim_mode));
    g.bench_function("party_loopback_tls", |b| b.iter_custom(|iters| party_mode(iters, Work::Multiply).0));
    g.bench_function("exchange_only_loopback_tls", |b| b.iter_custom(|iters| party_mode(iters, Work::Exchange).0));
    g.finish();
}

fn allocator(_: &mut Criterion) {
    sf_benches::keep_freed_memory();
}

criterion_group!(benches, allocator, party_vs_sim);
criterion_main!(benches);
