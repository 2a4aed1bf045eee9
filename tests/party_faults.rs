//! Party mode's faults, on loopback: each ends in a clear error on every party, never a hang.

use sf_tests::{bin, compile, stderr, Scratch};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PROGRAM: &str = "parties alice, bob;
let x: fix[n] @alice = input(\"x\");
let y: fix[n] @bob = input(\"y\");
output(reveal(x * y, to: alice), \"p\");
";

/// A loop long enough to be killed in the middle of.
const LONG: &str = "parties alice, bob;
let x: fix[n] @alice = input(\"x\");
let y: fix[n] @bob = input(\"y\");
let mut acc = x * y;
for i in 0..200000 {
    acc = acc * y + x;
}
output(reveal(acc, to: alice), \"p\");
";

/// A base port whose run of ports (one per party, and room for a dealer and sessions) is free
/// now: below Linux's ephemeral range (32768 and up), where the tests' own outgoing connections
/// take their local ports, and distinct for every call in this process.
fn port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919);
    loop {
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = 20_000 + (start.wrapping_add(k.wrapping_mul(16)) % 12_000) as u16;
        if (base..base + 16).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
}

struct Setup {
    s: Scratch,
    cluster: PathBuf,
    module: PathBuf,
    base: u16,
}

fn setup(label: &str, program: &str) -> Setup {
    let s = Scratch::new(label);
    let module = compile(&s, "p", program);
    let base = port();
    let dir = s.path("cluster");
    let o = Command::new(bin("sfvm")).args(["cluster", "init"]).arg(&dir).args(["--parties", "alice,bob", "--base-port", &base.to_string()]).output().expect("init");
    assert!(o.status.success(), "{}", stderr(&o));
    Setup { cluster: dir.join("cluster.toml"), module, base, s }
}

/// Starts one party; `extra` may carry its own `--out`, else outputs go to the scratch's `out`.
fn party(st: &Setup, module: &Path, name: &str, input: (&str, &str), extra: &[&str]) -> Child {
    static FILES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let k = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = st.s.write(&format!("{name}.{}.{k}.csv", input.0), input.1);
    let mut cmd = Command::new(bin("sfvm"));
    cmd.arg("run").arg(module).args(["--party", name, "--cluster"]).arg(&st.cluster);
    if !extra.contains(&"--out") {
        cmd.arg("--out").arg(st.s.path("out"));
    }
    cmd.arg("--input")
        .arg(format!("{}={}", input.0, file.display()))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sfvm")
}

/// Waits for a party, killing it after `limit`; the output and how long it took.
fn finish(mut child: Child, limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return (child.wait_with_output().expect("output"), start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("a party hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_good_run_and_a_late_party() {
    let st = setup("late", PROGRAM);
    let alice = party(&st, &st.module, "alice", ("x", "1\n2\n3\n"), &[]);
    std::thread::sleep(Duration::from_millis(1500));
    let bob = party(&st, &st.module, "bob", ("y", "4\n5\n6\n"), &[]);
    let (a, _) = finish(alice, Duration::from_secs(30));
    let (b, _) = finish(bob, Duration::from_secs(30));
    assert!(a.status.success() && b.status.success(), "{}\n{}", stderr(&a), stderr(&b));
    let p = std::fs::read_to_string(st.s.path("out/alice/p.csv")).expect("output");
    let got: Vec<f64> = p.lines().map(|l| l.parse().expect("number")).collect();
    assert!(got.iter().zip([4.0, 10.0, 18.0]).all(|(g, w)| (g - w).abs() < 1e-9), "{got:?}");
}

#[test]
fn a_bad_input_aborts_every_party_with_its_cause() {
    let st = setup("abort", PROGRAM);
    let alice = party(&st, &st.module, "alice", ("x", "1\n2\n3\n"), &[]);
    let bob = party(&st, &st.module, "bob", ("y", "4\nfive\n6\n"), &[]);
    let (a, _) = finish(alice, Duration::from_secs(30));
    let (b, _) = finish(bob, Duration::from_secs(30));
    assert!(!a.status.success() && !b.status.success());
    let (ea, eb) = (stderr(&a), stderr(&b));
    assert!(ea.contains("aborted by bob") && ea.contains("five"), "alice: {ea}");
    assert!(eb.contains("five") && eb.contains("row 2"), "bob: {eb}");
    assert!(!st.s.path("out").exists(), "an output was written");
}

#[test]
fn a_port_in_use_is_one_line_naming_address_and_party() {
    let st = setup("port", PROGRAM);
    let _taken = std::net::TcpListener::bind(("127.0.0.1", st.base)).expect("take alice's port");
    let alice = party(&st, &st.module, "alice", ("x", "1\n"), &["--connect-timeout", "2"]);
    let (a, took) = finish(alice, Duration::from_secs(20));
    let e = stderr(&a);
    assert!(!a.status.success());
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.contains(&format!("127.0.0.1:{}", st.base)) && e.contains("alice"), "{e}");
    assert!(took < Duration::from_secs(10));
}

#[test]
fn the_same_party_twice_is_refused() {
    let st = setup("twice", PROGRAM);
    let first = party(&st, &st.module, "alice", ("x", "1\n"), &["--connect-timeout", "5"]);
    std::thread::sleep(Duration::from_millis(500));
    let second = party(&st, &st.module, "alice", ("x", "1\n"), &["--connect-timeout", "5"]);
    let (b, _) = finish(second, Duration::from_secs(20));
    assert!(!b.status.success());
    assert!(stderr(&b).contains("alice") && stderr(&b).contains("listen"), "{}", stderr(&b));
    let _ = finish(first, Duration::from_secs(20));
}

#[test]
fn a_killed_party_is_named_by_the_others_within_ten_seconds() {
    let st = setup("killed", LONG);
    let alice = party(&st, &st.module, "alice", ("x", "1\n2\n3\n"), &[]);
    let mut bob = party(&st, &st.module, "bob", ("y", "0.5\n0.25\n0.125\n"), &[]);
    std::thread::sleep(Duration::from_millis(1500));
    bob.kill().expect("kill bob");
    let (a, took) = finish(alice, Duration::from_secs(30));
    let e = stderr(&a);
    assert!(!a.status.success(), "alice finished: {e}");
    assert!(e.contains("bob"), "{e}");
    assert!(took < Duration::from_secs(10), "alice took {took:?}");
    let _ = bob.wait();
}

#[test]
fn parties_running_different_modules_are_refused() {
    let st = setup("mismatch", PROGRAM);
    let other = compile(&st.s, "q", &PROGRAM.replace("x * y", "x + y"));
    let alice = party(&st, &st.module, "alice", ("x", "1\n"), &[]);
    let bob = party(&st, &other, "bob", ("y", "1\n"), &[]);
    let (a, _) = finish(alice, Duration::from_secs(30));
    let (b, _) = finish(bob, Duration::from_secs(30));
    assert!(!a.status.success() && !b.status.success());
    let e = format!("{}{}", stderr(&a), stderr(&b));
    assert!(e.contains("runs module"), "{e}");
}

#[test]
fn four_sessions_run_at_once() {
    let st = setup("sessions", PROGRAM);
    let mut runs = Vec::new();
    for session in 1..=4u32 {
        let xs = format!("{session}\n2\n");
        let (a, b) = (
            party(&st, &st.module, "alice", ("x", &xs), &["--session", &session.to_string(), "--out", &st.s.path(&format!("out{session}")).display().to_string()]),
            party(&st, &st.module, "bob", ("y", "3\n4\n"), &["--session", &session.to_string(), "--out", &st.s.path(&format!("out{session}")).display().to_string()]),
        );
        runs.push((session, a, b));
    }
    for (session, a, b) in runs {
        let (oa, _) = finish(a, Duration::from_secs(60));
        let (ob, _) = finish(b, Duration::from_secs(60));
        assert!(oa.status.success() && ob.status.success(), "session {session}: {}\n{}", stderr(&oa), stderr(&ob));
        let p = std::fs::read_to_string(st.s.path(&format!("out{session}/alice/p.csv"))).expect("output");
        let got: Vec<f64> = p.lines().map(|l| l.parse().expect("number")).collect();
        let want = [3.0 * session as f64, 8.0];
        assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-9), "session {session}: {got:?}");
    }
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let st = setup("foreign", PROGRAM);
    // A second cluster with the same addresses but its own CA: bob's certificate is foreign.
    let other = st.s.path("other");
    let o = Command::new(bin("sfvm")).args(["cluster", "init"]).arg(&other).args(["--parties", "alice,bob", "--base-port", &st.base.to_string()]).output().expect("init");
    assert!(o.status.success());
    let alice = party(&st, &st.module, "alice", ("x", "1\n"), &["--connect-timeout", "4"]);
    let y = st.s.write("bob.y.csv", "1\n");
    let bob = Command::new(bin("sfvm"))
        .arg("run")
        .arg(&st.module)
        .args(["--party", "bob", "--cluster"])
        .arg(other.join("cluster.toml"))
        .arg("--input")
        .arg(format!("y={}", y.display()))
        .args(["--connect-timeout", "4"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (a, _) = finish(alice, Duration::from_secs(30));
    let (b, _) = finish(bob, Duration::from_secs(30));
    assert!(!a.status.success() && !b.status.success(), "a foreign certificate was accepted");
    assert!(stderr(&b).contains("TLS handshake failed") || stderr(&b).contains("alice"), "bob: {}", stderr(&b));
    assert!(stderr(&a).contains("bob"), "alice: {}", stderr(&a));
    assert!(!st.s.path("out").exists());
}

/// A peer that is alive but silent (stopped): the receive times out naming it and the line.
#[test]
fn a_silent_peer_times_out_naming_it_and_the_line() {
    let st = setup("silent", LONG);
    let alice = party(&st, &st.module, "alice", ("x", "1\n2\n3\n"), &["--recv-timeout", "2"]);
    let mut bob = party(&st, &st.module, "bob", ("y", "0.5\n0.25\n0.125\n"), &["--recv-timeout", "2"]);
    std::thread::sleep(Duration::from_millis(1500));
    let stopped = Command::new("kill").args(["-STOP", &bob.id().to_string()]).status().expect("kill -STOP");
    assert!(stopped.success());
    let (a, took) = finish(alice, Duration::from_secs(30));
    let _ = bob.kill();
    let _ = bob.wait();
    let e = stderr(&a);
    assert!(!a.status.success());
    assert!(e.contains("bob") && e.contains("receive timeout") && e.contains("p.sf:"), "{e}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// What crosses the wire is ciphertext: a relay in front of alice (bob dials her) records every
/// byte both ways,
/// and neither the plaintext inputs (as float64 bytes) nor their fixed-point encodings appear.
#[test]
fn nothing_in_the_clear_on_the_wire() {
    let st = setup("wire", PROGRAM);
    // Alice listens elsewhere; the cluster's address for alice is the relay.
    let real = port();
    let text = std::fs::read_to_string(&st.cluster).expect("cluster");
    let alice_addr = format!("127.0.0.1:{}", st.base);
    let patched = text.replace("key = \"alice.key\"", &format!("key = \"alice.key\"\nlisten = \"127.0.0.1:{real}\""));
    assert_ne!(patched, text, "alice's entry was not patched");
    std::fs::write(&st.cluster, patched).expect("patch cluster");
    let relay = std::net::TcpListener::bind(&alice_addr).expect("relay");
    let tap = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let tap2 = tap.clone();
    let relay_thread = std::thread::spawn(move || {
        let Ok((client, _)) = relay.accept() else { return };
        // Alice may not listen yet: retry, as the parties themselves do.
        let started = Instant::now();
        let server = loop {
            match std::net::TcpStream::connect(("127.0.0.1", real)) {
                Ok(s) => break s,
                Err(_) if started.elapsed() < Duration::from_secs(20) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return,
            }
        };
        let pump = |mut from: std::net::TcpStream, mut to: std::net::TcpStream, tap: std::sync::Arc<std::sync::Mutex<Vec<u8>>>| {
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 65536];
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 || to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    if let Ok(mut t) = tap.lock() {
                        t.extend_from_slice(&buf[..n]);
                    }
                }
                let _ = to.shutdown(std::net::Shutdown::Write);
            })
        };
        let a = pump(client.try_clone().expect("clone"), server.try_clone().expect("clone"), tap2.clone());
        let b = pump(server, client, tap2);
        let _ = a.join();
        let _ = b.join();
    });
    let xs = [1234.5678f64, -8765.4321, 3141.5926];
    let x_text: String = xs.iter().map(|v| format!("{v}\n")).collect();
    let alice = party(&st, &st.module, "alice", ("x", &x_text), &[]);
    let bob = party(&st, &st.module, "bob", ("y", "2\n2\n2\n"), &[]);
    let (a, _) = finish(alice, Duration::from_secs(30));
    let (b, _) = finish(bob, Duration::from_secs(30));
    assert!(a.status.success() && b.status.success(), "{}\n{}", stderr(&a), stderr(&b));
    let _ = relay_thread.join();
    let wire = tap.lock().expect("tap").clone();
    assert!(wire.len() > 1000, "the relay saw only {} bytes", wire.len());
    // The hello carries the module hash as text: without TLS it would be plain on the wire.
    let hash = sf_isa::ModuleFile::open(&st.module).expect("module").header.hash_hex();
    assert!(!wire.windows(16).any(|w| w == &hash.as_bytes()[..16]), "the hello crossed the wire in the clear");
    for v in xs {
        let fixed = ((v * 2f64.powi(40)).round() as i128 as u128).to_le_bytes();
        for (what, needle) in [("float64", &v.to_le_bytes()[..]), ("fixed point", &fixed[..])] {
            assert!(!wire.windows(needle.len()).any(|w| w == needle), "{v} as {what} crossed the wire in the clear");
        }
    }
}

/// The shared cases that `run_case.py` cannot run in party mode (a party without outputs is
/// never started there): every party of the program started here, outputs against the
/// float64 references.
#[test]
fn lr_and_mlp_in_party_mode_with_every_party() {
    for case in ["lr", "mlp"] {
        run_shared_case_in_party_mode(case, false);
    }
}

/// The same with a separate dealer process in place of the trusted first party.
#[test]
fn lr_with_a_separate_dealer() {
    run_shared_case_in_party_mode("lr", true);
}

fn run_shared_case_in_party_mode(case: &str, dealer: bool) {
    let dir = sf_tests::acceptance_dir().join(case);
    let s = Scratch::new(&format!("party-{case}-{dealer}"));
    let src = std::fs::read_to_string(dir.join(format!("{case}.sf"))).expect("source");
    let module = compile(&s, case, &src);
    let base = port();
    let cluster = s.path("cluster");
    let mut init = Command::new(bin("sfvm"));
    init.args(["cluster", "init"]).arg(&cluster).args(["--parties", "alice,bob", "--base-port", &base.to_string()]);
    if dealer {
        init.arg("--dealer");
    }
    let o = init.output().expect("init");
    assert!(o.status.success(), "{}", stderr(&o));
    let mut children = Vec::new();
    if dealer {
        let mut cmd = Command::new(bin("sfvm"));
        cmd.arg("dealer").arg(&module).arg("--cluster").arg(cluster.join("cluster.toml"));
        children.push(("dealer", cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn")));
    }
    for party in ["alice", "bob"] {
        let mut cmd = Command::new(bin("sfvm"));
        cmd.arg("run").arg(&module).args(["--party", party, "--cluster"]).arg(cluster.join("cluster.toml")).arg("--out").arg(s.path("out"));
        for entry in std::fs::read_dir(dir.join("data")).expect("data").flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            if let Some(name) = file.strip_prefix(&format!("{party}.")).and_then(|f| f.strip_suffix(".csv")) {
                cmd.arg("--input").arg(format!("{name}={}", entry.path().display()));
            }
        }
        children.push((party, cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn")));
    }
    for (who, child) in children {
        let (o, _) = finish(child, Duration::from_secs(120));
        assert!(o.status.success(), "{case}, {who}: {}", stderr(&o));
        if who == "dealer" {
            assert!(stderr(&o).contains("dealt"), "{}", stderr(&o));
        }
    }
    let tolerance: f64 = std::fs::read_to_string(dir.join("tolerance")).expect("tolerance").trim().parse().expect("number");
    for entry in std::fs::read_dir(dir.join("expected/alice")).expect("expected").flatten() {
        let read = |p: &Path| -> Vec<f64> {
            std::fs::read_to_string(p).expect("csv").split(|c| c == '\n' || c == ',').filter(|t| !t.trim().is_empty()).map(|t| t.trim().parse().expect("number")).collect()
        };
        let want = read(&entry.path());
        let got = read(&s.path("out/alice").join(entry.file_name()));
        assert_eq!(want.len(), got.len(), "{case}/{:?}", entry.file_name());
        let err = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f64, f64::max);
        assert!(err <= tolerance, "{case}/{:?}: error {err}", entry.file_name());
    }
}

/// A dealer killed in the middle of a run: both parties exit non-zero within 10 s, and the
/// first party names the dealer.
#[test]
fn a_killed_dealer_is_named_within_ten_seconds() {
    let s = Scratch::new("dealer-killed");
    let module = compile(&s, "p", LONG);
    let dir = s.path("cluster");
    let o = Command::new(bin("sfvm")).args(["cluster", "init"]).arg(&dir).args(["--parties", "alice,bob", "--dealer", "--base-port", &port().to_string()]).output().expect("init");
    assert!(o.status.success(), "{}", stderr(&o));
    let st = Setup { cluster: dir.join("cluster.toml"), module: module.clone(), base: 0, s };
    let mut dealer = Command::new(bin("sfvm")).arg("dealer").arg(&module).arg("--cluster").arg(&st.cluster).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("dealer");
    let alice = party(&st, &st.module, "alice", ("x", "1\n2\n3\n"), &[]);
    let bob = party(&st, &st.module, "bob", ("y", "0.5\n0.5\n0.5\n"), &[]);
    std::thread::sleep(Duration::from_millis(1500));
    dealer.kill().expect("kill the dealer");
    let _ = dealer.wait();
    let (a, ta) = finish(alice, Duration::from_secs(30));
    let (b, tb) = finish(bob, Duration::from_secs(30));
    assert!(!a.status.success() && !b.status.success());
    assert!(ta < Duration::from_secs(10) && tb < Duration::from_secs(10), "{ta:?} {tb:?}");
    assert!(stderr(&a).contains("dealer"), "{}", stderr(&a));
    assert!(stderr(&b).contains("alice"), "{}", stderr(&b));
}

/// A PSI whose intersection each side reveals, with a joint sum over the aligned rows.
const PSI: &str = "parties alice, bob;
let ka: int[n] @alice = input(\"x\");
let kb: int[m] @bob = input(\"y\");
let (ia, ib) = psi(ka, kb);
output(ia, \"rows\");
output(ib, \"rows\");
output(len(ia), \"count\");
";

fn read_ints(path: &Path) -> Vec<i64> {
    std::fs::read_to_string(path).expect("output").lines().map(|l| l.trim().parse().expect("an int")).collect()
}

/// Four PSI runs at once over one cluster file, each with its own keys, all correct.
#[test]
fn four_psi_sessions_run_at_once() {
    let st = setup("psi-sessions", PSI);
    let mut runs = Vec::new();
    for session in 1..=4i64 {
        // alice holds 0..40, bob the multiples of `session + 1` below 60 (reversed).
        let ka: String = (0..40).map(|k| format!("{k}\n")).collect();
        let kb: String = (0..60).rev().filter(|k| k % (session + 1) == 0).map(|k| format!("{k}\n")).collect();
        let out = st.s.path(&format!("out{session}")).display().to_string();
        let args = ["--session", &session.to_string(), "--out", &out];
        runs.push((session, party(&st, &st.module, "alice", ("x", &ka), &args), party(&st, &st.module, "bob", ("y", &kb), &args), kb));
    }
    for (session, a, b, kb) in runs {
        let (oa, _) = finish(a, Duration::from_secs(60));
        let (ob, _) = finish(b, Duration::from_secs(60));
        assert!(oa.status.success() && ob.status.success(), "session {session}: {}\n{}", stderr(&oa), stderr(&ob));
        let dir = st.s.path(&format!("out{session}"));
        let (ia, ib) = (read_ints(&dir.join("alice/rows.csv")), read_ints(&dir.join("bob/rows.csv")));
        let kb: Vec<i64> = kb.lines().map(|l| l.parse().expect("int")).collect();
        let want = (0..40).filter(|k| k % (session + 1) == 0).count();
        assert_eq!((ia.len(), ib.len()), (want, want), "session {session}");
        // alice's key at row i is i: aligned rows hold equal keys.
        for (i, j) in ia.iter().zip(&ib) {
            assert_eq!(*i, kb[*j as usize], "session {session}: rows {i} and {j} do not align");
        }
        assert_eq!(read_ints(&dir.join("bob/count.csv")), vec![want as i64]);
    }
}

/// Duplicate keys stop the owner with the rows named, and the other party with its abort.
#[test]
fn duplicate_psi_keys_abort_every_party() {
    let st = setup("psi-dup", PSI);
    let alice = party(&st, &st.module, "alice", ("x", "5\n6\n5\n"), &[]);
    let bob = party(&st, &st.module, "bob", ("y", "5\n7\n"), &[]);
    let (a, _) = finish(alice, Duration::from_secs(30));
    let (b, _) = finish(bob, Duration::from_secs(30));
    assert!(!a.status.success() && !b.status.success());
    let (ea, eb) = (stderr(&a), stderr(&b));
    assert!(ea.contains("rows 0 and 2") && ea.contains("`ka`"), "alice: {ea}");
    assert!(eb.contains("aborted by alice") && eb.contains("same key"), "bob: {eb}");
    assert!(!st.s.path("out").exists(), "an output was written");
}
