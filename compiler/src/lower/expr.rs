//! Expressions: names, operators, indexing.

use super::{Lower, Val};
use crate::diagnostics as diag;
use crate::ir::{BinOp, DType, Dim, Literal, NodeId, Op, Placement, SliceRange, Type, UnaryOp};
use crate::syntax::ast::{self, Expr, ExprKind, Ident, IndexArg, Span};

impl Lower {
    pub(crate) fn expr(&mut self, e: &Expr) -> Val {
        match &e.kind {
            ExprKind::Int(i) => Some(self.literal(Literal::Int(*i), e.span)),
            ExprKind::Float(f) => Some(self.literal(Literal::Fix(*f), e.span)),
            ExprKind::Bool(b) => Some(self.literal(Literal::Bool(*b), e.span)),
            ExprKind::Str(_) => {
                self.err(diag::wrong_role(e.span, "a string is not a value", "strings name inputs and outputs: `input(\"x\")`, `output(x, \"y\")`"));
                None
            }
            ExprKind::Name(id) => self.name(id),
            ExprKind::List(_) => {
                self.err(diag::wrong_role(e.span, "a list is not a value", "lists are arguments: `concat([a, b], axis: 0)`, `zeros([n, 3])`"));
                None
            }
            ExprKind::Tuple(_) => {
                self.err(diag::not_supported(e.span, "a tuple value (tuples come with `psi`)"));
                None
            }
            ExprKind::Unary(op, x) => {
                let x = self.expr(x)?;
                let t = self.ty(x).clone();
                let (uop, ok) = match op {
                    ast::UnOp::Neg => (UnaryOp::Neg, t.dtype != DType::Bool),
                    ast::UnOp::Not => (UnaryOp::Not, t.dtype == DType::Bool),
                };
                if !ok {
                    let help = if uop == UnaryOp::Neg { "use `!` for logical negation" } else { "`!` takes a bool; compare first" };
                    self.err(diag::dtype_mismatch(e.span, format!("`{}` does not apply to {}", if uop == UnaryOp::Neg { "-" } else { "!" }, t.dtype), help));
                    return None;
                }
                if let Some(l) = self.constant(x) {
                    let folded = match l {
                        Literal::Int(i) => Literal::Int(i.wrapping_neg()),
                        Literal::Fix(f) => Literal::Fix(-f),
                        Literal::Bool(b) => Literal::Bool(!b),
                    };
                    return Some(self.literal(folded, e.span));
                }
                Some(self.add(Op::Unary(uop), t, e.span, &[x]))
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r, e.span),
            ExprKind::Call { callee, args } => self.call(callee, args, e.span),
            ExprKind::Field(x, f) if f.name == "T" => {
                let x = self.expr(x)?;
                let ty = self.ty(x).clone();
                if ty.shape.len() > 2 {
                    self.err(diag::not_supported(e.span, "`.T` of a tensor of rank above 2"));
                    return None;
                }
                let shape = ty.shape.iter().rev().cloned().collect();
                Some(self.add(Op::Transpose, Type { shape, ..ty }, e.span, &[x]))
            }
            ExprKind::Field(_, f) => {
                self.err(diag::wrong_role(f.span, &format!("no field `{}`", f.name), "the only field is `.T` (transpose)"));
                None
            }
            ExprKind::Index(x, args) => self.index(x, args, e.span),
        }
    }

    /// An expression in statement position: a call of a function that returns nothing is fine.
    pub(crate) fn expr_or_unit(&mut self, e: &Expr) -> Val {
        if let ExprKind::Call { callee, args } = &e.kind {
            if let Some(def) = self.functions.get(&callee.name).cloned() {
                let before = self.diags.len();
                let v = self.call_function(def, args, e.span);
                // "returns no value" is no error for a statement.
                if v.is_none() {
                    let no_value: Vec<usize> = (before..self.diags.len()).filter(|&i| self.diags[i].code == "E0109").collect();
                    for i in no_value.into_iter().rev() {
                        self.diags.remove(i);
                    }
                }
                return v;
            }
        }
        self.expr(e)
    }

    pub(crate) fn literal(&mut self, l: Literal, span: Span) -> NodeId {
        let dtype = match l {
            Literal::Fix(_) => DType::Fix,
            Literal::Int(_) => DType::Int,
            Literal::Bool(_) => DType::Bool,
        };
        self.add(Op::Const(l), Type { dtype, shape: vec![], placement: Placement::Public }, span, &[])
    }

    pub(crate) fn name(&mut self, id: &Ident) -> Val {
        if let Some(v) = self.lookup(&id.name) {
            let (node, span) = (v.node, v.span);
            self.record_value(id, span, node);
            return node;
        }
        if let Some(d) = self.frame().symbols.get(&id.name).cloned() {
            let node = self.dim_value(d, id.span);
            self.record(id, super::index::Kind::ShapeSymbol, super::index::Definition::Builtin, Some(node), " (shape symbol)");
            return Some(node);
        }
        if self.ir.parties.contains(&id.name) {
            self.err(diag::wrong_role(id.span, &format!("`{}` is a party, not a value", id.name), "parties appear in placements (`@alice`) and in `to:` arguments"));
        } else {
            let names: Vec<String> = self.frame().scopes.iter().flat_map(|s| s.keys().cloned()).chain(self.frame().symbols.keys().cloned()).collect();
            let suggestion = diag::closest(&id.name, names.iter().map(String::as_str)).map(str::to_string);
            self.err(diag::undefined_name(id.span, &id.name, suggestion.as_deref()));
        }
        None
    }

    pub(crate) fn dim_value(&mut self, d: Dim, span: Span) -> NodeId {
        if let Some(c) = d.as_const() {
            return self.literal(Literal::Int(c), span);
        }
        self.add(Op::DimValue(d), Type { dtype: DType::Int, shape: vec![], placement: Placement::Public }, span, &[])
    }

    fn binary(&mut self, op: ast::BinOp, l: &Expr, r: &Expr, span: Span) -> Val {
        // `random_uniform([n]) @alice` places the random numbers on alice.
        if let (ast::BinOp::MatMul, ExprKind::Call { callee, args }, ExprKind::Name(p)) = (op, &l.kind, &r.kind) {
            if callee.name == "random_uniform" && self.ir.parties.contains(&p.name) && self.lookup(&p.name).is_none() {
                return self.random_uniform(args, p, span);
            }
        }
        let ir_op = match op {
            ast::BinOp::Add => BinOp::Add,
            ast::BinOp::Sub => BinOp::Sub,
            ast::BinOp::Mul => BinOp::Mul,
            ast::BinOp::Div => BinOp::Div,
            ast::BinOp::MatMul => BinOp::MatMul,
            ast::BinOp::Lt => BinOp::Lt,
            ast::BinOp::Le => BinOp::Le,
            ast::BinOp::Gt => BinOp::Gt,
            ast::BinOp::Ge => BinOp::Ge,
            ast::BinOp::Eq => BinOp::Eq,
            ast::BinOp::Ne => BinOp::Ne,
            ast::BinOp::And => BinOp::And,
            ast::BinOp::Or => BinOp::Or,
        };
        let (a, b) = (self.expr(l), self.expr(r));
        let (a, b) = (a?, b?);
        let (mut a, mut b) = if ir_op.is_logical() {
            for (v, e) in [(a, l), (b, r)] {
                if self.ty(v).dtype != DType::Bool {
                    let d = self.ty(v).dtype;
                    self.err(diag::dtype_mismatch(e.span, format!("`{}` takes bools, not {d}", op.symbol()), "compare values to get bools"));
                    return None;
                }
            }
            (a, b)
        } else {
            self.unify_dtypes(a, b, span, matches!(ir_op, BinOp::Eq | BinOp::Ne))?
        };
        // True division: an int quotient is a fix.
        if ir_op == BinOp::Div && self.ty(a).dtype == DType::Int {
            a = self.cast(a, DType::Fix);
            b = self.cast(b, DType::Fix);
        }
        let (ta, tb) = (self.ty(a).clone(), self.ty(b).clone());
        let shape = if ir_op == BinOp::MatMul {
            self.matmul_shape(&ta.shape, &tb.shape, span, (l.span, r.span))?
        } else {
            match super::broadcast(&ta.shape, &tb.shape) {
                Some(s) => s,
                None => {
                    let (ls, rs) = (self.shape_str(&ta.shape), self.shape_str(&tb.shape));
                    self.err(diag::shape_mismatch(span, &format!("`{}`", op.symbol()), (l.span, ls), (r.span, rs)));
                    return None;
                }
            }
        };
        let dtype = if ir_op.is_comparison() || ir_op.is_logical() { DType::Bool } else { ta.dtype };
        if let (Some(x), Some(y)) = (self.constant(a), self.constant(b)) {
            if let Some(folded) = fold(ir_op, x, y) {
                return Some(self.literal(folded, span));
            }
        }
        let ty = Type { dtype, shape, placement: ta.placement.join(tb.placement) };
        Some(self.add(Op::Binary(ir_op), ty, span, &[a, b]))
    }

    /// `x[i]`, `x[idx]`, `x[a:b, :]`: slices with bounds known from shapes, then gathers by
    /// public (or the owner's own) positions.
    fn index(&mut self, x: &Expr, args: &[IndexArg], span: Span) -> Val {
        let v = self.expr(x)?;
        let t = self.ty(v).clone();
        if args.len() > t.shape.len() {
            self.err(diag::shape_mismatch(span, "indexing (more indices than axes)", (x.span, self.shape_str(&t.shape)), (span, format!("{} indices", args.len()))));
            return None;
        }
        let mut ranges = Vec::new();
        let mut gathers: Vec<(usize, NodeId, Span)> = Vec::new();
        let mut any_slice = false;
        for (axis, a) in args.iter().enumerate() {
            match a {
                IndexArg::Slice { start, end, span: s } => {
                    any_slice = true;
                    let lo = match start {
                        Some(e) => self.dim_of(e)?,
                        None => Dim::constant(0),
                    };
                    let hi = match end {
                        Some(e) => self.dim_of(e)?,
                        None => t.shape[axis].clone(),
                    };
                    if let (Some(a), Some(b), Some(n)) = (lo.as_const(), hi.as_const(), t.shape[axis].as_const()) {
                        if a > b || b > n {
                            self.err(diag::slice_out_of_range(*s, a, b, n));
                            return None;
                        }
                    }
                    ranges.push(SliceRange { start: lo, end: hi });
                }
                IndexArg::Expr(e) => {
                    let i = self.expr(e)?;
                    let it = self.ty(i).clone();
                    if it.dtype != DType::Int || it.shape.len() > 1 {
                        self.err(diag::dtype_mismatch(e.span, format!("an index must be an int or a vector of ints, not {}", self.type_str(&it)), "index with `x[i]`, `x[idx]` or slice with `x[a:b]`"));
                        return None;
                    }
                    match (it.placement, t.placement) {
                        (Placement::Public, _) => {}
                        (Placement::Party(p), Placement::Party(q)) if p == q => {}
                        (Placement::Party(p), Placement::Public) => {
                            let _ = p;
                        }
                        (Placement::Party(_), Placement::Secret) => {
                            self.err(diag::not_supported(e.span, "indexing a secret by a private position (an oblivious gather)"));
                            return None;
                        }
                        (Placement::Party(p), Placement::Party(q)) => {
                            let (owner, to) = (self.ir.party_name(q).to_string(), self.ir.party_name(p).to_string());
                            let d = diag::leak_private(e.span, x.span, &owner, &to);
                            self.err(d);
                            return None;
                        }
                        (Placement::Secret, _) => {
                            self.err(diag::not_supported(e.span, "indexing by a secret position"));
                            return None;
                        }
                    }
                    ranges.push(SliceRange { start: Dim::constant(0), end: t.shape[axis].clone() });
                    gathers.push((axis, i, e.span));
                }
            }
        }
        let mut cur = v;
        if any_slice {
            for axis in args.len()..t.shape.len() {
                ranges.push(SliceRange { start: Dim::constant(0), end: t.shape[axis].clone() });
            }
            let shape = ranges.iter().map(|r| r.end.add(&negate(&r.start))).collect();
            cur = self.add(Op::Slice { ranges }, Type { shape, ..t.clone() }, span, &[cur]);
        }
        // Highest axis first, so that removing an axis does not renumber the ones still to do.
        for (axis, i, _) in gathers.into_iter().rev() {
            let ct = self.ty(cur).clone();
            let it = self.ty(i).clone();
            let mut shape = ct.shape.clone();
            if it.shape.is_empty() {
                shape.remove(axis);
            } else {
                shape[axis] = it.shape[0].clone();
            }
            let ty = Type { shape, placement: ct.placement.join(it.placement), ..ct };
            cur = self.add(Op::Gather { axis }, ty, span, &[cur, i]);
        }
        Some(cur)
    }

    /// A dimension given by an expression known at compile time: an integer, a shape symbol,
    /// `len(x)`, or sums and constant multiples of those.
    pub(crate) fn dim_of(&mut self, e: &Expr) -> Option<Dim> {
        let found = match &e.kind {
            ExprKind::Int(i) if *i >= 0 => Some(Dim::constant(*i)),
            ExprKind::Name(id) => match self.lookup(&id.name).and_then(|v| v.node) {
                Some(n) => match &self.ir.node(n).op {
                    Op::DimValue(d) => Some(d.clone()),
                    Op::Const(Literal::Int(i)) if *i >= 0 => Some(Dim::constant(*i)),
                    _ => None,
                },
                None => self.frame().symbols.get(&id.name).cloned(),
            },
            ExprKind::Call { callee, args } if callee.name == "len" && args.len() == 1 => {
                let v = self.expr(&args[0].value)?;
                self.ty(v).shape.first().cloned()
            }
            ExprKind::Binary(ast::BinOp::Add, a, b) => Some(self.dim_of(a)?.add(&self.dim_of(b)?)),
            ExprKind::Binary(ast::BinOp::Sub, a, b) => Some(self.dim_of(a)?.add(&negate(&self.dim_of(b)?))),
            ExprKind::Binary(ast::BinOp::Mul, a, b) => match (&a.kind, &b.kind) {
                (ExprKind::Int(k), _) => Some(scale(&self.dim_of(b)?, *k)),
                (_, ExprKind::Int(k)) => Some(scale(&self.dim_of(a)?, *k)),
                _ => None,
            },
            _ => None,
        };
        if found.is_none() {
            self.err(diag::not_a_dimension(e.span));
        }
        found
    }
}

fn negate(d: &Dim) -> Dim {
    scale(d, -1)
}

fn scale(d: &Dim, k: i64) -> Dim {
    let terms = if k == 0 { vec![] } else { d.terms.iter().map(|&(s, c)| (s, c.saturating_mul(k))).collect() };
    Dim { constant: d.constant.saturating_mul(k), terms }
}

/// Folds an operation on two compile-time scalars.
fn fold(op: BinOp, x: Literal, y: Literal) -> Option<Literal> {
    use Literal::*;
    if op.is_comparison() {
        return match (x, y) {
            (Int(a), Int(b)) => op.compare(&a, &b),
            (Fix(a), Fix(b)) => op.compare(&a, &b),
            (Bool(a), Bool(b)) => op.compare(&a, &b),
            _ => None,
        }
        .map(Bool);
    }
    Some(match (x, y) {
        (Int(a), Int(b)) => match op {
            BinOp::Add => Int(a.wrapping_add(b)),
            BinOp::Sub => Int(a.wrapping_sub(b)),
            BinOp::Mul => Int(a.wrapping_mul(b)),
            _ => return None,
        },
        (Fix(a), Fix(b)) => match op {
            BinOp::Add => Fix(a + b),
            BinOp::Sub => Fix(a - b),
            BinOp::Mul => Fix(a * b),
            BinOp::Div if b != 0.0 => Fix(a / b),
            _ => return None,
        },
        (Bool(a), Bool(b)) => match op {
            BinOp::And => Bool(a && b),
            BinOp::Or => Bool(a || b),
            _ => return None,
        },
        _ => return None,
    })
}
