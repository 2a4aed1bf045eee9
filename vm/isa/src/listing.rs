//! Text views of a module for people: the header and chunk table (`sfc inspect`), and one
//! party's bytecode beside the `.sf` line of each instruction (`sfc dis`).

use crate::dim::display_shape;
use crate::instr::{Block, Instr, Segment};
use crate::module::{ChunkKind, DebugInfo, Header};
use std::fmt::Write;

/// The header, the constants, the chunk table and each party's share of the bytes.
pub fn inspect(header: &Header, file_len: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "module      {}", header.hash_hex());
    let _ = writeln!(out, "parties     {}", header.parties.join(", "));
    let _ = writeln!(out, "ring        Z_2^{}, {} fraction bits", header.ring_bits, header.frac_bits);
    let _ = writeln!(out, "symbols     {}", if header.symbols.is_empty() { "(none)".to_string() } else { header.symbols.join(", ") });
    let _ = writeln!(out, "size        {} bytes, {} chunks", file_len, header.chunks.len());
    if !header.constants.is_empty() {
        let _ = writeln!(out, "\nconstants");
        for (i, c) in header.constants.iter().enumerate() {
            let shape: Vec<String> = c.shape.iter().map(u64::to_string).collect();
            let _ = writeln!(out, "  {i:>4}  {}[{}]", c.dtype, shape.join(", "));
        }
    }
    let _ = writeln!(out, "\nchunks\n  {:>4}  {:<10} {:<12} {:>14} {:>14}  hash", "#", "kind", "party", "offset", "bytes");
    for (i, c) in header.chunks.iter().enumerate() {
        let kind = match c.kind {
            ChunkKind::Code => "code".to_string(),
            ChunkKind::Debug => "debug".to_string(),
            ChunkKind::Constant => format!("const {}", c.item),
        };
        let party = c.party.and_then(|p| header.parties.get(p as usize)).map(String::as_str).unwrap_or("-");
        let hash: String = c.hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "  {i:>4}  {kind:<10} {party:<12} {:>14} {:>14}  {hash}", c.offset, c.len);
    }
    let _ = writeln!(out, "\nper party (its code; constants and debug info are shared)");
    for (p, name) in header.parties.iter().enumerate() {
        let code: u64 = header.chunks.iter().filter(|c| c.kind == ChunkKind::Code && c.party == Some(p as u16)).map(|c| c.len).sum();
        let _ = writeln!(out, "  {name:<12} {code:>14} bytes");
    }
    let shared = |kind: ChunkKind| header.chunks.iter().filter(|c| c.kind == kind).map(|c| c.len).sum::<u64>();
    let _ = writeln!(out, "  {:<12} {:>14} bytes", "constants", shared(ChunkKind::Constant));
    let _ = writeln!(out, "  {:<12} {:>14} bytes", "debug info", shared(ChunkKind::Debug));
    out
}

/// One party's segment: its inputs, then each instruction with its `.sf` location and line.
pub fn disassemble(segment: &Segment, header: &Header, debug: &DebugInfo) -> String {
    let party = header.parties.get(segment.party as usize).map(String::as_str).unwrap_or("?");
    let mut out = String::new();
    let _ = writeln!(out, "; party {party}: {} registers, {} inputs", segment.n_regs, segment.inputs.len());
    for (i, input) in segment.inputs.iter().enumerate() {
        let _ = writeln!(out, "; input {i}: {} {}{}  ({})", input.name, input.dtype, shape(&input.shape, header), debug.describe(input.loc));
    }
    let mut listing = Listing { out, header, debug, last_line: None };
    listing.block(&segment.body, 0);
    listing.out
}

/// One instruction as `sfc dis` prints it (`rD = op rA, rB  attributes`), without its body.
pub fn instr_text(instr: &Instr, header: &Header, debug: &DebugInfo) -> String {
    Listing { out: String::new(), header, debug, last_line: None }.text(instr)
}

fn shape(s: &[crate::Dim], header: &Header) -> String {
    display_shape(s, &header.symbols)
}

struct Listing<'a> {
    out: String,
    header: &'a Header,
    debug: &'a DebugInfo,
    /// The source line of the previous instruction: repeated lines are not printed again.
    last_line: Option<u32>,
}

impl Listing<'_> {
    fn block(&mut self, block: &Block, depth: usize) {
        for (k, instr) in block.code.iter().enumerate() {
            let loc = block.locs.get(k).copied().unwrap_or(u32::MAX);
            let line = self.debug.locs.get(loc as usize).map(|l| l.line);
            let indent = "  ".repeat(depth + 1);
            let text = format!("{indent}{}", self.text(instr));
            if line != self.last_line {
                let src = self.debug.line_text(loc).unwrap_or("");
                let _ = writeln!(self.out, "{text:<50} ; {}  {src}", self.debug.describe(loc));
                self.last_line = line;
            } else {
                let _ = writeln!(self.out, "{text}");
            }
            match instr {
                Instr::Loop { body, carried, .. } => {
                    self.block(body, depth + 1);
                    let next: Vec<String> = carried.iter().map(|c| format!("r{} <- r{}", c.param, c.next)).collect();
                    let _ = writeln!(self.out, "{indent}end loop{}", if next.is_empty() { String::new() } else { format!("  ({})", next.join(", ")) });
                }
                Instr::If { then, otherwise, results, .. } => {
                    self.block(then, depth + 1);
                    let _ = writeln!(self.out, "{indent}else");
                    self.block(otherwise, depth + 1);
                    let merged: Vec<String> = results.iter().map(|m| format!("r{} = r{} | r{}", m.dst, m.then_src, m.else_src)).collect();
                    let _ = writeln!(self.out, "{indent}end if{}", if merged.is_empty() { String::new() } else { format!("  ({})", merged.join(", ")) });
                }
                _ => {}
            }
        }
    }

    fn party(&self, p: u16) -> &str {
        self.header.parties.get(p as usize).map(String::as_str).unwrap_or("?")
    }

    /// `rD = op rA, rB  attributes`.
    fn text(&self, i: &Instr) -> String {
        use Instr::*;
        let r = |x: &u32| format!("r{x}");
        let sh = |s: &[crate::Dim]| shape(s, self.header);
        let seq = |s: &u32| format!("#{s}");
        match i {
            Input { dst, input } => format!("{} = input {input}", r(dst)),
            Const { dst, value } => format!("{} = const {value}", r(dst)),
            Unary { dst, op, a, seq: s } => format!("{} = {} {}  {}", r(dst), op.name(), r(a), seq(s)),
            Binary { dst, op, a, b, seq: s } => format!("{} = {} {}, {}  {}", r(dst), op.name(), r(a), r(b), seq(s)),
            Select { dst, c, a, b, seq: s } => format!("{} = select {}, {}, {}  {}", r(dst), r(c), r(a), r(b), seq(s)),
            Reduce { dst, op, a, axis, seq: s } => format!("{} = {} {}, axis {axis}  {}", r(dst), op.name(), r(a), seq(s)),
            Reshape { dst, a, shape } => format!("{} = reshape {}, {}", r(dst), r(a), sh(shape)),
            Slice { dst, a, ranges } => {
                let names = &self.header.symbols;
                let rs: Vec<String> = ranges.iter().map(|x| format!("{}..{}", x.start.display(names), x.end.display(names))).collect();
                format!("{} = slice {}, [{}]", r(dst), r(a), rs.join(", "))
            }
            Gather { dst, a, index, axis } => format!("{} = gather {}, {}, axis {axis}", r(dst), r(a), r(index)),
            Constant { dst, id } => format!("{} = constant {id}", r(dst)),
            Fill { dst, value, shape } => format!("{} = fill {value}, {}", r(dst), sh(shape)),
            Arange { dst, len } => format!("{} = arange {}", r(dst), len.display(&self.header.symbols)),
            DimValue { dst, dim } => format!("{} = dim {}", r(dst), dim.display(&self.header.symbols)),
            Random { dst, shape } => format!("{} = random {}", r(dst), sh(shape)),
            Loop { trip, index, carried, .. } => {
                let init: Vec<String> = carried.iter().map(|c| format!("r{} = r{}", c.param, c.init)).collect();
                let idx = index.map(|x| format!(" index r{x}")).unwrap_or_default();
                format!("loop {} times{idx}  ({})", r(trip), init.join(", "))
            }
            If { cond, .. } => format!("if {}", r(cond)),
            Transpose { dst, a } => format!("{} = transpose {}", r(dst), r(a)),
            Sum { dst, a, axis } => format!("{} = sum {}, axis {axis}", r(dst), r(a)),
            Concat { dst, parts, axis } => format!("{} = concat {}, axis {axis}", r(dst), parts.iter().map(r).collect::<Vec<_>>().join(", ")),
            Cast { dst, a, to } => format!("{} = cast {} to {to}", r(dst), r(a)),
            ShareOwn { dst, src, shape } => format!("{} = share {}, {}", r(dst), r(src), sh(shape)),
            ShareRecv { dst, owner, dtype, shape } => format!("{} = share from {}, {dtype}{}", r(dst), self.party(*owner), sh(shape)),
            RevealSend { src, to, seq: s } => format!("reveal {} to {}  {}", r(src), self.party(*to), seq(s)),
            RevealRecv { dst, src, seq: s } => format!("{} = reveal {} here  {}", r(dst), r(src), seq(s)),
            RevealAll { dst, src, seq: s } => format!("{} = reveal {} to all  {}", r(dst), r(src), seq(s)),
            SendPlain { src, to, seq: s } => format!("send {} to {}  {}", r(src), self.party(*to), seq(s)),
            RecvPlain { dst, from, dtype, shape, seq: s } => format!("{} = recv from {}, {dtype}{}  {}", r(dst), self.party(*from), sh(shape), seq(s)),
            Output { src, name } => format!("output {} as \"{name}\"", r(src)),
            Psi { owners, keys, dst, size, seq: s, .. } => {
                let d = dst.map(|x| format!("{} = ", r(&x))).unwrap_or_default();
                let size = self.header.symbols.get(*size as usize).cloned().unwrap_or_else(|| size.to_string());
                format!("{d}psi {} x {}, keys {}, size {size}  {}", self.party(owners[0]), self.party(owners[1]), keys.iter().map(r).collect::<Vec<_>>().join(", "), seq(s))
            }
        }
    }
}
