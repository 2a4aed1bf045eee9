//! Fused elementwise kernels (Cranelift, `sf-jit`) beside a hand-written fused Rust loop and
//! the same chain run op by op, on the two chains the VM fuses most: Beaver's local step with
//! the first party's truncation (7 input vectors), and a public polynomial combination of
//! shares with a truncation, as in a program's `c0 + c1 * x + c2 * x2 - c3 * x3` (3 vectors).
//!
//! A summary first gives each variant's best time and the two ratios the design asks for
//! (fused within 1.1x of hand-written Rust; at least 3x faster than op by op); then criterion.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sf_jit::{beaver_step, polynomial, Chain, Kernel};
use sfvm::prg::Prg;
use sfvm::semi2k::{beaver_combine, BeaverShares};
use std::hint::black_box;
use sf_benches::best;
use std::time::Instant;

const LENS: [usize; 2] = [1_000_000, 4_000_000];
const FRAC: u32 = 40;

fn poly_by_hand(v: &[&[u128]], k: &[u128]) -> Vec<u128> {
    let (x, x2, x3) = (v[0], v[1], v[2]);
    (0..x.len())
        .map(|i| {
            let s = x[i].wrapping_mul(k[1]).wrapping_add(x2[i].wrapping_mul(k[2])).wrapping_sub(x3[i].wrapping_mul(k[3])).wrapping_add(k[0]);
            ((s as i128) >> FRAC) as u128
        })
        .collect()
}

fn beaver_by_hand(v: &[&[u128]], _: &[u128]) -> Vec<u128> {
    beaver_combine(BeaverShares { theirs: [v[0], v[1]], operands: [v[2], v[3]], triple: [v[4], v[5], v[6]] }, true, Some(FRAC))
}

type ByHand = fn(&[&[u128]], &[u128]) -> Vec<u128>;

struct Case {
    name: &'static str,
    chain: Chain,
    kernel: Kernel,
    by_hand: ByHand,
    data: Vec<Vec<u128>>,
    params: Vec<u128>,
}

impl Case {
    fn new(name: &'static str, chain: Chain, by_hand: ByHand, len: usize) -> Case {
        let mut prg = Prg::new([7; 16]);
        let data = (0..chain.n_inputs()).map(|_| prg.next_vec(len)).collect();
        let params = prg.next_vec(chain.n_params());
        let kernel = Kernel::compile(&chain).expect("the chain compiles");
        Case { name, chain, kernel, by_hand, data, params }
    }

    fn inputs(&self) -> Vec<&[u128]> {
        self.data.iter().map(Vec::as_slice).collect()
    }
}


fn cases(len: usize) -> [Case; 2] {
    [Case::new("beaver", beaver_step(true, FRAC), beaver_by_hand, len), Case::new("poly", polynomial(true, FRAC), poly_by_hand, len)]
}

fn summary() {
    println!("fused kernels, best of 7 (ms): jit | hand-written Rust | op by op; jit/Rust, op-by-op/jit");
    for len in LENS {
        for case in cases(len) {
            let inputs = case.inputs();
            assert_eq!(case.kernel.run(&inputs, &case.params)[0], (case.by_hand)(&inputs, &case.params), "{}: jit and Rust differ", case.name);
            let t = Instant::now();
            let compiled = Kernel::compile(&case.chain).expect("compiles");
            let compile = t.elapsed().as_secs_f64();
            drop(compiled);
            let jit = best(7, || drop(black_box(case.kernel.run(&inputs, &case.params))));
            let rust = best(7, || drop(black_box((case.by_hand)(&inputs, &case.params))));
            let ops = best(7, || drop(black_box(case.chain.run_op_by_op(&inputs, &case.params))));
            println!(
                "{:>7} {len:>8}: {:7.2} | {:7.2} | {:7.2}   {:.2}x  {:.2}x   (compile {:.2} ms, {} ops)",
                case.name,
                jit * 1e3,
                rust * 1e3,
                ops * 1e3,
                jit / rust,
                ops / jit,
                compile * 1e3,
                case.chain.ops().len()
            );
        }
    }
}

fn bench(c: &mut Criterion) {
    sf_benches::keep_freed_memory();
    summary();
    for len in LENS {
        for case in cases(len) {
            let inputs = case.inputs();
            let mut g = c.benchmark_group(format!("fusion/{}/{len}", case.name));
            g.sample_size(10).throughput(Throughput::Elements(len as u64));
            g.bench_function("jit", |b| b.iter(|| case.kernel.run(&inputs, &case.params)));
            g.bench_function("rust", |b| b.iter(|| (case.by_hand)(&inputs, &case.params)));
            g.bench_function("op_by_op", |b| b.iter(|| case.chain.run_op_by_op(&inputs, &case.params)));
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
