//! Whole programs, compiled by `sfc`'s driver and run by `sfvm` in sim mode (2 parties, one
//! thread each) from their inputs in memory: logistic regression training (10,000 x 100, 10
//! epochs, full batch, the features split between the parties) and a 100-layer MLP forward pass
//! (width 256, batch 64, relu), whose compile time is measured too. Each prints the rounds and
//! bytes party 0 sends per run. Reading input files and writing outputs are not timed.

// The system allocator, as the `sfvm` binary uses.

use criterion::{criterion_group, criterion_main, Criterion};
use sfvm::run::{run_local, LocalParty, Mode, RunSpec};
use sfvm::value::Plain;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The logistic regression both this benchmark and `spu_compare.py` run (10,000 x 100 here).
const LR_SOURCE: &str = include_str!("programs/logistic_regression.sf");

/// `layers` affine layers of width `width` with relu between them; bob owns the weights.
fn mlp_source(layers: usize, width: usize, batch: usize) -> String {
    let mut s = format!("parties alice, bob;\nuse std::nn::{{relu}};\nlet h0: fix[{batch}, {width}] @alice = input(\"x\");\n");
    for i in 0..layers {
        s.push_str(&format!("let w{i}: fix[{width}, {width}] @bob = input(\"w{i}\");\nlet b{i}: fix[{width}] @bob = input(\"b{i}\");\n"));
        let affine = format!("h{i} @ w{i} + b{i}");
        s.push_str(&if i + 1 < layers { format!("let h{} = relu({affine});\n", i + 1) } else { format!("let h{} = {affine};\n", i + 1) });
    }
    s.push_str(&format!("output(reveal(h{layers}, to: alice), \"y\");\n"));
    s
}

/// Deterministic values in [-scale, scale).
fn values(len: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn fix(shape: &[usize], v: Vec<f64>) -> Plain {
    Plain::Fix(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v).expect("shape"))
}

/// A compiled program with each party's inputs, in the order of its segment's declarations.
struct Program {
    spec: RunSpec,
    parties: Vec<(sf_isa::Segment, Vec<Plain>, Vec<Option<u64>>)>,
}

fn program(source: &str, inputs: &dyn Fn(&str) -> Plain, bindings: &[(&str, u64)]) -> Program {
    let compiled = sfc::driver::compile("bench.sf", source).unwrap_or_else(|_| panic!("the benchmark program compiles"));
    let symbols = compiled.ir.symbols.clone();
    let bound: Vec<Option<u64>> = symbols.iter().map(|s| bindings.iter().find(|(n, _)| n == s).map(|&(_, v)| v)).collect();
    let parties = compiled.segments.iter().map(|seg| (seg.clone(), seg.inputs.iter().map(|d| inputs(&d.name)).collect(), bound.clone())).collect();
    let spec = RunSpec::new(compiled.ir.parties.clone(), 40, Arc::new(symbols), Arc::new(compiled.debug), [7; 32]);
    Program { spec, parties }
}

/// Runs the program `iters` times; the time of the runs, and party 0's traffic in one.
fn run(p: &Program, iters: u64) -> (Duration, sfvm::link::Traffic) {
    let mut total = Duration::ZERO;
    let mut traffic = Default::default();
    for _ in 0..iters {
        let parties = p.parties.iter().map(|(segment, inputs, bindings)| LocalParty { segment: segment.clone(), inputs: inputs.clone(), bindings: bindings.clone() }).collect();
        let start = Instant::now();
        let outcomes = run_local(&p.spec, parties, Mode::Sim).unwrap_or_else(|f| panic!("{}: {}", f.party, f.error));
        total += start.elapsed();
        traffic = outcomes[0].traffic;
    }
    (total, traffic)
}

fn report(what: &str, t: sfvm::link::Traffic) {
    eprintln!("  {what}: {} rounds, {} bytes sent by party 0 per run", t.rounds, t.bytes_sent);
}

fn logistic_regression(c: &mut Criterion) {
    let (rows, cols) = (10_000usize, 100usize);
    let h = cols / 2;
    let x = values(rows * cols, 1, 1.0);
    let y: Vec<f64> = values(rows, 2, 1.0).iter().map(|v| (*v > 0.0) as u8 as f64).collect();
    let column_block = |from: usize, to: usize| -> Vec<f64> { (0..rows).flat_map(|i| x[i * cols + from..i * cols + to].to_vec()).collect() };
    let (xa, xb) = (column_block(0, h), column_block(h, cols));
    let inputs = |name: &str| match name {
        "xa" => fix(&[rows, h], xa.clone()),
        "xb" => fix(&[rows, cols - h], xb.clone()),
        _ => fix(&[rows], y.clone()),
    };
    let p = program(LR_SOURCE, &inputs, &[("n", rows as u64)]);
    report("logistic regression 10000 x 100, 10 epochs", run(&p, 1).1);
    let mut g = c.benchmark_group("program");
    g.sample_size(10);
    g.bench_function("logistic_regression_10k_x_100_10_epochs", |b| b.iter_custom(|iters| run(&p, iters).0));
    g.finish();
}

fn mlp(c: &mut Criterion) {
    let (layers, width, batch) = (100usize, 256usize, 64usize);
    let source = mlp_source(layers, width, batch);
    let mut g = c.benchmark_group("program");
    g.sample_size(10);
    g.bench_function("mlp_100_layers_compile", |b| b.iter(|| sfc::driver::compile("mlp.sf", &source).map(|c| c.segments.len()).unwrap_or(0)));
    let scale = 1.0 / (width as f64).sqrt();
    let inputs = |name: &str| -> Plain {
        let seed = name.bytes().fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
        match name.as_bytes()[0] {
            b'x' => fix(&[batch, width], values(batch * width, seed, 1.0)),
            b'w' => fix(&[width, width], values(width * width, seed, scale)),
            _ => fix(&[width], values(width, seed, 0.1)),
        }
    };
    let p = program(&source, &inputs, &[]);
    report("MLP 100 x 256, batch 64", run(&p, 1).1);
    g.bench_function("mlp_100_layers_run", |b| b.iter_custom(|iters| run(&p, iters).0));
    g.finish();
}

criterion_group!(benches, logistic_regression, mlp);
criterion_main!(benches);
