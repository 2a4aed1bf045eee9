//! The language's own end-to-end cases, `tests/run/<case>/`: each program runs in sim and debug
//! mode and every output is compared with a float64 reference computed independently
//! (`tests/run/make_cases.py`, plain Python).

use sf_tests::{acceptance_dir, bin, repo_root, run, stderr};
use std::process::Command;

#[test]
fn every_run_case_matches_its_reference_in_sim_and_debug() {
    let dir = repo_root().join("tests/run");
    let mut cases: Vec<_> = std::fs::read_dir(&dir).expect("tests/run").flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 3, "cases: {cases:?}");
    for case in cases {
        for mode in ["sim", "debug"] {
            let out = run(Command::new("python3")
                .arg(acceptance_dir().join("run_case.py"))
                .arg(&case)
                .args(["--mode", mode, "--timeout", "120", "--sfc"])
                .arg(bin("sfc"))
                .arg("--sfvm")
                .arg(bin("sfvm")));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success() && stdout.contains("PASS"), "{} [{mode}]:\n{stdout}\n{}", case.display(), stderr(&out));
        }
    }
}
