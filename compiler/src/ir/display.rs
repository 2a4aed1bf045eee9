//! The textual form of the IR, printed by `sfc compile --emit ir`:
//!
//! ```text
//! %3: fix[n, 2] @spu = matmul %1, %2    ; linear.sf:9
//! ```

use super::{Ir, NodeId, Op, Placement, Type};
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
            _ => String::new(),
        };
        let sep = if operands.is_empty() { "" } else { " " };
        format!("{}{attrs}{sep}{}", node.op.name(), operands.join(", "))
    }

    /// The whole program, one node a line, in schedule order.
    pub fn to_text(&self, file: &str, source: &str) -> String {
        let mut out = format!("parties {};\n", self.parties.join(", "));
        for id in self.schedule() {
            let node = self.node(id);
            let line = line_of(source, node.span.start);
            let _ = writeln!(out, "%{}: {} = {:<40} ; {file}:{line}", id.index(), self.type_string(&node.ty), self.op_string(id));
        }
        out
    }
}

/// The 1-based line of a byte offset.
pub fn line_of(source: &str, offset: usize) -> usize {
    source.as_bytes()[..offset.min(source.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The 1-based line and column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    (line_of(source, offset), source[line_start..offset].chars().count() + 1)
}
