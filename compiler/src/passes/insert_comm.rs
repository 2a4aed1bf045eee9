//! Makes every placement crossing explicit: a secret op that reads a private value gets a `share`
//! of it in between (one per private value, however many secret ops read it). The share sits
//! where the private value is computed, so a value from before a loop is shared once.

use crate::ir::{Ir, NodeId, Op, Placement, Type};
use std::collections::HashMap;

pub fn run(ir: &mut Ir) {
    let mut shares: HashMap<NodeId, NodeId> = HashMap::new();
    // Latest users first: petgraph unlinks a removed edge by walking its source's list of
    // outgoing edges from the newest, so rewiring the newest use of a value first costs O(1)
    // each; oldest first made a value read by n secret ops cost O(n^2).
    let users: Vec<NodeId> = ir.graph.node_indices().rev().collect();
    for user in users {
        let node = ir.node(user);
        if node.ty.placement != Placement::Secret || node.op.is_communication() || node.op.is_control() {
            continue;
        }
        for (index, operand) in ir.operands(user).into_iter().enumerate() {
            let src = ir.node(operand);
            if !matches!(src.ty.placement, Placement::Party(_)) {
                continue;
            }
            let share = match shares.get(&operand) {
                Some(&s) => s,
                None => {
                    let ty = Type { placement: Placement::Secret, ..src.ty.clone() };
                    let (span, region) = (src.span, src.region);
                    let s = ir.add(region, Op::Share, ty, span, &[operand]);
                    shares.insert(operand, s);
                    s
                }
            };
            ir.replace_operand(user, index as u32, share);
        }
    }
}
