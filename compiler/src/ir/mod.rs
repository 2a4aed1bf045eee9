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
//! Loops stay loops. A `loop` node owns a region: the nodes of its body, which run once per
//! iteration. The body reads the iteration number through `loop.index`, the values it carries
//! from one iteration to the next through `loop.param i`, and hands the next iteration's values
//! to a `yield` node, the loop node's last operand. After the loop, `loop.result i` is carried
//! value i. A body may read any value of an enclosing region (a capture); nothing outside a body
//! reads a node inside it except through `loop.result`. So a loop of 10 or 10,000 iterations is
//! the same graph, and the module does not grow with the trip count.
//!
//! Side effects (outputs and communication) happen in [`Ir::schedule`] order: per region, a
//! topological order by communication depth (how many rounds stand between the node and the
//! region's start), in which each depth's communicating nodes come first, secret products
//! leading, then its local nodes; ties go by node index, i.e. by source order. So independent
//! products at one depth stand side by side in every party's segment, where the VM sends them
//! in one round; the order is the same on every run.

pub mod display;
pub mod verify;

use crate::syntax::ast::Span;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
pub use sf_isa::{BinOp, DType, Dim, Literal, PartyId, ReduceOp, Shape, SliceRange, SymId, UnaryOp};
use std::collections::BinaryHeap;
use std::cmp::Reverse;

/// A node of the IR; displays as `%N`, as in the textual IR.
pub type NodeId = NodeIndex<u32>;

/// A region: the top level (0), the body of a loop, or a branch of an `if`.
pub type RegionId = u32;
pub const TOP: RegionId = 0;

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Region {
    /// The loop or `if` node whose body or branch this is; `None` for the top level.
    pub owner: Option<NodeId>,
}

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
    Unary(UnaryOp),
    Binary(BinOp),
    /// `select(c, a, b)`: operands c, a, b.
    Select,
    Reduce { op: ReduceOp, axis: usize },
    /// To the shape of the node's type.
    Reshape,
    Slice { ranges: Vec<SliceRange> },
    /// Operands: the tensor, then public positions along `axis`.
    Gather { axis: usize },
    /// The public integers 0..n, n being the one dimension of the node's shape.
    Arange,
    /// Private uniform random numbers in [0, 1), of the node's shape, on its party.
    Random,
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
    /// Public constant `0` of the program's table (`load`).
    Constant(u32),
    /// A fixed-point or integer tensor filled with one public value; its shape is its type's.
    Fill(Literal),
    /// A shape dimension as a public integer (`n`, `len(x)`).
    DimValue(Dim),
    /// Runs region `body` as many times as its first operand says. Operands: the trip count,
    /// the initial value of each of the `carried` values, then the body's `yield`.
    Loop { body: RegionId, carried: usize },
    /// In a loop body: the iteration number, from 0.
    LoopIndex,
    /// In a loop body: carried value `index` at the start of the iteration.
    LoopParam { index: usize },
    /// In a loop body: the carried values for the next iteration, in order.
    Yield,
    /// After a loop: carried value `index` after the last iteration.
    LoopResult { index: usize },
    /// Runs region `then` or `otherwise` as the public bool operand 0 says. Operands: the
    /// condition, the `yield` of each branch. Each branch yields `results` values.
    If { then: RegionId, otherwise: RegionId, results: usize },
    /// After an `if`: value `index` from the branch that ran.
    IfResult { index: usize },
    /// Private set intersection of two parties' key tables. Operands: the `columns` key columns
    /// of the first side, then those of the second. Binds shape symbol `size` at run time.
    Psi { columns: usize, size: SymId, keep_first: bool, names: [String; 2] },
    /// Side `index` (0 or 1) of a `psi`: that party's row indices of the intersection.
    PsiResult { index: usize },
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
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Select => "select",
            Op::Reduce { op, .. } => op.name(),
            Op::Reshape => "reshape",
            Op::Slice { .. } => "slice",
            Op::Gather { .. } => "gather",
            Op::Arange => "arange",
            Op::Random => "random_uniform",
            Op::Transpose => "transpose",
            Op::Sum { .. } => "sum",
            Op::Concat { .. } => "concat",
            Op::Cast(_) => "cast",
            Op::Share => "share",
            Op::Reveal { .. } => "reveal",
            Op::Send { .. } => "send",
            Op::Output { .. } => "output",
            Op::Constant(_) => "constant",
            Op::Fill(_) => "fill",
            Op::DimValue(_) => "dim",
            Op::Loop { .. } => "loop",
            Op::LoopIndex => "loop.index",
            Op::LoopParam { .. } => "loop.param",
            Op::Yield => "yield",
            Op::LoopResult { .. } => "loop.result",
            Op::If { .. } => "if",
            Op::IfResult { .. } => "if.result",
            Op::Psi { .. } => "psi",
            Op::PsiResult { .. } => "psi.result",
        }
    }

    pub fn arity(&self) -> Arity {
        match self {
            Op::Input { .. } | Op::Const(_) | Op::Constant(_) | Op::Fill(_) | Op::DimValue(_) | Op::LoopIndex | Op::LoopParam { .. }
            | Op::Arange | Op::Random => Arity::Exactly(0),
            Op::Binary(_) | Op::Gather { .. } => Arity::Exactly(2),
            Op::Psi { columns, .. } => Arity::Exactly(2 * columns),
            Op::Select | Op::If { .. } => Arity::Exactly(3),
            Op::Concat { .. } => Arity::AtLeast(1),
            Op::Loop { carried, .. } => Arity::Exactly(carried + 2),
            Op::Yield => Arity::AtLeast(0),
            _ => Arity::Exactly(1),
        }
    }

    /// Structure rather than computation: these nodes define no value of their own.
    pub fn is_control(&self) -> bool {
        matches!(self, Op::Loop { .. } | Op::LoopIndex | Op::LoopParam { .. } | Op::Yield | Op::LoopResult { .. } | Op::If { .. } | Op::IfResult { .. } | Op::Psi { .. } | Op::PsiResult { .. })
    }

    /// Ops whose operand lives in a different placement than their result.
    pub fn is_communication(&self) -> bool {
        matches!(self, Op::Share | Op::Reveal { .. } | Op::Send { .. })
    }

    /// Ops kept even when their result is unused (a `psi` binds a symbol others may use).
    pub fn has_effect(&self) -> bool {
        matches!(self, Op::Output { .. } | Op::Psi { .. })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub ty: Type,
    pub span: Span,
    pub region: RegionId,
}

/// A whole program's IR and the tables it refers to.
#[derive(Clone, Debug)]
pub struct Ir {
    pub graph: DiGraph<Node, u32, u32>,
    pub parties: Vec<String>,
    pub symbols: Vec<String>,
    pub regions: Vec<Region>,
    /// Public constants loaded at compile time.
    pub constants: Vec<sf_isa::Constant>,
}

impl Default for Ir {
    fn default() -> Ir {
        Ir { graph: DiGraph::default(), parties: Vec::new(), symbols: Vec::new(), regions: vec![Region::default()], constants: Vec::new() }
    }
}

impl Ir {
    pub fn add(&mut self, region: RegionId, op: Op, ty: Type, span: Span, operands: &[NodeId]) -> NodeId {
        let id = self.graph.add_node(Node { op, ty, span, region });
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

    pub fn new_region(&mut self) -> RegionId {
        self.regions.push(Region::default());
        self.regions.len() as RegionId - 1
    }

    /// The node of region `r` that contains `n`: `n` itself, or the loop around it; `None` when
    /// `n` lies outside `r`.
    pub fn ancestor_in(&self, mut n: NodeId, r: RegionId) -> Option<NodeId> {
        loop {
            let region = self.node(n).region;
            if region == r {
                return Some(n);
            }
            n = self.regions.get(region as usize)?.owner?;
        }
    }

    /// Whether region `inner` is `outer` or nested in it.
    pub fn region_within(&self, mut inner: RegionId, outer: RegionId) -> bool {
        loop {
            if inner == outer {
                return true;
            }
            match self.regions.get(inner as usize).and_then(|r| r.owner) {
                Some(owner) => inner = self.node(owner).region,
                None => return false,
            }
        }
    }

    /// Whether a node may exchange messages when it runs (conservatively: loops, branches and
    /// every op on secrets that is not a local linear map).
    fn communicates(&self, n: NodeId) -> bool {
        let node = self.node(n);
        let secret = |i: usize| self.operands(n).get(i).is_some_and(|&o| self.node(o).ty.placement == Placement::Secret);
        match &node.op {
            Op::Share | Op::Reveal { .. } | Op::Send { .. } | Op::Loop { .. } | Op::If { .. } | Op::Psi { .. } => true,
            _ if node.ty.placement != Placement::Secret => false,
            Op::Binary(BinOp::Add | BinOp::Sub) | Op::Sum { .. } | Op::Transpose | Op::Reshape | Op::Slice { .. } | Op::Gather { .. } | Op::Concat { .. } => false,
            Op::Unary(UnaryOp::Neg | UnaryOp::Not) => false,
            // By a public or private factor: local but for the truncation, which takes a round
            // with more than two parties.
            Op::Binary(BinOp::Mul | BinOp::MatMul) => (secret(0) && secret(1)) || (node.ty.dtype == DType::Fix && self.parties.len() > 2),
            Op::Binary(BinOp::Div) => secret(1) || (node.ty.dtype == DType::Fix && self.parties.len() > 2),
            _ => true,
        }
    }

    /// A product of two secrets: one Beaver round, which the VM batches with its neighbours.
    fn is_secret_product(&self, n: NodeId) -> bool {
        let secret = |o: &NodeId| self.node(*o).ty.placement == Placement::Secret;
        matches!(self.node(n).op, Op::Binary(BinOp::Mul)) && self.operands(n).iter().all(secret)
    }

    /// The nodes of region `r` in a deterministic topological order: by communication depth,
    /// then communicating nodes before local ones (secret products first among them), then by
    /// node index. Every edge goes from a smaller key to a larger (a communicating node is one
    /// depth deeper than its operands; a local node's operands are created before it), so the
    /// ready queue pops keys in increasing order. A node nested in a loop of `r` counts as that
    /// loop node.
    pub fn schedule(&self, r: RegionId) -> Vec<NodeId> {
        let members: Vec<NodeId> = self.graph.node_indices().filter(|&n| self.node(n).region == r).collect();
        let mut pending = vec![0usize; self.graph.node_count()];
        let mut users: Vec<Vec<NodeId>> = vec![Vec::new(); self.graph.node_count()];
        for e in self.graph.edge_references() {
            let (Some(from), Some(to)) = (self.ancestor_in(e.source(), r), self.ancestor_in(e.target(), r)) else { continue };
            if from != to {
                pending[to.index()] += 1;
                users[from.index()].push(to);
            }
        }
        // A `psi` binds a shape symbol that later nodes may read without an edge to it (a
        // `len` of its result's size): everything created after a psi waits for it.
        let psis: Vec<NodeId> = members.iter().copied().filter(|&n| matches!(self.node(n).op, Op::Psi { .. })).collect();
        for &psi in &psis {
            for &later in members.iter().filter(|&&m| m > psi) {
                pending[later.index()] += 1;
                users[psi.index()].push(later);
            }
        }
        // The deepest operand's depth, known once every operand is scheduled.
        let mut operand_depth = vec![0u32; self.graph.node_count()];
        let key = |n: NodeId, operand_depth: u32| {
            let (talks, product) = (self.communicates(n), self.is_secret_product(n));
            (operand_depth + talks as u32, !talks, !product, n)
        };
        let mut ready: BinaryHeap<Reverse<(u32, bool, bool, NodeId)>> = members.iter().copied().filter(|n| pending[n.index()] == 0).map(|n| Reverse(key(n, 0))).collect();
        let mut order = Vec::with_capacity(members.len());
        while let Some(Reverse((depth, _, _, n))) = ready.pop() {
            order.push(n);
            for &user in &users[n.index()] {
                let u = user.index();
                operand_depth[u] = operand_depth[u].max(depth);
                pending[u] -= 1;
                if pending[u] == 0 {
                    ready.push(Reverse(key(user, operand_depth[u])));
                }
            }
        }
        order
    }

    /// The users of `n`, in no particular order.
    pub fn users(&self, n: NodeId) -> Vec<NodeId> {
        self.graph.neighbors_directed(n, Direction::Outgoing).collect()
    }

    pub fn party_name(&self, p: PartyId) -> &str {
        self.parties.get(p as usize).map_or("?", String::as_str)
    }
}
