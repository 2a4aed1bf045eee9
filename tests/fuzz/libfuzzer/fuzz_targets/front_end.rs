//! The whole front end on arbitrary text: compiled, or refused with an error diagnostic that
//! renders; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sfc::driver::{self, Failure};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match driver::compile("f.sf", text) {
        Ok(_) => {}
        Err(Failure::Diagnostics(diags)) => {
            assert!(diags.iter().any(|d| d.is_error()), "refused without an error");
            for d in diags {
                let _ = d.to_json("f.sf", text);
                let _ = format!("{:?}", driver::render("f.sf", text, d));
            }
        }
        Err(Failure::Bug(errors)) => panic!("internal compiler error: {errors:?}"),
    }
});
