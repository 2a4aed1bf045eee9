//! Private inputs from .npy files: float64 and int64, vectors and matrices, against float64
//! references; a file of another dtype, or a non-finite element, is refused naming the input and
//! the file (and the row and column).

use sf_tests::{bin, compile, npy, run, stderr, Scratch};
use std::process::Command;

#[test]
fn npy_vectors_and_matrices_are_read_as_inputs() {
    let s = Scratch::new("npy");
    let module = compile(&s, "p", "parties alice, bob;
let x: fix[n] @alice = input(\"x\");
let m: int[n, 2] @bob = input(\"m\");
let c = m[:, 1];
output(reveal(x * c, to: alice), \"p\");
");
    let x = [0.5f64, -1.25, 3.0];
    let m = [1i64, 2, 3, 4, 5, 6];
    let xf = s.path("x.npy");
    std::fs::write(&xf, npy(&[3], "<f8", &x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())).expect("write");
    let mf = s.path("m.npy");
    std::fs::write(&mf, npy(&[3, 2], "<i8", &m.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())).expect("write");
    let o = run(Command::new(bin("sfvm")).arg("run").arg(&module).arg("--input").arg(format!("alice.x={}", xf.display())).arg("--input").arg(format!("bob.m={}", mf.display())).arg("--out").arg(s.path("out")));
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<f64> = std::fs::read_to_string(s.path("out/alice/p.csv")).expect("p").lines().map(|l| l.parse().expect("number")).collect();
    let want: Vec<f64> = (0..3).map(|i| x[i] * m[2 * i + 1] as f64).collect();
    assert_eq!(got.len(), 3);
    assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-9), "{got:?} vs {want:?}");

    // A bool array where numbers are expected: refused, naming the input and the file.
    let bad = s.path("bad.npy");
    std::fs::write(&bad, npy(&[3], "|b1", &[1, 0, 1])).expect("write");
    let o = run(Command::new(bin("sfvm")).arg("run").arg(&module).arg("--input").arg(format!("alice.x={}", bad.display())).arg("--input").arg(format!("bob.m={}", mf.display())).arg("--out").arg(s.path("out2")));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("alice.x") && e.contains("bad.npy") && e.contains("float64"), "{e}");
    assert!(!s.path("out2").exists(), "no output is written");
}

/// A NaN in a float64 matrix: refused, naming the input, the file, the row and the column.
#[test]
fn a_non_finite_npy_element_is_named_by_row_and_column() {
    let s = Scratch::new("npy-nan");
    let module = compile(&s, "p", "parties alice, bob;
let x: fix[n, 2] @alice = input(\"x\");
let y: fix[n, 2] @bob = input(\"y\");
output(reveal(x * y, to: alice), \"p\");
");
    let x = [1.0f64, 2.0, 3.0, f64::NAN, 5.0, 6.0];
    let xf = s.path("x.npy");
    std::fs::write(&xf, npy(&[3, 2], "<f8", &x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())).expect("write");
    let yf = s.write("y.csv", "a,b\n1,2\n3,4\n5,6\n");
    let o = run(Command::new(bin("sfvm")).arg("run").arg(&module).arg("--input").arg(format!("alice.x={}", xf.display())).arg("--input").arg(format!("bob.y={}", yf.display())).arg("--out").arg(s.path("out")));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("alice.x") && e.contains("x.npy") && e.contains("row 2, column 2") && e.contains("NaN"), "{e}");
    assert!(!s.path("out").exists(), "no output is written");
}
