//! The typed dataflow IR.
//!
//! A program is one directed acyclic graph on petgraph. A node is an operation with its result
//! type: dtype, symbolic shape and placement, plus the source span it came from. An edge goes from
//! an operand to its user and carries the operand's position, so operand order lives in the graph
//! and nowhere else.
//!
//! Placement says who can see a value: one party (`@alice`, plaintext on that party), every party
//! (`@pub`), or nobody (`@spu`, secret-shared). A well-formed graph after the `insert_comm` pass
//! crosses placements only through the communication ops `share`, `reveal` and `send`; the
//! verifier (see [`verify`]) checks exactly this and the other invariants listed there.
//!
//! Side effects (outputs and communication) happen in [`Ir::schedule`] order: a topological order
//! that breaks ties by node index, i.e. by source order, so it is the same on every run.

pub mod display;
pub mod verify;

use crate::syntax::ast::Span;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
pub use sf_isa::{BinOp, DType, Dim, Literal, PartyId, Shape};
use std::collections::BinaryHeap;
use std::cmp::Reverse;

/// A node of the IR; displays as `%N`, as in the textual IR.
pub type NodeId = NodeIndex<u32>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Plaintext, held by one party only.
    Party(PartyId),
    /// Secret-shared among all parties.
    Secret,
    /// Plaintext, held by every party.
    Public,
}

impl Placement {
    /// The placement of an op's result given its operands': private op private of the same owner
    /// stays private; private op public stays private; anything else mixed is secret.
    pub fn join(self, other: Placement) -> Placement {
        match (self, other) {
            (Placement::Public, p) | (p, Placement::Public) => p,
            (Placement::Party(a), Placement::Party(b)) if a == b => Placement::Party(a),
            _ => Placement::Secret,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Type {
    pub dtype: DType,
    pub shape: Shape,
    pub placement: Placement,
}

/// The operations, each declared once with its name and arity.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Input { name: String },
    Const(Literal),
    Neg,
    Binary(BinOp),
    Transpose,
    Sum { axis: usize },
    Concat { axis: usize },
    Cast(DType),
    /// Private (one party) to secret.
    Share,
    /// Secret to private (`Some(party)`) or to public (`None`).
    Reveal { to: Option<PartyId> },
    /// Private to another party's private.
    Send { to: PartyId },
    Output { name: String },
}

/// How many operands an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    AtLeast(usize),
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Const(_) => "const",
            Op::Neg => "neg",
            Op::Binary(b) => b.name(),
            Op::Transpose => "transpose",
            Op::Sum { .. } => "sum",
            Op::Concat { .. } => "concat",
            Op::Cast(_) => "cast",
            Op::Share => "share",
            Op::Reveal { .. } => "reveal",
            Op::Send { .. } => "send",
            Op::Output { .. } => "output",
        }
    }

    pub fn arity(&self) -> Arity {
        match self {
            Op::Input { .. } | Op::Const(_) => Arity::Exactly(0),
            Op::Binary(_) => Arity::Exactly(2),
            Op::Concat { .. } => Arity::AtLeast(1),
            _ => Arity::Exactly(1),
        }
    }

    /// Ops whose operand lives in a different placement than their result.
    pub fn is_communication(&self) -> bool {
        matches!(self, Op::Share | Op::Reveal { .. } | Op::Send { .. })
    }

    /// Ops kept even when their result is unused.
    pub fn has_effect(&self) -> bool {
        matches!(self, Op::Output { .. })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub ty: Type,
    pub span: Span,
}

/// A whole program's IR and the tables it refers to.
#[derive(Clone, Debug, Default)]
pub struct Ir {
    pub graph: DiGraph<Node, u32, u32>,
    pub parties: Vec<String>,
    pub symbols: Vec<String>,
}

impl Ir {
    pub fn add(&mut self, op: Op, ty: Type, span: Span, operands: &[NodeId]) -> NodeId {
        let id = self.graph.add_node(Node { op, ty, span });
        for (i, &o) in operands.iter().enumerate() {
            self.graph.add_edge(o, id, i as u32);
        }
        id
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.graph[id]
    }

    /// Operands in order.
    pub fn operands(&self, id: NodeId) -> Vec<NodeId> {
        let mut edges: Vec<(u32, NodeId)> =
            self.graph.edges_directed(id, Direction::Incoming).map(|e| (*e.weight(), e.source())).collect();
        edges.sort_unstable();
        edges.into_iter().map(|(_, n)| n).collect()
    }

    /// Replaces operand `index` of `user` with `new`.
    pub fn replace_operand(&mut self, user: NodeId, index: u32, new: NodeId) {
        let edge = self.graph.edges_directed(user, Direction::Incoming).find(|e| *e.weight() == index).map(|e| e.id());
        if let Some(e) = edge {
            self.graph.remove_edge(e);
        }
        self.graph.add_edge(new, user, index);
    }

    /// A deterministic topological order, earliest-created first among ready nodes.
    pub fn schedule(&self) -> Vec<NodeId> {
        let mut pending: Vec<usize> =
            self.graph.node_indices().map(|n| self.graph.edges_directed(n, Direction::Incoming).count()).collect();
        let mut ready: BinaryHeap<Reverse<NodeId>> =
            self.graph.node_indices().filter(|n| pending[n.index()] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(self.graph.node_count());
        while let Some(Reverse(n)) = ready.pop() {
            order.push(n);
            for user in self.graph.neighbors_directed(n, Direction::Outgoing) {
                pending[user.index()] -= 1;
                if pending[user.index()] == 0 {
                    ready.push(Reverse(user));
                }
            }
        }
        order
    }

    pub fn party_name(&self, p: PartyId) -> &str {
        self.parties.get(p as usize).map_or("?", String::as_str)
    }
}
