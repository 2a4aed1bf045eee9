//! Golden tests of diagnostics: each `tests/ui/*.sf` is checked and its diagnostics, rendered as
//! a person sees them, are compared with the snapshot in `tests/snapshots/`. Update snapshots
//! with `INSTA_UPDATE=always cargo test -p sf-tests --test ui` and review the diff.

use sf_tests::repo_root;
use sfc::driver;

fn render(name: &str, source: &str) -> String {
    let (_, diagnostics) = driver::check(source);
    let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for d in diagnostics {
        let rendered = sfc::diagnostics::Rendered { diagnostic: d, source: miette::NamedSource::new(name, source.to_string()) };
        let _ = handler.render_report(&mut out, &rendered);
        out.push('\n');
    }
    out
}

#[test]
fn diagnostics_render_as_their_snapshots() {
    let dir = repo_root().join("tests/ui");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("tests/ui").flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "sf")).collect();
    files.sort();
    assert!(files.len() >= 10);
    for path in files {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("case").to_string();
        let source = std::fs::read_to_string(&path).expect("read");
        let rendered = render(&format!("{name}.sf"), &source);
        assert!(rendered.contains("×"), "{name} produced no diagnostic");
        insta::assert_snapshot!(name, rendered);
    }
}

/// The IR of each standard-library function, lowered on a secret argument.
#[test]
fn stdlib_ir_snapshots() {
    for (function, call) in [("relu", "relu(x)"), ("sigmoid", "sigmoid(x)"), ("softmax", "softmax(x, axis: 1)")] {
        let source = format!(
            "parties alice, bob;\nuse std::nn::{{{function}}};\nlet a: fix[n, 3] @alice = input(\"a\");\nlet b: fix[n, 3] @bob = input(\"b\");\nlet x = a + b;\noutput(reveal({call}), \"y\");\n"
        );
        let compiled = driver::compile("std.sf", &source).unwrap_or_else(|_| panic!("std::nn::{function} does not compile"));
        insta::assert_snapshot!(format!("stdlib_{function}"), compiled.ir.to_text("std.sf", &source));
    }
}
