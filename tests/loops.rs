//! Loops stay loops: the module does not grow with the trip count, and exchanges inside loops
//! pair up iteration by iteration.

use sf_tests::{compile, Scratch};

fn logreg(epochs: u32) -> String {
    format!(
        "parties alice, bob;
fn train(x: fix[n, d], y: fix[n], epochs: int, lr: fix) -> fix[d] {{
    let mut w = zeros([d]);
    for _ in 0..epochs {{
        let p = x @ w;
        w = w - lr * (x.T @ (p - y)) / n;
    }}
    w
}}
let xa: fix[n, 3] @alice = input(\"xa\");
let xb: fix[n, 2] @bob = input(\"xb\");
let y: fix[n] @bob = input(\"y\");
let w = train(concat([xa, xb], axis: 1), y, {epochs}, 0.1);
output(reveal(w, to: alice), \"w\");
"
    )
}

#[test]
fn module_size_does_not_grow_with_epochs() {
    let s = Scratch::new("epochs");
    let small = std::fs::metadata(compile(&s, "e10", &logreg(10))).expect("module").len();
    let large = std::fs::metadata(compile(&s, "e10000", &logreg(10_000))).expect("module").len();
    let ratio = large as f64 / small as f64;
    assert!((ratio - 1.0).abs() < 0.01, "10 epochs: {small} bytes, 10,000 epochs: {large} bytes");
}

#[test]
fn exchanges_inside_loops_pair_up_and_run() {
    let src = logreg(25);
    let compiled = sfc::driver::compile("lr.sf", &src).unwrap_or_else(|_| panic!("does not compile"));
    sfc::partition::verify(&compiled.ir, &compiled.partition).expect("sequence numbers pair up");
    let text = sfc::partition::to_text(&compiled.ir, &compiled.partition);
    assert!(text.matches("loop carried=1").count() == 2, "one loop per party:\n{text}");
}
