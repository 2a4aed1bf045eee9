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
    Ok(())
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
