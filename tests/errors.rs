//! The error catalogue (spec/errors.md) against the source: every code `sfc` and `sfvm`
//! declare is listed, every code the source raises is declared, and the command lines print
//! the codes.

use sf_tests::{bin, compile, files_with_extension, repo_root, run, stderr, Scratch};
use std::process::Command;

fn catalogue() -> String {
    std::fs::read_to_string(repo_root().join("spec/errors.md")).expect("spec/errors.md")
}

/// Every `"X0000"`-shaped string literal with the given prefixes in the .rs files under `dir`.
fn raised(dir: &str, prefixes: &[char]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for p in files_with_extension(&repo_root().join(dir), "rs") {
        let text = std::fs::read_to_string(&p).expect("source");
        let bytes = text.as_bytes();
        for i in 0..bytes.len().saturating_sub(6) {
            let code = &bytes[i + 1..i + 6];
            if bytes[i] == b'"' && bytes[i + 6] == b'"' && prefixes.contains(&(code[0] as char)) && code[1..].iter().all(u8::is_ascii_digit) {
                found.push((String::from_utf8_lossy(code).into_owned(), p.display().to_string()));
            }
        }
    }
    found
}

#[test]
fn every_declared_code_is_in_the_catalogue() {
    let spec = catalogue();
    for (code, _) in sfc::diagnostics::CODES.iter().chain(sfvm::error::CODES) {
        let row = spec.lines().find(|l| l.starts_with(&format!("| {code} |")));
        let Some(row) = row else { panic!("{code} is not in spec/errors.md") };
        // Code, cause and fix (and an example for sfc's): no cell empty.
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        assert!(cells.len() >= 3 && cells.iter().all(|c| !c.is_empty()), "{code}: a row without its cause or fix: {row}");
    }
}

#[test]
fn every_code_the_source_raises_is_declared() {
    let declared = |code: &str| sfc::diagnostics::CODES.iter().chain(sfvm::error::CODES).any(|(c, _)| *c == code);
    for (code, file) in raised("compiler/src", &['E', 'W']).into_iter().chain(raised("vm", &['V'])) {
        assert!(declared(&code), "{file} raises {code}, which is not declared (and so not in spec/errors.md)");
    }
    // And the catalogue lists nothing that is not declared.
    for line in catalogue().lines() {
        if let Some(code) = line.strip_prefix("| ").and_then(|l| l.split(' ').next()).filter(|c| c.len() == 5 && c[1..].chars().all(|d| d.is_ascii_digit())) {
            assert!(declared(code), "spec/errors.md lists {code}, which nothing declares");
        }
    }
}

#[test]
fn sfvm_prints_the_code_of_each_error() {
    let s = Scratch::new("errors");
    let module = compile(&s, "p", "parties alice, bob;\nlet x: fix[n] @alice = input(\"x\");\nlet y: fix[n] @bob = input(\"y\");\noutput(reveal(x * y, to: alice), \"p\");\n");
    let good = s.write("good.csv", "1\n2\n");
    let bad = s.write("bad.csv", "1\nseven\n");
    let sfvm = |args: &[&str]| stderr(&run(Command::new(bin("sfvm")).args(args)));
    let path = |p: &std::path::Path| p.display().to_string();
    let cases = [
        ("V0201", sfvm(&["run", &path(&module), "--input", &format!("alice.x={}", path(&bad)), "--input", &format!("bob.y={}", path(&good))])),
        ("V0200", sfvm(&["run", &path(&module), "--input", &format!("alice.x={}", path(&good))])),
        ("V0101", sfvm(&["run", &path(&good)])),
        ("V0100", sfvm(&["run", &path(&s.path("missing.sfbc"))])),
        ("V0001", sfvm(&["run", &path(&module), "--mode", "sim", "--trace"])),
    ];
    for (code, err) in cases {
        assert!(err.starts_with(&format!("error[{code}]: ")), "expected {code}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    }
}
