//! How the VM runs local work and rounds, checked on real programs against float64:
//!
//! - fused kernels (Cranelift) against the same program run instruction by instruction
//!   (`--no-jit`): with the same PRG seeds both runs must give the same shares, so the same
//!   outputs bit for bit, and the fused run must really have fused (the count of instructions
//!   run inside kernels);
//! - independent products at one depth of the program sent in one round.

use ndarray::{ArrayD, IxDyn};
use sfvm::run::{run_local_seeded, LocalParty, Mode, RunSpec};
use sfvm::semi2k::deal_seeds_from;
use sfvm::value::Plain;
use std::sync::Arc;

/// Local elementwise work on secrets: products and quotients by public scalars, sums and
/// differences of secrets and public values, negation; `s * s` (two secrets) ends a chain and
/// `t` is used after the first chain, so the kernel has two outputs.
const SOURCE: &str = r#"
parties alice, bob, carol;
let x: fix[n] @alice = input("x");
let y: fix[n] @bob = input("y");
let s = x + y;
let t = s * 0.75 - y * 2.0 + 1.5;
let u = -(t / 8.0) + s - x * 3;
let v = s * s;
let w = 4.0 - v * 0.5 + u;
output(reveal(t, to: alice), "t");
output(reveal(w, to: alice), "w");
"#;

fn reference(x: f64, y: f64) -> [f64; 2] {
    let s = x + y;
    let t = s * 0.75 - y * 2.0 + 1.5;
    let u = -(t / 8.0) + s - x * 3.0;
    let w = 4.0 - s * s * 0.5 + u;
    [t, w]
}

struct Run {
    outputs: Vec<(String, Plain)>,
    fused: u64,
    rounds: u64,
}

fn run(parties: &[&str], n: usize, jit: bool) -> Run {
    run_source(&SOURCE.replace("parties alice, bob, carol;", &format!("parties {};", parties.join(", "))), parties, n, jit)
}

fn run_source(source: &str, parties: &[&str], n: usize, jit: bool) -> Run {
    let compiled = sfc::driver::compile("fusion.sf", source).unwrap_or_else(|_| panic!("the program compiles"));
    let symbols = compiled.ir.symbols.clone();
    let bound: Vec<Option<u64>> = symbols.iter().map(|s| (s == "n").then_some(n as u64)).collect();
    let data = |name: &str| -> Plain {
        let values = (0..n).map(|i| if name == "x" { (i as f64 * 0.37).sin() * 3.0 } else { (i as f64 * 0.11).cos() * 2.0 - 0.5 }).collect();
        Plain::Fix(ArrayD::from_shape_vec(IxDyn(&[n]), values).expect("shape"))
    };
    let locals = compiled
        .segments
        .iter()
        .map(|seg| LocalParty { segment: seg.clone(), inputs: seg.inputs.iter().map(|d| data(&d.name)).collect(), bindings: bound.clone() })
        .collect();
    let spec = RunSpec { jit, ..RunSpec::new(compiled.ir.parties.clone(), 40, Arc::new(symbols), Arc::new(compiled.debug), [3; 32]) };
    let mut counter = 0u8;
    let seeds = deal_seeds_from(parties.len(), || {
        counter += 1;
        Ok([counter; 16])
    })
    .expect("seeds");
    let outcomes = run_local_seeded(&spec, locals, Mode::Sim, seeds).unwrap_or_else(|f| panic!("{}: {}", f.party, f.error));
    Run {
        outputs: outcomes[0].outputs.clone(),
        fused: outcomes.iter().map(|o| o.fused).max().unwrap_or(0),
        rounds: outcomes.iter().map(|o| o.traffic.rounds).max().unwrap_or(0),
    }
}

fn values(p: &Plain) -> Vec<f64> {
    match p {
        Plain::Fix(a) => a.iter().copied().collect(),
        other => panic!("a fix output, not {other:?}"),
    }
}

fn check(parties: &[&str], fused_at_least: u64) {
    let n = 50_000;
    let (fused, plain) = (run(parties, n, true), run(parties, n, false));
    assert_eq!(plain.fused, 0, "--no-jit fuses nothing");
    assert!(fused.fused >= fused_at_least, "{} parties: {} instructions fused", parties.len(), fused.fused);
    assert_eq!(fused.rounds, plain.rounds, "fusion changes no communication");
    assert_eq!(fused.outputs.len(), 2);
    for ((name, a), (other, b)) in fused.outputs.iter().zip(&plain.outputs) {
        assert_eq!(name, other);
        let (a, b) = (values(a), values(b));
        assert!(a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()), "{name}: fused and op-by-op differ");
        for (i, got) in a.iter().enumerate() {
            let x = (i as f64 * 0.37).sin() * 3.0;
            let y = (i as f64 * 0.11).cos() * 2.0 - 0.5;
            let want = reference(x, y)[if name == "t" { 0 } else { 1 }];
            assert!((got - want).abs() <= 1e-8 * (1.0 + want.abs()), "{name}[{i}]: {got} against {want}");
        }
    }
}

#[test]
fn two_parties_fuse_products_by_public_values_with_their_truncations() {
    // `sfc dis`: the private products y * 2.0 and x * 3 run before sharing; on shares, s, t
    // and u are 8 instructions in a row (the product and quotient truncate locally), then
    // s * s runs alone (two secrets), then v * 0.5, 4.0 - and + u fuse: 11 in all.
    check(&["alice", "bob"], 11);
}

#[test]
fn three_parties_fuse_only_what_needs_no_round() {
    // A fixed-point product by a public value truncates with a dealer pair and a round, so it
    // ends a chain: of w, only 4.0 - (v * 0.5) and + u fuse.
    check(&["alice", "bob", "carol"], 2);
}

#[test]
fn vectors_below_the_minimum_run_op_by_op() {
    let small = run(&["alice", "bob"], 1000, true);
    assert_eq!(small.fused, 0);
}

/// Three products of secrets that need only the shared inputs, then one that needs them all.
const PRODUCTS: &str = r#"
parties alice, bob;
let x: fix[n] @alice = input("x");
let y: fix[n] @bob = input("y");
let a = x * y;
let b = x * x;
let c = y * y;
let d = (a + b) * c;
output(reveal(d, to: alice), "t");
output(reveal(a - c, to: alice), "w");
"#;

#[test]
fn independent_products_at_one_depth_share_one_round() {
    let n = 1000;
    let got = run_source(PRODUCTS, &["alice", "bob"], n, true);
    // Rounds alice waits in: the sharing of y, the one round of a, b and c, that of d, and the
    // two reveals. One at a time, a, b and c would take three.
    assert_eq!(got.rounds, 5);
    for (name, value) in &got.outputs {
        for (i, v) in values(value).iter().enumerate() {
            let x = (i as f64 * 0.37).sin() * 3.0;
            let y = (i as f64 * 0.11).cos() * 2.0 - 0.5;
            let (a, b, c) = (x * y, x * x, y * y);
            let want = if name == "t" { (a + b) * c } else { a - c };
            assert!((v - want).abs() <= 1e-8 * (1.0 + want.abs()), "{name}[{i}]: {v} against {want}");
        }
    }
}
