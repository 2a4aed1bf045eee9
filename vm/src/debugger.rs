//! Debug mode as a debugger: `--trace` prints every instruction as it runs, with its `.sf`
//! line; `--break FILE.sf:LINE` stops the run once that line has been computed and prints every
//! value defined on it, secrets in plaintext.
//!
//! Only debug mode has one: all parties run in this one process, so the debugger sees every
//! party's share of a secret and adds them up. The command line refuses `--trace` and `--break`
//! in any other mode, so a real party never opens a secret this way.
//!
//! While a debugger watches, every instruction runs on its own (no fused kernels, no batched
//! products), so that each value it defines is there to see.

use crate::value::{Plain, Value};
use sf_isa::{Block, DType, DebugInfo, Header, Instr};
use std::io::Write;
use std::sync::Mutex;

/// What the debugger does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Watching {
    /// Print every instruction as it runs.
    Trace,
    /// Stop after this source line has been computed, once.
    Break { line: u32 },
}

/// One value seen on the break line.
struct Seen {
    party: usize,
    loc: u32,
    value: Value,
}

#[derive(Default)]
struct State {
    /// Instructions of the break line each party has yet to run before the line is computed.
    left: Vec<u64>,
    seen: Vec<Seen>,
    /// The line has been computed: the parties stop at their next instruction.
    stopped: bool,
    /// The report, made once.
    report: Option<String>,
}

pub struct Debugger {
    watching: Watching,
    header: Header,
    debug: std::sync::Arc<DebugInfo>,
    state: Mutex<State>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Debugger {
    /// A debugger for these parties' segments (in party order); it prints to `out`.
    pub fn new(watching: Watching, header: Header, debug: std::sync::Arc<DebugInfo>, segments: &[&Block], out: Box<dyn Write + Send>) -> Debugger {
        let left = match &watching {
            Watching::Break { line } => segments.iter().map(|b| on_line(b, &debug, *line)).collect(),
            Watching::Trace => Vec::new(),
        };
        Debugger { watching, header, debug, state: Mutex::new(State { left, ..State::default() }), out: Mutex::new(out) }
    }

    /// Party `party` ran `instr` (at location `loc`), which defined `value` if anything.
    pub fn ran(&self, party: usize, instr: &Instr, loc: u32, value: Option<&Value>) {
        match &self.watching {
            Watching::Trace => {
                let name = self.header.parties.get(party).map_or("?", String::as_str);
                let text = sf_isa::instr_text(instr, &self.header, &self.debug);
                let source = self.debug.line_text(loc).unwrap_or("");
                let shown = value.map(|v| format!("  -> {}", describe(v))).unwrap_or_default();
                self.print(&format!("{name:<8} {:<16} {text:<40} | {source}{shown}", self.debug.describe(loc)));
            }
            Watching::Break { line } => {
                if self.debug.locs.get(loc as usize).map(|l| l.line) != Some(*line) {
                    return;
                }
                let Ok(mut st) = self.state.lock() else { return };
                if st.stopped {
                    return;
                }
                if let Some(v) = value {
                    st.seen.push(Seen { party, loc, value: v.clone() });
                }
                if let Some(left) = st.left.get_mut(party) {
                    *left = left.saturating_sub(1);
                }
                if st.left.iter().all(|&l| l == 0) {
                    st.stopped = true;
                    let report = self.report(&st.seen, *line, true);
                    st.report = Some(report);
                }
            }
        }
    }

    /// Whether the parties should stop now (the break line has been computed).
    pub fn stopped(&self) -> bool {
        self.state.lock().map(|s| s.stopped).unwrap_or(false)
    }

    /// Prints what the break line computed: at the break, or at the end of a run that never
    /// finished the line (a branch not taken, a loop that never ran). Returns whether the run
    /// stopped at the break.
    pub fn finish(&self) -> bool {
        let Watching::Break { line } = self.watching else { return false };
        let Ok(mut st) = self.state.lock() else { return false };
        let report = match st.report.take() {
            Some(r) => r,
            None => self.report(&st.seen, line, false),
        };
        let stopped = st.stopped;
        drop(st);
        self.print(&report);
        stopped
    }

    fn print(&self, text: &str) {
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }

    /// Every value defined on the line: a secret once, its parties' shares added up; a
    /// plaintext once per distinct value, with the parties that hold it.
    fn report(&self, seen: &[Seen], line: u32, computed: bool) -> String {
        let file = &self.debug.file;
        let source = self.debug.source.lines().nth(line.saturating_sub(1) as usize).map_or("", str::trim);
        let mut out = if computed {
            format!("break at {file}:{line}: {source}\n  (debug mode: secrets are shown in plaintext)\n")
        } else {
            format!("{file}:{line} was not computed to the end (a branch not taken, or a loop that did not run): {source}\n")
        };
        let parties = self.header.parties.len();
        // The k-th share a party saw of this location is the k-th every party saw.
        let mut shares: Vec<(u32, usize, Vec<&Seen>)> = Vec::new();
        let mut plains: Vec<(u32, String, Vec<usize>)> = Vec::new();
        let mut kth = std::collections::HashMap::new();
        for s in seen {
            match &s.value {
                Value::Shared { .. } => {
                    let k = kth.entry((s.party, s.loc)).or_insert(0usize);
                    match shares.iter_mut().find(|(loc, j, _)| *loc == s.loc && *j == *k) {
                        Some(entry) => entry.2.push(s),
                        None => shares.push((s.loc, *k, vec![s])),
                    }
                    *k += 1;
                }
                Value::Plain(p) => {
                    let text = render(p);
                    match plains.iter_mut().find(|(loc, t, _)| *loc == s.loc && *t == text) {
                        Some(entry) => entry.2.push(s.party),
                        None => plains.push((s.loc, text, vec![s.party])),
                    }
                }
            }
        }
        let mut rows: Vec<(u32, String)> = Vec::new();
        for (loc, _, parts) in &shares {
            if parts.len() != parties {
                continue;
            }
            if let Some(text) = self.open(parts) {
                rows.push((*loc, format!("{} @spu = {text}", self.excerpt(*loc))));
            }
        }
        for (loc, text, holders) in &plains {
            let at = if holders.len() == parties { "pub".to_string() } else { holders.iter().map(|&p| self.header.parties.get(p).map_or("?", String::as_str)).collect::<Vec<_>>().join(", ") };
            rows.push((*loc, format!("{} @{at} = {text}", self.excerpt(*loc))));
        }
        // In source order: a value's place on the line, the wider expression after its parts.
        rows.sort_by_key(|(loc, _)| self.debug.locs.get(*loc as usize).map(|l| (l.end_line, l.end_col, std::cmp::Reverse((l.line, l.col)))));
        for (_, row) in rows {
            out.push_str(&format!("  {row}\n"));
        }
        out.trim_end().to_string()
    }

    /// The plaintext of a secret from every party's share.
    fn open(&self, parts: &[&Seen]) -> Option<String> {
        let mut sum: Option<ndarray::ArrayD<u128>> = None;
        let mut dtype = DType::Fix;
        for s in parts {
            let Value::Shared { share, dtype: d } = &s.value else { return None };
            dtype = *d;
            match &mut sum {
                None => sum = Some(share.clone()),
                Some(acc) if acc.shape() == share.shape() => acc.zip_mut_with(share, |a, b| *a = a.wrapping_add(*b)),
                Some(_) => return None,
            }
        }
        let sum = sum?;
        let plain = match dtype {
            DType::Fix => Plain::Fix(sum.mapv(|v| crate::ring::decode_fix(v, self.header.frac_bits))),
            DType::Int => Plain::Int(sum.mapv(crate::ring::decode_int)),
            DType::Bool => Plain::Bool(sum.mapv(|v| v & 1 == 1)),
        };
        Some(render(&plain))
    }

    /// The source text of a location (its first line, if it spans several).
    fn excerpt(&self, loc: u32) -> String {
        let Some(l) = self.debug.locs.get(loc as usize) else { return "?".into() };
        let Some(text) = self.debug.source.lines().nth(l.line.saturating_sub(1) as usize) else { return "?".into() };
        let chars: Vec<char> = text.chars().collect();
        let start = (l.col.saturating_sub(1) as usize).min(chars.len());
        let end = if l.end_line == l.line { (l.end_col.saturating_sub(1) as usize).clamp(start, chars.len()) } else { chars.len() };
        let s: String = chars[start..end].iter().collect();
        if l.end_line == l.line { s } else { format!("{s}…") }
    }
}

/// Instructions of `block` (nested blocks included) on source line `line`.
fn on_line(block: &Block, debug: &DebugInfo, line: u32) -> u64 {
    block
        .code
        .iter()
        .zip(&block.locs)
        .map(|(i, &loc)| {
            let here = (debug.locs.get(loc as usize).map(|l| l.line) == Some(line)) as u64;
            here + match i {
                Instr::Loop { body, .. } => on_line(body, debug, line),
                Instr::If { then, otherwise, .. } => on_line(then, debug, line) + on_line(otherwise, debug, line),
                _ => 0,
            }
        })
        .sum()
}

/// A value for the trace: its kind and shape, never its contents.
fn describe(v: &Value) -> String {
    match v {
        Value::Shared { share, dtype } => format!("{dtype}{} share", crate::value::fmt_shape(share.shape())),
        Value::Plain(p) => format!("{} plaintext", crate::value::fmt_shape(p.shape())),
    }
}

/// Up to 1,000 elements, row by row; more are elided.
fn render(p: &Plain) -> String {
    const MAX: usize = 1000;
    let (shape, items): (Vec<usize>, Vec<String>) = match p {
        Plain::Fix(a) => (a.shape().to_vec(), a.iter().take(MAX + 1).map(|v| v.to_string()).collect()),
        Plain::Int(a) => (a.shape().to_vec(), a.iter().take(MAX + 1).map(|v| v.to_string()).collect()),
        Plain::Bool(a) => (a.shape().to_vec(), a.iter().take(MAX + 1).map(|v| v.to_string()).collect()),
    };
    let more = items.len() > MAX;
    let items = &items[..items.len().min(MAX)];
    let body = match shape.as_slice() {
        [] => items.first().cloned().unwrap_or_default(),
        [_, cols] if *cols > 0 => {
            let rows: Vec<String> = items.chunks(*cols).map(|r| format!("[{}]", r.join(", "))).collect();
            format!("[{}{}]", rows.join(", "), if more { ", …" } else { "" })
        }
        _ => format!("[{}{}]", items.join(", "), if more { ", …" } else { "" }),
    };
    format!("{} {body}", crate::value::fmt_shape(&shape))
}
