//! Types in lowering: annotations, symbolic shapes, broadcasting, conversions between dtypes and
//! placements.

use super::{Lower, Val};
use crate::diagnostics as diag;
use crate::ir::{DType, Dim, Literal, NodeId, Op, PartyId, Placement, Shape, Type};
use crate::syntax::ast::{DimAnn, Ident, Span, TypeAnn};
use sf_isa::display_shape;

impl Lower {
    pub(crate) fn ty(&self, v: NodeId) -> &Type {
        &self.ir.node(v).ty
    }

    pub(crate) fn node_span(&self, v: NodeId) -> Span {
        self.ir.node(v).span
    }

    pub(crate) fn shape_str(&self, shape: &Shape) -> String {
        display_shape(shape, &self.ir.symbols)
    }

    pub(crate) fn type_str(&self, ty: &Type) -> String {
        self.ir.type_string(ty)
    }

    pub(crate) fn party(&mut self, id: &Ident) -> Option<PartyId> {
        match self.ir.parties.iter().position(|p| *p == id.name) {
            Some(i) => Some(i as PartyId),
            None => {
                let d = diag::unknown_party(id.span, &id.name, &self.ir.parties);
                self.err(d);
                None
            }
        }
    }

    pub(crate) fn placement(&mut self, id: &Ident) -> Option<Placement> {
        match id.name.as_str() {
            "spu" => Some(Placement::Secret),
            "pub" => Some(Placement::Public),
            _ => self.party(id).map(Placement::Party),
        }
    }

    pub(crate) fn dtype(&mut self, id: &Ident) -> Option<DType> {
        match id.name.as_str() {
            "fix" => Some(DType::Fix),
            "int" => Some(DType::Int),
            "bool" => Some(DType::Bool),
            other => {
                self.err(diag::bad_annotation(id.span, &format!("unknown dtype `{other}`"), "the dtypes are `fix`, `int` and `bool`"));
                None
            }
        }
    }

    /// The shape of an annotation. Symbols resolve in the current frame; at the top level, with
    /// `bind`, an unknown symbol becomes a new symbol of the module (inputs bind them).
    pub(crate) fn shape(&mut self, dims: &[DimAnn], bind: bool) -> Option<Shape> {
        let mut shape = Vec::with_capacity(dims.len());
        for d in dims {
            shape.push(match d {
                DimAnn::Const(c, span) => {
                    if *c < 0 || *c > u32::MAX as i64 {
                        self.err(diag::bad_annotation(*span, "a dimension must be between 0 and 2^32", "write a smaller size"));
                        return None;
                    }
                    Dim::constant(*c)
                }
                DimAnn::Sym(id) => match self.frame().symbols.get(&id.name) {
                    Some(d) => d.clone(),
                    None if bind && self.frames.len() == 1 => {
                        let s = self.ir.symbols.len() as u32;
                        self.ir.symbols.push(id.name.clone());
                        self.globals.insert(id.name.clone(), s);
                        self.frame_mut().symbols.insert(id.name.clone(), Dim::symbol(s));
                        Dim::symbol(s)
                    }
                    None => {
                        self.err(diag::bad_annotation(
                            id.span,
                            &format!("unknown shape symbol `{}`", id.name),
                            "shape symbols are bound by inputs (`input(\"x\")` declared `fix[n, 3]`) or by a function's parameters",
                        ));
                        return None;
                    }
                },
            });
        }
        Some(shape)
    }

    /// Checks a value against an annotation and applies what it asks (a cast, a share). With
    /// `bind`, shape symbols not yet known in this frame bind to the value's dimensions (for a
    /// function's parameters).
    pub(crate) fn annotate(&mut self, v: NodeId, ann: &TypeAnn, value_span: Span, bind: bool) -> Val {
        let mut v = v;
        if let Some(d) = &ann.dtype {
            let want = self.dtype(d)?;
            let have = self.ty(v).dtype;
            if have == DType::Int && want == DType::Fix {
                v = self.cast(v, DType::Fix);
            } else if have != want {
                self.err(diag::dtype_mismatch(d.span, format!("declared {want} but the value is {have}"), "convert the value or change the annotation"));
                return None;
            }
        }
        if let Some(dims) = &ann.shape {
            let actual = self.ty(v).shape.clone();
            if bind && dims.len() == actual.len() {
                for (d, a) in dims.iter().zip(&actual) {
                    if let crate::syntax::ast::DimAnn::Sym(id) = d {
                        if !self.frame().symbols.contains_key(&id.name) {
                            self.frame_mut().symbols.insert(id.name.clone(), a.clone());
                        }
                    }
                }
            }
            let declared = self.shape(dims, false)?;
            let differs = declared.len() != actual.len() || declared.iter().zip(&actual).any(|(a, b)| provably_different(a, b));
            if differs {
                let d = diag::annotation_shape(ann.span, &self.shape_str(&declared), &self.shape_str(&actual), value_span);
                self.err(d);
                return None;
            }
        }
        if let Some(p) = &ann.placement {
            let want = self.placement(p)?;
            v = self.place(v, want, ann.span, value_span)?;
        }
        Some(v)
    }

    /// Moves a value to a wanted placement where information flow allows it without an explicit
    /// `reveal` or `send`: private or public to secret (a share); public to private.
    pub(crate) fn place(&mut self, v: NodeId, want: Placement, at: Span, value_span: Span) -> Val {
        let have = self.ty(v).placement;
        match (want, have) {
            (w, h) if w == h => Some(v),
            (Placement::Party(_), Placement::Public) => Some(v),
            (Placement::Secret, Placement::Public | Placement::Party(_)) => Some(self.share(v, at)),
            (Placement::Party(w), Placement::Secret) => {
                let d = diag::leak_secret(at, value_span, self.ir.party_name(w));
                self.err(d);
                None
            }
            (Placement::Party(w), Placement::Party(h)) => {
                let (owner, to) = (self.ir.party_name(h).to_string(), self.ir.party_name(w).to_string());
                self.err(diag::leak_private(at, value_span, &owner, &to));
                None
            }
            (Placement::Public, h) => {
                let what = if h == Placement::Secret { "secret".to_string() } else { format!("private ({})", self.ir.placement_name(h)) };
                self.err(diag::leak_to_public(at, value_span, &what));
                None
            }
            _ => Some(v),
        }
    }

    /// Converts `v` to `target`'s dtype and placement (for loop-carried values).
    pub(crate) fn coerce(&mut self, v: NodeId, target: &Type, span: Span) -> NodeId {
        let mut v = v;
        if self.ty(v).dtype != target.dtype && target.dtype == DType::Fix {
            v = self.cast(v, DType::Fix);
        }
        let have = self.ty(v).placement;
        if have != target.placement && target.placement == Placement::Secret {
            v = self.share(v, span);
        }
        v
    }

    pub(crate) fn cast(&mut self, v: NodeId, to: DType) -> NodeId {
        let node = self.ir.node(v).clone();
        if let (Op::Const(Literal::Int(i)), DType::Fix) = (&node.op, to) {
            let ty = Type { dtype: DType::Fix, ..node.ty };
            return self.ir.add(self.region, Op::Const(Literal::Fix(*i as f64)), ty, node.span, &[]);
        }
        let ty = Type { dtype: to, ..node.ty };
        self.ir.add(self.region, Op::Cast(to), ty, node.span, &[v])
    }

    pub(crate) fn share(&mut self, v: NodeId, span: Span) -> NodeId {
        let ty = Type { placement: Placement::Secret, ..self.ty(v).clone() };
        self.add(Op::Share, ty, span, &[v])
    }

    /// Casts an int operand to fix when the other is fix. Bools mix only with bools.
    pub(crate) fn unify_dtypes(&mut self, a: NodeId, b: NodeId, span: Span, allow_bool: bool) -> Option<(NodeId, NodeId)> {
        match (self.ty(a).dtype, self.ty(b).dtype) {
            (DType::Bool, DType::Bool) if allow_bool => Some((a, b)),
            (x, y) if x == y && x != DType::Bool => Some((a, b)),
            (DType::Int, DType::Fix) => Some((self.cast(a, DType::Fix), b)),
            (DType::Fix, DType::Int) => Some((a, self.cast(b, DType::Fix))),
            (x, y) => {
                self.err(diag::dtype_mismatch(span, format!("this operation does not take {x} and {y}"), "arithmetic takes `fix` and `int`; `&&` and `||` take `bool`"));
                None
            }
        }
    }

    pub(crate) fn matmul_shape(&mut self, a: &Shape, b: &Shape, span: Span, spans: (Span, Span)) -> Option<Shape> {
        let (ls, rs) = (self.shape_str(a), self.shape_str(b));
        let (k1, k2, out) = match (a.len(), b.len()) {
            (2, 2) => (&a[1], &b[0], vec![a[0].clone(), b[1].clone()]),
            (2, 1) => (&a[1], &b[0], vec![a[0].clone()]),
            (1, 2) => (&a[0], &b[0], vec![b[1].clone()]),
            (1, 1) => (&a[0], &b[0], vec![]),
            _ => {
                self.err(diag::shape_mismatch(span, "`@` (it takes vectors and matrices)", (spans.0, ls), (spans.1, rs)));
                return None;
            }
        };
        if provably_different(k1, k2) {
            self.err(diag::shape_mismatch(span, "`@` (inner dimensions differ)", (spans.0, ls), (spans.1, rs)));
            return None;
        }
        Some(out)
    }

    /// The compile-time value of a node, when it has one.
    pub(crate) fn constant(&self, v: NodeId) -> Option<Literal> {
        match &self.ir.node(v).op {
            Op::Const(l) => Some(*l),
            Op::DimValue(d) => d.as_const().map(Literal::Int),
            _ => None,
        }
    }
}

/// The least type that holds both (for values carried through a loop): placements join, int
/// widens to fix. `None` when the dtypes cannot meet.
pub(crate) fn widen(a: &Type, b: &Type) -> Option<Type> {
    let dtype = match (a.dtype, b.dtype) {
        (x, y) if x == y => x,
        (DType::Int, DType::Fix) | (DType::Fix, DType::Int) => DType::Fix,
        _ => return None,
    };
    Some(Type { dtype, shape: a.shape.clone(), placement: a.placement.join(b.placement) })
}

/// Numpy broadcasting on symbolic shapes. `None` when a mismatch is provable; a mismatch that
/// depends on run-time sizes is checked by the VM.
pub fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = (i + a.len()).checked_sub(rank).map(|j| &a[j]);
        let db = (i + b.len()).checked_sub(rank).map(|j| &b[j]);
        out.push(match (da, db) {
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (Some(x), Some(y)) if x == y => x.clone(),
            (Some(x), Some(y)) if x.as_const() == Some(1) => y.clone(),
            (Some(x), Some(y)) if y.as_const() == Some(1) => x.clone(),
            (Some(x), Some(y)) if provably_different(x, y) => return None,
            // One side symbolic: the constant side wins; the run time checks the rest.
            (Some(x), Some(y)) => {
                if y.as_const().is_some() {
                    y.clone()
                } else {
                    x.clone()
                }
            }
            (None, None) => return None,
        });
    }
    Some(out)
}

/// True when two dimensions differ for every binding of the symbols.
pub fn provably_different(a: &Dim, b: &Dim) -> bool {
    let negated = Dim { constant: -b.constant, terms: b.terms.iter().map(|&(s, c)| (s, -c)).collect() };
    let diff = a.add(&negated);
    diff.terms.is_empty() && diff.constant != 0
}
