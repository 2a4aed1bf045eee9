//! Front-end tests: each program is checked for the diagnostic codes it must produce, or for the
//! placements and communication the compiler must infer.

use sfc::driver;
use sfc::ir::{Op, Placement};
use sfc::partition::Role;

/// The codes of every error diagnostic of `src`, in order.
fn codes(src: &str) -> Vec<&'static str> {
    let (_, diags) = driver::check(src);
    diags.iter().filter(|d| d.is_error()).map(|d| d.code).collect()
}

fn check_err(src: &str, code: &str, message_part: &str) {
    let (_, diags) = driver::check(src);
    let d = diags.iter().find(|d| d.code == code).unwrap_or_else(|| panic!("no {code} in {diags:#?}"));
    assert!(d.message.contains(message_part) || d.help.as_deref().unwrap_or("").contains(message_part), "{d:#?}");
    assert!(d.primary.span.end <= src.len() && d.primary.span.start <= d.primary.span.end);
}

const HEAD: &str = "parties alice, bob;\nlet x: fix[n, 3] @alice = input(\"x\");\nlet w: fix[3] @bob = input(\"w\");\n";

#[test]
fn subset_compiles() {
    let src = format!("{HEAD}let y = x @ w;\nlet z = x * 2.0 + 1;\noutput(reveal(y, to: alice), \"y\");\noutput(z, \"z\");\noutput(reveal(sum(y, axis: 0)), \"s\");\n");
    assert_eq!(codes(&src), Vec::<&str>::new());
}

#[test]
fn unknown_party_lists_the_declared_ones() {
    check_err("parties alice, bob;\nlet x: fix[n] @carol = input(\"x\");", "E0100", "`alice`, `bob`");
}

#[test]
fn leaks_are_errors_with_the_way_out() {
    check_err(&format!("{HEAD}let y: fix[n] @bob = x @ w;"), "E0300", "reveal(x, to: bob)");
    check_err(&format!("{HEAD}let y: fix[n, 3] @bob = x * 2.0;"), "E0300", "send(x, to: bob)");
    check_err(&format!("{HEAD}output(x @ w, \"y\");"), "E0301", "reveal");
    check_err(&format!("{HEAD}output(reveal(x, to: bob), \"y\");"), "E0303", "send");
}

#[test]
fn provable_shape_mismatches_name_both_shapes() {
    check_err(&format!("{HEAD}let v: fix[4] @bob = input(\"v\");\nlet y = x @ v;"), "E0200", "[n, 3] and [4]");
    check_err(&format!("{HEAD}let v: fix[4] @bob = input(\"v\");\nlet y = w + v;"), "E0200", "[3] and [4]");
    check_err(&format!("{HEAD}let y = sum(x, axis: 2);"), "E0202", "axis 2");
}

#[test]
fn names_arguments_and_unsupported_constructs() {
    check_err(&format!("{HEAD}let y = xx * 2.0;"), "E0102", "`x`");
    check_err(&format!("{HEAD}let y = summ(x, axis: 0);"), "E0103", "`sum`");
    check_err(&format!("{HEAD}let y = sum(x, axes: 0);"), "E0104", "axes");
    check_err(&format!("{HEAD}let y = load(\"definitely-missing.npy\");"), "E0113", "definitely-missing.npy");
    check_err(&format!("{HEAD}let y: fix[3] @alice = load(\"w.npy\");"), "E0300", "public");
    check_err(&format!("{HEAD}let y = sigmoid(x);"), "E0103", "use std::nn::{sigmoid}");
    check_err("let a = 1;", "E0101", "parties");
}

#[test]
fn independent_errors_are_all_reported() {
    let src = format!("{HEAD}let a = nope;\nlet b: fix[n] @bob = x @ w;\nlet c = sum(w, axis: 3);\n");
    assert_eq!(codes(&src), vec!["E0102", "E0300", "E0202"]);
}

#[test]
fn placement_inference_follows_the_rules() {
    let src = format!(
        "{HEAD}let a = x * 2.0;\nlet b = x @ w;\nlet c = b + 1.0;\noutput(a, \"a\");\noutput(reveal(c), \"c\");\n"
    );
    let compiled = driver::compile("t.sf", &src).unwrap_or_else(|_| panic!("does not compile"));
    let ir = &compiled.ir;
    let placement_of = |name: &str| {
        ir.graph.node_indices().find(|&n| ir.node(n).op == Op::Output { name: name.into() }).map(|n| ir.operands(n)[0]).map(|n| ir.node(n).ty.placement)
    };
    assert_eq!(placement_of("a"), Some(Placement::Party(0)), "private op public stays private");
    assert_eq!(placement_of("c"), Some(Placement::Public), "revealed to all");
    let shares = ir.graph.node_indices().filter(|&n| ir.node(n).op == Op::Share).count();
    assert_eq!(shares, 2, "x and w are each shared once");
}

#[test]
fn segments_hold_no_other_partys_private_ops() {
    let src = format!("{HEAD}let g = x.T @ x;\noutput(g, \"g\");\nlet v = w * w;\noutput(v, \"v\");\nlet y = x @ w;\noutput(reveal(y, to: alice), \"y\");\n");
    let compiled = driver::compile("t.sf", &src).unwrap_or_else(|_| panic!("does not compile"));
    for seg in &compiled.partition {
        for step in &seg.steps {
            if step.role == Role::Compute {
                let p = compiled.ir.node(step.node).ty.placement;
                assert!(!matches!(p, Placement::Party(q) if q != seg.party), "party {} computes {:?}", seg.party, compiled.ir.node(step.node));
            }
        }
    }
    // At the bytecode level too: bob's code reads no input of alice's and writes none of her outputs.
    let bob = &compiled.segments[1];
    assert!(bob.inputs.iter().all(|i| i.name == "w"));
    assert!(!bob.body.code.iter().any(|i| matches!(i, sf_isa::Instr::Output { name, .. } if name == "g")));
    assert!(!bob.body.code.iter().any(|i| matches!(i, sf_isa::Instr::Transpose { .. })));
}

#[test]
fn sequence_numbers_pair_up() {
    let src = format!("{HEAD}let y = x @ w;\nlet z = y * y;\noutput(reveal(z, to: bob), \"z\");\noutput(reveal(y), \"y\");\n");
    let compiled = driver::compile("t.sf", &src).unwrap_or_else(|_| panic!("does not compile"));
    sfc::partition::verify(&compiled.ir, &compiled.partition).expect("paired");
    let seqs = |p: usize| compiled.partition[p].steps.iter().filter_map(|s| s.seq).collect::<Vec<_>>();
    assert_eq!(seqs(0), seqs(1));
    assert!(seqs(0).windows(2).all(|w| w[0] < w[1]), "{:?}", seqs(0));
    assert!(seqs(0).len() >= 4, "matmul, mul and two reveals are numbered: {:?}", seqs(0));
}

#[test]
fn control_flow_must_be_public() {
    check_err(&format!("{HEAD}let s = x @ w;\nif sum(s, axis: 0) > 0.0 {{ }}\n"), "E0302", "select(c, a, b)");
    check_err(&format!("{HEAD}let k = sum(w, axis: 0);\nlet m = k * 2.0;\nfor i in 0..len(w) {{ }}\nlet t: int @alice = input(\"t\");\nfor i in 0..t {{ }}\n"), "E0304", "public");
}

#[test]
fn recursion_and_immutability_are_refused() {
    check_err("parties a, b;\nfn f(x) { g(x) }\nfn g(x) { f(x) }\nlet y = f(1.0);\n", "E0305", "f -> g -> f");
    check_err(&format!("{HEAD}let k = 1.0;\nk = 2.0;\n"), "E0107", "let mut k");
    check_err("parties a, b;\nfn f(x) { x }\nfn f(y) { y }\n", "E0108", "rename");
}

#[test]
fn functions_check_their_arguments() {
    check_err("parties a, b;\nfn f(x: fix[n], y: fix[n]) { x + y }\nlet z = f(zeros([2]), zeros([3]));\n", "E0200", "[3]");
    check_err("parties a, b;\nfn f(x, axis: int) { x }\nlet z = f(1.0, axes: 1);\n", "E0104", "axes");
    check_err("parties a, b;\nfn f(x, y) { x }\nlet z = f(1.0);\n", "E0104", "missing argument `y`");
}

#[test]
fn a_loop_widens_what_it_carries() {
    let src = format!("{HEAD}let mut acc = zeros([3]);\nfor i in 0..4 {{\n    acc = acc + w * x[0, :];\n}}\noutput(reveal(acc), \"acc\");\n");
    let compiled = driver::compile("t.sf", &src).unwrap_or_else(|_| panic!("does not compile"));
    let ir = &compiled.ir;
    let result = ir.graph.node_indices().find(|&n| matches!(ir.node(n).op, Op::LoopResult { .. })).expect("a loop result");
    assert_eq!(ir.node(result).ty.placement, Placement::Secret);
}

#[test]
fn library_functions_are_imported_by_use() {
    let src = "parties alice, bob;\nuse std::nn::{relu, sigmoid, softmax};\nlet x: fix[n, 3] @alice = input(\"x\");\noutput(relu(x), \"r\");\noutput(softmax(x, axis: 1), \"s\");\noutput(sigmoid(x), \"g\");\n";
    assert_eq!(codes(src), Vec::<&str>::new());
    check_err("parties a, b;\nuse std::nn::{relux};\n", "E0110", "relu");
    check_err("parties a, b;\nuse std::foo::{bar};\n", "E0110", "std::nn");
}

/// spec/language.md carries the grammar verbatim and a row for every diagnostic code.
#[test]
fn the_language_spec_matches_the_compiler() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read_to_string(root.join("../spec/language.md")).expect("spec/language.md");
    let grammar = std::fs::read_to_string(root.join("src/syntax/grammar.pest")).expect("grammar");
    assert!(spec.contains(grammar.trim_end()), "spec/language.md does not reproduce grammar.pest");
    let source = std::fs::read_to_string(root.join("src/diagnostics.rs")).expect("diagnostics.rs");
    for (code, _) in sfc::diagnostics::CODES {
        assert!(spec.contains(&format!("| {code} |")), "{code} is not in the catalogue of spec/language.md");
    }
    // Every code a constructor raises is declared in CODES.
    for part in source.split("Diagnostic::error(\"").skip(1) {
        let code = &part[..5];
        assert!(sfc::diagnostics::CODES.iter().any(|(c, _)| *c == code), "{code} is raised but not in CODES");
    }
}

/// The catalogue's examples for codes not exercised elsewhere give exactly those codes.
#[test]
fn catalogue_examples_give_their_codes() {
    let cases: &[(&str, &str)] = &[
        ("E0105", "let y = alice + 1;"),
        ("E0106", "output(x, \"r\");\noutput(x, \"r\");"),
        ("E0109", "fn f(v) { let y = v; }\nlet z = f(1.0);"),
        ("E0111", "for i in 0..2 { output(x, \"x\"); }"),
        ("E0112", "let k = reveal(sum(x @ w, axis: 0));\nlet z = zeros([k]);"),
        ("E0201", "let b: bool = 1.0;"),
        ("E0203", "let q = input(\"q\");"),
        ("E0204", "let s = w[2:9];"),
        ("E0205", "let z = zeros([1048576, 2097152]);"),
        ("E0205", "let y: fix[n] @alice = input(\"big\");\nlet z = y + zeros([4294967296, 4294967296, 1]);"),
    ];
    for (code, body) in cases {
        let src = format!("{HEAD}{body}\n");
        assert!(codes(&src).contains(code), "{code}: {:?} for\n{src}", codes(&src));
    }
    let (_, diags) = driver::check(&format!("{HEAD}x * 2.0;\n"));
    assert!(diags.iter().any(|d| d.code == "W0001" && !d.is_error()));
}
