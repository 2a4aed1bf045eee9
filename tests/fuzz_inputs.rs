//! Fuzz targets for every reader of a file a user hands `sfvm`: CSV and .npy inputs, the
//! cluster file, and the module (`tests/src/fuzz.rs` is the fuzzer; `tests/fuzz/<target>/`
//! the seeds). None may panic or abort: each input is read or refused with an error that names
//! the file. The front end has its own target, `fuzz_front_end.rs`.

use sf_isa::{DType, ModuleFile};
use sf_tests::fuzz::{self, InputFile};
use sf_tests::{compile, Scratch};
use sfvm::cluster::Cluster;
use sfvm::io::{read_csv, read_npy, Table, Values};

/// An error must name the file it is about.
fn names_file(e: impl std::fmt::Display, file: &InputFile) -> bool {
    let text = e.to_string();
    let name = file.0.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    assert!(text.contains(name), "the error does not name {name}: {text}");
    false
}

/// Reads `bytes` as fix and as int inputs: whether either was accepted. An accepted table's
/// values fill its rows and columns; a refusal names the file.
fn read_as_both(read: fn(&std::path::Path, DType) -> Result<Table, sfvm::error::VmError>, file: &InputFile, bytes: &[u8]) -> bool {
    let path = file.holding(bytes);
    let mut ok = false;
    for dtype in [DType::Fix, DType::Int] {
        match read(path, dtype) {
            Ok(t) => {
                let n = match &t.values {
                    Values::Fix(v) => v.len(),
                    Values::Int(v) => v.len(),
                };
                assert_eq!(n, t.rows * t.cols, "a table's values fill its rows and columns");
                ok = true;
            }
            Err(e) => {
                names_file(e, file);
            }
        }
    }
    ok
}

#[test]
fn csv_inputs() {
    let s = Scratch::new("fuzz-csv");
    let file = InputFile::new(&s.0, "input.csv");
    let dictionary: &[&[u8]] = &[b",", b"\n", b"\r\n", b"\"", b" ", b"-", b"1e308", b"1e309", b"NaN", b"inf", b"-0", b"9223372036854775808", b"0x10", b"\xef\xbb\xbf", b"\xff"];
    let report = fuzz::run("csv", &fuzz::corpus("csv"), dictionary, |bytes| {
        read_as_both(read_csv, &file, bytes)
    });
    assert!(report.accepted > 0, "no input was accepted: the seeds are wrong");
}

#[test]
fn npy_inputs() {
    let s = Scratch::new("fuzz-npy");
    let file = InputFile::new(&s.0, "input.npy");
    let dictionary: &[&[u8]] = &[b"'descr': '<f8'", b"'<i8'", b"'<f4'", b"'>f8'", b"'|b1'", b"'shape': (", b"(1099511627777,)", b"(0,)", b"()", b", ", b"True", b"False", b"\x93NUMPY\x02\x00"];
    let report = fuzz::run("npy", &fuzz::corpus("npy"), dictionary, |bytes| {
        read_as_both(read_npy, &file, bytes)
    });
    assert!(report.accepted > 0, "no input was accepted: the seeds are wrong");
}

#[test]
fn cluster_files() {
    let s = Scratch::new("fuzz-cluster");
    let file = InputFile::new(&s.0, "cluster.toml");
    let dictionary: &[&[u8]] = &[b"[[party]]\n", b"[dealer]\n", b"name = ", b"address = ", b"listen = ", b"\"alice\"", b"\"127.0.0.1:99999\"", b"\"[::1]:1\"", b"ca = ", b"\n", b"\"", b"=", b"#"];
    let report = fuzz::run("cluster", &fuzz::corpus("cluster"), dictionary, |bytes| match Cluster::load(file.holding(bytes)) {
        Ok(c) => {
            // What was accepted is usable: every party can be looked up by its name.
            for p in &c.file.parties {
                assert!(c.party(&p.name).is_ok());
            }
            true
        }
        Err(e) => names_file(e, &file),
    });
    assert!(report.accepted > 0, "no input was accepted: the seeds are wrong");
}

/// The module loader on damaged modules: header, chunk table and every chunk. Every chunk is
/// hashed, so most damage is refused at its hash; `module_damage.rs` checks that each flip
/// names the chunk. What opens must also pass the VM's own validation of its segments.
#[test]
fn modules() {
    let s = Scratch::new("fuzz-module");
    let seeds: Vec<Vec<u8>> = fuzz::corpus("module")
        .iter()
        .enumerate()
        .map(|(i, src)| std::fs::read(compile(&s, &format!("seed{i}"), std::str::from_utf8(src).expect("a .sf seed"))).expect("module"))
        .collect();
    let file = InputFile::new(&s.0, "input.sfbc");
    let dictionary: &[&[u8]] = &[b"SFBC", &[0xff; 8], &[0; 8]];
    let report = fuzz::run("module", &seeds, dictionary, |bytes| {
        let path = file.holding(bytes);
        let load = || -> Result<(), String> {
            let mut m = ModuleFile::open(path).map_err(|e| e.to_string())?;
            for p in 0..m.header.parties.len() {
                let segment = m.segment(p as u16).map_err(|e| e.to_string())?;
                sfvm::interp::Plan::new(&segment).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            m.debug_info().map_err(|e| e.to_string())?;
            for c in 0..m.header.constants.len() {
                m.constant(c as u32).map_err(|e| e.to_string())?;
            }
            Ok(())
        };
        match load() {
            Ok(()) => true,
            Err(e) => names_file(e, &file),
        }
    });
    assert!(report.accepted >= seeds.len() as u64, "the undamaged seeds open");
}
