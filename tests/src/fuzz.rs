//! A small mutation fuzzer on stable Rust, for the readers of what users hand the tools: AFL's
//! havoc mutations (bit flips, interesting bytes and numbers, deleted, duplicated and spliced
//! runs, dictionary tokens) over a corpus of seed files kept in `tests/fuzz/<target>/`.
//!
//! Each target runs for a bounded time, `SF_FUZZ_SECONDS` (default 3) and at least
//! `MIN_EXECUTIONS`, from a fixed seed (`SF_FUZZ_SEED` to change it), so a CI run is short and
//! a failure can be run again. An input that panics is written to `target/fuzz-failures/` and
//! the target fails naming that file. An input that aborts the process (an allocation no
//! machine can give) ends the test binary, which fails the test just the same.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Executions every target runs even on a slow machine.
const MIN_EXECUTIONS: u64 = 2_000;

/// xorshift64: fast, and reproducible from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

const INTERESTING: &[u64] = &[0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fff_ffff, 0xffff_ffff, u64::MAX, 1 << 40, 1 << 63];

/// One havoc round of 1 to 8 mutations of `seed`; `others` are spliced from, `dictionary`
/// tokens inserted or written over.
pub fn mutate(seed: &[u8], others: &[Vec<u8>], dictionary: &[&[u8]], rng: &mut Rng) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(data.len() + 1);
        match rng.below(9) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] = INTERESTING[rng.below(INTERESTING.len())] as u8;
            }
            2 => {
                // An interesting number, little-endian, 2, 4 or 8 bytes wide.
                let width = [2, 4, 8][rng.below(3)];
                let bytes = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                let end = (at + width).min(data.len());
                data.splice(at..end, bytes[..width].iter().copied());
            }
            3 if !data.is_empty() => {
                let end = (at + 1 + rng.below(32)).min(data.len());
                data.drain(at.min(end)..end);
            }
            4 if !data.is_empty() => {
                let from = rng.below(data.len());
                let end = (from + 1 + rng.below(64)).min(data.len());
                let copy = data[from..end].to_vec();
                data.splice(at..at, copy);
            }
            5 if !others.is_empty() => {
                let other = &others[rng.below(others.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let end = (from + 1 + rng.below(128)).min(other.len());
                    data.splice(at..at, other[from..end].iter().copied());
                }
            }
            6 if !dictionary.is_empty() => {
                let token = dictionary[rng.below(dictionary.len())];
                data.splice(at..at, token.iter().copied());
            }
            7 if !dictionary.is_empty() => {
                let token = dictionary[rng.below(dictionary.len())];
                let end = (at + token.len()).min(data.len());
                data.splice(at..end, token.iter().copied());
            }
            _ if data.len() > 1 => {
                let (i, j) = (rng.below(data.len()), rng.below(data.len()));
                data.swap(i, j);
            }
            _ => data.push(rng.next() as u8),
        }
        data.truncate(1 << 16);
    }
    data
}

/// The seed files of a target: every file in `tests/fuzz/<target>/`.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = crate::repo_root().join("tests/fuzz").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display())).flatten().map(|e| e.path()).collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).collect()
}

/// What a target's run did.
pub struct Report {
    pub executions: u64,
    /// Inputs the reader accepted (the rest it refused with an error).
    pub accepted: u64,
}

/// Runs `exec` on the seeds, then on mutations of them until the time is up. `exec` returns
/// whether it accepted the input; it must not panic.
pub fn run(target: &str, seeds: &[Vec<u8>], dictionary: &[&[u8]], mut exec: impl FnMut(&[u8]) -> bool) -> Report {
    assert!(!seeds.is_empty(), "target {target} has no seeds");
    let seconds: f64 = std::env::var("SF_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let seed: u64 = std::env::var("SF_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15);
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut report = Report { executions: 0, accepted: 0 };
    let mut once = |input: &[u8], report: &mut Report| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exec(input))) {
            Ok(accepted) => report.accepted += u64::from(accepted),
            Err(_) => {
                let dir = crate::repo_root().join("target/fuzz-failures");
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("{target}-{:016x}.bin", fnv1a(input)));
                let _ = std::fs::write(&path, input);
                panic!("fuzz target {target} panicked on the input saved as {} (after {} executions)", path.display(), report.executions);
            }
        }
        report.executions += 1;
    };
    for s in seeds {
        once(s, &mut report);
    }
    while report.executions < MIN_EXECUTIONS || Instant::now() < deadline {
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(base, seeds, dictionary, &mut rng);
        once(&input, &mut report);
    }
    eprintln!("fuzz {target}: {} executions in {seconds} s, {} accepted, no panic", report.executions, report.accepted);
    report
}

/// A 64-bit FNV-1a hash, to name a saved input.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// A file in `dir` rewritten with each input, for readers that take a path.
pub struct InputFile(pub PathBuf);

impl InputFile {
    pub fn new(dir: &Path, name: &str) -> InputFile {
        InputFile(dir.join(name))
    }

    pub fn holding(&self, bytes: &[u8]) -> &Path {
        std::fs::write(&self.0, bytes).expect("write the fuzz input");
        &self.0
    }
}
