//! PSI at scale in party mode: 2^K keys per side with half in common, two `sfvm run --party`
//! processes over loopback with mutual TLS, exactly as a cluster runs them; the result is
//! checked against the keys (every aligned pair equal, the size exactly half).
//!
//!     cargo build --release --bin sfc --bin sfvm
//!     cargo run --release -p sf-benches --example psi -- [K]        (K defaults to 20)
//!
//! Beside the run, in the same process and on the same cores, the bound: ECDH-PSI raises every
//! key of both sides twice (once by its owner, once by the peer), so each party does 2 * 2^K
//! variable-base scalar multiplications on ristretto255. Timing a sample of them on two threads
//! at once (one per party, as the run has) gives that bound's wall time; the hash to the group
//! and the point decoding each key also needs come on top. Prints one JSON line.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// SecretFlow's published ECDH-PSI figure for 2^20 x 2^20: 11.6 s on 16 cores.
const SECRETFLOW_CORE_SECONDS: f64 = 11.6 * 16.0;

/// Multiplications timed per thread to estimate the bound.
const SAMPLE: usize = 1 << 13;

/// splitmix64: a bijection of u64, so distinct counters give distinct keys.
fn key(i: u64) -> i64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as i64
}

fn write_npy(path: &Path, values: &[i64]) -> std::io::Result<()> {
    let mut header = format!("{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}", values.len());
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    values.iter().try_for_each(|v| f.write_all(&v.to_le_bytes()))?;
    f.flush()
}

fn read_ints(path: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| l.trim().parse().unwrap_or_else(|_| panic!("{}: not an int: {l}", path.display()))).collect()
}

/// Seconds per variable-base scalar multiplication with `threads` threads multiplying at once.
fn scalar_mul_seconds(threads: usize) -> f64 {
    let s = Scalar::from_bytes_mod_order_wide(&[0x5a; 64]);
    let per_thread: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let points: Vec<RistrettoPoint> = (0..SAMPLE)
                        .map(|i| {
                            let mut wide = [t as u8; 64];
                            wide[..8].copy_from_slice(&(i as u64).to_le_bytes());
                            RistrettoPoint::from_uniform_bytes(&wide)
                        })
                        .collect();
                    let start = Instant::now();
                    let raised: Vec<RistrettoPoint> = points.iter().map(|p| p * s).collect();
                    let seconds = start.elapsed().as_secs_f64();
                    std::hint::black_box(raised);
                    seconds / SAMPLE as f64
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a timing thread")).collect()
    });
    per_thread.iter().sum::<f64>() / threads as f64
}

/// Per-process wall time, CPU time and peak RSS of a party, from wait4.
struct Usage {
    ok: bool,
    seconds: f64,
    cpu_seconds: f64,
    peak_rss: u64,
}

fn wait(child: std::process::Child, started: Instant) -> Usage {
    let mut status = 0;
    // SAFETY: wait4 reaps the child this program started and writes only into its two
    // out-parameters.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let reaped = libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage);
        assert_eq!(reaped, child.id() as libc::pid_t, "wait4");
        usage
    };
    Usage {
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: [usage.ru_utime, usage.ru_stime].iter().map(|t| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6).sum(),
        peak_rss: usage.ru_maxrss as u64 * 1024,
    }
}

fn main() -> ExitCode {
    let k: u32 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 20,
        Some(Ok(k)) if (4..=24).contains(&k) => k,
        Some(_) => {
            eprintln!("usage: psi [K], 4 <= K <= 24: 2^K keys per side");
            return ExitCode::from(2);
        }
    };
    let n = 1usize << k;
    let bins = std::env::current_exe().ok().and_then(|e| e.parent()?.parent().map(Path::to_path_buf)).unwrap_or_default();
    let (sfc, sfvm) = (bins.join("sfc"), bins.join("sfvm"));
    if !sfc.exists() || !sfvm.exists() {
        eprintln!("error: {} or {} is not built; run `cargo build --release --bin sfc --bin sfvm` first", sfc.display(), sfvm.display());
        return ExitCode::FAILURE;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("sf-psi-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");

    // alice holds keys 0..n, bob n/2..3n/2, each in a scrambled order.
    let alice: Vec<i64> = (0..n as u64).map(|i| key((i * 0x9E37_79B1) % n as u64)).collect();
    let bob: Vec<i64> = (0..n as u64).map(|i| key(n as u64 / 2 + (i * 0x85EB_CA77) % n as u64)).collect();
    write_npy(&dir.join("alice.npy"), &alice).expect("alice's keys");
    write_npy(&dir.join("bob.npy"), &bob).expect("bob's keys");
    let source = "parties alice, bob;\nlet ka: int[n] @alice = input(\"keys\");\nlet kb: int[m] @bob = input(\"keys\");\nlet (ia, ib) = psi(ka, kb);\noutput(ia, \"rows\");\noutput(ib, \"rows\");\n";
    std::fs::write(dir.join("psi.sf"), source).expect("program");
    let ok = |cmd: &mut Command| cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok(Command::new(&sfc).arg("compile").arg(dir.join("psi.sf")).arg("-o").arg(dir.join("psi.sfbc"))), "sfc compile");
    // Two free ports below the ephemeral range, where no outgoing connection takes them.
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let port = (0..6000u16).map(|i| 20_000 + (std::process::id() as u16 % 6000 + i * 2) % 12_000).find(|&p| free(p) && free(p + 1)).expect("two free ports");
    assert!(ok(Command::new(&sfvm).args(["cluster", "init"]).arg(dir.join("cluster")).args(["--parties", "alice,bob", "--base-port", &port.to_string()])), "cluster init");

    let mul = scalar_mul_seconds(2);
    let bound = 2.0 * n as f64 * mul;

    let started = Instant::now();
    let parties: Vec<_> = ["alice", "bob"]
        .iter()
        .map(|p| {
            Command::new(&sfvm)
                .arg("run")
                .arg(dir.join("psi.sfbc"))
                .args(["--party", p, "--cluster"])
                .arg(dir.join("cluster/cluster.toml"))
                .arg("--input")
                .arg(format!("keys={}", dir.join(format!("{p}.npy")).display()))
                .arg("--out")
                .arg(dir.join("out"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start sfvm")
        })
        .collect();
    let usage: Vec<Usage> = parties.into_iter().map(|c| wait(c, started)).collect();
    assert!(usage.iter().all(|u| u.ok), "a party failed; run it by hand in {}", dir.display());
    let seconds = usage.iter().map(|u| u.seconds).fold(0.0, f64::max);

    let (ia, ib) = (read_ints(&dir.join("out/alice/rows.csv")), read_ints(&dir.join("out/bob/rows.csv")));
    assert_eq!((ia.len(), ib.len()), (n / 2, n / 2), "the intersection is half of each side");
    for (&i, &j) in ia.iter().zip(&ib) {
        assert_eq!(alice[i as usize], bob[j as usize], "rows {i} and {j} are not aligned");
    }
    let _ = std::fs::remove_dir_all(&dir);

    let cpu: f64 = usage.iter().map(|u| u.cpu_seconds).sum();
    println!(
        "{{\"keys_per_side\": {n}, \"seconds\": {seconds:.2}, \"us_per_key\": {:.2}, \"cpu_seconds\": {cpu:.1}, \"peak_rss_mb\": [{:.0}, {:.0}], \
         \"scalar_mul_us\": {:.2}, \"bound_seconds\": {bound:.2}, \"over_bound\": {:.2}, \
         \"secretflow_core_seconds_2p20\": {SECRETFLOW_CORE_SECONDS:.0}, \"core_seconds_scaled_to_2p20\": {:.1}}}",
        seconds / n as f64 * 1e6,
        usage[0].peak_rss as f64 / 1e6,
        usage[1].peak_rss as f64 / 1e6,
        mul * 1e6,
        seconds / bound,
        cpu * (1u64 << 20) as f64 / n as f64,
    );
    ExitCode::SUCCESS
}
