//! SEMI2K kernels on secrets, all parties in this process (one thread each, in-memory links),
//! as in sim mode. Each benchmark prints the rounds and bytes its operation costs.

/// The allocator `sfvm` runs with, so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sfvm::link::{MemTransport, Tag, Traffic};
use sfvm::prg::Prg;
use sfvm::run::simulate;
use sfvm::semi2k::Semi2k;
use std::time::{Duration, Instant};

const FRAC: u32 = 40;

/// Runs `op` on every party's protocol instance at once and returns the slowest party's time and
/// party 0's traffic. Shares are random ring elements: timing does not depend on the values.
fn run_parties(n: usize, len: usize, op: &(dyn Fn(&mut Semi2k<MemTransport>, &[u128], &[u128]) + Sync), iters: u64) -> (Duration, Traffic) {
    let results = simulate(n, FRAC, |mut p| {
        let mut prg = Prg::new([p.me() as u8; 16]);
        let (x, y) = (prg.next_vec(len), prg.next_vec(len));
        let start = Instant::now();
        for _ in 0..iters {
            op(&mut p, &x, &y);
        }
        (start.elapsed(), p.comm.traffic)
    })
    .expect("simulation");
    let slowest = results.iter().map(|r| r.0).max().unwrap_or_default();
    (slowest, results[0].1)
}

fn report(what: &str, iters: u64, t: Traffic) {
    eprintln!("  {what}: {} rounds, {} bytes sent by party 0 per op", t.rounds / iters.max(1), t.bytes_sent / iters.max(1));
}

fn mul(c: &mut Criterion) {
    let mut g = c.benchmark_group("secret_mul_fix");
    g.sample_size(10);
    for (parties, len) in [(2, 100_000usize), (2, 1_000_000), (2, 10_000_000), (3, 100_000), (3, 1_000_000)] {
        {
            g.throughput(Throughput::Elements(len as u64));
            let op = |p: &mut Semi2k<MemTransport>, x: &[u128], y: &[u128]| {
                futures::executor::block_on(async {
                    std::hint::black_box(p.mul_trunc(x, y, [Tag::new(0, 0), Tag::new(0, 1)]).await.expect("mul"));
                })
            };
            let (_, t) = run_parties(parties, len, &op, 1);
            report(&format!("mul {parties}p {len}"), 1, t);
            g.bench_with_input(BenchmarkId::new(format!("{parties}p"), len), &len, |b, &len| {
                b.iter_custom(|iters| run_parties(parties, len, &op, iters).0)
            });
        }
    }
}

fn matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("secret_matmul_fix");
    g.sample_size(10);
    for size in [128usize, 256, 512, 1024] {
        g.throughput(Throughput::Elements((size * size * size) as u64));
        let op = move |p: &mut Semi2k<MemTransport>, x: &[u128], y: &[u128]| {
            futures::executor::block_on(async {
                let z = p.matmul(x, y, (size, size, size), Tag::new(0, 0)).await.expect("matmul");
                std::hint::black_box(p.truncate(&z, Tag::new(0, 1)).await.expect("trunc"));
            })
        };
        let (_, t) = run_parties(2, size * size, &op, 1);
        report(&format!("matmul 2p {size}"), 1, t);
        g.bench_with_input(BenchmarkId::new("2p", size), &size, |b, &size| {
            b.iter_custom(|iters| run_parties(2, size * size, &op, iters).0)
        });
    }
}

/// Comparison and every nonlinear function at 1,000,000 elements, 2 parties.
fn nonlinear(c: &mut Criterion) {
    use sfvm::link::Steps;
    let mut g = c.benchmark_group("secret_nonlinear_1e6");
    g.sample_size(10);
    let len = 1_000_000usize;
    g.throughput(Throughput::Elements(len as u64));
    type Kernel = fn(&mut Semi2k<MemTransport>, &[u128], &[u128]);
    let kernels: [(&str, Kernel); 10] = [
        ("less_than", |p, x, y| {
            let d: Vec<u128> = x.iter().zip(y).map(|(a, b)| a.wrapping_sub(*b)).collect();
            std::hint::black_box(futures::executor::block_on(p.is_negative(&d, &mut Steps::new(0, 0))).expect("cmp"));
        }),
        // relu(x) = x - x [x < 0], the bit unscaled so that the product needs no truncation.
        ("relu", |p, x, _| {
            let mut s = Steps::new(0, 0);
            let neg = futures::executor::block_on(p.is_negative(x, &mut s)).expect("cmp");
            let masked = futures::executor::block_on(p.mul(x, &neg, s.tag())).expect("mul");
            std::hint::black_box(x.iter().zip(masked).map(|(a, b)| a.wrapping_sub(b)).collect::<Vec<u128>>());
        }),
        ("exp", |p, x, _| drop(futures::executor::block_on(p.exp(&small(x), &mut Steps::new(0, 0))).expect("exp"))),
        ("log", |p, x, _| drop(futures::executor::block_on(p.log(&positive(x), &mut Steps::new(0, 0))).expect("log"))),
        ("reciprocal", |p, x, _| drop(futures::executor::block_on(p.reciprocal(&positive(x), &mut Steps::new(0, 0))).expect("rec"))),
        ("division", |p, x, y| {
            let mut s = Steps::new(0, 0);
            let r = futures::executor::block_on(p.reciprocal(&positive(y), &mut s)).expect("rec");
            drop(futures::executor::block_on(p.mul_fix(x, &r, &mut s)).expect("mul"));
        }),
        ("sqrt", |p, x, _| drop(futures::executor::block_on(p.sqrt(&positive(x), &mut Steps::new(0, 0))).expect("sqrt"))),
        ("rsqrt", |p, x, _| drop(futures::executor::block_on(p.rsqrt(&positive(x), &mut Steps::new(0, 0))).expect("rsqrt"))),
        ("sigmoid", |p, x, _| drop(futures::executor::block_on(p.sigmoid(&small(x), &mut Steps::new(0, 0))).expect("sigmoid"))),
        ("tanh", |p, x, _| drop(futures::executor::block_on(p.tanh(&small(x), &mut Steps::new(0, 0))).expect("tanh"))),
    ];
    for (name, kernel) in kernels {
        let op = move |p: &mut Semi2k<MemTransport>, x: &[u128], y: &[u128]| kernel(p, x, y);
        let (_, t) = run_parties(2, len, &op, 1);
        report(&format!("{name} 2p 1e6"), 1, t);
        g.bench_function(name, |b| b.iter_custom(|iters| run_parties(2, len, &op, iters).0));
    }
}

/// Random shares with their top bits cleared: values of moderate size, positive once summed
/// by two parties only approximately, which is all timing needs.
fn small(x: &[u128]) -> Vec<u128> {
    x.iter().map(|v| v >> 80).collect()
}

fn positive(x: &[u128]) -> Vec<u128> {
    x.iter().map(|v| (v >> 84) + (1 << 40)).collect()
}

fn allocator(_: &mut Criterion) {
    sf_benches::keep_freed_memory();
}

criterion_group!(benches, allocator, mul, matmul, nonlinear);
criterion_main!(benches);
