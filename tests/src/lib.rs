//! Helpers for the end-to-end tests: where the built binaries and the shared cases are, scratch
//! folders, and running commands.
//!
//! The binaries are the ones `cargo test --workspace` builds next to the test executables
//! (`target/<profile>/sfc` and `sfvm`); cargo builds them because the compiler and VM packages
//! have integration tests of their own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
