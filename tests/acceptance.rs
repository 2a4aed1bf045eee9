//! The shared acceptance cases and the bundled examples, run end to end through `run_case.py`
//! with the binaries of this build, compared against their float64 references.

use sf_tests::{acceptance_dir, bin, repo_root, run, stderr};
use std::path::Path;
use std::process::Command;

fn run_case(case: &Path, mode: &str) {
    run_case_with(case, mode, &bin("sfvm"));
}

fn run_case_with(case: &Path, mode: &str, sfvm: &Path) {
    let out = run(Command::new("python3")
        .arg(acceptance_dir().join("run_case.py"))
        .arg(case)
        .args(["--mode", mode, "--timeout", "120"])
        .arg("--sfc")
        .arg(bin("sfc"))
        .arg("--sfvm")
        .arg(sfvm));
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

/// The same cases with the JIT off (`sfvm run ... --no-jit`, through a wrapper that adds the
/// flag to every run), in sim and party mode. Their vectors are below the fusion threshold
/// (2^15 elements), so both settings take the same path here: this checks the flag in every
/// mode. `tests/fusion.rs` checks fused kernels against op-by-op runs bit for bit on vectors
/// large enough to fuse.
#[test]
fn shared_cases_with_the_jit_off() {
    let s = sf_tests::Scratch::new("no-jit");
    let wrapper = s.write("sfvm", &format!("#!/bin/sh\nif [ \"$1\" = run ]; then exec '{0}' \"$@\" --no-jit; else exec '{0}' \"$@\"; fi\n", bin("sfvm").display()));
    let chmod = run(Command::new("chmod").arg("+x").arg(&wrapper));
    assert!(chmod.status.success());
    for case in RUNNABLE {
        run_case_with(&acceptance_dir().join(case), "sim", &wrapper);
    }
    for case in ["linear", "arith", "stats", "psi"] {
        run_case_with(&acceptance_dir().join(case), "party", &wrapper);
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

/// The bundled examples, each with its data, cluster file and float64 references.
const EXAMPLES: &[&str] = &["credit_scoring", "vertical_lr", "mlp_inference", "psi_stats", "three_party_stats"];

#[test]
fn bundled_examples_match_their_references() {
    for mode in ["sim", "debug", "party"] {
        for example in EXAMPLES {
            run_case(&repo_root().join("examples").join(example), mode);
        }
    }
}

/// `examples/run.sh EXAMPLE party`: one process per party of the example's cluster file, with
/// fresh certificates; its outputs match the example's references.
#[test]
fn run_sh_runs_an_example_as_a_cluster() {
    let bins = bin("sfvm").parent().expect("the binaries' folder").to_path_buf();
    let out = run(Command::new("bash").arg(repo_root().join("examples/run.sh")).args(["three_party_stats", "party"]).env("SF_BIN_DIR", bins));
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    let work = repo_root().join("target/examples/three_party_stats/out");
    for party in ["north", "south", "east"] {
        for name in ["mean", "std", "longest", "patients"] {
            let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim().parse::<f64>().expect("a number");
            let got = read(&work.join(party).join(format!("{name}.csv")));
            let want = read(&repo_root().join("examples/three_party_stats/expected").join(party).join(format!("{name}.csv")));
            assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "{party}/{name}: {got} against {want}");
        }
    }
    for example in EXAMPLES {
        let cluster = std::fs::read_to_string(repo_root().join("examples").join(example).join("cluster.toml")).expect("a cluster file");
        assert!(cluster.contains("[[party]]") && !cluster.contains("PRIVATE KEY"), "{example}: a cluster file without keys");
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
