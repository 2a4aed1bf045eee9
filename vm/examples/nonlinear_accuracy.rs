//! Accuracy and time of every nonlinear function on uniform inputs, 2 parties in one process:
//!
//!     cargo run --release -p sfvm --example nonlinear_accuracy [ELEMENTS]   (default 1,000,000)
//!
//! Prints, per function, the domain, the largest relative error where |reference| >= 1e-2 (or
//! the absolute error for sigmoid and tanh), and the time of the kernel on the whole batch
//! (the slower party's, best of two runs; sharing the inputs and opening the results are not
//! counted).


use sfvm::link::{MemTransport, Steps, Tag};
use sfvm::ring::{decode_fix, encode_fix};
use sfvm::run::simulate;
use sfvm::semi2k::Semi2k;
use std::time::Instant;

const F: u32 = 40;

type Kernel = fn(&mut Semi2k<MemTransport>, &[u128], &mut Steps) -> Vec<u128>;

fn run(xs: &[f64], f: Kernel) -> (Vec<f64>, f64) {
    let out = simulate(2, F, |mut p| {
        let enc: Vec<u128> = xs.iter().map(|&v| encode_fix(v, F).unwrap_or(0)).collect();
        let share = if p.me() == 0 { p.share_own(&enc).expect("share") } else { p.share_recv(0, xs.len()).expect("share") };
        // Both parties start the kernel together, so the time is the protocol's alone (as
        // SPU's figures exclude sharing and reconstruction).
        futures::executor::block_on(p.open(&[0], Tag::new(3, 0))).expect("sync");
        // Best of two runs: the first also pays for fresh pages from the operating system.
        let mut best = f64::INFINITY;
        let mut y = Vec::new();
        for run in 0..2 {
            let start = Instant::now();
            y = f(&mut p, &share, &mut Steps::new(10 + run, 0));
            best = best.min(start.elapsed().as_secs_f64());
        }
        (futures::executor::block_on(p.open(&y, Tag::new(2, 0))).expect("open"), best)
    })
    .expect("simulation");
    let seconds = out.iter().map(|o| o.1).fold(0.0, f64::max);
    (out[0].0.iter().map(|&v| decode_fix(v, F)).collect(), seconds)
}

macro_rules! kernel {
    ($m:ident) => {
        |p: &mut Semi2k<MemTransport>, x: &[u128], s: &mut Steps| futures::executor::block_on(p.$m(x, s)).expect(stringify!($m))
    };
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000).max(2);
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut uniform = |lo: f64, hi: f64| -> Vec<f64> {
        let mut v: Vec<f64> = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                lo + (hi - lo) * ((state >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect();
        v[0] = lo;
        v[n - 1] = hi;
        v
    };
    let cases: Vec<(&str, (f64, f64), Kernel, fn(f64) -> f64, bool)> = vec![
        ("exp", (-10.0, 10.0), kernel!(exp), f64::exp, false),
        ("log", (0.01, 100.0), kernel!(log), f64::ln, false),
        ("reciprocal", (0.1, 100.0), kernel!(reciprocal), |x| 1.0 / x, false),
        ("reciprocal", (-100.0, -0.1), kernel!(reciprocal), |x| 1.0 / x, false),
        ("sqrt", (0.01, 100.0), kernel!(sqrt), f64::sqrt, false),
        ("rsqrt", (0.01, 100.0), kernel!(rsqrt), |x| 1.0 / x.sqrt(), false),
        ("sigmoid", (-20.0, 20.0), kernel!(sigmoid), |x| 1.0 / (1.0 + (-x).exp()), true),
        ("tanh", (-10.0, 10.0), kernel!(tanh), f64::tanh, true),
    ];
    println!("{n} uniform inputs, 2 parties, f = {F}");
    // Secret multiply (with truncation) and comparison, for the speed table.
    let xs = uniform(-10.0, 10.0);
    let (got, seconds) = run(&xs, |p, x, s| futures::executor::block_on(p.mul_fix(x, x, s)).expect("mul"));
    let err = got.iter().zip(&xs).map(|(g, x)| (g - x * x).abs()).fold(0f64, f64::max);
    println!("{:<11} [-10, 10]: max abs error {err:.2e}, {seconds:.2} s", "mul");
    let (got, seconds) = run(&xs, |p, x, s| {
        let neg = futures::executor::block_on(p.is_negative(x, s)).expect("cmp");
        // As a fixed-point 0/1 so that the common decoding applies.
        neg.iter().map(|v| v << F).collect()
    });
    let wrong = got.iter().zip(&xs).filter(|(g, x)| (**g == 1.0) != (**x < 0.0)).count();
    println!("{:<11} [-10, 10]: {wrong} wrong, {seconds:.2} s", "x < 0");
    for (name, (lo, hi), f, reference, absolute) in cases {
        let xs = uniform(lo, hi);
        let (got, seconds) = run(&xs, f);
        let (mut rel, mut abs) = (0f64, 0f64);
        for (&g, &x) in got.iter().zip(&xs) {
            let want = reference(x);
            abs = abs.max((g - want).abs());
            if want.abs() >= 1e-2 {
                rel = rel.max((g - want).abs() / want.abs());
            }
        }
        let error = if absolute { format!("max abs error {abs:.2e}") } else { format!("max rel error {rel:.2e}") };
        println!("{name:<11} [{lo}, {hi}]: {error}, {seconds:.2} s");
    }
}
