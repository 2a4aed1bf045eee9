//! Partition: one segment per party.
//!
//! A party's segment holds its private ops, every public and secret op (each party runs all of
//! them on its shares: multi-controller execution), and its side of every communication. Each
//! step that may exchange messages gets a sequence number here, at compile time, in schedule
//! order; both sides of an exchange carry the same number, so they pair up without run-time
//! coordination. A loop is one step whose body is the party's steps of the loop body; at run
//! time the iteration number extends the sequence number.

use crate::ir::{Ir, NodeId, Op, PartyId, Placement, RegionId, TOP};
use sf_isa::Seq;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// What a party does with one IR node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs the op on its own values (plaintext or shares); for a loop, runs its body.
    Compute,
    ShareOwn,
    ShareRecv { owner: PartyId },
    RevealSend { to: PartyId },
    RevealRecv,
    RevealAll,
    SendPlain { to: PartyId },
    RecvPlain { from: PartyId },
    /// Takes part in a `psi`: an owner with its keys, every other party to learn the size.
    Psi,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub node: NodeId,
    pub role: Role,
    /// Set on every step that may send or receive a message.
    pub seq: Option<Seq>,
    /// The party's steps of a loop's body or an `if`'s first branch; empty for every other op.
    pub body: Vec<Step>,
    /// The party's steps of an `if`'s second branch.
    pub otherwise: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartySegment {
    pub party: PartyId,
    pub steps: Vec<Step>,
}

/// Whether a node may exchange messages: communication, and every op on secrets that is not
/// local (products, comparisons, nonlinear functions); purely local ones waste a number, no more.
fn numbered(ir: &Ir, node: NodeId) -> bool {
    let n = ir.node(node);
    n.op.is_communication() || matches!(n.op, Op::Psi { .. }) || (n.ty.placement == Placement::Secret && !n.op.is_control())
}

fn number(ir: &Ir, region: RegionId, next: &mut Seq, out: &mut HashMap<NodeId, Seq>) {
    for node in ir.schedule(region) {
        if numbered(ir, node) {
            out.insert(node, *next);
            *next += 1;
        }
        match ir.node(node).op {
            Op::Loop { body, .. } => number(ir, body, next, out),
            Op::If { then, otherwise, .. } => {
                number(ir, then, next, out);
                number(ir, otherwise, next, out);
            }
            _ => {}
        }
    }
}

pub fn partition(ir: &Ir) -> Vec<PartySegment> {
    let mut seqs = HashMap::new();
    number(ir, TOP, &mut 0, &mut seqs);
    (0..ir.parties.len() as PartyId).map(|party| PartySegment { party, steps: steps(ir, TOP, party, &seqs) }).collect()
}

/// The results of an `if` that `party` holds: those not private to another party.
pub fn results_for(ir: &Ir, if_node: NodeId, party: PartyId) -> Vec<usize> {
    let Op::If { results, .. } = ir.node(if_node).op else { return vec![] };
    (0..results)
        .filter(|&i| {
            let placement = ir.users(if_node).into_iter().find(|&u| matches!(ir.node(u).op, Op::IfResult { index } if index == i)).map(|u| ir.node(u).ty.placement);
            !matches!(placement, Some(Placement::Party(p)) if p != party)
        })
        .collect()
}

/// The carried values of a loop that `party` holds: those not private to another party.
pub fn carried_for(ir: &Ir, loop_node: NodeId, party: PartyId) -> Vec<usize> {
    let Op::Loop { body, carried } = ir.node(loop_node).op else { return vec![] };
    (0..carried)
        .filter(|&i| {
            let placement = ir
                .graph
                .node_indices()
                .find(|&n| matches!(ir.node(n).op, Op::LoopParam { index } | Op::LoopResult { index } if index == i)
                    && (ir.node(n).region == body || ir.operands(n).first() == Some(&loop_node)))
                .map(|n| ir.node(n).ty.placement);
            !matches!(placement, Some(Placement::Party(p)) if p != party)
        })
        .collect()
}

fn steps(ir: &Ir, region: RegionId, party: PartyId, seqs: &HashMap<NodeId, Seq>) -> Vec<Step> {
    let parties = ir.parties.len() as PartyId;
    let mut out = Vec::new();
    for node in ir.schedule(region) {
        let n = ir.node(node);
        let seq = seqs.get(&node).copied();
        let operand_owner = ir.operands(node).first().and_then(|&o| match ir.node(o).ty.placement {
            Placement::Party(p) => Some(p),
            _ => None,
        });
        let step = |role| Some(Step { node, role, seq, body: Vec::new(), otherwise: Vec::new() });
        let s = match (&n.op, n.ty.placement) {
            (Op::LoopIndex | Op::LoopParam { .. } | Op::Yield | Op::LoopResult { .. } | Op::IfResult { .. } | Op::PsiResult { .. }, _) => None,
            (Op::Psi { .. }, _) => step(Role::Psi),
            (Op::Loop { body, .. }, _) => {
                let inner = steps(ir, *body, party, seqs);
                let carries = carried_for(ir, node, party);
                (!inner.is_empty() || !carries.is_empty()).then(|| Step { node, role: Role::Compute, seq: None, body: inner, otherwise: Vec::new() })
            }
            (Op::If { then, otherwise, .. }, _) => {
                let (a, b) = (steps(ir, *then, party, seqs), steps(ir, *otherwise, party, seqs));
                let held = results_for(ir, node, party);
                (!a.is_empty() || !b.is_empty() || !held.is_empty()).then(|| Step { node, role: Role::Compute, seq: None, body: a, otherwise: b })
            }
            (Op::Share, _) => {
                let owner = operand_owner.unwrap_or(0);
                step(if party == owner { Role::ShareOwn } else { Role::ShareRecv { owner } })
            }
            (Op::Reveal { to: Some(to) }, _) => step(if party == *to { Role::RevealRecv } else { Role::RevealSend { to: *to } }),
            (Op::Reveal { to: None }, _) => step(Role::RevealAll),
            (Op::Send { to }, _) => {
                let from = operand_owner.unwrap_or(0);
                if party == from {
                    step(Role::SendPlain { to: *to })
                } else if party == *to {
                    step(Role::RecvPlain { from })
                } else {
                    None
                }
            }
            (_, Placement::Party(p)) if p != party => None,
            _ => step(Role::Compute),
        };
        let _ = parties;
        out.extend(s);
    }
    out
}

fn flatten<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
    for s in steps {
        out.push(s);
        flatten(&s.body, out);
        flatten(&s.otherwise, out);
    }
}

/// Checks the partition's invariants: no segment computes another party's private op, and every
/// sequence number pairs its senders with its receivers. A failure is a compiler bug.
pub fn verify(ir: &Ir, segments: &[PartySegment]) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let mut by_seq: BTreeMap<Seq, Vec<(PartyId, Role)>> = BTreeMap::new();
    for seg in segments {
        let mut all = Vec::new();
        flatten(&seg.steps, &mut all);
        for step in all {
            let placement = ir.node(step.node).ty.placement;
            if step.role == Role::Compute && matches!(placement, Placement::Party(p) if p != seg.party) {
                errors.push(format!("segment {} computes %{}, private to {}", ir.party_name(seg.party), step.node.index(), ir.placement_name(placement)));
            }
            if let Some(seq) = step.seq {
                by_seq.entry(seq).or_default().push((seg.party, step.role));
            }
        }
    }
    let n = segments.len();
    for (seq, roles) in by_seq {
        let sends = roles.iter().filter(|(_, r)| matches!(r, Role::RevealSend { .. } | Role::SendPlain { .. })).count();
        let ok = match roles.iter().map(|(_, r)| *r).find(|r| !matches!(r, Role::RevealSend { .. })) {
            Some(Role::RevealRecv) => roles.len() == n && sends == n - 1,
            Some(Role::RevealAll) | Some(Role::ShareOwn) | Some(Role::ShareRecv { .. }) => roles.len() == n,
            Some(Role::Psi) => roles.len() == n && roles.iter().all(|(_, r)| *r == Role::Psi),
            Some(Role::Compute) => roles.iter().all(|(_, r)| *r == Role::Compute) && (roles.len() == n || roles.len() == 1),
            Some(Role::SendPlain { to }) => roles.len() == 2 && roles.iter().any(|&(p, r)| p == to && matches!(r, Role::RecvPlain { .. })),
            Some(Role::RecvPlain { from }) => roles.len() == 2 && roles.iter().any(|&(p, r)| p == from && matches!(r, Role::SendPlain { .. })),
            _ => false,
        };
        if !ok {
            errors.push(format!("sequence number {seq} does not pair up: {roles:?}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The segments as text, printed by `sfc compile --emit segments`.
pub fn to_text(ir: &Ir, segments: &[PartySegment]) -> String {
    let mut out = String::new();
    for seg in segments {
        let _ = writeln!(out, "segment {}:", ir.party_name(seg.party));
        steps_text(ir, &seg.steps, 1, &mut out);
    }
    out
}

fn steps_text(ir: &Ir, steps: &[Step], depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    for step in steps {
        let node = ir.node(step.node);
        let operand = |i: usize| ir.operands(step.node).get(i).map_or("?".to_string(), |o| format!("%{}", o.index()));
        let what = match step.role {
            Role::Compute => ir.op_string(step.node),
            Role::ShareOwn => format!("share.own {}", operand(0)),
            Role::ShareRecv { owner } => format!("share.recv from={}", ir.party_name(owner)),
            Role::RevealSend { to } => format!("reveal.send {} to={}", operand(0), ir.party_name(to)),
            Role::RevealRecv => format!("reveal.recv {}", operand(0)),
            Role::RevealAll => format!("reveal.all {}", operand(0)),
            Role::SendPlain { to } => format!("send {} to={}", operand(0), ir.party_name(to)),
            Role::RecvPlain { from } => format!("recv from={}", ir.party_name(from)),
            Role::Psi => ir.op_string(step.node),
        };
        let seq = step.seq.map(|s| format!("  !seq {s}")).unwrap_or_default();
        let defines = !matches!(step.role, Role::RevealSend { .. } | Role::SendPlain { .. }) && !matches!(node.op, Op::Output { .. } | Op::Loop { .. } | Op::If { .. } | Op::Psi { .. });
        let result = if defines { format!("%{}: {} = ", step.node.index(), ir.type_string(&node.ty)) } else { String::new() };
        let _ = writeln!(out, "{indent}{result}{what}{seq}");
        if matches!(node.op, Op::Loop { .. } | Op::If { .. }) {
            let _ = writeln!(out, "{indent}{{");
            steps_text(ir, &step.body, depth + 1, out);
            if matches!(node.op, Op::If { .. }) {
                let _ = writeln!(out, "{indent}}} else {{");
                steps_text(ir, &step.otherwise, depth + 1, out);
            }
            let _ = writeln!(out, "{indent}}}");
        }
    }
}
