//! FM128 kernels beside the machine's own limits, measured in the same run:
//!
//! - memory bandwidth: a copy of 10M ring elements (bytes read plus bytes written per second);
//! - the best u128 multiply-add rate: four independent accumulators over operands in L1;
//! - the elementwise kernels on 10M elements: Beaver's local step with two-party truncation
//!   (reads seven vectors, writes one) and `a += b`, as bytes moved per second;
//! - the ring matmul at 1024 (the AVX-512 IFMA kernel where the CPU has it, else the portable
//!   one), as multiply-adds per second, and the portable kernel beside it.
//!
//! Before criterion's own figures, a summary gives each kernel as a fraction of its limit.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sfvm::prg::Prg;
use sfvm::semi2k::{beaver_combine, BeaverShares};
use std::hint::black_box;
use sf_benches::best;

const LEN: usize = 10_000_000;
const MATMUL: usize = 1024;


/// `rounds` passes of four independent multiply-add chains over `x` and `y`.
fn mul_add_peak(x: &[u128], y: &[u128], rounds: usize) -> u128 {
    let mut acc = [0u128; 4];
    for _ in 0..rounds {
        for (a, b) in x.chunks_exact(4).zip(y.chunks_exact(4)) {
            for l in 0..4 {
                acc[l] = acc[l].wrapping_add(a[l].wrapping_mul(b[l]));
            }
        }
    }
    acc.iter().fold(0, |s, a| s.wrapping_add(*a))
}

struct Inputs {
    v: Vec<Vec<u128>>,
}

impl Inputs {
    fn new() -> Inputs {
        let mut prg = Prg::new([3; 16]);
        Inputs { v: (0..7).map(|_| prg.next_vec(LEN)).collect() }
    }

    fn beaver(&self) -> Vec<u128> {
        let v = &self.v;
        beaver_combine(BeaverShares { theirs: [&v[0], &v[1]], operands: [&v[2], &v[3]], triple: [&v[4], &v[5], &v[6]] }, true, Some(40))
    }
}

fn summary(c: &mut Criterion) {
    sf_benches::keep_freed_memory();
    let inputs = Inputs::new();
    let src = &inputs.v[0];
    let mut dst = vec![0u128; LEN];
    let copy = best(5, || dst.copy_from_slice(black_box(src)));
    let bandwidth = (2 * 16 * LEN) as f64 / copy;

    let (x, y) = (&inputs.v[1][..4096], &inputs.v[2][..4096]);
    let rounds = 2_000;
    let peak_time = best(5, || {
        black_box(mul_add_peak(black_box(x), black_box(y), rounds));
    });
    let peak = (4096 * rounds) as f64 / peak_time;

    let beaver = best(5, || drop(black_box(inputs.beaver())));
    let beaver_bw = (8 * 16 * LEN) as f64 / beaver;
    let mut acc = inputs.v[3].clone();
    let add = best(5, || sfvm::ring::add_assign(black_box(&mut acc), black_box(&inputs.v[4])));
    let add_bw = (3 * 16 * LEN) as f64 / add;

    let n = MATMUL;
    let (a, b) = (&inputs.v[5][..n * n], &inputs.v[6][..n * n]);
    let macs = (n * n * n) as f64;
    let simd = best(2, || drop(black_box(sfvm::ring::matmul(a, b, n, n, n))));
    let portable = best(1, || drop(black_box(sf_kernels::matmul_portable(a, b, n, n, n))));
    eprintln!("  limits: copy {:.1} GB/s (read + written), u128 multiply-add {:.2} G/s (one core, in L1)", bandwidth / 1e9, peak / 1e9);
    eprintln!("  Beaver local step, 10M: {:.1} GB/s = {:.0}% of the copy's bandwidth ({:.0} M elements/s)", beaver_bw / 1e9, 100.0 * beaver_bw / bandwidth, LEN as f64 / beaver / 1e6);
    eprintln!("  a += b, 10M: {:.1} GB/s = {:.0}% of the copy's bandwidth", add_bw / 1e9, 100.0 * add_bw / bandwidth);
    eprintln!(
        "  matmul {n}: {:.2} G multiply-adds/s = {:.0}% of the scalar u128 multiply-add peak ({}; portable kernel {:.2} G/s = {:.0}%)",
        macs / simd / 1e9,
        100.0 * macs / simd / peak,
        if sf_kernels::simd_available() { "AVX-512 IFMA, all threads" } else { "portable: no AVX-512 IFMA here" },
        macs / portable / 1e9,
        100.0 * macs / portable / peak
    );

    let mut g = c.benchmark_group("kernels");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((2 * 16 * LEN) as u64));
    g.bench_function("copy_10M", |bch| bch.iter(|| dst.copy_from_slice(black_box(src))));
    g.throughput(Throughput::Elements((4096 * rounds) as u64));
    g.bench_function("u128_mul_add_peak", |bch| bch.iter(|| mul_add_peak(black_box(x), black_box(y), rounds)));
    g.throughput(Throughput::Bytes((8 * 16 * LEN) as u64));
    g.bench_function("beaver_local_step_10M", |bch| bch.iter(|| inputs.beaver()));
    g.throughput(Throughput::Bytes((3 * 16 * LEN) as u64));
    g.bench_function("add_assign_10M", |bch| bch.iter(|| sfvm::ring::add_assign(black_box(&mut acc), black_box(&inputs.v[4]))));
    g.throughput(Throughput::Elements(macs as u64));
    g.bench_function("matmul_1024", |bch| bch.iter(|| sfvm::ring::matmul(a, b, n, n, n)));
    g.finish();
}

criterion_group!(benches, summary);
criterion_main!(benches);
