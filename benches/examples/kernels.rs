//! One SEMI2K kernel on secrets, 2 parties in this process (sim mode), timed the way SPU's
//! `spu_bench.py` times its `run_s`: the inputs are shared first, both parties start together,
//! and the clock covers the kernel alone (the best of REPEATS runs, after one untimed run that
//! takes this fresh process's memory from the system); the result is then opened and compared
//! with float64. Prints one JSON line. `benches/spu_compare.py` runs it beside SPU.
//!
//!     cargo run --release -p sf-benches --example kernels -- WORKLOAD [SIZE] [REPEATS]
//!
//! WORKLOAD: mul, matmul (SIZE is n of n x n), greater, less_equal, relu, maximum, exp, log,
//! reciprocal, sqrt, rsqrt, sigmoid, tanh, div. SIZE defaults to 1e6 (256 for matmul).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use futures::executor::block_on;
use sfvm::link::{MemTransport, Steps, Tag};
use sfvm::ring::{decode_fix, encode_fix};
use sfvm::run::simulate;
use sfvm::semi2k::Semi2k;
use std::process::ExitCode;
use std::time::Instant;

const F: u32 = 40;

type P = Semi2k<MemTransport>;

/// What a kernel's result is: fixed-point numbers, or 0/1 bits (unscaled) to count mismatches.
#[derive(Clone, Copy, PartialEq)]
enum Out {
    Fix,
    Bit,
}

struct Workload {
    /// The inputs' domains and how they are drawn.
    x: Domain,
    y: Domain,
    kernel: fn(&mut P, &[u128], &[u128], usize, &mut Steps) -> Vec<u128>,
    reference: fn(f64, f64) -> f64,
    out: Out,
}

#[derive(Clone, Copy)]
enum Domain {
    Uniform(f64, f64),
    LogUniform(f64, f64),
    /// |v| log-uniform on the range, with a random sign.
    Signed(f64, f64),
}

/// Deterministic inputs (xorshift), the end points of the domain included.
fn sample(d: Domain, n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed | 1;
    let mut unit = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut v: Vec<f64> = (0..n)
        .map(|_| match d {
            Domain::Uniform(lo, hi) => lo + (hi - lo) * unit(),
            Domain::LogUniform(lo, hi) => (lo.ln() + (hi.ln() - lo.ln()) * unit()).exp(),
            Domain::Signed(lo, hi) => {
                let m = (lo.ln() + (hi.ln() - lo.ln()) * unit()).exp();
                if unit() < 0.5 { -m } else { m }
            }
        })
        .collect();
    if let (Domain::Uniform(lo, hi) | Domain::LogUniform(lo, hi), true) = (d, n >= 2) {
        v[0] = lo;
        v[n - 1] = hi;
    }
    v
}

fn one_minus(p: &P, bits: &[u128]) -> Vec<u128> {
    let first = p.me() == 0;
    bits.iter().map(|b| if first { 1u128.wrapping_sub(*b) } else { b.wrapping_neg() }).collect()
}

fn minus(x: &[u128], y: &[u128]) -> Vec<u128> {
    x.iter().zip(y).map(|(a, b)| a.wrapping_sub(*b)).collect()
}

fn workload(name: &str) -> Option<Workload> {
    use Domain::*;
    let unary = |x: Domain, kernel: fn(&mut P, &[u128], &[u128], usize, &mut Steps) -> Vec<u128>, reference: fn(f64, f64) -> f64| Workload { x, y: x, kernel, reference, out: Out::Fix };
    Some(match name {
        "mul" => Workload { x: Uniform(-10.0, 10.0), y: Uniform(-10.0, 10.0), kernel: |p, x, y, _, s| block_on(p.mul_fix(x, y, s)).expect("mul"), reference: |x, y| x * y, out: Out::Fix },
        "matmul" => Workload {
            x: Uniform(-1.0, 1.0),
            y: Uniform(-1.0, 1.0),
            kernel: |p, x, y, n, s| {
                let z = block_on(p.matmul(x, y, (n, n, n), s.tag())).expect("matmul");
                block_on(p.truncate(&z, s.tag())).expect("truncate")
            },
            reference: |_, _| f64::NAN,
            out: Out::Fix,
        },
        // x > y exactly when y - x < 0.
        "greater" => Workload { x: Uniform(-10.0, 10.0), y: Uniform(-10.0, 10.0), kernel: |p, x, y, _, s| block_on(p.is_negative(&minus(y, x), s)).expect("cmp"), reference: |x, y| (x > y) as u8 as f64, out: Out::Bit },
        "less_equal" => Workload {
            x: Uniform(-10.0, 10.0),
            y: Uniform(-10.0, 10.0),
            kernel: |p, x, y, _, s| {
                let greater = block_on(p.is_negative(&minus(y, x), s)).expect("cmp");
                one_minus(p, &greater)
            },
            reference: |x, y| (x <= y) as u8 as f64,
            out: Out::Bit,
        },
        // relu(x) = x - x * [x < 0]; the bit is unscaled, so the product needs no truncation.
        "relu" => unary(Uniform(-10.0, 10.0), |p, x, _, _, s| {
            let neg = block_on(p.is_negative(x, s)).expect("cmp");
            minus(x, &block_on(p.mul(x, &neg, s.tag())).expect("mul"))
        }, |x, _| x.max(0.0)),
        // max(x, y) = x - (x - y) * [x - y < 0].
        "maximum" => Workload {
            x: Uniform(-10.0, 10.0),
            y: Uniform(-10.0, 10.0),
            kernel: |p, x, y, _, s| {
                let d = minus(x, y);
                let neg = block_on(p.is_negative(&d, s)).expect("cmp");
                minus(x, &block_on(p.mul(&d, &neg, s.tag())).expect("mul"))
            },
            reference: f64::max,
            out: Out::Fix,
        },
        "exp" => unary(Uniform(-10.0, 10.0), |p, x, _, _, s| block_on(p.exp(x, s)).expect("exp"), |x, _| x.exp()),
        "log" => unary(Uniform(0.01, 100.0), |p, x, _, _, s| block_on(p.log(x, s)).expect("log"), |x, _| x.ln()),
        "reciprocal" => unary(Uniform(0.1, 100.0), |p, x, _, _, s| block_on(p.reciprocal(x, s)).expect("reciprocal"), |x, _| 1.0 / x),
        "sqrt" => unary(Uniform(0.01, 100.0), |p, x, _, _, s| block_on(p.sqrt(x, s)).expect("sqrt"), |x, _| x.sqrt()),
        "rsqrt" => unary(LogUniform(0.01, 100.0), |p, x, _, _, s| block_on(p.rsqrt(x, s)).expect("rsqrt"), |x, _| 1.0 / x.sqrt()),
        "sigmoid" => unary(Uniform(-20.0, 20.0), |p, x, _, _, s| block_on(p.sigmoid(x, s)).expect("sigmoid"), |x, _| 1.0 / (1.0 + (-x).exp())),
        "tanh" => unary(Uniform(-10.0, 10.0), |p, x, _, _, s| block_on(p.tanh(x, s)).expect("tanh"), |x, _| x.tanh()),
        "div" => Workload {
            x: Uniform(-100.0, 100.0),
            y: Signed(0.1, 100.0),
            kernel: |p, x, y, _, s| {
                let r = block_on(p.reciprocal(y, s)).expect("reciprocal");
                block_on(p.mul_fix(x, &r, s)).expect("mul")
            },
            reference: |x, y| x / y,
            out: Out::Fix,
        },
        _ => return None,
    })
}

/// Shares x from party 0 and y from party 1, runs the kernel `repeats` times, and returns the
/// opened result, the best time, and party 0's rounds and bytes for one run.
fn run(w: &Workload, x: &[f64], y: &[f64], n: usize, repeats: u32) -> (Vec<u128>, f64, u64, u64) {
    let out = simulate(2, F, |mut p| {
        let encode = |v: &[f64]| -> Vec<u128> { v.iter().map(|&v| encode_fix(v, F).unwrap_or(0)).collect() };
        let (xs, ys) = if p.me() == 0 {
            (p.share_own(&encode(x)).expect("share x"), p.share_recv(1, y.len()).expect("share y"))
        } else {
            (p.share_recv(0, x.len()).expect("share x"), p.share_own(&encode(y)).expect("share y"))
        };
        // Both parties start each run together, so the time is the kernel's alone.
        let mut best = f64::INFINITY;
        let mut z = Vec::new();
        let mut cost = (0, 0);
        for run in 0..=repeats {
            block_on(p.open(&[0], Tag { iter: run as u64, ..Tag::new(1, 0) })).expect("sync");
            let before = p.comm.traffic;
            let start = Instant::now();
            z = (w.kernel)(&mut p, &xs, &ys, n, &mut Steps::new(10 + run, 0));
            if run > 0 {
                best = best.min(start.elapsed().as_secs_f64());
            }
            cost = (p.comm.traffic.rounds - before.rounds, p.comm.traffic.bytes_sent - before.bytes_sent);
        }
        (block_on(p.open(&z, Tag::new(2, 0))).expect("open"), best, cost)
    })
    .expect("simulation");
    let seconds = out.iter().map(|o| o.1).fold(0.0, f64::max);
    let (rounds, bytes) = out[0].2;
    (out.into_iter().next().map(|o| o.0).unwrap_or_default(), seconds, rounds, bytes)
}

fn matmul_reference(x: &[f64], y: &[f64], n: usize) -> Vec<f64> {
    let mut z = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let a = x[i * n + k];
            for j in 0..n {
                z[i * n + j] += a * y[k * n + j];
            }
        }
    }
    z
}

fn main() -> ExitCode {
    sf_benches::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let name = args.first().map(String::as_str).unwrap_or("mul");
    let Some(w) = workload(name) else {
        eprintln!("unknown workload `{name}`; see the header of benches/examples/kernels.rs");
        return ExitCode::FAILURE;
    };
    let size = args.get(1).and_then(|s| s.parse::<f64>().ok()).map(|v| v as usize).unwrap_or(if name == "matmul" { 256 } else { 1_000_000 }).max(2);
    let repeats: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let len = if name == "matmul" { size * size } else { size };
    let (x, y) = (sample(w.x, len, 0x9e37_79b9_7f4a_7c15), sample(w.y, len, 0xd1b5_4a32_d192_ed03));
    let (z, seconds, rounds, bytes) = run(&w, &x, &y, size, repeats);
    let want: Vec<f64> = if name == "matmul" { matmul_reference(&x, &y, size) } else { x.iter().zip(&y).map(|(&a, &b)| (w.reference)(a, b)).collect() };
    let got: Vec<f64> = z.iter().map(|&v| if w.out == Out::Bit { v as f64 } else { decode_fix(v, F) }).collect();
    let errors = if w.out == Out::Bit {
        format!("\"mismatches\": {}", got.iter().zip(&want).filter(|(g, w)| g != w).count())
    } else {
        let abs = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max);
        let rel = got.iter().zip(&want).filter(|(_, w)| w.abs() >= 1e-2).map(|(g, w)| (g - w).abs() / w.abs()).fold(0.0, f64::max);
        format!("\"max_abs_err\": {abs:e}, \"max_rel_err_where_abs_ref_ge_1e-2\": {rel:e}")
    };
    println!("{{\"workload\": \"{name}\", \"n\": {size}, \"parties\": 2, \"run_s\": {seconds:.6}, \"rounds\": {rounds}, \"rank0_send_bytes\": {bytes}, {errors}}}");
    ExitCode::SUCCESS
}
