//! The `sfvm` binary's own command-line behaviour.

use std::process::Command;

#[test]
fn help_states_whom_the_protocol_trusts() {
    let out = Command::new(env!("CARGO_BIN_EXE_sfvm")).args(["run", "--help"]).output().expect("run sfvm");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("trusted first party") && text.contains("semi-honest"), "{text}");
}

#[test]
fn a_file_that_is_not_a_module_is_refused() {
    let path = std::env::temp_dir().join(format!("not-a-module-{}.sfbc", std::process::id()));
    std::fs::write(&path, b"parties alice, bob;").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_sfvm")).arg("run").arg(&path).output().expect("run sfvm");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("not an sfbc module") && err.contains("not-a-module"), "{err}");
    let _ = std::fs::remove_file(path);
}
