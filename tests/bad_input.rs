//! Bad input, from the command line: each case exits non-zero with one clear line that names the
//! file, the row and column, the party or the input, and leaves no output behind.

use sf_tests::{acceptance_dir, bin, compile, run, stderr, Scratch};
use std::path::PathBuf;
use std::process::{Command, Output};

const PROGRAM: &str = "parties alice, bob;
let x: fix[n, 3] @alice = input(\"x\");
let w: fix[3] @bob = input(\"w\");
let y = x @ w;
output(reveal(y, to: alice), \"y\");
";

fn sfvm(module: &PathBuf, out: &PathBuf, inputs: &[(&str, &PathBuf)], mode: &str) -> Output {
    let mut cmd = Command::new(bin("sfvm"));
    cmd.arg("run").arg(module).args(["--mode", mode]).arg("--out").arg(out);
    for (key, file) in inputs {
        cmd.arg("--input").arg(format!("{key}={}", file.display()));
    }
    run(&mut cmd)
}

/// Asserts a failed run with exactly one line of error that contains every part, and no outputs.
fn assert_one_line_error(o: &Output, out_dir: &PathBuf, parts: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "succeeded: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line:\n{err}");
    for p in parts {
        assert!(err.contains(p), "`{p}` missing from: {err}");
    }
    assert!(!out_dir.exists() || std::fs::read_dir(out_dir).map(|mut d| d.next().is_none()).unwrap_or(true), "outputs were written");
}

struct Case {
    s: Scratch,
    module: PathBuf,
    out: PathBuf,
    x: PathBuf,
    w: PathBuf,
}

fn case(label: &str) -> Case {
    let s = Scratch::new(label);
    let module = compile(&s, "prog", PROGRAM);
    let x = s.write("x.csv", "1,2,3\n4,5,6\n");
    let w = s.write("w.csv", "0.5\n-1\n2\n");
    let out = s.path("out");
    Case { s, module, out, x, w }
}

#[test]
fn a_good_run_writes_its_outputs() {
    let c = case("good");
    let o = sfvm(&c.module, &c.out, &[("alice.x", &c.x), ("bob.w", &c.w)], "sim");
    assert!(o.status.success(), "{}", stderr(&o));
    let y = std::fs::read_to_string(c.out.join("alice/y.csv")).expect("y written");
    let got: Vec<f64> = y.lines().map(|l| l.parse().expect("number")).collect();
    let want = [0.5 - 2.0 + 6.0, 2.0 - 5.0 + 12.0];
    assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-9), "{got:?}");
    assert!(!c.out.join("bob/y.csv").exists(), "bob must not receive alice's output");
}

#[test]
fn unknown_party_in_the_program_is_a_coded_diagnostic() {
    let s = Scratch::new("unknown-party");
    let src = s.write("p.sf", "parties alice, bob;\nlet x: fix[n] @carol = input(\"x\");\n");
    let o = run(Command::new(bin("sfc")).arg("compile").arg(&src));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("E0100") && err.contains("unknown party `carol`") && err.contains("p.sf:2"), "{err}");
    assert!(!s.path("p.sfbc").exists());
}

#[test]
fn unknown_party_on_the_command_line() {
    let c = case("unknown-input-party");
    let o = sfvm(&c.module, &c.out, &[("alice.x", &c.x), ("bob.w", &c.w), ("dave.x", &c.x)], "sim");
    assert_one_line_error(&o, &c.out, &["dave", "alice, bob"]);
}

#[test]
fn missing_input_names_it_and_its_declaration() {
    let c = case("missing");
    let o = sfvm(&c.module, &c.out, &[("alice.x", &c.x)], "sim");
    assert_one_line_error(&o, &c.out, &["missing --input bob.w", "prog.sf:3"]);
}

#[test]
fn input_the_program_does_not_have() {
    let c = case("extra");
    let o = sfvm(&c.module, &c.out, &[("alice.x", &c.x), ("bob.w", &c.w), ("bob.z", &c.w)], "sim");
    assert_one_line_error(&o, &c.out, &["bob.z", "bob.w"]);
}

#[test]
fn csv_with_a_wrong_number_of_columns() {
    let c = case("columns");
    let bad = c.s.write("bad.csv", "1,2,3\n4,5\n");
    let o = sfvm(&c.module, &c.out, &[("alice.x", &bad), ("bob.w", &c.w)], "sim");
    assert_one_line_error(&o, &c.out, &["bad.csv", "row 2", "2 columns"]);
    let narrow = c.s.write("narrow.csv", "1,2\n4,5\n");
    let o = sfvm(&c.module, &c.out, &[("alice.x", &narrow), ("bob.w", &c.w)], "sim");
    assert_one_line_error(&o, &c.out, &["narrow.csv", "fix[n, 3]"]);
}

#[test]
fn csv_with_a_non_number() {
    let c = case("nan");
    let bad = c.s.write("bad.csv", "1,2,3\n4,five,6\n");
    let o = sfvm(&c.module, &c.out, &[("alice.x", &bad), ("bob.w", &c.w)], "sim");
    assert_one_line_error(&o, &c.out, &["bad.csv", "row 2, column 2", "`five`"]);
}

#[test]
fn a_shape_symbol_bound_differently_by_two_parties() {
    let s = Scratch::new("symbols");
    let module = compile(&s, "p", "parties alice, bob;\nlet a: fix[n] @alice = input(\"a\");\nlet b: fix[n] @bob = input(\"b\");\noutput(reveal(a * b), \"p\");\n");
    let (a, b) = (s.write("a.csv", "1\n2\n3\n"), s.write("b.csv", "1\n2\n"));
    let out = s.path("out");
    let o = sfvm(&module, &out, &[("alice.a", &a), ("bob.b", &b)], "sim");
    assert_one_line_error(&o, &out, &["`n`", "3", "2", "alice", "bob"]);
}

#[test]
fn a_run_time_shape_error_names_the_source_line_in_both_modes() {
    let s = Scratch::new("runtime");
    let module = compile(&s, "rt", "parties alice, bob;\nlet x: fix[n, m] @alice = input(\"x\");\nlet w: fix[k, 2] @bob = input(\"w\");\nlet y = x @ w;\noutput(reveal(y), \"y\");\n");
    let x = s.write("x.csv", "1,2,3,4\n5,6,7,8\n");
    let w = s.write("w.csv", "1,2\n3,4\n5,6\n");
    let out = s.path("out");
    for mode in ["debug", "sim"] {
        let o = sfvm(&module, &out, &[("alice.x", &x), ("bob.w", &w)], mode);
        let err = stderr(&o);
        assert!(!o.status.success());
        assert!(err.contains("rt.sf:4") && err.contains("let y = x @ w;") && err.contains("[2, 4] and [3, 2]"), "{mode}: {err}");
        assert!(!out.exists(), "{mode}: outputs written after a failure");
    }
}

#[test]
fn damaged_module_is_refused_by_name() {
    let c = case("damaged");
    let mut bytes = std::fs::read(&c.module).expect("module");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let bad = c.s.path("bad.sfbc");
    std::fs::write(&bad, &bytes).expect("write");
    let o = sfvm(&bad, &c.out, &[("alice.x", &c.x), ("bob.w", &c.w)], "sim");
    assert_one_line_error(&o, &c.out, &["bad.sfbc", "corrupted"]);
    let o = run(Command::new(bin("sfvm")).arg("run").arg(c.s.path("absent.sfbc")));
    assert_one_line_error(&o, &c.out, &["absent.sfbc"]);
}

#[test]
fn unreadable_source_is_one_line() {
    let o = run(Command::new(bin("sfc")).args(["compile", "/nonexistent/p.sf"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/p.sf"));
    let _ = acceptance_dir();
}

/// `random_uniform([n]) @alice` draws private uniform numbers on alice alone.
#[test]
fn random_numbers_are_private_uniform_and_fresh() {
    let s = Scratch::new("random");
    let module = compile(&s, "r", "parties alice, bob;\nlet x: fix[n] @alice = input(\"x\");\nlet r = random_uniform([n]) @alice;\noutput(r, \"r\");\n");
    let x = s.write("x.csv", &"0\n".repeat(4000));
    let read = |out: &PathBuf| -> Vec<f64> {
        std::fs::read_to_string(out.join("alice/r.csv")).expect("r written").lines().map(|l| l.parse().expect("number")).collect()
    };
    let (out1, out2) = (s.path("o1"), s.path("o2"));
    for out in [&out1, &out2] {
        let o = sfvm(&module, out, &[("alice.x", &x)], "sim");
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!out.join("bob/r.csv").exists());
    }
    let (a, b) = (read(&out1), read(&out2));
    assert_eq!(a.len(), 4000);
    assert!(a.iter().all(|&v| (0.0..1.0).contains(&v)));
    let mean = a.iter().sum::<f64>() / a.len() as f64;
    assert!((mean - 0.5).abs() < 0.03, "mean {mean}");
    assert_ne!(a, b, "two runs drew the same numbers");
}

const PSI: &str = "parties alice, bob;
let ka: int[n] @alice = input(\"ids\");
let kb: int[m] @bob = input(\"ids\");
let (ia, ib) = psi(ka, kb);
output(len(ia), \"count\");
";

/// PSI's bad inputs: keys that are not ints, an empty table, duplicate keys.
#[test]
fn bad_psi_keys_name_the_party_and_the_input() {
    let s = Scratch::new("psi-bad");
    let module = compile(&s, "psi", PSI);
    let out = s.path("out");
    let good = s.write("good.csv", "1\n2\n3\n");
    let floats = s.write("floats.csv", "1\n2.5\n");
    let o = sfvm(&module, &out, &[("alice.ids", &floats), ("bob.ids", &good)], "sim");
    assert_one_line_error(&o, &out, &["alice.ids", "alice", "floats.csv", "row 2", "2.5", "not an integer"]);
    let empty = s.write("empty.csv", "");
    let o = sfvm(&module, &out, &[("alice.ids", &good), ("bob.ids", &empty)], "sim");
    assert_one_line_error(&o, &out, &["bob.ids", "of bob", "empty.csv", "empty"]);
    let twice = s.write("twice.csv", "4\n9\n4\n");
    let o = sfvm(&module, &out, &[("alice.ids", &good), ("bob.ids", &twice)], "sim");
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("rows 0 and 2 of the keys of bob (`kb`)") && err.contains("psi.sf:4"), "{err}");
    assert!(!out.exists(), "outputs were written");
}
