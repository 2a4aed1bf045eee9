//! Compile time, front end to module bytes in memory, for a program that grows with its size.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// A chain of `layers` secret affine maps over inputs of two parties.
fn program(layers: usize) -> String {
    let mut s = String::from("parties alice, bob;\nlet x: fix[n, 16] @alice = input(\"x\");\nlet w: fix[16, 16] @bob = input(\"w\");\nlet h0 = x;\n");
    for i in 0..layers {
        s.push_str(&format!("let h{} = h{i} @ w + 0.5;\n", i + 1));
    }
    s.push_str(&format!("output(reveal(h{layers}, to: alice), \"y\");\n"));
    s
}

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    for layers in [10usize, 100, 1000] {
        let src = program(layers);
        g.throughput(Throughput::Bytes(src.len() as u64));
        g.bench_with_input(BenchmarkId::new("affine_chain", layers), &src, |b, src| {
            b.iter(|| sfc::driver::compile("bench.sf", src).map(|c| c.segments.len()).unwrap_or(0))
        });
    }
}

criterion_group!(benches, compile);
criterion_main!(benches);
