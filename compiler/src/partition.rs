//! Partition: one segment per party.
//!
//! A party's segment holds its private ops, every public and secret op (each party runs all of
//! them on its shares: multi-controller execution), and its side of every communication. Each
//! message-passing step gets a sequence number here, at compile time, in schedule order; both
//! sides of an exchange carry the same number, so they pair up without run-time coordination.

use crate::ir::{BinOp, Ir, NodeId, Op, PartyId, Placement};
use sf_isa::Seq;
use std::collections::BTreeMap;
use std::fmt::Write;

/// What a party does with one IR node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs the op on its own values (plaintext or shares).
    Compute,
    ShareOwn,
    ShareRecv { owner: PartyId },
    RevealSend { to: PartyId },
    RevealRecv,
    RevealAll,
    SendPlain { to: PartyId },
    RecvPlain { from: PartyId },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub node: NodeId,
    pub role: Role,
    /// Set on every step that sends or receives a message.
    pub seq: Option<Seq>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartySegment {
    pub party: PartyId,
    pub steps: Vec<Step>,
}

/// Whether a compute step on secrets may exchange messages: a Beaver multiplication, or the
/// truncation after a fixed-point product, which takes a round for three or more parties.
fn needs_round(ir: &Ir, node: NodeId) -> bool {
    let n = ir.node(node);
    matches!(n.op, Op::Binary(BinOp::Mul | BinOp::MatMul)) && n.ty.placement == Placement::Secret
}

pub fn partition(ir: &Ir) -> Vec<PartySegment> {
    let parties = ir.parties.len() as PartyId;
    let mut segments: Vec<PartySegment> = (0..parties).map(|party| PartySegment { party, steps: Vec::new() }).collect();
    let mut next_seq: Seq = 0;
    for node in ir.schedule() {
        let n = ir.node(node);
        let operand_owner = ir.operands(node).first().and_then(|&o| match ir.node(o).ty.placement {
            Placement::Party(p) => Some(p),
            _ => None,
        });
        let mut seq = None;
        let roles: Vec<(PartyId, Role)> = match (&n.op, n.ty.placement) {
            (Op::Share, _) => match operand_owner {
                Some(owner) => (0..parties).map(|p| (p, if p == owner { Role::ShareOwn } else { Role::ShareRecv { owner } })).collect(),
                // A public value is shared by party 0 holding it and everyone else holding zero.
                None => (0..parties).map(|p| (p, if p == 0 { Role::ShareOwn } else { Role::ShareRecv { owner: 0 } })).collect(),
            },
            (Op::Reveal { to: Some(to) }, _) => {
                seq = Some(next_seq);
                (0..parties).map(|p| (p, if p == *to { Role::RevealRecv } else { Role::RevealSend { to: *to } })).collect()
            }
            (Op::Reveal { to: None }, _) => {
                seq = Some(next_seq);
                (0..parties).map(|p| (p, Role::RevealAll)).collect()
            }
            (Op::Send { to }, _) => {
                seq = Some(next_seq);
                let from = operand_owner.unwrap_or(0);
                vec![(from, Role::SendPlain { to: *to }), (*to, Role::RecvPlain { from })]
            }
            (_, Placement::Party(p)) => vec![(p, Role::Compute)],
            (_, _) => {
                if needs_round(ir, node) {
                    seq = Some(next_seq);
                }
                (0..parties).map(|p| (p, Role::Compute)).collect()
            }
        };
        if seq.is_some() {
            next_seq += 1;
        }
        for (party, role) in roles {
            segments[party as usize].steps.push(Step { node, role, seq });
        }
    }
    segments
}

/// Checks the partition's invariants: no segment computes another party's private op, and every
/// sequence number pairs its senders with its receivers. A failure is a compiler bug.
pub fn verify(ir: &Ir, segments: &[PartySegment]) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let mut by_seq: BTreeMap<Seq, Vec<(PartyId, Role)>> = BTreeMap::new();
    for seg in segments {
        for step in &seg.steps {
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
        let sends: Vec<PartyId> = roles.iter().filter_map(|(p, r)| matches!(r, Role::RevealSend { .. } | Role::SendPlain { .. }).then_some(*p)).collect();
        let ok = match roles.iter().map(|(_, r)| *r).find(|r| !matches!(r, Role::RevealSend { .. })) {
            Some(Role::RevealRecv) => roles.len() == n && sends.len() == n - 1,
            Some(Role::RevealAll) | Some(Role::Compute) => roles.len() == n && roles.iter().all(|(_, r)| *r == roles[0].1),
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
        for step in &seg.steps {
            let node = ir.node(step.node);
            let what = match step.role {
                Role::Compute => ir.op_string(step.node),
                Role::ShareOwn => format!("share.own %{}", ir.operands(step.node)[0].index()),
                Role::ShareRecv { owner } => format!("share.recv from={}", ir.party_name(owner)),
                Role::RevealSend { to } => format!("reveal.send %{} to={}", ir.operands(step.node)[0].index(), ir.party_name(to)),
                Role::RevealRecv => format!("reveal.recv %{}", ir.operands(step.node)[0].index()),
                Role::RevealAll => format!("reveal.all %{}", ir.operands(step.node)[0].index()),
                Role::SendPlain { to } => format!("send %{} to={}", ir.operands(step.node)[0].index(), ir.party_name(to)),
                Role::RecvPlain { from } => format!("recv from={}", ir.party_name(from)),
            };
            let seq = step.seq.map(|s| format!("  !seq {s}")).unwrap_or_default();
            let result = match step.role {
                Role::RevealSend { .. } | Role::SendPlain { .. } => "    ".to_string(),
                _ if matches!(node.op, Op::Output { .. }) => "    ".to_string(),
                _ => format!("  %{}: {} = ", step.node.index(), ir.type_string(&node.ty)),
            };
            let _ = writeln!(out, "{result}{what}{seq}");
        }
    }
    out
}
