//! The `sfc` binary's own command-line behaviour.

use std::process::Command;

fn sfc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sfc")).args(args).output().expect("run sfc")
}

#[test]
fn emit_ir_and_segments_print_the_program() {
    let dir = std::env::temp_dir().join(format!("sfc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let src = dir.join("p.sf");
    std::fs::write(&src, "parties alice, bob;\nlet x: fix[n] @alice = input(\"x\");\nlet y: fix[n] @bob = input(\"y\");\noutput(reveal(x * y, to: bob), \"p\");\n").expect("write");
    let ir = sfc(&["compile", src.to_str().unwrap_or_default(), "--emit", "ir"]);
    let text = String::from_utf8_lossy(&ir.stdout);
    assert!(text.contains("fix[n] @spu = mul") && text.contains("share") && text.contains("p.sf:4"), "{text}");
    let seg = sfc(&["compile", src.to_str().unwrap_or_default(), "--emit", "segments"]);
    let text = String::from_utf8_lossy(&seg.stdout);
    assert!(text.contains("segment alice:") && text.contains("reveal.send") && text.contains("reveal.recv") && text.contains("!seq 1"), "{text}");
    assert!(!dir.join("p.sfbc").exists(), "--emit writes no module");
    let _ = std::fs::remove_dir_all(dir);
}
