//! The IR verifier. A failure here is a compiler bug, never a user error: user errors are
//! reported earlier, by `lower`.
//!
//! Invariants checked on every graph:
//! - the graph is acyclic;
//! - each node's operands sit at positions 0..k without gaps, and k fits the op's arity;
//! - `input` and `const` have no operands; an input is private to one party;
//! - elementwise ops agree on dtype with their result (mixed dtypes were cast by `lower`);
//! - no secret value reaches `output`;
//! - `share` takes a private value to a secret one, `reveal` a secret to private or public,
//!   `send` a private value to another party.
//!
//! Once communication is explicit ([`Stage::Explicit`]), also: every edge that crosses
//! placements goes through `share`, `reveal` or `send`, i.e. a non-communication op has a
//! placement equal to the join of its operands', and a secret op has no private operand.

use super::{Arity, Ir, Op, Placement};
use petgraph::Direction;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// After `lower`: a secret op may still read a private operand directly.
    Lowered,
    /// After `insert_comm`: every placement crossing is a communication op.
    Explicit,
}

/// Checks every invariant; returns the violations found, each naming the node.
pub fn verify(ir: &Ir, stage: Stage) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    if petgraph::algo::is_cyclic_directed(&ir.graph) {
        errors.push("the graph has a cycle".to_string());
    }
    for id in ir.graph.node_indices() {
        let node = ir.node(id);
        let mut fail = |what: String| errors.push(format!("%{} ({}): {what}", id.index(), ir.op_string(id)));
        let mut positions: Vec<u32> = ir.graph.edges_directed(id, Direction::Incoming).map(|e| *e.weight()).collect();
        positions.sort_unstable();
        if positions.iter().enumerate().any(|(i, &p)| p != i as u32) {
            fail(format!("operand positions {positions:?} are not 0..{}", positions.len()));
        }
        let n = positions.len();
        let arity_ok = match node.op.arity() {
            Arity::Exactly(k) => n == k,
            Arity::AtLeast(k) => n >= k,
        };
        if !arity_ok {
            fail(format!("{} operands for arity {:?}", n, node.op.arity()));
        }
        let operands = ir.operands(id);
        let placements: Vec<Placement> = operands.iter().map(|&o| ir.node(o).ty.placement).collect();
        let own = node.ty.placement;
        match &node.op {
            Op::Input { .. } if !matches!(own, Placement::Party(_)) => fail("an input must be private".into()),
            Op::Output { .. } if placements.contains(&Placement::Secret) => fail("a secret reaches output".into()),
            Op::Share => {
                if own != Placement::Secret || !matches!(placements[..], [Placement::Party(_)] | [Placement::Public]) {
                    fail("share must take a private value to a secret one".into());
                }
            }
            Op::Reveal { to } => {
                let want = to.map_or(Placement::Public, Placement::Party);
                if placements[..] != [Placement::Secret] || own != want {
                    fail("reveal must take a secret value to its recipient".into());
                }
            }
            Op::Send { to } => match placements[..] {
                [Placement::Party(from)] if from != *to && own == Placement::Party(*to) => {}
                _ => fail("send must take one party's value to another party".into()),
            },
            Op::Binary(_) => {
                for &o in &operands {
                    if ir.node(o).ty.dtype != node.ty.dtype {
                        fail(format!("operand %{} has dtype {} but the result is {}", o.index(), ir.node(o).ty.dtype, node.ty.dtype));
                    }
                }
            }
            _ => {}
        }
        if !node.op.is_communication() && !placements.is_empty() {
            let joined = placements.iter().copied().reduce(Placement::join).unwrap_or(Placement::Public);
            if joined != own {
                fail(format!("placement @{} is not the join of its operands' @{}", ir.placement_name(own), ir.placement_name(joined)));
            }
            if stage == Stage::Explicit && own == Placement::Secret && placements.iter().any(|p| matches!(p, Placement::Party(_))) {
                fail("a secret op reads a private operand without `share`".into());
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
