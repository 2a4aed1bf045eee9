//! The module loader on arbitrary bytes: every part decoded and the segments validated as the
//! VM does before running, or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("sf-fuzz-{}.sfbc", std::process::id()));
    std::fs::write(&path, data).expect("write the input");
    let Ok(mut m) = sf_isa::ModuleFile::open(&path) else { return };
    for p in 0..m.header.parties.len() {
        if let Ok(segment) = m.segment(p as u16) {
            let _ = sfvm::interp::Plan::new(&segment);
        }
    }
    let _ = m.debug_info();
    for c in 0..m.header.constants.len() {
        let _ = m.constant(c as u32);
    }
});
