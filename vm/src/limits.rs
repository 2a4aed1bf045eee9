//! What a run may ask of the machine, checked before it does any work: no value of more than
//! [`MAX_ELEMENTS`] elements or of more bytes than the machine has available, and no more
//! instructions than `--max-instructions`. A program or input too large ends in an error that
//! names its line or file, never in an out-of-memory kill or a run that cannot finish.
//!
//! Before the first instruction, [`check_segment`] evaluates every shape an instruction names
//! and the trip count of every loop it can know (a constant, or arithmetic on the bound shape
//! symbols), once the inputs have bound the symbols. Loops whose trip count is computed as the
//! run goes are checked again when they start (`Limits::looping`).

use crate::error::VmError;
use sf_isa::{display_shape, elements_within_limit, BinOp, Block, DebugInfo, Instr, Literal, Reg, Segment, Shape};
#[cfg(doc)]
use sf_isa::MAX_ELEMENTS;
use std::collections::HashMap;

/// The default of `--max-instructions`: 10^10 instructions, hours of work at the fastest.
pub const DEFAULT_MAX_INSTRUCTIONS: u64 = 10_000_000_000;

/// The least a value takes per element: 8 bytes as plaintext (a share takes 16).
const BYTES_PER_ELEMENT: u64 = 8;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The most instructions one party may run.
    pub max_instructions: u64,
    /// Bytes this process may still take, if the system says.
    pub memory: Option<u64>,
}

impl Limits {
    /// The limits of this machine now, with the given instruction limit.
    pub fn of_this_machine(max_instructions: u64) -> Limits {
        Limits { max_instructions, memory: available_memory() }
    }

    /// Whether a value of these dimensions can exist here.
    pub fn value(&self, dims: &[usize]) -> Result<(), VmError> {
        self.value_named(dims, &format!("a value of shape {}", list(dims)))
    }

    /// [`Limits::value`], with the value described as `what`.
    fn value_named(&self, dims: &[usize], what: &str) -> Result<(), VmError> {
        match elements_within_limit(dims.iter().map(|&d| d as u64)) {
            None => Err(VmError::Limit(format!("{what} would hold more than 2^40 elements, the most a value may hold"))),
            Some(n) => self.fits(n, what),
        }
    }

    /// Whether `elements` values (`what`) fit in the memory available.
    pub fn fits(&self, elements: u64, what: &str) -> Result<(), VmError> {
        match self.memory {
            Some(available) if elements.saturating_mul(BYTES_PER_ELEMENT) > available => Err(VmError::Limit(format!(
                "{what} has {elements} elements, at least {} at {BYTES_PER_ELEMENT} bytes each, more than the {} this machine has available",
                bytes(elements.saturating_mul(BYTES_PER_ELEMENT)),
                bytes(available)
            ))),
            _ => Ok(()),
        }
    }

    /// A loop of `trips` iterations over a body of `per_trip` instructions is about to start.
    pub fn looping(&self, trips: u64, per_trip: u64) -> Result<(), VmError> {
        let total = trips.saturating_mul(per_trip);
        if total > self.max_instructions {
            return Err(too_many(trips, per_trip, total, self.max_instructions));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::of_this_machine(DEFAULT_MAX_INSTRUCTIONS)
    }
}

fn too_many(trips: u64, per_trip: u64, total: u64, max: u64) -> VmError {
    VmError::Limit(format!(
        "this loop runs {trips} times over {per_trip} instructions: {total} instructions, more than the limit of {max}; \
         pass a larger --max-instructions if the run is meant to be that long"
    ))
}

fn list(dims: &[usize]) -> String {
    format!("[{}]", dims.iter().map(usize::to_string).collect::<Vec<_>>().join(", "))
}

/// `4.4 TB`, `3.2 GB`, `512 MB`.
fn bytes(n: u64) -> String {
    if n >= 1_000_000_000_000 {
        format!("{:.1} TB", n as f64 / 1e12)
    } else if n >= 1_000_000_000 {
        format!("{:.1} GB", n as f64 / 1e9)
    } else {
        format!("{:.0} MB", n as f64 / 1e6)
    }
}

/// The memory this process may still take: the system's available memory, or less if a cgroup
/// (a container's limit) allows less. `None` where neither can be read.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    });
    let read = |name: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{name}")).ok().and_then(|t| t.trim().parse::<u64>().ok());
    let cgroup = read("memory.max").map(|max| max.saturating_sub(read("memory.current").unwrap_or(0)));
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Checks a party's segment against the limits before it runs; `bindings` hold the symbols
/// the inputs bound (a symbol bound later, such as a `psi` size, leaves its shapes unchecked
/// here; they are checked when they are made).
pub fn check_segment(segment: &Segment, bindings: &[Option<u64>], symbols: &[String], debug: &DebugInfo, limits: &Limits) -> Result<(), VmError> {
    let mut known = HashMap::new();
    let total = Walk { bindings, symbols, debug, limits }.block(&segment.body, &mut known)?;
    if total > limits.max_instructions {
        return Err(VmError::Limit(format!(
            "the program would run {total} instructions, more than the limit of {}; pass a larger --max-instructions if the run is meant to be that long",
            limits.max_instructions
        )));
    }
    Ok(())
}

struct Walk<'a> {
    bindings: &'a [Option<u64>],
    symbols: &'a [String],
    debug: &'a DebugInfo,
    limits: &'a Limits,
}

impl Walk<'_> {
    /// The instructions a block runs (loops with unknown trip counts counted once), checking
    /// shapes and loops on the way; `known` holds the public int scalars known before running.
    fn block(&self, block: &Block, known: &mut HashMap<Reg, i64>) -> Result<u64, VmError> {
        let mut count: u64 = 0;
        for (pc, instr) in block.code.iter().enumerate() {
            let at = |error: VmError| {
                let loc = block.locs.get(pc).copied().unwrap_or(u32::MAX);
                VmError::At { location: self.debug.describe(loc), line: self.debug.line_text(loc).map(str::to_string), error: Box::new(error) }
            };
            if let Some(shape) = named_shape(instr) {
                self.shape(&shape).map_err(at)?;
            }
            count = count.saturating_add(match instr {
                Instr::Const { dst, value: Literal::Int(v) } => {
                    known.insert(*dst, *v);
                    1
                }
                Instr::DimValue { dst, dim } => {
                    if let Some(v) = dim.eval(self.bindings).and_then(|v| i64::try_from(v).ok()) {
                        known.insert(*dst, v);
                    }
                    1
                }
                Instr::Binary { dst, op, a, b, .. } => {
                    if let (Some(&x), Some(&y)) = (known.get(a), known.get(b)) {
                        let v = match op {
                            BinOp::Add => x.checked_add(y),
                            BinOp::Sub => x.checked_sub(y),
                            BinOp::Mul => x.checked_mul(y),
                            _ => None,
                        };
                        if let Some(v) = v {
                            known.insert(*dst, v);
                        }
                    }
                    1
                }
                Instr::Loop { trip, body, .. } => {
                    let per_trip = self.block(body, known)?;
                    match known.get(trip) {
                        Some(&trips) => {
                            let trips = trips.max(0) as u64;
                            let total = trips.saturating_mul(per_trip);
                            if total > self.limits.max_instructions {
                                return Err(at(too_many(trips, per_trip, total, self.limits.max_instructions)));
                            }
                            total.saturating_add(1)
                        }
                        None => per_trip.saturating_add(1),
                    }
                }
                Instr::If { then, otherwise, .. } => self.block(then, known)?.max(self.block(otherwise, known)?).saturating_add(1),
                _ => 1,
            });
        }
        Ok(count)
    }

    /// A shape an instruction names, checked if every symbol in it is bound.
    fn shape(&self, shape: &Shape) -> Result<(), VmError> {
        let Some(dims) = shape.iter().map(|d| d.eval(self.bindings).map(|v| v as usize)).collect::<Option<Vec<usize>>>() else {
            return Ok(());
        };
        let named = display_shape(shape, self.symbols);
        let concrete = list(&dims);
        let what = if named == concrete { format!("a value of shape {concrete}") } else { format!("a value of shape {named} = {concrete}") };
        self.limits.value_named(&dims, &what)
    }
}

/// The shape of the value an instruction makes, when the instruction names it.
fn named_shape(instr: &Instr) -> Option<Shape> {
    match instr {
        Instr::Fill { shape, .. }
        | Instr::Random { shape, .. }
        | Instr::Reshape { shape, .. }
        | Instr::ShareOwn { shape, .. }
        | Instr::ShareRecv { shape, .. }
        | Instr::RecvPlain { shape, .. } => Some(shape.clone()),
        Instr::Arange { len, .. } => Some(vec![len.clone()]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_beyond_the_element_limit_or_memory_are_refused() {
        let limits = Limits { max_instructions: 100, memory: Some(1 << 30) };
        assert!(limits.value(&[1000, 1000]).is_ok());
        let e = limits.value(&[1 << 21, 1 << 20]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("2^40"), "{e}");
        let e = limits.value(&[1 << 20, 1 << 10]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("more than the 1.1 GB this machine has available"), "{e}");
        assert!(limits.value(&[usize::MAX, usize::MAX]).is_err(), "an overflowing product is refused, not wrapped");
        assert_eq!(sf_isa::MAX_ELEMENTS, 1 << 40);
    }

    #[test]
    fn the_memory_of_this_machine_is_known() {
        let m = available_memory();
        assert!(m.is_some_and(|m| m > 1 << 20), "{m:?}");
    }
}
