//! Calls: the builtins of the language, and user and library functions.

use super::{Lower, Val};
use crate::diagnostics as diag;
use crate::ir::{BinOp, DType, Dim, Literal, NodeId, Op, PartyId, Placement, ReduceOp, Type, UnaryOp};
use crate::syntax::ast::{Arg, Expr, ExprKind, Ident, Span};

/// Every builtin, for "did you mean" help.
pub(crate) const BUILTINS: &[&str] = &[
    "input", "output", "reveal", "share", "send", "sum", "mean", "max", "min", "argmax", "argmin", "len", "exp",
    "log", "sqrt", "rsqrt", "reciprocal", "tanh", "abs", "select", "clip", "zeros", "ones", "full", "arange",
    "reshape", "concat", "random_uniform", "load", "psi",
];

impl Lower {
    pub(crate) fn call(&mut self, callee: &Ident, args: &[Arg], span: Span) -> Val {
        if let Some(def) = self.functions.get(&callee.name).cloned() {
            let definition = if def.library {
                super::index::Definition::Library { module: def.module.clone(), span: def.decl.name.span }
            } else {
                super::index::Definition::Here(def.decl.name.span)
            };
            let result = self.call_function(def, args, span);
            self.record(callee, super::index::Kind::Function, definition, result, "");
            return result;
        }
        match callee.name.as_str() {
            "reveal" => self.reveal(args, span),
            "share" => {
                let x = self.positional("share", args, span, 1, &[], "share(x)")?;
                let v = self.expr(x[0])?;
                match self.ty(v).placement {
                    Placement::Party(_) => Some(self.share(v, span)),
                    _ => Some(v),
                }
            }
            "send" => self.send(args, span),
            "sum" | "mean" => self.sum(&callee.name, args, span),
            "max" | "min" | "argmax" | "argmin" => self.reduce(&callee.name, args, span),
            "len" => {
                let x = self.positional("len", args, span, 1, &[], "len(x)")?;
                let v = self.expr(x[0])?;
                match self.ty(v).shape.first().cloned() {
                    Some(d) => Some(self.dim_value(d, span)),
                    None => {
                        self.err(diag::dtype_mismatch(x[0].span, "`len` of a scalar".into(), "`len(x)` is the size of x's first axis"));
                        None
                    }
                }
            }
            "exp" | "log" | "sqrt" | "rsqrt" | "reciprocal" | "tanh" | "abs" => self.math(&callee.name, args, span),
            "select" => {
                let x = self.positional("select", args, span, 3, &[], "select(condition, a, b)")?;
                let (c, a, b) = (self.expr(x[0]), self.expr(x[1]), self.expr(x[2]));
                self.select(c, a, b, span, x[0].span)
            }
            "clip" => {
                let x = self.positional("clip", args, span, 3, &[], "clip(x, low, high)")?;
                let (v, lo, hi) = (self.expr(x[0]), self.expr(x[1]), self.expr(x[2]));
                let (v, lo, hi) = (v?, lo?, hi?);
                let below = self.compare(BinOp::Lt, v, lo, span)?;
                let raised = self.select(Some(below), Some(lo), Some(v), span, span)?;
                let above = self.compare(BinOp::Gt, raised, hi, span)?;
                self.select(Some(above), Some(hi), Some(raised), span, span)
            }
            "zeros" | "ones" => {
                let usage = format!("{}([n, 3])", callee.name);
                let x = self.positional(&callee.name, args, span, 1, &[], &usage)?;
                let shape = self.shape_list(x[0], &callee.name, &usage)?;
                let value = Literal::Fix(if callee.name == "ones" { 1.0 } else { 0.0 });
                Some(self.add(Op::Fill(value), Type { dtype: DType::Fix, shape, placement: Placement::Public }, span, &[]))
            }
            "full" => {
                let usage = "full([n, 3], 0.5)";
                let x = self.positional("full", args, span, 2, &[], usage)?;
                let shape = self.shape_list(x[0], "full", usage)?;
                let v = self.expr(x[1])?;
                let Some(value) = self.constant(v) else {
                    self.err(diag::bad_arguments(x[1].span, "full", "the fill value must be a literal", usage));
                    return None;
                };
                let dtype = self.ty(v).dtype;
                Some(self.add(Op::Fill(value), Type { dtype, shape, placement: Placement::Public }, span, &[]))
            }
            "arange" => {
                let x = self.positional("arange", args, span, 1, &[], "arange(n)")?;
                let n = self.dim_of(x[0])?;
                Some(self.add(Op::Arange, Type { dtype: DType::Int, shape: vec![n], placement: Placement::Public }, span, &[]))
            }
            "reshape" => {
                let usage = "reshape(x, [n, 3])";
                let x = self.positional("reshape", args, span, 2, &[], usage)?;
                let v = self.expr(x[0])?;
                let shape = self.shape_list(x[1], "reshape", usage)?;
                let t = self.ty(v).clone();
                let product = |s: &[Dim]| s.iter().try_fold(1i64, |acc, d| d.as_const().map(|c| acc.saturating_mul(c)));
                if let (Some(a), Some(b)) = (product(&t.shape), product(&shape)) {
                    if a != b {
                        let (from, to) = (self.shape_str(&t.shape), self.shape_str(&shape));
                        self.err(diag::shape_mismatch(span, "`reshape` (the number of elements differs)", (x[0].span, from), (x[1].span, to)));
                        return None;
                    }
                }
                Some(self.add(Op::Reshape, Type { shape, ..t }, span, &[v]))
            }
            "concat" => self.concat(args, span),
            "random_uniform" => {
                self.err(diag::bad_arguments(span, "random_uniform", "random numbers belong to one party", "random_uniform([n]) @alice"));
                None
            }
            "input" => {
                self.err(diag::bad_arguments(span, "input", "an input must be bound directly by `let`", "let x: fix[n] @alice = input(\"x\")"));
                None
            }
            "output" => {
                self.err(diag::bad_arguments(span, "output", "`output` is a statement, not a value", "output(x, \"name\");"));
                None
            }
            "load" => self.load(args, None, span),
            "psi" => {
                self.err(diag::bad_arguments(span, "psi", "`psi` gives two results; bind them with a tuple", "let (ia, ib) = psi(keys_a, keys_b);"));
                None
            }
            name => {
                let library = crate::stdlib::exported(name);
                let candidates: Vec<&str> = BUILTINS.iter().copied().chain(self.functions.keys().map(String::as_str)).collect();
                let suggestion = diag::closest(name, candidates).map(str::to_string);
                self.err(diag::unknown_function(callee.span, name, suggestion.as_deref(), library.as_deref()));
                None
            }
        }
    }

    /// Checks a call's arguments: `count` positional ones, then only the keywords in `keywords`.
    pub(crate) fn positional<'a>(&mut self, callee: &str, args: &'a [Arg], span: Span, count: usize, keywords: &[&str], usage: &str) -> Option<Vec<&'a Expr>> {
        let positional: Vec<&Expr> = args.iter().filter(|a| a.name.is_none()).map(|a| &a.value).collect();
        if positional.len() != count {
            let problem = format!("takes {count} positional argument{}, got {}", if count == 1 { "" } else { "s" }, positional.len());
            self.err(diag::bad_arguments(span, callee, &problem, usage));
            return None;
        }
        let mut seen: Vec<&str> = Vec::new();
        for a in args {
            if let Some(n) = &a.name {
                if !keywords.contains(&n.name.as_str()) || seen.contains(&n.name.as_str()) {
                    let problem = if seen.contains(&n.name.as_str()) { format!("`{}` given twice", n.name) } else { format!("no keyword argument `{}`", n.name) };
                    self.err(diag::bad_arguments(n.span, callee, &problem, usage));
                    return None;
                }
                seen.push(&n.name);
            }
        }
        if args.iter().position(|a| a.name.is_some()).is_some_and(|first_kw| args[first_kw..].iter().any(|a| a.name.is_none())) {
            self.err(diag::bad_arguments(span, callee, "positional arguments must come before keyword arguments", usage));
            return None;
        }
        Some(positional)
    }

    fn keyword<'a>(args: &'a [Arg], name: &str) -> Option<&'a Expr> {
        args.iter().find(|a| a.name.as_ref().is_some_and(|n| n.name == name)).map(|a| &a.value)
    }

    pub(crate) fn string_arg(&mut self, callee: &str, args: &[Arg], span: Span, usage: &str) -> Option<String> {
        let x = self.positional(callee, args, span, 1, &[], usage)?;
        match &x[0].kind {
            ExprKind::Str(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => Some(s.clone()),
            _ => {
                self.err(diag::bad_arguments(x[0].span, callee, "the name must be a string of letters, digits, `_` or `-`", usage));
                None
            }
        }
    }

    fn to_party(&mut self, e: &Expr, callee: &str, usage: &str) -> Option<PartyId> {
        match &e.kind {
            ExprKind::Name(id) => self.party(id),
            _ => {
                self.err(diag::bad_arguments(e.span, callee, "`to:` takes a party name", usage));
                None
            }
        }
    }

    /// A shape written as a list: `[n, 3]`, `[len(x)]`.
    fn shape_list(&mut self, e: &Expr, callee: &str, usage: &str) -> Option<Vec<Dim>> {
        let ExprKind::List(items) = &e.kind else {
            self.err(diag::bad_arguments(e.span, callee, "the shape must be a list `[n, 3]`", usage));
            return None;
        };
        items.iter().map(|i| self.dim_of(i)).collect()
    }

    fn reveal(&mut self, args: &[Arg], span: Span) -> Val {
        let usage = "reveal(x, to: alice)` or `reveal(x)";
        let x = self.positional("reveal", args, span, 1, &["to"], usage)?;
        let to = match Self::keyword(args, "to") {
            Some(e) => Some(self.to_party(e, "reveal", usage)?),
            None => None,
        };
        let v = self.expr(x[0])?;
        let ty = self.ty(v).clone();
        match (ty.placement, to) {
            (Placement::Secret, _) => {
                let placement = to.map_or(Placement::Public, Placement::Party);
                Some(self.add(Op::Reveal { to }, Type { placement, ..ty }, span, &[v]))
            }
            (Placement::Public, _) => Some(v),
            (Placement::Party(p), Some(t)) if p == t => Some(v),
            (Placement::Party(p), t) => {
                let to_name = t.map_or("bob", |t| self.ir.party_name(t)).to_string();
                let owner = self.ir.party_name(p).to_string();
                self.err(diag::reveal_not_secret(x[0].span, &owner, &to_name));
                None
            }
        }
    }

    fn send(&mut self, args: &[Arg], span: Span) -> Val {
        let usage = "send(x, to: bob)";
        let x = self.positional("send", args, span, 1, &["to"], usage)?;
        let Some(to_expr) = Self::keyword(args, "to") else {
            self.err(diag::bad_arguments(span, "send", "missing `to:`", usage));
            return None;
        };
        let to = self.to_party(to_expr, "send", usage)?;
        let v = self.expr(x[0])?;
        let ty = self.ty(v).clone();
        match ty.placement {
            Placement::Party(p) if p == to => Some(v),
            Placement::Party(_) => Some(self.add(Op::Send { to }, Type { placement: Placement::Party(to), ..ty }, span, &[v])),
            Placement::Public => Some(v),
            Placement::Secret => {
                let help = format!("use `reveal(x, to: {})`", self.ir.party_name(to));
                self.err(diag::wrong_role(x[0].span, "`send` moves private values; this value is secret", &help));
                None
            }
        }
    }

    fn axis(&mut self, args: &[Arg], callee: &str, rank: usize, usage: &str, span: Span) -> Option<usize> {
        let Some(e) = Self::keyword(args, "axis") else {
            self.err(diag::bad_arguments(span, callee, "missing `axis:`", usage));
            return None;
        };
        let value = match self.expr(e).and_then(|v| self.constant(v)) {
            Some(Literal::Int(i)) => i,
            _ => {
                self.err(diag::bad_arguments(e.span, callee, "`axis:` takes an integer known at compile time", usage));
                return None;
            }
        };
        let normalised = if value < 0 { value + rank as i64 } else { value };
        if normalised < 0 || normalised >= rank as i64 {
            self.err(diag::axis_out_of_range(e.span, value, rank));
            return None;
        }
        Some(normalised as usize)
    }

    fn keepdims(&mut self, args: &[Arg], callee: &str, usage: &str) -> Option<bool> {
        match Self::keyword(args, "keepdims") {
            None => Some(false),
            Some(e) => match self.expr(e).and_then(|v| self.constant(v)) {
                Some(Literal::Bool(b)) => Some(b),
                _ => {
                    self.err(diag::bad_arguments(e.span, callee, "`keepdims:` takes `true` or `false`", usage));
                    None
                }
            },
        }
    }

    /// Keeps a reduced axis as a dimension of one, for broadcasting against the original.
    fn keep_axis(&mut self, v: NodeId, axis: usize, span: Span) -> NodeId {
        let t = self.ty(v).clone();
        let mut shape = t.shape.clone();
        shape.insert(axis, Dim::constant(1));
        self.add(Op::Reshape, Type { shape, ..t }, span, &[v])
    }

    fn sum(&mut self, callee: &str, args: &[Arg], span: Span) -> Val {
        let usage = format!("{callee}(x, axis: 0)");
        let x = self.positional(callee, args, span, 1, &["axis", "keepdims"], &usage)?;
        let mut v = self.expr(x[0])?;
        let ty = self.ty(v).clone();
        if ty.dtype == DType::Bool {
            self.err(diag::dtype_mismatch(x[0].span, format!("cannot {callee} bools"), "convert to numbers first: `select(c, 1, 0)`"));
            return None;
        }
        let axis = self.axis(args, callee, ty.shape.len(), &usage, span)?;
        let keep = self.keepdims(args, callee, &usage)?;
        if callee == "mean" && ty.dtype == DType::Int {
            v = self.cast(v, DType::Fix);
        }
        let ty = self.ty(v).clone();
        let mut shape = ty.shape.clone();
        let count = shape.remove(axis);
        let mut out = self.add(Op::Sum { axis }, Type { shape, ..ty }, span, &[v]);
        if callee == "mean" {
            let n = self.dim_value(count, span);
            let n = self.cast(n, DType::Fix);
            let t = self.ty(out).clone();
            out = self.add(Op::Binary(BinOp::Div), t, span, &[out, n]);
        }
        Some(if keep { self.keep_axis(out, axis, span) } else { out })
    }

    fn reduce(&mut self, callee: &str, args: &[Arg], span: Span) -> Val {
        // max(a, b) and min(a, b): elementwise, a select on a comparison.
        if matches!(callee, "max" | "min") && args.len() == 2 && args.iter().all(|a| a.name.is_none()) {
            let (a, b) = (self.expr(&args[0].value), self.expr(&args[1].value));
            let (a, b) = (a?, b?);
            let op = if callee == "max" { BinOp::Gt } else { BinOp::Lt };
            let c = self.compare(op, a, b, span)?;
            return self.select(Some(c), Some(a), Some(b), span, span);
        }
        let usage = format!("{callee}(x, axis: 0)` or `{callee}(a, b)");
        let x = self.positional(callee, args, span, 1, &["axis", "keepdims"], &usage)?;
        let v = self.expr(x[0])?;
        let ty = self.ty(v).clone();
        if ty.dtype == DType::Bool {
            self.err(diag::dtype_mismatch(x[0].span, format!("`{callee}` of bools"), "compare numbers instead"));
            return None;
        }
        let axis = self.axis(args, callee, ty.shape.len(), &usage, span)?;
        let keep = self.keepdims(args, callee, &usage)?;
        let op = match callee {
            "max" => ReduceOp::Max,
            "min" => ReduceOp::Min,
            "argmax" => ReduceOp::ArgMax,
            _ => ReduceOp::ArgMin,
        };
        let mut shape = ty.shape.clone();
        shape.remove(axis);
        let dtype = if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) { DType::Int } else { ty.dtype };
        let out = self.add(Op::Reduce { op, axis }, Type { dtype, shape, placement: ty.placement }, span, &[v]);
        Some(if keep { self.keep_axis(out, axis, span) } else { out })
    }

    fn math(&mut self, callee: &str, args: &[Arg], span: Span) -> Val {
        let usage = format!("{callee}(x)");
        let x = self.positional(callee, args, span, 1, &[], &usage)?;
        let mut v = self.expr(x[0])?;
        let op = match callee {
            "exp" => UnaryOp::Exp,
            "log" => UnaryOp::Log,
            "sqrt" => UnaryOp::Sqrt,
            "rsqrt" => UnaryOp::Rsqrt,
            "reciprocal" => UnaryOp::Reciprocal,
            "tanh" => UnaryOp::Tanh,
            _ => UnaryOp::Abs,
        };
        match self.ty(v).dtype {
            DType::Bool => {
                self.err(diag::dtype_mismatch(x[0].span, format!("`{callee}` of a bool"), "it takes numbers"));
                return None;
            }
            DType::Int if op != UnaryOp::Abs => v = self.cast(v, DType::Fix),
            _ => {}
        }
        let t = self.ty(v).clone();
        Some(self.add(Op::Unary(op), t, span, &[v]))
    }

    fn compare(&mut self, op: BinOp, a: NodeId, b: NodeId, span: Span) -> Val {
        let (a, b) = self.unify_dtypes(a, b, span, false)?;
        let (ta, tb) = (self.ty(a).clone(), self.ty(b).clone());
        let shape = super::broadcast(&ta.shape, &tb.shape)?;
        Some(self.add(Op::Binary(op), Type { dtype: DType::Bool, shape, placement: ta.placement.join(tb.placement) }, span, &[a, b]))
    }

    pub(crate) fn select(&mut self, c: Val, a: Val, b: Val, span: Span, cond_span: Span) -> Val {
        let (c, a, b) = (c?, a?, b?);
        if self.ty(c).dtype != DType::Bool {
            let d = self.ty(c).dtype;
            self.err(diag::dtype_mismatch(cond_span, format!("the condition of `select` must be bool, not {d}"), "compare to get a bool: `select(x > 0.0, x, 0.0)`"));
            return None;
        }
        let (a, b) = self.unify_dtypes(a, b, span, true)?;
        let (tc, ta, tb) = (self.ty(c).clone(), self.ty(a).clone(), self.ty(b).clone());
        let Some(shape) = super::broadcast(&ta.shape, &tb.shape).and_then(|s| super::broadcast(&tc.shape, &s)) else {
            let (x, y) = (self.shape_str(&ta.shape), self.shape_str(&tb.shape));
            let (xs, ys) = (self.node_span(a), self.node_span(b));
            self.err(diag::shape_mismatch(span, "`select`", (xs, x), (ys, y)));
            return None;
        };
        let placement = tc.placement.join(ta.placement).join(tb.placement);
        Some(self.add(Op::Select, Type { dtype: ta.dtype, shape, placement }, span, &[c, a, b]))
    }

    fn concat(&mut self, args: &[Arg], span: Span) -> Val {
        let usage = "concat([a, b], axis: 0)";
        let x = self.positional("concat", args, span, 1, &["axis"], usage)?;
        let ExprKind::List(items) = &x[0].kind else {
            self.err(diag::bad_arguments(x[0].span, "concat", "the first argument must be a list `[a, b, ...]`", usage));
            return None;
        };
        if items.is_empty() {
            self.err(diag::bad_arguments(x[0].span, "concat", "the list is empty", usage));
            return None;
        }
        let mut parts: Vec<NodeId> = Vec::new();
        for item in items {
            if let Some(v) = self.expr(item) {
                parts.push(v);
            }
        }
        if parts.len() != items.len() {
            return None;
        }
        if parts.iter().any(|&p| self.ty(p).dtype == DType::Fix) {
            for p in parts.iter_mut() {
                if self.ty(*p).dtype == DType::Int {
                    *p = self.cast(*p, DType::Fix);
                }
            }
        }
        let first = self.ty(parts[0]).clone();
        let axis = self.axis(args, "concat", first.shape.len(), usage, span)?;
        let mut shape = first.shape.clone();
        let mut placement = first.placement;
        for (i, &p) in parts.iter().enumerate().skip(1) {
            let t = self.ty(p).clone();
            let mismatch = t.dtype != first.dtype
                || t.shape.len() != first.shape.len()
                || t.shape.iter().zip(&first.shape).enumerate().any(|(d, (a, b))| d != axis && super::provably_different(a, b));
            if mismatch {
                let (a, b) = (self.shape_str(&first.shape), self.shape_str(&t.shape));
                let what = format!("`concat` along axis {axis} ({} and {})", first.dtype, t.dtype);
                self.err(diag::shape_mismatch(span, &what, (items[0].span, a), (items[i].span, b)));
                return None;
            }
            shape[axis] = shape[axis].add(&t.shape[axis]);
            placement = placement.join(t.placement);
        }
        Some(self.add(Op::Concat { axis }, Type { dtype: first.dtype, shape, placement }, span, &parts))
    }

    pub(crate) fn random_uniform(&mut self, args: &[Arg], party: &Ident, span: Span) -> Val {
        let usage = "random_uniform([n]) @alice";
        let x = self.positional("random_uniform", args, span, 1, &[], usage)?;
        let shape = self.shape_list(x[0], "random_uniform", usage)?;
        let p = self.party(party)?;
        Some(self.add(Op::Random, Type { dtype: DType::Fix, shape, placement: Placement::Party(p) }, span, &[]))
    }
}

