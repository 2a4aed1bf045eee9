//! The cluster file parser on arbitrary bytes: accepted and usable, or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("sf-fuzz-{}.toml", std::process::id()));
    std::fs::write(&path, data).expect("write the input");
    if let Ok(c) = sfvm::cluster::Cluster::load(&path) {
        for p in &c.file.parties {
            assert!(c.party(&p.name).is_ok());
        }
    }
});
