//! Codegen: partitioned segments to the VM's instruction set, plus the debug info that maps each
//! instruction back to its source span.

use crate::ir::{display::line_col, Ir, NodeId, Op};
use crate::partition::{PartySegment, Role};
use crate::syntax::ast::Span;
use sf_isa::{DebugInfo, InputDecl, Instr, Reg, Segment, SourceLoc};
use std::collections::HashMap;

/// Fails only on a partition that breaks its invariants: a compiler bug, reported as such.
pub fn codegen(ir: &Ir, segments: &[PartySegment], file: &str, source: &str) -> Result<(Vec<Segment>, DebugInfo), String> {
    let mut locs = Locs { table: Vec::new(), index: HashMap::new(), source };
    let out = segments.iter().map(|seg| segment(ir, seg, &mut locs)).collect::<Result<_, _>>()?;
    Ok((out, DebugInfo { file: file.to_string(), source: source.to_string(), locs: locs.table }))
}

struct Locs<'a> {
    table: Vec<SourceLoc>,
    index: HashMap<Span, u32>,
    source: &'a str,
}

impl Locs<'_> {
    fn get(&mut self, span: Span) -> u32 {
        if let Some(&i) = self.index.get(&span) {
            return i;
        }
        let (line, col) = line_col(self.source, span.start);
        let (end_line, end_col) = line_col(self.source, span.end);
        let i = self.table.len() as u32;
        self.table.push(SourceLoc { line: line as u32, col: col as u32, end_line: end_line as u32, end_col: end_col as u32 });
        self.index.insert(span, i);
        i
    }
}

fn segment(ir: &Ir, seg: &PartySegment, locs: &mut Locs) -> Result<Segment, String> {
    let mut regs: HashMap<NodeId, Reg> = HashMap::new();
    let mut out = Segment { party: seg.party, inputs: Vec::new(), n_regs: 0, code: Vec::new(), locs: Vec::new() };
    for step in &seg.steps {
        let node = ir.node(step.node);
        // A receiving party never holds the operand: the owner's private value stays with the owner.
        let reads_operands = !matches!(step.role, Role::ShareRecv { .. } | Role::RecvPlain { .. });
        let operands: Vec<Reg> = ir
            .operands(step.node)
            .into_iter()
            .filter(|_| reads_operands)
            .map(|o| regs.get(&o).copied().ok_or_else(|| format!("party {} uses %{} before it has it", seg.party, o.index())))
            .collect::<Result<_, _>>()?;
        let defines = !matches!(step.role, Role::RevealSend { .. } | Role::SendPlain { .. }) && !matches!(node.op, Op::Output { .. });
        let dst = out.n_regs;
        if defines {
            regs.insert(step.node, dst);
            out.n_regs += 1;
        }
        let seq = step.seq.unwrap_or(u32::MAX);
        let src = operands.first().copied().unwrap_or(0);
        let binary = || match operands[..] {
            [a, b] => Ok((a, b)),
            _ => Err(format!("%{} is binary but has {} operands", step.node.index(), operands.len())),
        };
        let (dtype, shape) = (node.ty.dtype, node.ty.shape.clone());
        let instr = match step.role {
            Role::ShareOwn => Instr::ShareOwn { dst, src, shape },
            Role::ShareRecv { owner } => Instr::ShareRecv { dst, owner, dtype, shape },
            Role::RevealSend { to } => Instr::RevealSend { src, to, seq },
            Role::RevealRecv => Instr::RevealRecv { dst, src, seq },
            Role::RevealAll => Instr::RevealAll { dst, src, seq },
            Role::SendPlain { to } => Instr::SendPlain { src, to, seq },
            Role::RecvPlain { from } => Instr::RecvPlain { dst, from, dtype, shape, seq },
            Role::Compute => match &node.op {
                Op::Input { name } => {
                    let loc = locs.get(node.span);
                    out.inputs.push(InputDecl { name: name.clone(), dtype, shape, loc });
                    Instr::Input { dst, input: out.inputs.len() as u32 - 1 }
                }
                Op::Const(value) => Instr::Const { dst, value: *value },
                Op::Neg => Instr::Neg { dst, a: src },
                Op::Binary(op) => {
                    let (a, b) = binary()?;
                    Instr::Binary { dst, op: *op, a, b, seq }
                }
                Op::Transpose => Instr::Transpose { dst, a: src },
                Op::Sum { axis } => Instr::Sum { dst, a: src, axis: *axis as u32 },
                Op::Concat { axis } => Instr::Concat { dst, parts: operands.clone(), axis: *axis as u32 },
                Op::Cast(to) => Instr::Cast { dst, a: src, to: *to },
                Op::Output { name } => Instr::Output { src, name: name.clone() },
                Op::Share | Op::Reveal { .. } | Op::Send { .. } => {
                    return Err(format!("%{} is a communication op without a communication role", step.node.index()))
                }
            },
        };
        out.code.push(instr);
        out.locs.push(locs.get(node.span));
    }
    Ok(out)
}
