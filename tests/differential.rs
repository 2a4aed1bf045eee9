//! Differential testing: random well-typed programs, each run in sim mode and against a float64
//! interpreter of its own.
//!
//! The generator builds a program one statement at a time over values it tracks itself: a
//! shape (scalar, `[n]`, `[n, 3]`, `[3]`, `[3, 3]`), a placement (alice, bob, secret, public)
//! and the value's every element in float64, computed as the statement is written. That
//! evaluation is the reference: it shares no code with the compiler or the VM. Statements mix
//! placements (a product of alice's and bob's values is secret), broadcasts, matmuls, sums,
//! nonlinear functions, comparisons with selects, and loops with carried values. The generator
//! only writes a statement whose inputs lie in the documented domains of spec/protocol.md
//! (exp on [-10, 10], log, sqrt and rsqrt on [0.01, 100], reciprocal and division on |x| in
//! [0.1, 100], no comparison within 1e-6 of a tie) and whose result stays below 1e4, so every
//! output must agree within 1e-8 relative to max(1, |reference|) (documented: 1e-8 per
//! function, 2^-40 per product).
//!
//! `SF_DIFF_PROGRAMS` sets the number of programs (default 1,000); `SF_DIFF_SEED` the first
//! seed. A failure prints the program, its seed and the output that differs.

use ndarray::{ArrayD, IxDyn};
use sf_tests::fuzz::Rng;
use sfvm::run::{run_local, LocalParty, Mode, RunSpec};
use sfvm::value::Plain;
use std::fmt::Write;
use std::sync::Arc;

/// The documented accuracy (spec/protocol.md): 1e-8 relative for the nonlinear functions,
/// 2^-40 per fixed-point product.
const TOLERANCE: f64 = 1e-8;

/// Rows of the inputs: the value of the shape symbol `n`.
const N: usize = 5;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Scalar,
    /// `[n]`
    Col,
    /// `[n, 3]`
    Mat,
    /// `[3]`
    Row,
    /// `[3, 3]`
    Square,
}

impl Kind {
    fn dims(self) -> Vec<usize> {
        match self {
            Kind::Scalar => vec![],
            Kind::Col => vec![N],
            Kind::Mat => vec![N, 3],
            Kind::Row => vec![3],
            Kind::Square => vec![3, 3],
        }
    }

    fn len(self) -> usize {
        self.dims().iter().product()
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Place {
    Alice,
    Bob,
    Carol,
    Secret,
    Public,
}

/// Where the result of an operation on values placed `a` and `b` lives.
fn join(a: Place, b: Place) -> Place {
    match (a, b) {
        (x, y) if x == y => x,
        (Place::Public, x) | (x, Place::Public) => x,
        _ => Place::Secret,
    }
}

#[derive(Clone)]
struct Val {
    name: String,
    kind: Kind,
    place: Place,
    /// Row-major elements.
    v: Vec<f64>,
}

/// The elements of `a` broadcast to `kind` (a scalar to anything, a row to a matrix).
fn broadcast(a: &Val, kind: Kind) -> Vec<f64> {
    match (a.kind, kind) {
        (x, y) if x == y => a.v.clone(),
        (Kind::Scalar, k) => vec![a.v[0]; k.len()],
        (Kind::Row, Kind::Mat) => (0..N * 3).map(|i| a.v[i % 3]).collect(),
        _ => unreachable!("not broadcastable"),
    }
}

/// The shape two operands broadcast to, if they do.
fn broadcast_kind(a: Kind, b: Kind) -> Option<Kind> {
    match (a, b) {
        (x, y) if x == y => Some(x),
        (Kind::Scalar, k) | (k, Kind::Scalar) => Some(k),
        (Kind::Row, Kind::Mat) | (Kind::Mat, Kind::Row) => Some(Kind::Mat),
        _ => None,
    }
}

struct Program {
    source: String,
    vals: Vec<Val>,
    /// `(output name, receiving party, value index)`.
    outputs: Vec<(String, &'static str, usize)>,
    inputs: Vec<(&'static str, &'static str, Kind, Vec<f64>)>,
}

fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
}

fn literal(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

impl Program {
    /// A program of two parties, or of three (whose products truncate in a round of their own).
    fn new(rng: &mut Rng) -> Program {
        let three = rng.below(3) == 0;
        let parties = if three { "parties alice, bob, carol;" } else { "parties alice, bob;" };
        let mut p = Program { source: format!("{parties}\nuse std::nn::{{relu, sigmoid}};\n"), vals: Vec::new(), outputs: Vec::new(), inputs: Vec::new() };
        let mut specs: Vec<(&str, &'static str, Kind, Place)> = vec![
            ("xa", "alice", Kind::Mat, Place::Alice),
            ("va", "alice", Kind::Col, Place::Alice),
            ("wb", "bob", Kind::Row, Place::Bob),
            ("vb", "bob", Kind::Col, Place::Bob),
            ("sb", "bob", Kind::Scalar, Place::Bob),
        ];
        if three {
            specs.push(("vc", "carol", Kind::Col, Place::Carol));
        }
        for (name, party, kind, place) in specs {
            let v: Vec<f64> = (0..kind.len()).map(|_| uniform(rng, -2.0, 2.0)).collect();
            let shape = match kind {
                Kind::Scalar => String::new(),
                Kind::Col => "[n]".into(),
                Kind::Mat => "[n, 3]".into(),
                Kind::Row => "[3]".into(),
                Kind::Square => "[3, 3]".into(),
            };
            let _ = writeln!(p.source, "let {name}: fix{shape} @{party} = input(\"{name}\");");
            p.inputs.push((name, party, kind, v.clone()));
            p.vals.push(Val { name: name.into(), kind, place, v });
        }
        p.vals.push(Val { name: "cw".into(), kind: Kind::Row, place: Place::Public, v: vec![0.5, 0.5, 0.5] });
        p.source.push_str("let cw = full([3], 0.5);\n");
        p
    }

    fn pick(&self, rng: &mut Rng, ok: impl Fn(&Val) -> bool) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.vals.len()).filter(|&i| ok(&self.vals[i])).collect();
        (!candidates.is_empty()).then(|| candidates[rng.below(candidates.len())])
    }

    /// Adds `let vK = expr;` if `v` is in range; whether it did.
    fn define(&mut self, expr: String, kind: Kind, place: Place, v: Vec<f64>) -> bool {
        if v.iter().any(|x| !x.is_finite() || x.abs() > 1e4) {
            return false;
        }
        let name = format!("v{}", self.vals.len());
        let _ = writeln!(self.source, "let {name} = {expr};");
        self.vals.push(Val { name, kind, place, v });
        true
    }

    /// One random statement; false if the one drawn could not be written.
    fn statement(&mut self, rng: &mut Rng) -> bool {
        match rng.below(9) {
            // a op b, with broadcasting.
            0 | 1 => {
                let Some(i) = self.pick(rng, |_| true) else { return false };
                let (ki, pi) = (self.vals[i].kind, self.vals[i].place);
                // Half the time an operand from elsewhere, so that parties' values meet.
                let elsewhere = rng.below(2) == 0;
                let Some(j) = self.pick(rng, |v| broadcast_kind(ki, v.kind).is_some() && (!elsewhere || v.place != pi)) else { return false };
                let (a, b) = (self.vals[i].clone(), self.vals[j].clone());
                let kind = broadcast_kind(a.kind, b.kind).unwrap_or(a.kind);
                let (x, y) = (broadcast(&a, kind), broadcast(&b, kind));
                let (op, v): (&str, Vec<f64>) = match rng.below(3) {
                    0 => ("+", x.iter().zip(&y).map(|(p, q)| p + q).collect()),
                    1 => ("-", x.iter().zip(&y).map(|(p, q)| p - q).collect()),
                    _ => ("*", x.iter().zip(&y).map(|(p, q)| p * q).collect()),
                };
                self.define(format!("{} {op} {}", a.name, b.name), kind, join(a.place, b.place), v)
            }
            // a op literal.
            2 => {
                let Some(i) = self.pick(rng, |_| true) else { return false };
                let a = self.vals[i].clone();
                let c = (uniform(rng, -3.0, 3.0) * 8.0).round() / 8.0;
                let (op, v): (&str, Vec<f64>) = match rng.below(3) {
                    0 => ("+", a.v.iter().map(|x| x + c).collect()),
                    1 => ("*", a.v.iter().map(|x| x * c).collect()),
                    _ => ("-", a.v.iter().map(|x| x - c).collect()),
                };
                self.define(format!("{} {op} {}", a.name, literal(c)), a.kind, a.place, v)
            }
            // Matrix products: [n, 3] @ [3] and [n, 3].T @ [n, 3].
            3 => {
                let Some(i) = self.pick(rng, |v| v.kind == Kind::Mat) else { return false };
                let a = self.vals[i].clone();
                if rng.below(2) == 0 {
                    let Some(j) = self.pick(rng, |v| v.kind == Kind::Row) else { return false };
                    let b = self.vals[j].clone();
                    let v = (0..N).map(|r| (0..3).map(|c| a.v[r * 3 + c] * b.v[c]).sum()).collect();
                    self.define(format!("{} @ {}", a.name, b.name), Kind::Col, join(a.place, b.place), v)
                } else {
                    let Some(j) = self.pick(rng, |v| v.kind == Kind::Mat) else { return false };
                    let b = self.vals[j].clone();
                    let v = (0..9).map(|e| (0..N).map(|r| a.v[r * 3 + e / 3] * b.v[r * 3 + e % 3]).sum()).collect();
                    self.define(format!("{}.T @ {}", a.name, b.name), Kind::Square, join(a.place, b.place), v)
                }
            }
            // Sums along the first axis.
            4 => {
                let Some(i) = self.pick(rng, |v| matches!(v.kind, Kind::Col | Kind::Mat | Kind::Square)) else { return false };
                let a = self.vals[i].clone();
                let (kind, v) = match a.kind {
                    Kind::Col => (Kind::Scalar, vec![a.v.iter().sum()]),
                    Kind::Mat => (Kind::Row, (0..3).map(|c| (0..N).map(|r| a.v[r * 3 + c]).sum()).collect()),
                    _ => (Kind::Row, (0..3).map(|c| (0..3).map(|r| a.v[r * 3 + c]).sum()).collect()),
                };
                self.define(format!("sum({}, axis: 0)", a.name), kind, a.place, v)
            }
            // Nonlinear functions, within their domains.
            5 | 6 => {
                type F = fn(f64) -> f64;
                let functions: [(&str, F, f64, f64); 10] = [
                    ("exp", f64::exp, -10.0, 10.0),
                    ("log", f64::ln, 0.01, 100.0),
                    ("sqrt", f64::sqrt, 0.01, 100.0),
                    ("rsqrt", |x| 1.0 / x.sqrt(), 0.01, 100.0),
                    ("reciprocal", |x| 1.0 / x, 0.1, 100.0),
                    ("tanh", f64::tanh, -10.0, 10.0),
                    ("sigmoid", |x| 1.0 / (1.0 + (-x).exp()), -20.0, 20.0),
                    ("relu", |x| x.max(0.0), -1e4, 1e4),
                    ("abs", f64::abs, -1e4, 1e4),
                    ("reciprocal", |x| 1.0 / x, -100.0, -0.1),
                ];
                let (name, f, lo, hi) = functions[rng.below(functions.len())];
                let Some(i) = self.pick(rng, |v| v.v.iter().all(|x| (lo..=hi).contains(x) && (name != "relu" || x.abs() > 1e-6))) else { return false };
                let a = self.vals[i].clone();
                let v = a.v.iter().map(|&x| f(x)).collect();
                self.define(format!("{name}({})", a.name), a.kind, a.place, v)
            }
            // Division by a value in the reciprocal's domain.
            7 => {
                let Some(j) = self.pick(rng, |v| v.v.iter().all(|x| (0.1..=100.0).contains(&x.abs()))) else { return false };
                let b = self.vals[j].clone();
                let Some(i) = self.pick(rng, |v| broadcast_kind(v.kind, b.kind).is_some()) else { return false };
                let a = self.vals[i].clone();
                let kind = broadcast_kind(a.kind, b.kind).unwrap_or(a.kind);
                let v = broadcast(&a, kind).iter().zip(broadcast(&b, kind)).map(|(p, q)| p / q).collect();
                self.define(format!("{} / {}", a.name, b.name), kind, join(a.place, b.place), v)
            }
            // A comparison and a select, or a loop with a carried value.
            _ => {
                if rng.below(2) == 0 {
                    let Some(i) = self.pick(rng, |_| true) else { return false };
                    let k = self.vals[i].kind;
                    let Some(j) = self.pick(rng, |v| v.kind == k) else { return false };
                    let (a, b) = (self.vals[i].clone(), self.vals[j].clone());
                    if a.v.iter().zip(&b.v).any(|(p, q)| (p - q).abs() < 1e-6) && i != j {
                        return false;
                    }
                    let Some(c) = self.pick(rng, |v| v.kind == k) else { return false };
                    let Some(d) = self.pick(rng, |v| v.kind == k) else { return false };
                    let (c, d) = (self.vals[c].clone(), self.vals[d].clone());
                    let v = (0..k.len()).map(|e| if a.v[e] > b.v[e] { c.v[e] } else { d.v[e] }).collect();
                    let place = join(join(a.place, b.place), join(c.place, d.place));
                    self.define(format!("select({} > {}, {}, {})", a.name, b.name, c.name, d.name), k, place, v)
                } else {
                    let Some(i) = self.pick(rng, |_| true) else { return false };
                    let a = self.vals[i].clone();
                    let Some(j) = self.pick(rng, |v| broadcast_kind(a.kind, v.kind) == Some(a.kind)) else { return false };
                    let b = self.vals[j].clone();
                    let trips = 1 + rng.below(4);
                    let c = 0.25 * (1 + rng.below(3)) as f64;
                    let step = broadcast(&b, a.kind);
                    let mut acc = a.v.clone();
                    for _ in 0..trips {
                        acc = acc.iter().zip(&step).map(|(x, s)| x * c + s).collect();
                    }
                    if acc.iter().any(|x| x.abs() > 1e4) {
                        return false;
                    }
                    let name = format!("v{}", self.vals.len());
                    let _ = write!(self.source, "let mut {name} = {};\nfor i in 0..{trips} {{\n    {name} = {name} * {} + {};\n}}\n", a.name, literal(c), b.name);
                    self.vals.push(Val { name, kind: a.kind, place: join(a.place, b.place), v: acc });
                    true
                }
            }
        }
    }

    /// An output for every value the program computed: secrets revealed to one party or all,
    /// private values to their owner.
    fn finish(&mut self, rng: &mut Rng) {
        for i in self.inputs.len() + 1..self.vals.len() {
            let name = format!("o{i}");
            let v = &self.vals[i];
            let (expr, to): (String, &'static str) = match v.place {
                Place::Secret if rng.below(3) == 0 => (format!("reveal({})", v.name), "both"),
                Place::Secret if rng.below(2) == 0 => (format!("reveal({}, to: alice)", v.name), "alice"),
                Place::Secret => (format!("reveal({}, to: bob)", v.name), "bob"),
                Place::Alice => (v.name.clone(), "alice"),
                Place::Bob => (v.name.clone(), "bob"),
                Place::Carol => (v.name.clone(), "carol"),
                Place::Public => continue,
            };
            let _ = writeln!(self.source, "output({expr}, \"{name}\");");
            self.outputs.push((name, to, i));
        }
    }
}

/// Runs one program in sim mode; the first output that differs from its reference, if any,
/// else the largest error relative to max(1, |reference|).
fn check(p: &Program) -> Result<f64, String> {
    let compiled = sfc::driver::compile("random.sf", &p.source).map_err(|f| match f {
        sfc::driver::Failure::Diagnostics(d) => format!("sfc refused a well-typed program: {}", d.iter().map(|d| format!("{} {}", d.code, d.message)).collect::<Vec<_>>().join("; ")),
        sfc::driver::Failure::Bug(e) => format!("internal compiler error: {e:?}"),
    })?;
    let symbols = compiled.ir.symbols.clone();
    let bound: Vec<Option<u64>> = symbols.iter().map(|s| (s == "n").then_some(N as u64)).collect();
    let parties = compiled
        .segments
        .iter()
        .map(|seg| {
            let inputs = seg
                .inputs
                .iter()
                .map(|d| {
                    let (_, _, kind, v) = p.inputs.iter().find(|i| i.0 == d.name).expect("a generated input");
                    Plain::Fix(ArrayD::from_shape_vec(IxDyn(&kind.dims()), v.clone()).expect("shape"))
                })
                .collect();
            LocalParty { segment: seg.clone(), inputs, bindings: bound.clone() }
        })
        .collect();
    let spec = RunSpec::new(compiled.ir.parties.clone(), 40, Arc::new(symbols), Arc::new(compiled.debug), [5; 32]);
    let outcomes = run_local(&spec, parties, Mode::Sim).map_err(|f| format!("{}: {}", f.party, f.error))?;
    let mut worst = 0f64;
    for (name, to, i) in &p.outputs {
        let want = &p.vals[*i];
        let all: Vec<usize> = (0..outcomes.len()).collect();
        let receivers: &[usize] = match *to {
            "alice" => &[0],
            "bob" => &[1],
            "carol" => &[2],
            _ => &all,
        };
        for &r in receivers {
            let got = outcomes[r].outputs.iter().find(|(n, _)| n == name).map(|(_, v)| v).ok_or_else(|| format!("{name} missing on party {r}"))?;
            let Plain::Fix(got) = got else { return Err(format!("{name} is not fix")) };
            if got.shape() != want.kind.dims().as_slice() {
                return Err(format!("{name}: shape {:?}, want {:?}", got.shape(), want.kind.dims()));
            }
            for (e, (g, w)) in got.iter().zip(&want.v).enumerate() {
                worst = worst.max((g - w).abs() / w.abs().max(1.0));
                if (g - w).abs() > TOLERANCE * w.abs().max(1.0) {
                    return Err(format!("{name} (`{}`) element {e}: got {g}, want {w}", want.name));
                }
            }
        }
    }
    Ok(worst)
}

#[test]
fn random_programs_agree_with_float64() {
    let programs: u64 = std::env::var("SF_DIFF_PROGRAMS").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let first: u64 = std::env::var("SF_DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let (mut statements, mut secret_outputs, mut loops, mut nonlinear) = (0usize, 0usize, 0usize, 0usize);
    let mut worst = 0f64;
    for seed in first..first + programs {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut p = Program::new(&mut rng);
        let want = 4 + rng.below(8);
        let mut tries = 0;
        while p.vals.len() < p.inputs.len() + 1 + want && tries < 200 {
            tries += 1;
            p.statement(&mut rng);
        }
        p.finish(&mut rng);
        if std::env::var("SF_DIFF_SHOW").is_ok() {
            eprintln!("{}", p.source);
        }
        match check(&p) {
            Ok(e) => worst = worst.max(e),
            Err(e) => panic!("program of seed {seed} (SF_DIFF_SEED={seed} SF_DIFF_PROGRAMS=1 reproduces it): {e}\n{}", p.source),
        }
        statements += p.vals.len() - p.inputs.len() - 1;
        secret_outputs += p.outputs.iter().filter(|(_, _, i)| p.vals[*i].place == Place::Secret).count();
        loops += p.source.matches("for i in").count();
        nonlinear += ["exp(", "log(", "sqrt(", "reciprocal(", "tanh(", "sigmoid(", "relu(", "abs(", " / "].iter().map(|f| p.source.matches(f).count()).sum::<usize>();
    }
    eprintln!("{programs} random programs agree with float64: {statements} statements, {nonlinear} nonlinear, {loops} loops, {secret_outputs} revealed secrets; largest error {worst:.1e} (relative to max(1, |reference|))");
    assert!(secret_outputs as u64 > programs / 2 && loops as u64 > programs / 10 && nonlinear as u64 > programs, "the generator covers too little");
}
