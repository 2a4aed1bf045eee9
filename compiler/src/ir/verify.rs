//! The IR verifier. A failure here is a compiler bug, never a user error: user errors are
//! reported earlier, by `lower`.
//!
//! Invariants checked on every graph:
//! - the graph is acyclic;
//! - each node's operands sit at positions 0..k without gaps, and k fits the op's arity;
//! - `input` and `const` have no operands; an input is private to one party;
//! - a binary op's operands share one dtype (mixed dtypes were cast by `lower`), which is the
//!   result's, or bool for comparisons and logic;
//! - no secret value reaches `output`;
//! - `share` takes a private value to a secret one, `reveal` a secret to private or public,
//!   `send` a private value to another party.
//!
//! - every region but the top level belongs to one `loop` node; `loop.index`, `loop.param` and
//!   `yield` sit directly in a loop body; a loop's last operand is the `yield` of its own body;
//! - an edge goes from a region to itself or to a region nested in it (a body may read values
//!   from around the loop), never outward, except a body's `yield` to its loop;
//! - a `loop.result` reads a loop and names one of its carried values;
//!
//! Once communication is explicit ([`Stage::Explicit`]), also: every edge that crosses
//! placements goes through `share`, `reveal` or `send`, i.e. a non-communication op has a
//! placement equal to the join of its operands', and a secret op has no private operand.

use super::{Arity, Ir, Op, Placement, TOP};
use petgraph::visit::EdgeRef;
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
    // `toposort` walks with an explicit stack; `is_cyclic_directed` recurses once per node of
    // a dependence chain and overflows the stack on programs of a million operations.
    if petgraph::algo::toposort(&ir.graph, None).is_err() {
        errors.push("the graph has a cycle".to_string());
    }
    for (r, region) in ir.regions.iter().enumerate().skip(1) {
        if let Some(owner) = region.owner {
            let owns = match ir.graph.node_weight(owner).map(|n| &n.op) {
                Some(Op::Loop { body, .. }) => *body as usize == r,
                Some(Op::If { then, otherwise, .. }) => *then as usize == r || *otherwise as usize == r,
                _ => false,
            };
            if !owns {
                errors.push(format!("region {r} is owned by %{}, which is not its loop or if", owner.index()));
            }
        } else if ir.graph.node_indices().any(|n| ir.node(n).region as usize == r) {
            errors.push(format!("region {r} has nodes but no loop"));
        }
    }
    for e in ir.graph.edge_references() {
        let (from, to) = (ir.node(e.source()), ir.node(e.target()));
        let yield_to_loop = match (&from.op, &to.op) {
            (Op::Yield, Op::Loop { body, .. }) => *body == from.region,
            (Op::Yield, Op::If { then, otherwise, .. }) => *then == from.region || *otherwise == from.region,
            _ => false,
        };
        if !yield_to_loop && !ir.region_within(to.region, from.region) {
            errors.push(format!("%{} in region {} is read by %{} in region {}, outside it", e.source().index(), from.region, e.target().index(), to.region));
        }
    }
    for id in ir.graph.node_indices() {
        let node = ir.node(id);
        if (node.region as usize) >= ir.regions.len() {
            errors.push(format!("%{} is in region {}, which does not exist", id.index(), node.region));
            continue;
        }
        let in_body = node.region != TOP && ir.regions[node.region as usize].owner.is_some();
        let in_loop = in_body && matches!(ir.regions[node.region as usize].owner.map(|o| &ir.node(o).op), Some(Op::Loop { .. }));
        if (matches!(node.op, Op::LoopIndex | Op::LoopParam { .. }) && !in_loop) || (matches!(node.op, Op::Yield) && !in_body) {
            errors.push(format!("%{} ({}) is not in a loop body or branch", id.index(), node.op.name()));
        }
        match &node.op {
            Op::Loop { body, carried } => {
                let last = ir.operands(id).last().copied();
                if !matches!(last.map(|l| (&ir.node(l).op, ir.node(l).region)), Some((Op::Yield, r)) if r == *body) {
                    errors.push(format!("%{}: a loop's last operand must be its body's yield", id.index()));
                }
                if let Some(l) = last {
                    if ir.operands(l).len() != *carried {
                        errors.push(format!("%{}: the yield has {} values for {carried} carried", id.index(), ir.operands(l).len()));
                    }
                }
            }
            Op::If { then, otherwise, results } => {
                let ops = ir.operands(id);
                let ok = ops.len() == 3
                    && ir.node(ops[0]).ty.placement == Placement::Public
                    && [(ops[1], *then), (ops[2], *otherwise)].iter().all(|&(y, r)| matches!(ir.node(y).op, Op::Yield) && ir.node(y).region == r && ir.operands(y).len() == *results);
                if !ok {
                    errors.push(format!("%{}: an if takes a public condition and one yield per branch, each of {results} values", id.index()));
                }
            }
            Op::LoopResult { index } => match ir.operands(id).first().map(|&l| &ir.node(l).op) {
                Some(Op::Loop { carried, .. }) if index < carried => {}
                _ => errors.push(format!("%{}: loop.result {index} does not read a loop with that many carried values", id.index())),
            },
            _ => {}
        }
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
            Op::Binary(op) => {
                let dtypes: Vec<_> = operands.iter().map(|&o| ir.node(o).ty.dtype).collect();
                let result_ok = if op.is_comparison() || op.is_logical() { node.ty.dtype == sf_isa::DType::Bool } else { dtypes.first() == Some(&node.ty.dtype) };
                if dtypes.windows(2).any(|w| w[0] != w[1]) || !result_ok {
                    fail(format!("operands of dtypes {dtypes:?} give {}", node.ty.dtype));
                }
            }
            _ => {}
        }
        if !node.op.is_communication() && !node.op.is_control() && !placements.is_empty() {
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
