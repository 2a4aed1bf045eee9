//! `sfc inspect` and `sfc dis` on a real module: what they print, and their errors.

use sf_tests::{bin, chain_reference, chain_source, compile, run, stderr, Scratch};
use std::process::Command;

const PROGRAM: &str = "parties alice, bob;
let x: fix[n] @alice = input(\"x\");
let y: fix[n] @bob = input(\"y\");
let mut acc = x * y;
for i in 0..3 {
    acc = acc * y + x;
}
output(reveal(acc > 0.0, to: alice), \"positive\");
";

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn inspect_prints_the_header_the_chunk_table_and_each_partys_size() {
    let s = Scratch::new("inspect");
    let module = compile(&s, "p", PROGRAM);
    let o = run(Command::new(bin("sfc")).arg("inspect").arg(&module));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let header = sf_isa::ModuleFile::open(&module).expect("module").header;
    assert!(text.contains(&header.hash_hex()), "{text}");
    assert!(text.contains("parties     alice, bob"), "{text}");
    assert!(text.contains("40 fraction bits"), "{text}");
    // One table row per chunk, with its offset and length.
    for c in &header.chunks {
        assert!(text.lines().any(|l| l.contains(&c.offset.to_string()) && l.contains(&c.len.to_string())), "chunk at {}: {text}", c.offset);
    }
    assert!(text.lines().any(|l| l.trim_start().starts_with("alice")) && text.lines().any(|l| l.trim_start().starts_with("bob")), "{text}");
}

#[test]
fn dis_lists_a_partys_bytecode_beside_its_source_lines() {
    let s = Scratch::new("dis");
    let module = compile(&s, "p", PROGRAM);
    let o = run(Command::new(bin("sfc")).arg("dis").arg(&module).args(["--party", "alice"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("; party alice"), "{text}");
    assert!(text.contains("input 0: x fix[n]"), "{text}");
    // The product inside the loop, beside its line, indented under the loop.
    let mul = text.lines().find(|l| l.contains("= mul ") && l.contains("p.sf:6")).unwrap_or_else(|| panic!("no mul at line 6: {text}"));
    assert!(mul.contains("acc = acc * y + x;") && mul.starts_with("    "), "{mul}");
    assert!(text.contains("loop ") && text.contains("end loop"), "{text}");
    assert!(text.contains("reveal") && text.contains("output"), "{text}");
    // Bob's segment has no output, and names him.
    let o = run(Command::new(bin("sfc")).arg("dis").arg(&module).args(["--party", "1"]));
    let bob = stdout(&o);
    assert!(o.status.success() && bob.contains("; party bob"), "{bob}");
    assert!(bob.contains("reveal r") && !bob.lines().any(|l| l.trim_start().starts_with("output ")), "{bob}");
}

#[test]
fn the_tools_name_a_bad_party_and_a_damaged_file() {
    let s = Scratch::new("tools-errors");
    let module = compile(&s, "p", PROGRAM);
    let o = run(Command::new(bin("sfc")).arg("dis").arg(&module).args(["--party", "carol"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no party `carol`") && stderr(&o).contains("alice, bob"), "{}", stderr(&o));
    let mut bytes = std::fs::read(&module).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    let bad = s.path("bad.sfbc");
    std::fs::write(&bad, &bytes).expect("write");
    let o = run(Command::new(bin("sfc")).arg("dis").arg(&bad).args(["--party", "alice"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.sfbc") && stderr(&o).contains("corrupted"), "{}", stderr(&o));
    let o = run(Command::new(bin("sfc")).arg("inspect").arg(s.path("missing.sfbc")));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.sfbc"), "{}", stderr(&o));
}

/// A chain of 100,000 dependent operations compiles and runs: no pass recurses along the chain
/// (a recursive cycle check overflowed the stack) and none is quadratic in a value's uses (each
/// of the 50,000 additions reads bob's `y`). A million operations take 16 s and 1.6 GB
/// (spec/module.md); this size keeps the suite fast. A 1 MiB chunk limit cuts each party's
/// code into parts, as the default 64 MiB limit does for a larger program.
#[test]
fn a_chain_of_a_hundred_thousand_operations_compiles_and_runs() {
    let s = Scratch::new("chain");
    let n = 100_000;
    let src = s.write("chain.sf", &chain_source(n));
    let module = s.path("chain.sfbc");
    let o = run(Command::new(bin("sfc")).arg("compile").arg(&src).arg("-o").arg(&module).arg("--chunk-size").arg("1048576"));
    assert!(o.status.success(), "{}", stderr(&o));
    let header = sf_isa::ModuleFile::open(&module).expect("module").header;
    let code_parts = header.chunks.iter().filter(|c| c.kind == sf_isa::ChunkKind::Code && c.party == Some(0)).count();
    assert!(code_parts > 1 && header.chunks.iter().all(|c| c.len <= 1 << 20), "{code_parts} code parts");
    let (x, y) = (s.write("x.csv", "1\n2\n"), s.write("y.csv", "0.5\n0.25\n"));
    let o = run(Command::new(bin("sfvm")).arg("run").arg(&module).arg("--input").arg(format!("alice.x={}", x.display())).arg("--input").arg(format!("bob.y={}", y.display())).arg("--out").arg(s.path("out")));
    assert!(o.status.success(), "{}", stderr(&o));
    // The same chain in float64.
    let want: Vec<f64> = [(1.0, 0.5), (2.0, 0.25)].iter().map(|&(x, y)| chain_reference(x, y, n)).collect();
    let got: Vec<f64> = std::fs::read_to_string(s.path("out/alice/z.csv")).expect("z").lines().map(|l| l.trim().parse().expect("number")).collect();
    assert_eq!(got.len(), 2);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
    }
}
