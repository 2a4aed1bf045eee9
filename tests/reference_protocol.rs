//! Every operator and builtin on secrets against the plaintext reference, for 2, 3 and 5 parties.
//!
//! One program computes each op twice in the same run: on secret shares (SEMI2K, then revealed
//! to p0) and on plaintext held by p0 (the VM's float64 kernels: the same instruction dispatched
//! on plaintext, which is the reference protocol here). Inputs are random with the edges of each
//! domain: zero, negatives, and the ends of the nonlinear functions' domains.

use sf_tests::{bin, compile, run, stderr, Scratch};
use std::collections::HashMap;
use std::process::Command;

/// How a secret result must agree with the plaintext one.
#[derive(Clone, Copy)]
enum Agree {
    /// Bit for bit: booleans, indices, integers.
    Exactly,
    /// Absolute error at most this.
    Abs(f64),
    /// Relative error at most this where |reference| >= 1e-2, else absolute.
    Rel(f64),
}

/// (name, expression on secrets, expression on plaintext, agreement). Secrets: `sa`, `sb` general
/// values, `sp` in [0.01, 100], `se` in [-10, 10], `sm` a matrix, `sw` a vector; plaintext: the
/// same names without the `s`, all held by p0.
const OPS: &[(&str, &str, &str, Agree)] = &[
    ("add", "sa + sb", "a + b", Agree::Abs(1e-9)),
    ("sub", "sa - sb", "a - b", Agree::Abs(1e-9)),
    ("neg", "-sa", "-a", Agree::Abs(1e-9)),
    ("mul", "sa * sb", "a * b", Agree::Abs(1e-8)),
    ("mul_public", "sa * 2.5", "a * 2.5", Agree::Abs(1e-9)),
    ("div", "sa / sp", "a / p", Agree::Rel(1e-7)),
    ("div_public", "sa / 3.0", "a / 3.0", Agree::Abs(1e-9)),
    ("matmul", "sm @ sw", "m @ w", Agree::Abs(1e-8)),
    ("lt", "sa < sb", "a < b", Agree::Exactly),
    ("le", "sa <= sb", "a <= b", Agree::Exactly),
    ("gt", "sa > sb", "a > b", Agree::Exactly),
    ("ge", "sa >= sb", "a >= b", Agree::Exactly),
    ("eq", "sa == sb", "a == b", Agree::Exactly),
    ("ne", "sa != sb", "a != b", Agree::Exactly),
    ("and_or", "(sa < sb) && !(sa > 1.0) || sb == 0.0", "(a < b) && !(a > 1.0) || b == 0.0", Agree::Exactly),
    ("select", "select(sa < sb, sa, sb * 2.0)", "select(a < b, a, b * 2.0)", Agree::Abs(1e-8)),
    ("abs", "abs(sa)", "abs(a)", Agree::Abs(1e-9)),
    ("relu", "relu(sa)", "relu(a)", Agree::Abs(1e-9)),
    ("clip", "clip(sa, -1.5, 2.0)", "clip(a, -1.5, 2.0)", Agree::Abs(1e-9)),
    ("max2", "max(sa, sb)", "max(a, b)", Agree::Abs(1e-9)),
    ("min2", "min(sa, sb)", "min(a, b)", Agree::Abs(1e-9)),
    ("sum", "sum(sm, axis: 1)", "sum(m, axis: 1)", Agree::Abs(1e-8)),
    ("mean", "mean(sm, axis: 0)", "mean(m, axis: 0)", Agree::Abs(1e-8)),
    ("max_axis", "max(sm, axis: 1)", "max(m, axis: 1)", Agree::Abs(1e-9)),
    ("min_axis", "min(sm, axis: 0)", "min(m, axis: 0)", Agree::Abs(1e-9)),
    ("argmax", "argmax(sm, axis: 1)", "argmax(m, axis: 1)", Agree::Exactly),
    ("argmin", "argmin(sm, axis: 0)", "argmin(m, axis: 0)", Agree::Exactly),
    ("exp", "exp(se)", "exp(e)", Agree::Rel(1e-4)),
    ("log", "log(sp)", "log(p)", Agree::Rel(1e-4)),
    ("sqrt", "sqrt(sp)", "sqrt(p)", Agree::Rel(1e-4)),
    ("rsqrt", "rsqrt(sp)", "rsqrt(p)", Agree::Rel(1e-4)),
    ("reciprocal", "reciprocal(sp)", "reciprocal(p)", Agree::Rel(1e-4)),
    ("reciprocal_negative", "reciprocal(-sp)", "reciprocal(-p)", Agree::Rel(1e-4)),
    ("tanh", "tanh(se)", "tanh(e)", Agree::Abs(1e-4)),
    ("sigmoid", "sigmoid(sa)", "sigmoid(a)", Agree::Abs(1e-4)),
    ("softmax", "softmax(sm, axis: 1)", "softmax(m, axis: 1)", Agree::Abs(1e-4)),
];

const ROWS: usize = 48;
const COLS: usize = 5;

/// Deterministic values in [lo, hi] after the given edge values.
fn values(seed: u64, n: usize, lo: f64, hi: f64, edges: &[f64]) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            edges.get(i).copied().unwrap_or(lo + (hi - lo) * ((state >> 11) as f64 / (1u64 << 53) as f64))
        })
        .collect()
}

fn column(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:?}\n")).collect()
}

fn program(parties: usize) -> String {
    let names: Vec<String> = (0..parties).map(|i| format!("p{i}")).collect();
    let last = names.last().cloned().unwrap_or_default();
    let mut s = format!("parties {};\nuse std::nn::{{relu, sigmoid, softmax}};\n", names.join(", "));
    s += "let a: fix[n] @p0 = input(\"a\");\nlet p: fix[n] @p0 = input(\"p\");\nlet m: fix[r, c] @p0 = input(\"m\");\n";
    s += &format!("let b1: fix[n] @p1 = input(\"b\");\nlet e1: fix[n] @{last} = input(\"e\");\nlet w1: fix[c] @{last} = input(\"w\");\n");
    s += &format!("let b = send(b1, to: p0);\nlet e = send(e1, to: p0);\nlet w = send(w1, to: p0);\n");
    s += "let sa = share(a);\nlet sp = share(p);\nlet sm = share(m);\nlet sb = share(b1);\nlet se = share(e1);\nlet sw = share(w1);\n";
    for (name, secret, plain, _) in OPS {
        s += &format!("output(reveal({secret}, to: p0), \"{name}_secret\");\noutput({plain}, \"{name}_plain\");\n");
    }
    s
}

fn read(path: &std::path::Path) -> Vec<f64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split([',', '\n']).filter(|t| !t.trim().is_empty()).map(|t| t.trim().parse().unwrap_or_else(|_| panic!("{}: `{t}`", path.display()))).collect()
}

fn check(parties: usize) -> Vec<String> {
    let s = Scratch::new(&format!("reference-{parties}"));
    let module = compile(&s, "ops", &program(parties));
    let general = [0.0, -0.0, 1.0, -1.0, 20.0, -20.0, 1e-6, -1e-6, 0.5, -0.5];
    let a = values(1, ROWS, -20.0, 20.0, &general);
    let mut b = values(2, ROWS, -20.0, 20.0, &[0.0, 1.0, 0.5, -1.0, -20.0, 20.0, -1e-6, 1e-6, 0.5, 7.0]);
    b[12] = a[12]; // a tie, for the comparisons
    let p = values(3, ROWS, 0.01, 100.0, &[0.01, 100.0, 1.0, 0.1, 50.0]);
    let e = values(4, ROWS, -10.0, 10.0, &[0.0, -10.0, 10.0, 1e-6, -1e-6]);
    let m: Vec<f64> = values(5, ROWS * COLS, -10.0, 10.0, &[0.0, 0.0, 3.0, 3.0, -3.0]);
    let w = values(6, COLS, -2.0, 2.0, &[]);
    let matrix: String = m.chunks(COLS).map(|r| r.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(",") + "\n").collect();
    let last = format!("p{}", parties - 1);
    let files = [
        ("p0.a".to_string(), s.write("a.csv", &column(&a))),
        ("p0.p".to_string(), s.write("p.csv", &column(&p))),
        ("p0.m".to_string(), s.write("m.csv", &matrix)),
        ("p1.b".to_string(), s.write("b.csv", &column(&b))),
        (format!("{last}.e"), s.write("e.csv", &column(&e))),
        (format!("{last}.w"), s.write("w.csv", &column(&w))),
    ];
    let out = s.path("out");
    let mut cmd = Command::new(bin("sfvm"));
    cmd.arg("run").arg(&module).args(["--mode", "sim", "--out"]).arg(&out);
    for (key, file) in &files {
        cmd.arg("--input").arg(format!("{key}={}", file.display()));
    }
    let o = run(&mut cmd);
    assert!(o.status.success(), "{parties} parties: {}", stderr(&o));
    let mut failures = Vec::new();
    let mut worst: HashMap<&str, f64> = HashMap::new();
    for (name, _, _, agree) in OPS {
        let got = read(&out.join(format!("p0/{name}_secret.csv")));
        let want = read(&out.join(format!("p0/{name}_plain.csv")));
        if got.len() != want.len() || got.is_empty() {
            failures.push(format!("{parties} parties, {name}: {} values on secrets, {} on plaintext", got.len(), want.len()));
            continue;
        }
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let (err, ok) = match agree {
                Agree::Exactly => ((g - w).abs(), g == w),
                Agree::Abs(t) => ((g - w).abs(), (g - w).abs() <= *t),
                Agree::Rel(t) if w.abs() >= 1e-2 => ((g - w).abs() / w.abs(), (g - w).abs() / w.abs() <= *t),
                Agree::Rel(t) => ((g - w).abs(), (g - w).abs() <= *t),
            };
            let slot = worst.entry(name).or_insert(0.0);
            *slot = slot.max(err);
            if !ok {
                failures.push(format!("{parties} parties, {name}[{i}]: secret {g}, plaintext {w}"));
            }
        }
    }
    assert_eq!(worst.len(), OPS.len());
    let mut table: Vec<_> = worst.into_iter().collect();
    table.sort_by(|x, y| x.0.cmp(y.0));
    eprintln!("{parties} parties, worst error per op: {table:?}");
    failures
}

#[test]
fn every_op_on_secrets_matches_the_plaintext_reference_for_2_3_and_5_parties() {
    let failures: Vec<String> = [2, 3, 5].into_iter().flat_map(check).collect();
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.iter().take(40).cloned().collect::<Vec<_>>().join("\n"));
}
