//! `sfvm run --profile FILE.json`: where a run's time, rounds and bytes go, by source line and
//! by operation, for every party; and `sfvm report FILE.json -o report.html`, which draws it.
//!
//! Each instruction's wall time and the rounds and bytes its party counted while it ran are
//! added to its `.sf` line and its operation. A fused chain or a batch of products is charged
//! to its first instruction's line (they run as one). A loop or a branch is not charged itself:
//! its body's instructions are. What no instruction was charged with (connecting, agreeing on
//! seeds and shape symbols) is the party's `setup`, so that lines plus setup equal the totals
//! the run counted.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Time, rounds and bytes of some instructions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Instructions run (a loop body's once per iteration).
    pub count: u64,
    pub seconds: f64,
    pub rounds: u64,
    pub bytes_sent: u64,
}

impl Stat {
    fn add(&mut self, other: &Stat) {
        self.count += other.count;
        self.seconds += other.seconds;
        self.rounds += other.rounds;
        self.bytes_sent += other.bytes_sent;
    }
}

/// One party's profile.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartyProfile {
    pub party: String,
    /// By source line (1-based).
    pub lines: BTreeMap<u32, Stat>,
    /// By operation (`mul`, `matmul`, `share`...).
    pub ops: BTreeMap<String, Stat>,
    /// What no instruction was charged with.
    pub setup: Stat,
    /// The whole run as this party counted it.
    pub total: Stat,
}

/// The profile file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub module: String,
    pub file: String,
    pub mode: String,
    /// The text of every line that was charged, for the report.
    pub source: BTreeMap<u32, String>,
    pub parties: Vec<PartyProfile>,
}

/// Records one party's instructions as they run.
pub struct Recorder {
    profile: PartyProfile,
    started: Instant,
}

/// Where an instruction started: its clock and its party's counters.
#[derive(Clone, Copy)]
pub struct Mark {
    at: Instant,
    rounds: u64,
    bytes: u64,
}

impl Recorder {
    pub fn new(party: String) -> Recorder {
        Recorder { profile: PartyProfile { party, ..PartyProfile::default() }, started: Instant::now() }
    }

    pub fn mark(traffic: &crate::link::Traffic) -> Mark {
        Mark { at: Instant::now(), rounds: traffic.rounds, bytes: traffic.bytes_sent }
    }

    /// Charges what happened since `mark` to `line` and `op`, for `count` instructions.
    pub fn charge(&mut self, mark: Mark, traffic: &crate::link::Traffic, line: u32, op: &str, count: u64) {
        let stat = Stat { count, seconds: mark.at.elapsed().as_secs_f64(), rounds: traffic.rounds - mark.rounds, bytes_sent: traffic.bytes_sent - mark.bytes };
        self.profile.lines.entry(line).or_default().add(&stat);
        self.profile.ops.entry(op.to_string()).or_default().add(&stat);
    }

    /// The profile, with the totals the party counted and the setup left over.
    pub fn finish(mut self, traffic: &crate::link::Traffic) -> PartyProfile {
        let total = Stat { count: self.profile.lines.values().map(|s| s.count).sum(), seconds: self.started.elapsed().as_secs_f64(), rounds: traffic.rounds, bytes_sent: traffic.bytes_sent };
        let mut charged = Stat::default();
        self.profile.lines.values().for_each(|s| charged.add(s));
        self.profile.setup = Stat {
            count: 0,
            seconds: (total.seconds - charged.seconds).max(0.0),
            rounds: total.rounds.saturating_sub(charged.rounds),
            bytes_sent: total.bytes_sent.saturating_sub(charged.bytes_sent),
        };
        self.profile.total = total;
        self.profile
    }
}

impl Profile {
    pub fn new(module: &Path, debug: &sf_isa::DebugInfo, mode: &str, parties: Vec<PartyProfile>) -> Profile {
        let mut source = BTreeMap::new();
        for p in &parties {
            for &line in p.lines.keys() {
                let text = debug.source.lines().nth(line.saturating_sub(1) as usize).map_or("", str::trim);
                source.insert(line, text.to_string());
            }
        }
        Profile { module: module.display().to_string(), file: debug.file.clone(), mode: mode.to_string(), source, parties }
    }

    /// Writes the profile as JSON, atomically (a temporary file renamed).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        crate::io::write_atomically(path, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    pub fn read(path: &Path) -> Result<Profile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: not a profile written by `sfvm run --profile`: {e}", path.display()))
    }

    /// Every party's lines added up, by line.
    pub fn by_line(&self) -> BTreeMap<u32, Stat> {
        let mut out: BTreeMap<u32, Stat> = BTreeMap::new();
        for p in &self.parties {
            for (line, s) in &p.lines {
                out.entry(*line).or_default().add(s);
            }
        }
        out
    }

    /// Every party's totals added up (time too: it is party-seconds).
    pub fn total(&self) -> Stat {
        let mut t = Stat::default();
        self.parties.iter().for_each(|p| t.add(&p.total));
        t
    }

    /// The report: a page with a chart of time and bytes by source line, and the tables.
    pub fn html(&self) -> String {
        let lines = self.by_line();
        let total = self.total();
        let mut setup = Stat::default();
        self.parties.iter().for_each(|p| setup.add(&p.setup));
        let max_s = lines.values().map(|s| s.seconds).fold(0.0, f64::max).max(setup.seconds).max(1e-12);
        let max_b = lines.values().map(|s| s.bytes_sent).max().unwrap_or(0).max(setup.bytes_sent).max(1) as f64;
        let mut rows: Vec<(String, String, &Stat)> = lines.iter().map(|(l, s)| (format!("{}:{l}", short(&self.file)), self.source.get(l).cloned().unwrap_or_default(), s)).collect();
        rows.push(("setup".into(), "connecting, seeds, shape symbols".into(), &setup));
        let (bar_h, label_w, chart_w) = (18.0, 260.0, 300.0);
        let height = bar_h * rows.len() as f64 + 30.0;
        let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"monospace\" font-size=\"12\">", label_w + 2.0 * chart_w + 40.0);
        svg.push_str(&format!("<text x=\"{label_w}\" y=\"12\">time (party-seconds)</text><text x=\"{}\" y=\"12\">bytes sent</text>", label_w + chart_w + 20.0));
        for (i, (at, _, s)) in rows.iter().enumerate() {
            let y = 20.0 + bar_h * i as f64;
            let tw = chart_w * s.seconds / max_s;
            let bw = chart_w * s.bytes_sent as f64 / max_b;
            svg.push_str(&format!(
                "<text x=\"0\" y=\"{:.1}\">{}</text><rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{tw:.1}\" height=\"{:.1}\" fill=\"#4477aa\"><title>{:.6} s</title></rect><rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"#ee6677\"><title>{} bytes</title></rect>",
                y + 13.0,
                escape(at),
                bar_h - 4.0,
                s.seconds,
                label_w + chart_w + 20.0,
                bar_h - 4.0,
                s.bytes_sent
            ));
        }
        svg.push_str("</svg>");
        let table = |id: &str, rows: &mut dyn Iterator<Item = (String, String, Stat)>| {
            let mut t = format!("<table id=\"{id}\"><tr><th>where</th><th>source</th><th>instructions</th><th>seconds</th><th>rounds</th><th>bytes sent</th></tr>");
            for (at, src, s) in rows {
                t.push_str(&format!(
                    "<tr><td>{}</td><td><code>{}</code></td><td class=\"count\">{}</td><td class=\"seconds\">{:.6}</td><td class=\"rounds\">{}</td><td class=\"bytes\">{}</td></tr>",
                    escape(&at),
                    escape(&src),
                    s.count,
                    s.seconds,
                    s.rounds,
                    s.bytes_sent
                ));
            }
            t.push_str("</table>");
            t
        };
        let by_line = table("lines", &mut rows.iter().map(|(a, b, s)| (a.clone(), b.clone(), (*s).clone())));
        let mut ops: BTreeMap<String, Stat> = BTreeMap::new();
        for p in &self.parties {
            for (op, s) in &p.ops {
                ops.entry(op.clone()).or_default().add(s);
            }
        }
        let by_op = table("ops", &mut ops.into_iter().map(|(op, s)| (op, String::new(), s)));
        let parties = table("parties", &mut self.parties.iter().map(|p| (p.party.clone(), "total".to_string(), p.total.clone())));
        format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>sfvm profile: {file}</title><style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:nth-child(2){{text-align:left}}</style></head><body>\n<h1>{file}</h1>\n<p>{module}, {mode} mode, {n} parties: <span id=\"total-seconds\">{secs:.6}</span> party-seconds, <span id=\"total-rounds\">{rounds}</span> rounds (the most of any party: {max_rounds}), <span id=\"total-bytes\">{bytes}</span> bytes sent.</p>\n{svg}\n<h2>By source line (every party added up)</h2>\n{by_line}\n<h2>By operation</h2>\n{by_op}\n<h2>By party</h2>\n{parties}\n</body></html>\n",
            file = escape(&self.file),
            module = escape(&self.module),
            mode = escape(&self.mode),
            n = self.parties.len(),
            secs = total.seconds,
            rounds = total.rounds,
            max_rounds = self.parties.iter().map(|p| p.total.rounds).max().unwrap_or(0),
            bytes = total.bytes_sent,
        )
    }
}

fn short(file: &str) -> &str {
    Path::new(file).file_name().and_then(|f| f.to_str()).unwrap_or(file)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
