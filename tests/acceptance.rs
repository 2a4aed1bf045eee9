//! The shared acceptance cases and the bundled examples, run end to end through `run_case.py`
//! with the binaries of this build, compared against their float64 references.

use sf_tests::{acceptance_dir, bin, repo_root, run, stderr};
use std::path::Path;
use std::process::Command;

fn run_case(case: &Path, mode: &str) {
    let out = run(Command::new("python3")
        .arg(acceptance_dir().join("run_case.py"))
        .arg(case)
        .args(["--mode", mode, "--timeout", "120"])
        .arg("--sfc")
        .arg(bin("sfc"))
        .arg("--sfvm")
        .arg(bin("sfvm")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("PASS"), "{} [{mode}] failed:\n{stdout}\n{}", case.display(), stderr(&out));
}

/// Every shared case runs in sim and debug mode.
const RUNNABLE: &[&str] = &["linear", "arith", "lr", "mlp", "stats", "psi"];

#[test]
fn shared_cases_in_sim_mode() {
    for case in RUNNABLE {
        run_case(&acceptance_dir().join(case), "sim");
    }
}

#[test]
fn shared_cases_in_debug_mode() {
    for case in RUNNABLE {
        run_case(&acceptance_dir().join(case), "debug");
    }
}

/// Party mode: one process per party over TCP with mutual TLS on loopback. `run_case.py` starts
/// the parties listed under `expected/`, so the cases where a party has no output (lr, mlp)
/// cannot run this way.
#[test]
fn shared_cases_in_party_mode() {
    for case in ["linear", "arith", "stats", "psi"] {
        run_case(&acceptance_dir().join(case), "party");
    }
}

#[test]
fn bundled_examples_match_their_references() {
    for mode in ["sim", "debug", "party"] {
        run_case(&repo_root().join("examples/credit_scoring"), mode);
    }
}

/// Every acceptance program type-checks: the whole language of DESIGN.md is accepted.
#[test]
fn every_acceptance_program_passes_sfc_check() {
    let mut checked = 0;
    for entry in std::fs::read_dir(acceptance_dir()).expect("acceptance dir").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let src = entry.path().join(format!("{name}.sf"));
        if !src.exists() {
            continue;
        }
        let out = run(Command::new(bin("sfc")).arg("check").arg(&src));
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} acceptance programs found");
}
