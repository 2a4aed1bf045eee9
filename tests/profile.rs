//! `sfvm run --profile` and `sfvm report`, on the shared `linear` case: the profile's lines and
//! setup add up to the totals each party counted, those totals are the run's summary, and the
//! report shows the same numbers.

use sf_tests::{acceptance_dir, bin, run, stderr, Scratch};
use serde_json::Value;
use std::process::Command;

fn summary_numbers(stderr: &str) -> (u64, u64) {
    let line = stderr.lines().find(|l| l.starts_with("ran ")).expect("the run's summary");
    let after = line.split_once("s: ").expect("the counts").1;
    let num = |label: &str| after.split(", ").find(|p| p.ends_with(label)).and_then(|p| p.split_whitespace().next()).and_then(|n| n.parse().ok()).expect(label);
    (num("bytes sent"), num("rounds"))
}

fn sum(stats: &Value, key: &str) -> u64 {
    stats.as_object().expect("stats by line").values().map(|s| s[key].as_u64().expect("a count")).sum()
}

#[test]
fn profile_totals_match_the_counted_run_and_the_report() {
    let case = acceptance_dir().join("linear");
    let s = Scratch::new("profile");
    let module = s.path("linear.sfbc");
    let o = run(Command::new(bin("sfc")).arg("compile").arg(case.join("linear.sf")).arg("-o").arg(&module));
    assert!(o.status.success(), "{}", stderr(&o));
    let data = |f: &str| format!("{}", case.join("data").join(f).display());
    let profile = s.path("linear.json");
    let o = run(Command::new(bin("sfvm"))
        .arg("run")
        .arg(&module)
        .args(["--input", &format!("alice.x={}", data("alice.x.csv")), "--input", &format!("bob.w={}", data("bob.w.csv")), "--input", &format!("carol.b={}", data("carol.b.csv"))])
        .arg("--out")
        .arg(s.path("out"))
        .arg("--profile")
        .arg(&profile));
    assert!(o.status.success(), "{}", stderr(&o));
    let (bytes, rounds) = summary_numbers(&stderr(&o));
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&profile).expect("the profile")).expect("JSON");
    let parties = p["parties"].as_array().expect("parties");
    assert_eq!(parties.len(), 3);
    let mut total_bytes = 0;
    let mut most_rounds = 0;
    for party in parties {
        let (lines, setup, total) = (&party["lines"], &party["setup"], &party["total"]);
        for key in ["bytes_sent", "rounds"] {
            assert_eq!(sum(lines, key) + setup[key].as_u64().expect("setup"), total[key].as_u64().expect("total"), "{}: lines + setup = total {key}", party["party"]);
        }
        let ops: u64 = sum(&party["ops"], "bytes_sent");
        assert_eq!(ops, sum(lines, "bytes_sent"), "by operation and by line charge the same bytes");
        // The secret affine map and the secret sum of squares communicate on every party.
        for line in ["9", "10"] {
            assert!(lines[line]["rounds"].as_u64().expect("rounds") > 0, "{}: line {line} has no rounds: {lines}", party["party"]);
        }
        total_bytes += total["bytes_sent"].as_u64().expect("bytes");
        most_rounds = most_rounds.max(total["rounds"].as_u64().expect("rounds"));
    }
    assert_eq!(total_bytes, bytes, "the profile's bytes are the run's");
    assert_eq!(most_rounds, rounds, "the profile's rounds are the run's");
    assert_eq!(p["source"]["9"], "let y = x @ w + b;");

    let report = s.path("report.html");
    let o = run(Command::new(bin("sfvm")).arg("report").arg(&profile).arg("-o").arg(&report));
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(&report).expect("the report");
    assert!(html.contains("<svg") && html.contains("<rect"), "a chart");
    let between = |a: &str, b: &str| html.split_once(a).and_then(|(_, r)| r.split_once(b)).map(|(v, _)| v.to_string()).expect(a);
    assert_eq!(between("id=\"total-bytes\">", "<").parse::<u64>().expect("bytes"), bytes);
    let table = between("<table id=\"lines\">", "</table>");
    let column: u64 = table.split("<td class=\"bytes\">").skip(1).map(|c| c.split('<').next().expect("cell").parse::<u64>().expect("bytes")).sum();
    assert_eq!(column, bytes, "the lines' bytes in the report (setup included) add up to the run's");
    assert!(table.contains("linear.sf:9") && table.contains("let y = x @ w + b;"), "{table}");

    // Not a profile: one line naming the file.
    let bad = s.write("bad.json", "{\"x\": 1}");
    let o = run(Command::new(bin("sfvm")).arg("report").arg(&bad).arg("-o").arg(s.path("r2.html")));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.json") && stderr(&o).contains("not a profile"), "{}", stderr(&o));
    assert!(!s.path("r2.html").exists());
}
