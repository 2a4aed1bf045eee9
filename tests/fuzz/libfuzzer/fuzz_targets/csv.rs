//! The csv input reader on arbitrary bytes, as fix and as int: a table whose values fill its
//! rows and columns, or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sf_isa::DType;
use sfvm::io::Values;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("sf-fuzz-{}.csv", std::process::id()));
    std::fs::write(&path, data).expect("write the input");
    for dtype in [DType::Fix, DType::Int] {
        if let Ok(t) = sfvm::io::read_csv(&path, dtype) {
            let n = match &t.values {
                Values::Fix(v) => v.len(),
                Values::Int(v) => v.len(),
            };
            assert_eq!(n, t.rows * t.cols);
        }
    }
});
