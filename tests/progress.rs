//! The progress bar of `sfvm run`: shown on a terminal for a run longer than about a second,
//! never on a pipe or when `CI` is set.

use sf_tests::{bin, compile, npy, run, stderr, Scratch};
use std::process::Command;

/// Fifty dependent products of a million elements: a few seconds, well past the bar's delay.
const PROGRAM: &str = "parties alice, bob;
let x: fix[n] @alice = input(\"x\");
let y: fix[n] @bob = input(\"y\");
let mut z = x * y;
for i in 0..50 {
    z = z * y;
}
output(reveal(sum(z, axis: 0), to: alice), \"s\");
";

fn setup() -> (Scratch, Vec<String>) {
    let s = Scratch::new("progress");
    let module = compile(&s, "p", PROGRAM);
    let n = 1_000_000;
    let ones: Vec<u8> = std::iter::repeat_n(1.0f64.to_le_bytes(), n).flatten().collect();
    let halves: Vec<u8> = std::iter::repeat_n(0.5f64.to_le_bytes(), n).flatten().collect();
    std::fs::write(s.path("x.npy"), npy(&[n], "<f8", &halves)).expect("x");
    std::fs::write(s.path("y.npy"), npy(&[n], "<f8", &ones)).expect("y");
    let args = vec![
        "run".into(),
        module.display().to_string(),
        "--input".into(),
        format!("alice.x={}", s.path("x.npy").display()),
        "--input".into(),
        format!("bob.y={}", s.path("y.npy").display()),
        "--out".into(),
        s.path("out").display().to_string(),
    ];
    (s, args)
}

fn sum_is_right(s: &Scratch) {
    let got: f64 = std::fs::read_to_string(s.path("out/alice/s.csv")).expect("the output").trim().parse().expect("a number");
    assert!((got - 500_000.0).abs() < 1e-3, "{got}");
}

#[test]
fn no_bar_on_a_pipe() {
    let (s, args) = setup();
    let o = run(Command::new(bin("sfvm")).args(&args).env_remove("CI"));
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(!err.contains('\r') && !err.contains('\u{1b}') && !err.contains(" ops "), "a bar on a pipe: {err:?}");
    sum_is_right(&s);
}

/// Under a pseudo-terminal (util-linux `script`), the bar shows instructions done of the
/// total and the bytes sent; with `CI` set it does not.
#[test]
fn a_bar_on_a_terminal_unless_ci() {
    let (s, args) = setup();
    let command = std::iter::once(bin("sfvm").display().to_string()).chain(args).collect::<Vec<_>>().join(" ");
    let on_tty = |ci: bool| {
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &command, "/dev/null"]).env("COLUMNS", "120").env("TERM", "xterm");
        if ci {
            cmd.env("CI", "1");
        } else {
            cmd.env_remove("CI");
        }
        run(&mut cmd)
    };
    let o = on_tty(false);
    if o.status.code().is_none() || String::from_utf8_lossy(&o.stderr).contains("not found") {
        panic!("util-linux `script` is needed for this test: {}", stderr(&o));
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let screen = String::from_utf8_lossy(&o.stdout);
    let total = sf_tests_total(&screen);
    assert!(screen.contains(" ops ") && screen.contains("sent"), "no bar on a terminal: {:?}", screen.get(screen.len().saturating_sub(2000)..).unwrap_or(&screen));
    // 2 parties x (the loop's body 50 times and the rest once), as the bar ends.
    assert!(total > 100, "the total follows the loop: {total}");
    sum_is_right(&s);
    let o = on_tty(true);
    assert!(o.status.success());
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(!screen.contains(" ops "), "a bar with CI set: {:?}", screen.get(..2000).unwrap_or(&screen));
}

/// The largest `done/total` the bar showed, as its total.
fn sf_tests_total(screen: &str) -> u64 {
    screen
        .split(" ops ")
        .filter_map(|before| before.rsplit(' ').next())
        .filter_map(|frac| frac.split_once('/'))
        .filter_map(|(_, total)| total.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}
