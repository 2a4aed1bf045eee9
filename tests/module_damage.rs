//! A real module, damaged at many places: every damage is refused with an error that names the
//! file, and none panics.

use sf_isa::ModuleFile;
use sf_tests::{acceptance_dir, compile, Scratch};

fn load_all(path: &std::path::Path) -> Result<(), sf_isa::LoadError> {
    let mut m = ModuleFile::open(path)?;
    for p in 0..m.header.parties.len() {
        m.segment(p as u16)?;
    }
    m.debug_info()?;
    for c in 0..m.header.constants.len() {
        m.constant(c as u32)?;
    }
    Ok(())
}

const PROGRAM: &str = "parties alice, bob;
let w: fix[4, 3] @pub = load(\"w.csv\");
let x: fix[n, 4] @alice = input(\"x\");
let y: fix[n, 3] @bob = input(\"y\");
output(reveal(x @ w + y, to: alice), \"z\");
";

/// 10,000 flipped bits at random places of a real module with code, debug-info and constant
/// chunks: each is refused with an error naming the file, and a flip inside a chunk names that
/// chunk; a wrong magic and a newer version have their own errors.
#[test]
fn ten_thousand_random_flips_each_name_the_file_and_the_chunk() {
    let s = Scratch::new("damage-random");
    s.write("w.csv", "1,2,3\n4,5,6\n7,8,9\n10,11,12\n");
    let module = compile(&s, "m", PROGRAM);
    let good = std::fs::read(&module).expect("read");
    let header = ModuleFile::open(&module).expect("the undamaged module opens").header;
    assert!(header.chunks.iter().any(|c| c.kind == sf_isa::ChunkKind::Constant));
    let bad = s.path("bad.sfbc");
    let mut state = 0x243f6a8885a308d3u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..10_000 {
        let i = next() as usize % good.len();
        let mut bytes = good.clone();
        bytes[i] ^= 1 << (next() % 8);
        std::fs::write(&bad, &bytes).expect("write");
        let err = load_all(&bad).expect_err(&format!("flipped byte {i} was accepted")).to_string();
        assert!(err.contains("bad.sfbc"), "byte {i}: {err}");
        if let Some(k) = header.chunks.iter().position(|c| (c.offset as usize..(c.offset + c.len) as usize).contains(&i)) {
            let named = err.contains(&format!("chunk {k} (")) || (header.chunks[k].kind == sf_isa::ChunkKind::Constant && err.contains(&format!("part of constant {}", header.chunks[k].item)));
            assert!(named && err.contains("corrupted"), "byte {i} in chunk {k}: {err}");
        }
    }
    let mut magic = good.clone();
    magic[0] = b'X';
    std::fs::write(&bad, &magic).expect("write");
    let err = load_all(&bad).expect_err("a wrong magic was accepted").to_string();
    assert!(err.contains("bad.sfbc") && err.contains("magic"), "{err}");
}

#[test]
fn flipped_bytes_truncation_and_versions_are_refused() {
    let s = Scratch::new("damage");
    let src = std::fs::read_to_string(acceptance_dir().join("linear/linear.sf")).expect("linear.sf");
    let module = compile(&s, "linear", &src);
    load_all(&module).expect("the undamaged module loads");
    let good = std::fs::read(&module).expect("read");
    let bad = s.path("bad.sfbc");

    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Every byte of the preamble and header, then random bytes across the chunks.
    let positions: Vec<usize> = (0..good.len().min(600)).chain((0..1500).map(|_| next() as usize % good.len())).collect();
    for &i in &positions {
        let mut bytes = good.clone();
        bytes[i] ^= 1 << (next() % 8);
        std::fs::write(&bad, &bytes).expect("write");
        let err = load_all(&bad).expect_err(&format!("flipped byte {i} was accepted"));
        assert!(err.to_string().contains("bad.sfbc"), "{err}");
    }
    for len in [0, 4, 8, 15, 20, 64, good.len() / 2, good.len() - 1] {
        std::fs::write(&bad, &good[..len]).expect("write");
        let err = load_all(&bad).expect_err(&format!("truncation to {len} bytes was accepted")).to_string();
        assert!(err.contains("bad.sfbc") && (err.contains("truncated") || err.contains("magic")), "{len}: {err}");
    }
    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&bad, &newer).expect("write");
    let err = load_all(&bad).expect_err("version 2 accepted").to_string();
    assert!(err.contains("version 2") && err.contains("recompile"), "{err}");
}
