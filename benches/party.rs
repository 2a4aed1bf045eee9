//! A 1,000,000-element secret fixed-point multiply between two parties: in party mode, each
//! party on its own tokio runtime over loopback TCP with mutual TLS, exactly the links of
//! `sfvm run --party`; and in sim mode, over in-memory links. Connecting and agreeing on seeds
//! happen before the clock starts; each iteration is one multiply with its truncation.

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

/// Both parties over loopback TLS; the slowest party's time for `iters` multiplies, and party
/// 0's traffic.
fn party_mode(iters: u64) -> (Duration, Traffic) {
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
                            std::hint::black_box(p.mul_trunc(&x, &y, tags).await.expect("mul"));
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

fn party_vs_sim(c: &mut Criterion) {
    let (_, traffic) = party_mode(1);
    let declared = sfvm::cost::mul_fix(LEN as u64, 2);
    eprintln!("  party mode: party 0 sent {} bytes in {} rounds per multiply; declared {} bytes, {} rounds", traffic.bytes_sent, traffic.rounds, declared.bytes_sent, declared.rounds);
    let mut g = c.benchmark_group("mul_1e6_2p");
    g.sample_size(10);
    g.throughput(Throughput::Elements(LEN as u64));
    g.bench_function("sim", |b| b.iter_custom(sim_mode));
    g.bench_function("party_loopback_tls", |b| b.iter_custom(|iters| party_mode(iters).0));
    g.finish();
}

criterion_group!(benches, party_vs_sim);
criterion_main!(benches);
