//! Debug mode as a debugger, on the shared `linear` case: `--break` prints the values a line
//! computed (secrets opened, debug mode only) and `--trace` every instruction with its line;
//! both checked against the case's float64 references.

use sf_tests::{acceptance_dir, bin, run, stderr, Scratch};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Case {
    dir: PathBuf,
    module: PathBuf,
    _scratch: Scratch,
}

fn linear() -> Case {
    let dir = acceptance_dir().join("linear");
    let scratch = Scratch::new("debugger");
    let module = scratch.path("linear.sfbc");
    let o = run(Command::new(bin("sfc")).arg("compile").arg(dir.join("linear.sf")).arg("-o").arg(&module));
    assert!(o.status.success(), "{}", stderr(&o));
    Case { dir, module, _scratch: scratch }
}

fn sfvm(case: &Case, extra: &[&str]) -> Output {
    let data = |f: &str| case.dir.join("data").join(f).display().to_string();
    let out = case._scratch.path("out");
    run(Command::new(bin("sfvm"))
        .arg("run")
        .arg(&case.module)
        .args(["--input", &format!("alice.x={}", data("alice.x.csv"))])
        .args(["--input", &format!("bob.w={}", data("bob.w.csv"))])
        .args(["--input", &format!("carol.b={}", data("carol.b.csv"))])
        .arg("--out")
        .arg(out)
        .args(extra))
}

fn csv(path: &Path) -> Vec<f64> {
    std::fs::read_to_string(path).expect("reference").split(|c| c == ',' || c == '\n').filter(|t| !t.trim().is_empty()).map(|t| t.trim().parse().expect("number")).collect()
}

/// The numbers of the value printed for `expr` at the break: `  EXPR @P = [shape] [[..], ..]`.
fn printed(stdout: &str, expr: &str) -> Vec<f64> {
    let line = stdout.lines().find(|l| l.trim_start().starts_with(&format!("{expr} @"))).unwrap_or_else(|| panic!("no value for `{expr}` in:\n{stdout}"));
    let values = line.split_once("] ").map(|(_, v)| v).expect("shape then values");
    values.split(|c: char| c == '[' || c == ']' || c == ',').filter_map(|t| t.trim().parse::<f64>().ok()).collect()
}

fn close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {} values printed, {} in the reference", got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "{what}[{i}]: {g} printed, {w} in the float64 reference");
    }
}

#[test]
fn a_breakpoint_prints_the_lines_values_in_plaintext() {
    let case = linear();
    // Line 9: `let y = x @ w + b;`, secret; alice's reference is y itself.
    let o = sfvm(&case, &["--mode", "debug", "--break", "linear.sf:9"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("break at") && out.contains("linear.sf:9: let y = x @ w + b;"), "{out}");
    assert!(out.contains("secrets are shown in plaintext"), "the output says that secrets are opened: {out}");
    close(&printed(&out, "x @ w + b"), &csv(&case.dir.join("expected/alice/y.csv")), "y");
    assert!(stderr(&o).contains("stopped at the breakpoint"), "{}", stderr(&o));
    assert!(!case._scratch.path("out").exists(), "a run stopped at a breakpoint writes no outputs");

    // Line 10: `let s = sum(y * y, axis: 0);`, against everyone's reference s.
    let o = sfvm(&case, &["--mode", "debug", "--break", "linear.sf:10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    close(&printed(&out, "sum(y * y, axis: 0)"), &csv(&case.dir.join("expected/bob/s.csv")), "s");
    let y = csv(&case.dir.join("expected/alice/y.csv"));
    let squares: Vec<f64> = y.iter().map(|v| v * v).collect();
    close(&printed(&out, "y * y"), &squares, "y * y");

    // Line 14: `let gram = x.T @ x;`, alice's private plaintext.
    let o = sfvm(&case, &["--mode", "debug", "--break", "linear.sf:14"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("x.T @ x @alice = [4, 4]"), "{out}");
    close(&printed(&out, "x.T @ x"), &csv(&case.dir.join("expected/alice/gram.csv")), "gram");
}

#[test]
fn a_trace_names_every_instruction_and_its_line() {
    let case = linear();
    let o = sfvm(&case, &["--mode", "debug", "--trace"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let text = std::fs::read_to_string(case.dir.join("linear.sf")).expect("source");
    let source: Vec<&str> = text.lines().map(str::trim).collect();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= 30, "{out}");
    for l in &lines {
        let party = l.split_whitespace().next().expect("a party");
        assert!(["alice", "bob", "carol"].contains(&party), "{l}");
        let at = l.split_whitespace().nth(1).expect("a location");
        let n: usize = at.rsplit_once(':').and_then(|(_, n)| n.parse().ok()).unwrap_or_else(|| panic!("no line in `{l}`"));
        assert!(l.ends_with(source[n - 1]) || l.contains(&format!("| {} ", source[n - 1])) || l.contains(&format!("| {}  ->", source[n - 1])), "`{l}` does not show line {n}: {}", source[n - 1]);
        // A trace shows what an instruction defined, never its contents.
        assert!(!l.contains("->") || l.ends_with(" share") || l.ends_with(" plaintext"), "{l}");
    }
    // Every line that computes something appears, and the run still writes its outputs.
    for n in [5, 6, 7, 9, 10, 11, 12, 14, 15] {
        assert!(lines.iter().any(|l| l.contains(&format!("linear.sf:{n} "))), "line {n} is not in the trace");
    }
    close(&csv(&case._scratch.path("out/alice/y.csv")), &csv(&case.dir.join("expected/alice/y.csv")), "y after a trace");
}

#[test]
fn the_debugger_is_refused_outside_debug_mode() {
    let case = linear();
    for extra in [&["--trace"][..], &["--break", "linear.sf:9"][..], &["--mode", "sim", "--trace"][..]] {
        let o = sfvm(&case, extra);
        assert_eq!(o.status.code(), Some(1), "{extra:?}");
        assert!(stderr(&o).contains("--mode debug only"), "{extra:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{extra:?} printed {}", String::from_utf8_lossy(&o.stdout));
    }
    let o = run(Command::new(bin("sfvm")).arg("run").arg(&case.module).args(["--party", "alice", "--cluster", "none.toml", "--break", "linear.sf:9"]));
    assert!(!o.status.success() && stderr(&o).contains("never as a party of a cluster"), "{}", stderr(&o));
    let o = sfvm(&case, &["--mode", "debug", "--break", "model.sf:9"]);
    assert!(!o.status.success() && stderr(&o).contains("compiled from"), "{}", stderr(&o));
    let o = sfvm(&case, &["--mode", "debug", "--break", "linear.sf:4"]);
    assert!(!o.status.success() && stderr(&o).contains("nothing is computed on that line"), "{}", stderr(&o));
    let o = sfvm(&case, &["--mode", "debug", "--break", "linear.sf:x"]);
    assert!(!o.status.success() && stderr(&o).contains("not a line number"), "{}", stderr(&o));
}
