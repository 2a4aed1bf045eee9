//! Dead-code elimination: removes every node from which no effect (an output) is reachable.
//! Inputs stay: reading them binds shape symbols and checks the data, even when unused. A loop
//! is live when one of its results is; its body then lives through its `yield`.

use crate::ir::{Ir, Op};
use petgraph::visit::{Dfs, Reversed, Walker};

pub fn run(ir: &mut Ir) {
    let roots: Vec<_> = ir
        .graph
        .node_indices()
        .filter(|&n| ir.node(n).op.has_effect() || matches!(ir.node(n).op, Op::Input { .. }))
        .collect();
    let mut live = vec![false; ir.graph.node_count()];
    let reversed = Reversed(&ir.graph);
    for root in roots {
        for n in Dfs::new(reversed, root).iter(reversed) {
            live[n.index()] = true;
        }
    }
    // `filter_map` keeps the survivors in their relative order, so source order still breaks
    // ties in the schedule; region owners are renumbered to match.
    let mut renumber = vec![None; live.len()];
    let mut next = 0u32;
    for (old, &alive) in live.iter().enumerate() {
        if alive {
            renumber[old] = Some(petgraph::graph::NodeIndex::new(next as usize));
            next += 1;
        }
    }
    ir.graph = ir.graph.filter_map(|n, node| live[n.index()].then(|| node.clone()), |_, &e| Some(e));
    for region in &mut ir.regions {
        region.owner = region.owner.and_then(|o| renumber[o.index()]);
    }
}
