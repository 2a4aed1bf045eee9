//! No panic on any input: 100,000 mutated versions of every program in the tree (the shared
//! acceptance cases, the examples, the run and ui cases, the standard library) go through the
//! whole front end, diagnostics rendering included. Deterministic, so a failure reproduces.

use sf_tests::{acceptance_dir, files_with_extension, repo_root};
use sfc::driver::{self, Failure};
use std::path::Path;

const MUTATIONS: usize = 100_000;

fn sources() -> Vec<String> {
    let mut out = Vec::new();
    let mut walk = |dir: &Path| {
        for p in files_with_extension(dir, "sf") {
            out.push(std::fs::read_to_string(&p).expect("read"));
        }
    };
    walk(&acceptance_dir());
    for d in ["examples", "tests/run", "tests/ui", "stdlib"] {
        walk(&repo_root().join(d));
    }
    out
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "@", "(", ")", "[", "]", "{", "}", ",", ";", ":", "::", ".", "..", "let ", "let mut ", "fn ", "for ", "in ", "if ",
    "else ", "use ", "x", "n", "@spu", "@pub", "@alice", "0", "-1", "1e400", "99999999999999999999", ".T", "axis:",
    "to:", "\"", "é", "\n", "reveal(", "share(", "send(", "psi(", "select(", "zeros([n])", "sum(", "concat([", "+",
    "*", "/", "&&", "!", "==", "<=", "fix[n, 3]", "int", "bool", "output(", "input(\"q\")", "=", "_",
];

fn mutate(src: &str, rng: &mut Rng) -> String {
    let mut text: Vec<char> = src.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(text.len() + 1);
        match rng.below(4) {
            0 if !text.is_empty() => {
                let end = (at + 1 + rng.below(12)).min(text.len());
                text.drain(at.min(end)..end);
            }
            1 if !text.is_empty() => {
                let from = rng.below(text.len());
                let end = (from + 1 + rng.below(40)).min(text.len());
                let copy: Vec<char> = text[from..end].to_vec();
                text.splice(at..at, copy);
            }
            2 if text.len() > 1 => {
                let other = rng.below(text.len());
                let at = at.min(text.len() - 1);
                text.swap(at, other);
            }
            _ => {
                let piece = PIECES[rng.below(PIECES.len())];
                text.splice(at..at, piece.chars());
            }
        }
    }
    text.into_iter().collect()
}

#[test]
fn the_front_end_never_panics_on_mutated_programs() {
    let seeds = sources();
    assert!(seeds.len() >= 10, "only {} seed programs", seeds.len());
    let mut rng = Rng(0x2545f4914f6cdd1d);
    let (mut compiled, mut refused) = (0usize, 0usize);
    for round in 0..MUTATIONS {
        let mutated = mutate(&seeds[round % seeds.len()], &mut rng);
        let outcome = std::panic::catch_unwind(|| match driver::compile("m.sf", &mutated) {
            Ok(_) => true,
            Err(Failure::Diagnostics(diags)) => {
                assert!(diags.iter().any(|d| d.is_error()), "refused without an error");
                for d in diags {
                    let _ = d.to_json("m.sf", &mutated);
                    let _ = format!("{:?}", driver::render("m.sf", &mutated, d));
                }
                false
            }
            Err(Failure::Bug(errors)) => panic!("internal compiler error: {errors:?}"),
        });
        match outcome {
            Ok(true) => compiled += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("the front end panicked on mutation {round}:\n{mutated}"),
        }
    }
    eprintln!("{MUTATIONS} mutated programs: {compiled} compiled, {refused} refused with diagnostics");
    assert!(compiled > 100 && refused > MUTATIONS / 2, "{compiled} compiled, {refused} refused");
}

#[test]
fn pathological_nesting_and_length_are_refused_not_crashed() {
    for src in [
        format!("parties a, b;\nlet x = {}1{};\n", "(".repeat(5000), ")".repeat(5000)),
        format!("parties a, b;\nlet x = 1{};\n", "+1".repeat(50_000)),
        format!("parties a, b;\n{}", "for i in 0..2 {".repeat(3000)),
        format!("parties a, b;\nlet x = [{}];\n", "[".repeat(4000)),
    ] {
        match driver::compile("p.sf", &src) {
            Err(Failure::Diagnostics(d)) => assert!(d.iter().any(|d| d.code == "E0002" || d.code == "E0001"), "{:?}", d[0].message),
            _ => panic!("accepted a pathological program"),
        }
    }
}
