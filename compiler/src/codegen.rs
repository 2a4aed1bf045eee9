//! Codegen: partitioned segments to the VM's instruction set, plus the debug info that maps each
//! instruction back to its source span.

use crate::ir::{display::LineIndex, Ir, NodeId, Op};
use crate::partition::{carried_for, results_for, PartySegment, Role, Step};
use crate::syntax::ast::Span;
use sf_isa::{Block, Carry, DebugInfo, InputDecl, Instr, Merge, PartyId, Reg, Segment, SourceLoc};
use std::collections::HashMap;

/// Fails only on a partition that breaks its invariants: a compiler bug, reported as such.
pub fn codegen(ir: &Ir, segments: &[PartySegment], file: &str, source: &str) -> Result<(Vec<Segment>, DebugInfo), String> {
    let mut locs = Locs { table: Vec::new(), index: HashMap::new(), lines: LineIndex::new(source) };
    let mut out = Vec::new();
    for seg in segments {
        let mut g = Gen { ir, party: seg.party, regs: HashMap::new(), n_regs: 0, inputs: Vec::new(), locs: &mut locs };
        let body = g.block(&seg.steps)?;
        out.push(Segment { party: seg.party, inputs: g.inputs, n_regs: g.n_regs, body });
    }
    Ok((out, DebugInfo { file: file.to_string(), source: source.to_string(), locs: locs.table }))
}

struct Locs<'a> {
    table: Vec<SourceLoc>,
    index: HashMap<Span, u32>,
    lines: crate::ir::display::LineIndex<'a>,
}

impl Locs<'_> {
    fn get(&mut self, span: Span) -> u32 {
        if let Some(&i) = self.index.get(&span) {
            return i;
        }
        let (line, col) = self.lines.line_col(span.start);
        let (end_line, end_col) = self.lines.line_col(span.end);
        let i = self.table.len() as u32;
        self.table.push(SourceLoc { line: line as u32, col: col as u32, end_line: end_line as u32, end_col: end_col as u32 });
        self.index.insert(span, i);
        i
    }
}

struct Gen<'a, 'b> {
    ir: &'a Ir,
    party: PartyId,
    regs: HashMap<NodeId, Reg>,
    n_regs: u32,
    inputs: Vec<InputDecl>,
    locs: &'b mut Locs<'a>,
}

impl Gen<'_, '_> {
    fn fresh(&mut self, node: Option<NodeId>) -> Reg {
        let r = self.n_regs;
        self.n_regs += 1;
        if let Some(n) = node {
            self.regs.insert(n, r);
        }
        r
    }

    fn reg(&self, node: NodeId) -> Result<Reg, String> {
        self.regs.get(&node).copied().ok_or_else(|| format!("party {} uses %{} before it has it", self.party, node.index()))
    }

    fn block(&mut self, steps: &[Step]) -> Result<Block, String> {
        let mut block = Block::default();
        for step in steps {
            let instr = self.instr(step)?;
            block.code.push(instr);
            let span = self.ir.node(step.node).span;
            block.locs.push(self.locs.get(span));
        }
        Ok(block)
    }

    fn instr(&mut self, step: &Step) -> Result<Instr, String> {
        let ir = self.ir;
        let node = ir.node(step.node);
        // A receiving party never holds the operand: the owner's private value stays with the owner.
        let operands: Vec<Reg> = match step.role {
            Role::ShareRecv { .. } | Role::RecvPlain { .. } => vec![],
            _ if matches!(node.op, Op::Loop { .. } | Op::If { .. } | Op::Psi { .. }) => vec![],
            _ => ir.operands(step.node).into_iter().map(|o| self.reg(o)).collect::<Result<_, _>>()?,
        };
        let seq = step.seq.unwrap_or(u32::MAX);
        let src = operands.first().copied().unwrap_or(0);
        let arg = |i: usize| operands.get(i).copied().ok_or_else(|| format!("%{} lacks operand {i}", step.node.index()));
        let (dtype, shape) = (node.ty.dtype, node.ty.shape.clone());
        let defines = !matches!(step.role, Role::RevealSend { .. } | Role::SendPlain { .. })
            && !matches!(node.op, Op::Output { .. } | Op::Loop { .. } | Op::If { .. } | Op::Psi { .. });
        let dst = if defines { self.fresh(Some(step.node)) } else { 0 };
        Ok(match step.role {
            Role::ShareOwn => Instr::ShareOwn { dst, src, shape },
            Role::ShareRecv { owner } => Instr::ShareRecv { dst, owner, dtype, shape },
            Role::RevealSend { to } => Instr::RevealSend { src, to, seq },
            Role::RevealRecv => Instr::RevealRecv { dst, src, seq },
            Role::RevealAll => Instr::RevealAll { dst, src, seq },
            Role::SendPlain { to } => Instr::SendPlain { src, to, seq },
            Role::RecvPlain { from } => Instr::RecvPlain { dst, from, dtype, shape, seq },
            Role::Psi => self.psi(step, seq)?,
            Role::Compute => match &node.op {
                Op::Input { name } => {
                    let loc = self.locs.get(node.span);
                    self.inputs.push(InputDecl { name: name.clone(), dtype, shape, loc });
                    Instr::Input { dst, input: self.inputs.len() as u32 - 1 }
                }
                Op::Const(value) => Instr::Const { dst, value: *value },
                Op::Unary(op) => Instr::Unary { dst, op: *op, a: src, seq },
                Op::Binary(op) => Instr::Binary { dst, op: *op, a: arg(0)?, b: arg(1)?, seq },
                Op::Select => Instr::Select { dst, c: arg(0)?, a: arg(1)?, b: arg(2)?, seq },
                Op::Reduce { op, axis } => Instr::Reduce { dst, op: *op, a: src, axis: *axis as u32, seq },
                Op::Reshape => Instr::Reshape { dst, a: src, shape },
                Op::Slice { ranges } => Instr::Slice { dst, a: src, ranges: ranges.clone() },
                Op::Gather { axis } => Instr::Gather { dst, a: arg(0)?, index: arg(1)?, axis: *axis as u32 },
                Op::Fill(value) => Instr::Fill { dst, value: *value, shape },
                Op::Constant(id) => Instr::Constant { dst, id: *id },
                Op::Arange => Instr::Arange { dst, len: shape.first().cloned().ok_or("arange without a length")? },
                Op::DimValue(d) => Instr::DimValue { dst, dim: d.clone() },
                Op::Random => Instr::Random { dst, shape },
                Op::Transpose => Instr::Transpose { dst, a: src },
                Op::Sum { axis } => Instr::Sum { dst, a: src, axis: *axis as u32 },
                Op::Concat { axis } => Instr::Concat { dst, parts: operands.clone(), axis: *axis as u32 },
                Op::Cast(to) => Instr::Cast { dst, a: src, to: *to },
                Op::Output { name } => Instr::Output { src, name: name.clone() },
                Op::Loop { body, carried } => self.lp(step, *body, *carried)?,
                Op::If { .. } => self.branch(step)?,
                Op::Share | Op::Reveal { .. } | Op::Send { .. } | Op::LoopIndex | Op::LoopParam { .. } | Op::Yield | Op::LoopResult { .. } | Op::IfResult { .. } | Op::Psi { .. } | Op::PsiResult { .. } => {
                    return Err(format!("%{} ({}) has no instruction of its own", step.node.index(), node.op.name()))
                }
            },
        })
    }

    /// A `psi`: an owner passes its key columns and receives its rows; any other party only
    /// learns the size.
    fn psi(&mut self, step: &Step, seq: u32) -> Result<Instr, String> {
        let ir = self.ir;
        let Op::Psi { columns, size, keep_first, names } = &ir.node(step.node).op else { return Err("a psi step without a psi".into()) };
        let operands = ir.operands(step.node);
        let owner = |o: NodeId| match ir.node(o).ty.placement {
            crate::ir::Placement::Party(p) => Ok(p),
            _ => Err(format!("psi keys %{} belong to no party", o.index())),
        };
        let sides = [&operands[..*columns], &operands[*columns..]];
        let owners = [owner(sides[0][0])?, owner(sides[1][0])?];
        let mut keys = Vec::new();
        let mut dst = None;
        if let Some(side) = owners.iter().position(|&p| p == self.party) {
            keys = sides[side].iter().map(|&o| self.reg(o)).collect::<Result<_, _>>()?;
            let result = ir.users(step.node).into_iter().find(|&u| matches!(ir.node(u).op, Op::PsiResult { index } if index == side));
            dst = Some(self.fresh(result));
        }
        Ok(Instr::Psi { owners, keys, dst, size: *size, keep_first: *keep_first, names: names.clone(), seq })
    }

    /// An `if`: its condition, both branches, and the results this party holds.
    fn branch(&mut self, step: &Step) -> Result<Instr, String> {
        let ir = self.ir;
        let operands = ir.operands(step.node);
        let [cond, then_yield, else_yield] = operands[..] else { return Err("an if without its three operands".into()) };
        let cond = self.reg(cond)?;
        let then = self.block(&step.body)?;
        let otherwise = self.block(&step.otherwise)?;
        let (then_values, else_values) = (ir.operands(then_yield), ir.operands(else_yield));
        let mut results = Vec::new();
        for i in results_for(ir, step.node, self.party) {
            let result_node = ir.users(step.node).into_iter().find(|&u| matches!(ir.node(u).op, Op::IfResult { index } if index == i));
            let then_src = self.reg(*then_values.get(i).ok_or("then yield too short")?)?;
            let else_src = self.reg(*else_values.get(i).ok_or("else yield too short")?)?;
            results.push(Merge { dst: self.fresh(result_node), then_src, else_src });
        }
        Ok(Instr::If { cond, then, otherwise, results })
    }

    /// A loop: its trip count, the carried values this party holds, and its body.
    fn lp(&mut self, step: &Step, body: crate::ir::RegionId, carried: usize) -> Result<Instr, String> {
        let ir = self.ir;
        let operands = ir.operands(step.node);
        let trip = self.reg(operands[0])?;
        let yield_node = *operands.last().ok_or("loop without yield")?;
        let body_nodes: Vec<NodeId> = ir.graph.node_indices().filter(|&n| ir.node(n).region == body).collect();
        let index_node = body_nodes.iter().copied().find(|&n| matches!(ir.node(n).op, Op::LoopIndex));
        let index = index_node.map(|n| self.fresh(Some(n)));
        let held = carried_for(ir, step.node, self.party);
        let mut carries = Vec::new();
        for &i in &held {
            let param_node = body_nodes.iter().copied().find(|&n| matches!(ir.node(n).op, Op::LoopParam { index } if index == i));
            let init = self.reg(operands[1 + i])?;
            let param = self.fresh(param_node);
            carries.push(Carry { init, param, next: 0 });
        }
        let block = self.block(&step.body)?;
        let nexts = ir.operands(yield_node);
        for (c, &i) in carries.iter_mut().zip(&held) {
            let next = *nexts.get(i).ok_or("yield lacks a carried value")?;
            c.next = self.reg(next)?;
        }
        // After the loop, result i is the carried register's last value.
        for user in ir.users(step.node) {
            if let Op::LoopResult { index } = ir.node(user).op {
                if let Some(pos) = held.iter().position(|&i| i == index) {
                    self.regs.insert(user, carries[pos].param);
                }
            }
        }
        let _ = carried;
        Ok(Instr::Loop { trip, index, carried: carries, body: block })
    }
}
