//! Helpers for the end-to-end tests: where the built binaries and the shared cases are, scratch
//! folders, and running commands.
//!
//! The binaries are the ones `cargo test --workspace` builds next to the test executables
//! (`target/<profile>/sfc` and `sfvm`); cargo builds them because the compiler and VM packages
//! have integration tests of their own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod fuzz;

/// The path of a workspace binary built in the same profile as this test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built; run the tests with `cargo test --workspace`", path.display());
    path
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared acceptance cases: $SF_ACCEPTANCE_DIR, or ../shared/acceptance beside the repo.
pub fn acceptance_dir() -> PathBuf {
    let dir = std::env::var_os("SF_ACCEPTANCE_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared/acceptance"));
    assert!(dir.join("run_case.py").exists(), "acceptance cases not found at {}; set SF_ACCEPTANCE_DIR", dir.display());
    dir
}

/// Every file under `dir`, at any depth, whose name ends in `.ext`.
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out
}

/// A scratch folder, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sf-test-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write scratch file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a command and returns its output; stdin is closed so nothing can wait on it.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(std::process::Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Compiles `source` to a module in `scratch`, through the real `sfc` binary.
pub fn compile(scratch: &Scratch, name: &str, source: &str) -> PathBuf {
    let src = scratch.write(&format!("{name}.sf"), source);
    let module = scratch.path(&format!("{name}.sfbc"));
    let out = run(Command::new(bin("sfc")).arg("compile").arg(&src).arg("-o").arg(&module));
    assert!(out.status.success(), "sfc failed: {}", stderr(&out));
    module
}

/// The header of an .npy file (format 1.0, C order) of `descr` ('<f8', '<i8', '|b1'), which
/// the data follows; large files are written as this header and then streamed.
pub fn npy_header(shape: &[usize], descr: &str) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out
}

/// A whole .npy file: [`npy_header`] and these bytes.
pub fn npy(shape: &[usize], descr: &str, body: &[u8]) -> Vec<u8> {
    let mut out = npy_header(shape, descr);
    out.extend(body);
    out
}

/// A program of `n` dependent operations: `v0 = x * y`, then `+ y` and `* 0.5` alternating;
/// alice learns the last value.
pub fn chain_source(n: usize) -> String {
    let mut src = String::from("parties alice, bob;\nlet x: fix[n] @alice = input(\"x\");\nlet y: fix[n] @bob = input(\"y\");\nlet v0 = x * y;\n");
    for i in 1..n {
        let op = if i % 2 == 1 { "+ y" } else { "* 0.5" };
        src.push_str(&format!("let v{i} = v{} {op};\n", i - 1));
    }
    src.push_str(&format!("output(reveal(v{}, to: alice), \"z\");\n", n - 1));
    src
}

/// [`chain_source`]'s result for one element, in float64.
pub fn chain_reference(x: f64, y: f64, n: usize) -> f64 {
    (1..n).fold(x * y, |v, i| if i % 2 == 1 { v + y } else { v * 0.5 })
}

/// What a measured command did: whether it succeeded, its stderr, its peak resident memory
/// and its wall and CPU (user + system) time.
pub struct Measured {
    pub ok: bool,
    pub stderr: String,
    pub peak_rss: u64,
    pub seconds: f64,
    pub cpu_seconds: f64,
}

/// Runs a command with its output in files under `scratch`, and measures the peak RSS of that
/// process alone (`wait4`), not of everything this test has run.
pub fn measured(scratch: &Scratch, label: &str, cmd: &mut Command) -> Measured {
    let err_path = scratch.path(&format!("{label}.stderr"));
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let start = std::time::Instant::now();
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut status = 0;
    // SAFETY: wait4 reaps the child this function started and writes only into the two
    // out-parameters it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let reaped = libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage);
        assert_eq!(reaped, child.id() as libc::pid_t, "wait4 on {cmd:?}");
        usage
    };
    Measured {
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        peak_rss: usage.ru_maxrss as u64 * 1024,
        seconds: start.elapsed().as_secs_f64(),
        cpu_seconds: [usage.ru_utime, usage.ru_stime].iter().map(|t| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6).sum(),
    }
}
