//! The textual form of the IR, printed by `sfc compile --emit ir`:
//!
//! ```text
//! %3: fix[n, 2] @spu = matmul %1, %2    ; linear.sf:9
//! ```

use super::{Ir, NodeId, Op, Placement, RegionId, Type, TOP};
use sf_isa::display_shape;
use std::fmt::Write;

impl Ir {
    pub fn placement_name(&self, p: Placement) -> String {
        match p {
            Placement::Party(p) => self.party_name(p).to_string(),
            Placement::Secret => "spu".to_string(),
            Placement::Public => "pub".to_string(),
        }
    }

    pub fn type_string(&self, ty: &Type) -> String {
        let shape = if ty.shape.is_empty() { String::new() } else { display_shape(&ty.shape, &self.symbols) };
        format!("{}{} @{}", ty.dtype, shape, self.placement_name(ty.placement))
    }

    /// `op args` for one node, without its result.
    pub fn op_string(&self, id: NodeId) -> String {
        let node = self.node(id);
        let operands: Vec<String> = self.operands(id).iter().map(|o| format!("%{}", o.index())).collect();
        let attrs = match &node.op {
            Op::Input { name } | Op::Output { name } => format!(" \"{name}\""),
            Op::Const(v) => format!(" {v}"),
            Op::Sum { axis } | Op::Concat { axis } => format!(" axis={axis}"),
            Op::Cast(d) => format!(" to={d}"),
            Op::Reveal { to: Some(p) } | Op::Send { to: p } => format!(" to={}", self.party_name(*p)),
            Op::Reveal { to: None } => " to=all".to_string(),
            Op::Reduce { axis, .. } | Op::Gather { axis } => format!(" axis={axis}"),
            Op::Fill(v) => format!(" {v}"),
            Op::Constant(id) => format!(" #{id}"),
            Op::DimValue(d) => format!(" {}", d.display(&self.symbols)),
            Op::LoopParam { index } | Op::LoopResult { index } | Op::IfResult { index } => format!(" {index}"),
            Op::Loop { carried, .. } => format!(" carried={carried}"),
            Op::Psi { size, keep_first, .. } => {
                let size = self.symbols.get(*size as usize).map_or("?", String::as_str);
                format!(" size={size}{}", if *keep_first { " duplicates=first" } else { "" })
            }
            Op::Slice { ranges } => {
                let r: Vec<String> = ranges.iter().map(|r| format!("{}:{}", r.start.display(&self.symbols), r.end.display(&self.symbols))).collect();
                format!(" [{}]", r.join(", "))
            }
            _ => String::new(),
        };
        let sep = if operands.is_empty() { "" } else { " " };
        format!("{}{attrs}{sep}{}", node.op.name(), operands.join(", "))
    }

    /// The whole program, one node a line, in schedule order; a loop's body indented under it.
    pub fn to_text(&self, file: &str, source: &str) -> String {
        let mut out = format!("parties {};\n", self.parties.join(", "));
        self.region_text(TOP, 0, file, source, &mut out);
        out
    }

    fn region_text(&self, region: RegionId, depth: usize, file: &str, source: &str, out: &mut String) {
        let indent = "    ".repeat(depth);
        for id in self.schedule(region) {
            let node = self.node(id);
            let line = line_of(source, node.span.start);
            let op = self.op_string(id);
            if node.op.is_control() && !matches!(node.op, Op::LoopParam { .. } | Op::LoopIndex | Op::LoopResult { .. } | Op::IfResult { .. } | Op::PsiResult { .. }) {
                let _ = writeln!(out, "{indent}%{} = {op:<40} ; {file}:{line}", id.index());
            } else {
                let _ = writeln!(out, "{indent}%{}: {} = {op:<40} ; {file}:{line}", id.index(), self.type_string(&node.ty));
            }
            if let Op::Loop { body, .. } = node.op {
                let _ = writeln!(out, "{indent}{{");
                self.region_text(body, depth + 1, file, source, out);
                let _ = writeln!(out, "{indent}}}");
            }
            if let Op::If { then, otherwise, .. } = node.op {
                let _ = writeln!(out, "{indent}{{");
                self.region_text(then, depth + 1, file, source, out);
                let _ = writeln!(out, "{indent}}} else {{");
                self.region_text(otherwise, depth + 1, file, source, out);
                let _ = writeln!(out, "{indent}}}");
            }
        }
    }
}

/// The 1-based line of a byte offset.
pub fn line_of(source: &str, offset: usize) -> usize {
    source.as_bytes()[..offset.min(source.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The byte offset where each line starts, for finding the line of many offsets in one source
/// in logarithmic time each (a program may have a million lines).
pub struct LineIndex<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(source: &'a str) -> LineIndex<'a> {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { source, starts }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line.saturating_sub(1)];
        (line, self.source.get(start..offset).map_or(0, |t| t.chars().count()) + 1)
    }
}

/// The 1-based line and column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    (line_of(source, offset), source[line_start..offset].chars().count() + 1)
}
