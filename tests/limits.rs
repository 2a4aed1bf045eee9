//! Resource limits: a shape too large, an input larger than memory or than its own file, a
//! loop that would run for ever. Each ends at once, before any instruction runs, with an error
//! naming the line or the file; none panics, runs out of memory or hangs.

use sf_tests::{bin, compile, npy_header, stderr, Scratch};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const HEAD: &str = "parties alice, bob;\nlet x: fix[n] @alice = input(\"x\");\nlet y: fix[n] @bob = input(\"y\");\n";

/// Runs `sfvm run` in sim mode, killing it if it has not ended within 60 s (a hang is a
/// failure of the test, never of the suite).
fn sfvm(s: &Scratch, module: &Path, x: &Path, extra: &[&str]) -> Output {
    let y = s.write("y.csv", "1\n2\n3\n");
    let mut child = Command::new(bin("sfvm"))
        .arg("run")
        .arg(module)
        .arg("--input")
        .arg(format!("alice.x={}", x.display()))
        .arg("--input")
        .arg(format!("bob.y={}", y.display()))
        .arg("--out")
        .arg(s.path("out"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sfvm");
    let start = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("sfvm did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

/// A failure whose error holds every part, with no panic and no output written.
fn assert_refused(s: &Scratch, o: &Output, parts: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "succeeded: {err}");
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    for p in parts {
        assert!(err.contains(p), "`{p}` missing from: {err}");
    }
    let out = s.path("out");
    assert!(!out.exists() || std::fs::read_dir(&out).map(|mut d| d.next().is_none()).unwrap_or(true), "outputs were written");
}

fn run_program(label: &str, body: &str, extra: &[&str]) -> (Scratch, Output) {
    let s = Scratch::new(label);
    let module = compile(&s, label, &format!("{HEAD}{body}"));
    let x = s.write("x.csv", "1\n2\n3\n");
    let o = sfvm(&s, &module, &x, extra);
    (s, o)
}

#[test]
fn a_shape_whose_product_overflows_once_bound_names_its_line() {
    // n = 3: 3e9 x 3e9 elements, past 2^40 (and past u64 in a naive product of larger dims).
    let (s, o) = run_program("overflow", "let z = zeros([1000000000 * n, 1000000000 * n]);\noutput(sum(x, axis: 0) + sum(sum(z, axis: 0), axis: 0), \"s\");\n", &[]);
    assert_refused(&s, &o, &["overflow.sf:4", "[3000000000, 3000000000]", "2^40", "zeros("]);
}

#[test]
fn a_value_larger_than_memory_is_refused_before_it_is_made() {
    // 3 x 2^37 elements: within 2^40, but 3.3 TB, more than any machine here has.
    let (s, o) = run_program("memory", "let z = zeros([131072 * n, 1048576]);\noutput(sum(x, axis: 0) + sum(sum(z, axis: 0), axis: 0), \"s\");\n", &[]);
    assert_refused(&s, &o, &["memory.sf:4", "TB", "this machine has available"]);
}

#[test]
fn a_loop_with_an_enormous_trip_count_ends_at_once_naming_it() {
    let body = "let mut acc = x * y;\nfor i in 0..1000000000000000 {\n    acc = acc * y + x;\n}\noutput(reveal(acc, to: alice), \"p\");\n";
    let (s, o) = run_program("trips", body, &[]);
    assert_refused(&s, &o, &["trips.sf:5", "1000000000000000 times", "--max-instructions"]);
    // Nothing ran: the check comes before the first product, so no round was spent.
    assert!(!stderr(&o).contains("rounds"), "{}", stderr(&o));
}

#[test]
fn a_loop_bound_by_the_data_is_counted_once_the_inputs_are_read() {
    let body = "let mut acc = x;\nfor i in 0..n {\n    acc = acc + y;\n}\noutput(reveal(acc, to: alice), \"p\");\n";
    let (s, o) = run_program("bound", body, &["--max-instructions", "2"]);
    assert_refused(&s, &o, &["bound.sf:5", "3 times", "more than the limit of 2"]);
    // With the default limit the same program runs, and gives x + 3 y.
    let (s, o) = run_program("bound-ok", body, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = std::fs::read_to_string(s.path("out/alice/p.csv")).expect("output");
    let got: Vec<f64> = got.lines().map(|l| l.trim().parse().expect("a number")).collect();
    for (g, want) in got.iter().zip([4.0, 8.0, 12.0]) {
        assert!((g - want).abs() < 1e-6, "{got:?}");
    }
}

#[test]
fn npy_headers_that_claim_too_much_are_refused_naming_the_file() {
    let s = Scratch::new("npy-limits");
    let module = compile(&s, "p", &format!("{HEAD}output(reveal(x * y, to: alice), \"p\");\n"));
    // More than 2^40 elements.
    let huge = s.path("huge.npy");
    std::fs::write(&huge, [npy_header(&[1 << 50], "<f8"), vec![0; 64]].concat()).expect("write");
    assert_refused(&s, &sfvm(&s, &module, &huge, &[]), &["huge.npy", "more than 2^40 elements"]);
    // A header whose data the file does not hold.
    let short = s.path("short.npy");
    std::fs::write(&short, [npy_header(&[3, 1000], "<f8"), vec![0; 64]].concat()).expect("write");
    assert_refused(&s, &sfvm(&s, &module, &short, &[]), &["short.npy", "24000 bytes of data", "64 bytes after its header"]);
    // A file as long as its header says, but more than memory: sparse, so it takes no disk.
    let sparse = s.path("sparse.npy");
    let header = npy_header(&[1 << 37], "<f8");
    let file = std::fs::File::create(&sparse).expect("create");
    std::io::Write::write_all(&mut &file, &header).expect("write");
    file.set_len(header.len() as u64 + (8u64 << 37)).expect("a sparse file");
    drop(file);
    assert_refused(&s, &sfvm(&s, &module, &sparse, &[]), &["sparse.npy", "TB", "this machine has available"]);
}

/// A CSV larger than the memory available is refused before a line of it is read (a line is
/// read whole, and one line could be the whole file): sparse, so it takes no disk.
#[test]
fn a_csv_larger_than_memory_is_refused_before_it_is_read() {
    let s = Scratch::new("csv-limits");
    let module = compile(&s, "p", &format!("{HEAD}output(reveal(x * y, to: alice), \"p\");\n"));
    let big = s.path("big.csv");
    std::fs::File::create(&big).and_then(|f| f.set_len(4 << 40)).expect("a sparse file");
    assert_refused(&s, &sfvm(&s, &module, &big, &[]), &["big.csv", "bytes of memory this machine has available"]);
}
