//! How far a run has come: instructions done of the total, and bytes sent, counted by the
//! parties as they run and read by the progress bar (`sfvm run` on a terminal).
//!
//! The total is known only as the run goes: a loop's trip count is a value of the program, so
//! the total starts with every block counted once and grows (or shrinks) when a loop starts or
//! a branch is taken.

use sf_isa::{Block, Instr};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counters shared by the parties of one process (relaxed atomics: a display, not a protocol).
#[derive(Default)]
pub struct Meter {
    done: AtomicU64,
    total: AtomicI64,
    bytes: AtomicU64,
}

impl Meter {
    /// Counts a segment's instructions into the total, each block once.
    pub fn plan(&self, body: &Block) {
        self.total.fetch_add(instructions(body) as i64, Ordering::Relaxed);
    }

    /// A loop of `trips` iterations over a body of `per_trip` instructions starts: the total
    /// counted the body once.
    pub fn looping(&self, per_trip: u64, trips: u64) {
        let n = per_trip as i64;
        self.total.fetch_add(n.saturating_mul(trips as i64) - n, Ordering::Relaxed);
    }

    /// A branch was taken: the other, of `instructions` instructions, will not run.
    pub fn skipped(&self, instructions: u64) {
        self.total.fetch_sub(instructions as i64, Ordering::Relaxed);
    }

    pub fn ran(&self, instructions: u64) {
        self.done.fetch_add(instructions, Ordering::Relaxed);
    }

    pub fn sent(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Instructions done, the total as known now, and bytes sent.
    pub fn read(&self) -> (u64, u64, u64) {
        let done = self.done.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed).max(0) as u64;
        (done, total.max(done), self.bytes.load(Ordering::Relaxed))
    }
}

/// Instructions in a block, nested blocks included, each once.
pub fn instructions(block: &Block) -> u64 {
    block
        .code
        .iter()
        .map(|i| {
            1 + match i {
                Instr::Loop { body, .. } => instructions(body),
                Instr::If { then, otherwise, .. } => instructions(then) + instructions(otherwise),
                _ => 0,
            }
        })
        .sum()
}

/// The progress bar of a run: drawn on stderr once the run has taken [`Progress::DELAY`],
/// only when stderr is a terminal and `CI` is not set, and cleared when the run ends.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Runs shorter than this show no bar.
    pub const DELAY: Duration = Duration::from_secs(1);

    pub fn start(meter: Arc<Meter>, what: String) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let wanted = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let thread = wanted.then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || draw(&meter, &stop, &what))
        });
        Progress { stop, thread }
    }

    /// Stops and clears the bar (also on drop).
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.end();
    }
}

fn draw(meter: &Meter, stop: &AtomicBool, what: &str) {
    let started = Instant::now();
    let tick = Duration::from_millis(50);
    while started.elapsed() < Progress::DELAY {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(tick);
    }
    let style = indicatif::ProgressStyle::with_template("{prefix} {elapsed_precise} {bar:20.cyan/blue} {pos}/{len} ops {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr()).with_style(style).with_prefix(what.to_string()).with_elapsed(started.elapsed());
    while !stop.load(Ordering::Relaxed) {
        let (done, total, bytes) = meter.read();
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(format!("{} sent", indicatif::HumanBytes(bytes)));
        std::thread::sleep(tick * 2);
    }
    bar.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use sf_isa::Instr;

    #[test]
    fn totals_follow_loops_and_branches() {
        let leaf = |n: usize| Block { code: (0..n).map(|_| Instr::Transpose { dst: 0, a: 0 }).collect(), locs: vec![0; n] };
        let body = leaf(3);
        let top = Block {
            code: vec![
                Instr::Loop { trip: 0, index: None, carried: vec![], body: body.clone() },
                Instr::If { cond: 0, then: leaf(2), otherwise: leaf(5), results: vec![] },
            ],
            locs: vec![0, 0],
        };
        assert_eq!(instructions(&top), 2 + 3 + 2 + 5);
        let m = Meter::default();
        m.plan(&top);
        m.looping(instructions(&body), 10);
        m.skipped(instructions(&leaf(5)));
        assert_eq!(m.read().1, 2 + 30 + 2);
        m.looping(instructions(&body), 0);
        assert_eq!(m.read().1, 2 + 27 + 2, "a loop that never runs takes its body off");
        m.ran(40);
        m.sent(7);
        assert_eq!(m.read(), (40, 40, 7), "the total is never below what was done");
    }
}
