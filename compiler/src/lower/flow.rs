//! Statements and control flow: `let`, assignment, `for` loops, `if`, function calls, outputs.

use super::types::widen;
use super::{FnDef, Frame, Lower, Val};
use crate::diagnostics as diag;
use crate::ir::{DType, Literal, NodeId, Op, PartyId, Placement, Type};
use crate::syntax::ast::{Arg, Block, Else, Expr, ExprKind, Ident, Pattern, Span, Stmt, StmtKind, TypeAnn};
use std::collections::HashMap;
use std::rc::Rc;

/// The type of nodes that are structure, not values (loops, yields).
fn control_type() -> Type {
    Type { dtype: DType::Int, shape: vec![], placement: Placement::Public }
}

/// How many times a loop body may be lowered while its carried types settle: each round widens
/// at least one carried value, and a placement can widen at most twice, a dtype once.
const WIDENING_ROUNDS: usize = 4;

/// Deepest chain of calls inlined into one another (each level is a stack of frames).
const MAX_INLINING: usize = 32;

impl Lower {
    pub(crate) fn let_stmt(&mut self, mutable: bool, pattern: &Pattern, ty: Option<&TypeAnn>, value: &Expr, span: Span) {
        let name = match pattern {
            Pattern::Name(n) => n,
            Pattern::Tuple(names, pspan) => {
                let results = match &value.kind {
                    ExprKind::Call { callee, args } if callee.name == "psi" && ty.is_none() => self.psi(args, names, value.span),
                    _ => {
                        self.err(diag::bad_arguments(*pspan, "let", "a tuple pattern takes the two results of `psi`", "let (ia, ib) = psi(keys_a, keys_b);"));
                        None
                    }
                };
                for (i, n) in names.iter().enumerate() {
                    let node = results.as_ref().and_then(|r| r.get(i).copied());
                    self.bind(n, node, mutable, None);
                }
                return;
            }
        };
        let node = match (&value.kind, ty) {
            (ExprKind::Call { callee, args }, _) if callee.name == "load" => self.load(args, ty, value.span),
            (ExprKind::Call { callee, args }, _) if callee.name == "input" => {
                if !self.at_top_level() {
                    self.err(diag::not_at_top_level(value.span, "input"));
                    None
                } else {
                    self.input(args, ty, value.span)
                }
            }
            (_, Some(ann)) => {
                let v = self.expr(value);
                v.and_then(|v| self.annotate(v, ann, value.span, false))
            }
            (_, None) => self.expr(value),
        };
        let _ = span;
        self.bind(name, node, mutable, ty.cloned());
    }

    /// `psi(keys_a, keys_b)`: each side's row indices of the intersection, `int[k]` on its owner,
    /// where k, the intersection's size, is public and known only at run time. A side's keys are
    /// one int column or a list of columns of one party; `duplicates: "first"` keeps the first of
    /// rows with equal keys where the default is an error.
    fn psi(&mut self, args: &[Arg], names: &[Ident], span: Span) -> Option<Vec<NodeId>> {
        let usage = "let (ia, ib) = psi(keys_a, keys_b);";
        if names.len() != 2 {
            self.err(diag::bad_arguments(span, "psi", &format!("gives 2 results, not {}", names.len()), usage));
            return None;
        }
        if !self.at_top_level() {
            self.err(diag::not_at_top_level(span, "psi"));
            return None;
        }
        let x = self.positional("psi", args, span, 2, &["duplicates"], usage)?;
        let keep_first = match args.iter().find(|a| a.name.as_ref().is_some_and(|n| n.name == "duplicates")).map(|a| &a.value) {
            None => false,
            Some(Expr { kind: ExprKind::Str(s), .. }) if s == "error" => false,
            Some(Expr { kind: ExprKind::Str(s), .. }) if s == "first" => true,
            Some(e) => {
                self.err(diag::bad_arguments(e.span, "psi", "`duplicates:` is \"error\" (the default) or \"first\"", "psi(keys_a, keys_b, duplicates: \"first\")"));
                return None;
            }
        };
        let (a, b) = (self.psi_keys(x[0], usage), self.psi_keys(x[1], usage));
        let ((a, owner_a, name_a), (b, owner_b, name_b)) = (a?, b?);
        if owner_a == owner_b {
            let problem = format!("both key tables belong to {}; psi aligns two parties' tables", self.ir.party_name(owner_a));
            self.err(diag::bad_arguments(span, "psi", &problem, usage));
            return None;
        }
        if a.len() != b.len() {
            let problem = format!(
                "{} gives {} key column{} but {} gives {}; both sides need the same key columns",
                self.ir.party_name(owner_a),
                a.len(),
                if a.len() == 1 { "" } else { "s" },
                self.ir.party_name(owner_b),
                b.len()
            );
            self.err(diag::bad_arguments(span, "psi", &problem, usage));
            return None;
        }
        let size = self.ir.symbols.len() as u32;
        self.ir.symbols.push(format!("|{}&{}|", names[0].name, names[1].name));
        let operands: Vec<NodeId> = a.iter().chain(&b).copied().collect();
        let op = Op::Psi { columns: a.len(), size, keep_first, names: [name_a, name_b] };
        let psi = self.add(op, control_type(), span, &operands);
        Some(
            [owner_a, owner_b]
                .iter()
                .enumerate()
                .map(|(i, &p)| {
                    let ty = Type { dtype: DType::Int, shape: vec![crate::ir::Dim::symbol(size)], placement: Placement::Party(p) };
                    self.add(Op::PsiResult { index: i }, ty, span, &[psi])
                })
                .collect(),
        )
    }

    /// One side of a `psi`: its key columns, their owner, and how the source names them.
    fn psi_keys(&mut self, e: &Expr, usage: &str) -> Option<(Vec<NodeId>, PartyId, String)> {
        let items: Vec<&Expr> = match &e.kind {
            ExprKind::List(items) if items.is_empty() => {
                self.err(diag::bad_arguments(e.span, "psi", "the list of key columns is empty", usage));
                return None;
            }
            ExprKind::List(items) => items.iter().collect(),
            _ => vec![e],
        };
        let mut columns = Vec::new();
        let mut owner: Option<(PartyId, &Expr)> = None;
        let mut rows: Option<crate::ir::Dim> = None;
        for item in &items {
            let v = self.expr(item)?;
            let t = self.ty(v).clone();
            let p = match t.placement {
                Placement::Party(p) if t.dtype == DType::Int && t.shape.len() == 1 => p,
                _ => {
                    let problem = format!("keys must be columns of ints private to one party, not {}", self.type_str(&t));
                    self.err(diag::bad_arguments(item.span, "psi", &problem, usage));
                    return None;
                }
            };
            if let Some((first, _)) = owner {
                if first != p {
                    let problem = format!("the key columns of one side belong to one party, not to {} and {}", self.ir.party_name(first), self.ir.party_name(p));
                    self.err(diag::bad_arguments(item.span, "psi", &problem, usage));
                    return None;
                }
            }
            if let Some(r) = &rows {
                if super::provably_different(r, &t.shape[0]) {
                    let (a, b) = (self.shape_str(&vec![r.clone()]), self.shape_str(&t.shape));
                    self.err(diag::shape_mismatch(e.span, "key columns of one table", (items[0].span, a), (item.span, b)));
                    return None;
                }
            }
            owner.get_or_insert((p, item));
            rows.get_or_insert(t.shape[0].clone());
            columns.push(v);
        }
        let name = |x: &Expr| match &x.kind {
            ExprKind::Name(id) => id.name.clone(),
            _ => "keys".to_string(),
        };
        let label = if items.len() == 1 { name(items[0]) } else { format!("[{}]", items.iter().map(|x| name(x)).collect::<Vec<_>>().join(", ")) };
        Some((columns, owner?.0, label))
    }

    fn input(&mut self, args: &[Arg], ann: Option<&TypeAnn>, span: Span) -> Val {
        let name = self.string_arg("input", args, span, "let x: fix[n, 3] @alice = input(\"x\")")?;
        let usage = "declare the input's type: `let x: fix[n, 3] @alice = input(\"x\")`";
        let Some(ann) = ann else {
            self.err(diag::bad_annotation(span, "an input needs a type annotation with its owner", usage));
            return None;
        };
        let Some(owner) = &ann.placement else {
            self.err(diag::bad_annotation(ann.span, "an input needs an owner: `@party`", usage));
            return None;
        };
        let owner_id = match self.placement(owner)? {
            Placement::Party(p) => p,
            _ => {
                self.err(diag::bad_annotation(owner.span, "an input belongs to one party, not to `@spu` or `@pub`", usage));
                return None;
            }
        };
        let dtype = match &ann.dtype {
            Some(d) => self.dtype(d)?,
            None => {
                self.err(diag::bad_annotation(ann.span, "an input needs a dtype", usage));
                return None;
            }
        };
        let shape = self.shape(ann.shape.as_deref().unwrap_or(&[]), true)?;
        if self.inputs.insert((owner_id, name.clone()), span).is_some() {
            let problem = format!("{} already has an input called \"{name}\"", owner.name);
            self.err(diag::bad_arguments(span, "input", &problem, "input(\"another_name\")"));
            return None;
        }
        Some(self.add(Op::Input { name }, Type { dtype, shape, placement: Placement::Party(owner_id) }, span, &[]))
    }

    pub(crate) fn assign(&mut self, target: &Ident, value: &Expr, span: Span) {
        let Some(var) = self.lookup(&target.name) else {
            let suggestion = diag::closest(&target.name, self.frame().scopes.iter().flat_map(|s| s.keys()).map(String::as_str)).map(str::to_string);
            self.err(diag::undefined_name(target.span, &target.name, suggestion.as_deref()));
            return;
        };
        if !var.mutable {
            let declared = var.span;
            self.err(diag::assign_immutable(target.span, declared, &target.name));
            return;
        }
        let (old, ann) = (var.node, var.ann.clone());
        let Some(mut v) = self.expr(value) else {
            if let Some(var) = self.lookup_mut(&target.name) {
                var.node = None;
            }
            return;
        };
        if let Some(old) = old {
            let (ot, nt) = (self.ty(old).clone(), self.ty(v).clone());
            if ot.dtype == DType::Fix && nt.dtype == DType::Int {
                v = self.cast(v, DType::Fix);
            } else if ot.dtype != nt.dtype {
                let message = format!("`{}` is {} but the new value is {}", target.name, ot.dtype, nt.dtype);
                self.err(diag::dtype_mismatch(value.span, message, "assign a value of the variable's dtype"));
                return;
            }
            if ot.shape.len() != nt.shape.len() || ot.shape.iter().zip(&nt.shape).any(|(a, b)| super::provably_different(a, b)) {
                let (a, b) = (self.shape_str(&ot.shape), self.shape_str(&nt.shape));
                let (os, vs) = (self.node_span(old), value.span);
                self.err(diag::shape_mismatch(span, &format!("the assignment to `{}`", target.name), (os, a), (vs, b)));
                return;
            }
        }
        let v = match &ann {
            Some(ann) => self.annotate(v, ann, value.span, false),
            None => Some(v),
        };
        if let Some(var) = self.lookup_mut(&target.name) {
            var.node = v;
        }
    }

    /// A block in a new scope; its value is its trailing expression, if any.
    pub(crate) fn block_value(&mut self, b: &Block) -> Option<Val> {
        self.push_scope();
        for s in &b.stmts {
            self.stmt(s);
        }
        let value = b.value.as_ref().map(|e| self.expr(e));
        self.pop_scope();
        value
    }

    pub(crate) fn for_loop(&mut self, var: &Ident, start: &Expr, end: &Expr, body: &Block, span: Span) {
        let (lo, hi) = (self.expr(start), self.expr(end));
        let (Some(lo), Some(hi)) = (lo, hi) else { return };
        for (v, e) in [(lo, start), (hi, end)] {
            let t = self.ty(v).clone();
            if t.placement != Placement::Public {
                let what = self.ir.placement_name(t.placement);
                self.err(diag::loop_bound_not_public(e.span, &what));
                return;
            }
            if t.dtype != DType::Int || !t.shape.is_empty() {
                self.err(diag::dtype_mismatch(e.span, format!("a loop bound must be an int scalar, not {}", self.type_str(&t)), "write `for i in 0..n`"));
                return;
            }
        }
        let int = Type { dtype: DType::Int, shape: vec![], placement: Placement::Public };
        let trip = match (self.constant(lo), self.constant(hi)) {
            (Some(Literal::Int(a)), Some(Literal::Int(b))) => self.add(Op::Const(Literal::Int(b.saturating_sub(a).max(0))), int.clone(), span, &[]),
            _ => self.add(Op::Binary(sf_isa::BinOp::Sub), int.clone(), span, &[hi, lo]),
        };

        // Variables of enclosing scopes that the body assigns are carried across iterations.
        let mut carried: Vec<(String, NodeId, Span)> = Vec::new();
        for name in assigned_names(&body.stmts) {
            if let Some(Var { node: Some(n), mutable: true, span, .. }) = self.lookup(&name).map(|v| Var { node: v.node, mutable: v.mutable, span: v.span }) {
                carried.push((name, n, span));
            }
        }
        let mut types: Vec<Type> = carried.iter().map(|(_, n, _)| self.ty(*n).clone()).collect();
        let outer_region = self.region;
        let diags_before = self.diags.len();
        let mut attempt = 0;
        let (body_region, yields) = loop {
            attempt += 1;
            self.diags.truncate(diags_before);
            let body_region = self.ir.new_region();
            self.region = body_region;
            self.loop_depth += 1;
            self.push_scope();
            let index = self.add(Op::LoopIndex, int.clone(), var.span, &[]);
            let value = if self.constant(lo) == Some(Literal::Int(0)) { index } else { self.add(Op::Binary(sf_isa::BinOp::Add), int.clone(), var.span, &[index, lo]) };
            if var.name != "_" {
                self.bind(var, Some(value), false, None);
            }
            for (i, (name, _, decl)) in carried.iter().enumerate() {
                let p = self.add(Op::LoopParam { index: i }, types[i].clone(), *decl, &[]);
                let id = Ident { name: name.clone(), span: *decl };
                self.bind(&id, Some(p), true, None);
            }
            for s in &body.stmts {
                self.stmt(s);
            }
            if let Some(e) = &body.value {
                let _ = self.expr(e);
            }
            let yields: Vec<Val> = carried.iter().map(|(name, _, _)| self.lookup(name).and_then(|v| v.node)).collect();
            self.pop_scope();
            self.loop_depth -= 1;
            self.region = outer_region;
            if yields.iter().any(Option::is_none) {
                return;
            }
            let mut widened = types.clone();
            for (i, y) in yields.iter().enumerate() {
                let Some(y) = y else { continue };
                let yt = self.ty(*y).clone();
                match widen(&types[i], &yt) {
                    Some(w) => widened[i] = w,
                    None => {
                        let message = format!("`{}` is {} before the loop but {} after an iteration", carried[i].0, types[i].dtype, yt.dtype);
                        self.err(diag::dtype_mismatch(self.node_span(*y), message, "keep a variable's dtype the same in every iteration"));
                        return;
                    }
                }
                if yt.shape.len() != types[i].shape.len() || yt.shape.iter().zip(&types[i].shape).any(|(a, b)| super::provably_different(a, b)) {
                    let (a, b) = (self.shape_str(&types[i].shape), self.shape_str(&yt.shape));
                    let (ds, ys) = (carried[i].2, self.node_span(*y));
                    self.err(diag::shape_mismatch(ys, &format!("loop-carried `{}`", carried[i].0), (ds, a), (ys, b)));
                    return;
                }
            }
            if widened == types || attempt >= WIDENING_ROUNDS {
                break (body_region, yields.into_iter().flatten().collect::<Vec<NodeId>>());
            }
            types = widened;
        };
        // The body's values for the next iteration, and the initial values, in the carried types.
        self.region = body_region;
        let nexts: Vec<NodeId> = yields.iter().zip(&types).map(|(&y, t)| self.coerce(y, t, span)).collect();
        let yield_node = self.add(Op::Yield, control_type(), span, &nexts);
        self.region = outer_region;
        let inits: Vec<NodeId> = carried.iter().zip(&types).map(|((_, n, _), t)| self.coerce(*n, t, span)).collect();
        let mut operands = vec![trip];
        operands.extend(inits);
        operands.push(yield_node);
        let loop_node = self.add(Op::Loop { body: body_region, carried: carried.len() }, control_type(), span, &operands);
        self.ir.regions[body_region as usize].owner = Some(loop_node);
        for (i, (name, _, _)) in carried.iter().enumerate() {
            let result = self.add(Op::LoopResult { index: i }, types[i].clone(), span, &[loop_node]);
            if let Some(var) = self.lookup_mut(name) {
                var.node = Some(result);
            }
        }
    }

    /// `if` on a condition known at compile time lowers only the branch taken. A secret or
    /// private condition is an error: every party must follow the same control flow.
    pub(crate) fn if_stmt(&mut self, cond: &Expr, then: &Block, otherwise: Option<&Else>, span: Span) {
        let Some(c) = self.expr(cond) else { return };
        let t = self.ty(c).clone();
        if t.placement != Placement::Public {
            let what = self.ir.placement_name(t.placement);
            self.err(diag::condition_not_public(cond.span, &what, t.placement == Placement::Secret));
            return;
        }
        if t.dtype != DType::Bool || !t.shape.is_empty() {
            self.err(diag::dtype_mismatch(cond.span, format!("a condition must be a bool scalar, not {}", self.type_str(&t)), "compare values to get a bool: `if n > 10`"));
            return;
        }
        match self.constant(c) {
            Some(Literal::Bool(true)) => self.branch(then),
            Some(Literal::Bool(false)) => match otherwise {
                Some(Else::Block(b)) => self.branch(b),
                Some(Else::If(s)) => self.stmt(s),
                None => {}
            },
            _ => self.runtime_if(c, then, otherwise, span),
        }
    }

    /// An `if` on a public condition known only at run time: each branch is a region, and every
    /// variable either branch assigns becomes a result of the `if`, widened to hold both.
    fn runtime_if(&mut self, cond: NodeId, then: &Block, otherwise: Option<&Else>, span: Span) {
        let else_stmts: Vec<Stmt> = match otherwise {
            Some(Else::Block(b)) => b.stmts.clone(),
            Some(Else::If(s)) => vec![(**s).clone()],
            None => Vec::new(),
        };
        let mut names: Vec<(String, NodeId)> = Vec::new();
        for name in assigned_names(&then.stmts).into_iter().chain(assigned_names(&else_stmts)) {
            if names.iter().any(|(n, _)| *n == name) {
                continue;
            }
            if let Some(crate::lower::Var { node: Some(n), mutable: true, .. }) = self.lookup(&name) {
                names.push((name, *n));
            }
        }
        let outer = self.region;
        let branch = |l: &mut Lower, stmts: &[Stmt], value: Option<&Expr>| -> (crate::ir::RegionId, Option<Vec<NodeId>>) {
            let region = l.ir.new_region();
            l.region = region;
            l.push_scope();
            for (name, node) in &names {
                let id = Ident { name: name.clone(), span };
                l.bind(&id, Some(*node), true, None);
            }
            for s in stmts {
                l.stmt(s);
            }
            if let Some(e) = value {
                if l.expr(e).is_some() {
                    l.err(diag::unused_value(e.span));
                }
            }
            let values: Option<Vec<NodeId>> = names.iter().map(|(n, _)| l.lookup(n).and_then(|v| v.node)).collect();
            l.pop_scope();
            l.region = outer;
            (region, values)
        };
        let (then_region, then_values) = branch(self, &then.stmts, then.value.as_deref());
        let else_value = match otherwise {
            Some(Else::Block(b)) => b.value.as_deref(),
            _ => None,
        };
        let (else_region, else_values) = branch(self, &else_stmts, else_value);
        let (Some(tv), Some(ev)) = (then_values, else_values) else { return };
        let mut types = Vec::new();
        for (i, (name, _)) in names.iter().enumerate() {
            let (a, b) = (self.ty(tv[i]).clone(), self.ty(ev[i]).clone());
            match widen(&a, &b) {
                Some(t) if a.shape.len() == b.shape.len() && !a.shape.iter().zip(&b.shape).any(|(x, y)| super::provably_different(x, y)) => types.push(t),
                _ => {
                    let message = format!("`{name}` is {} in one branch and {} in the other", self.type_str(&a), self.type_str(&b));
                    self.err(diag::dtype_mismatch(span, message, "give a variable the same dtype and shape in both branches"));
                    return;
                }
            }
        }
        let mut yields = Vec::new();
        for (region, values) in [(then_region, tv), (else_region, ev)] {
            self.region = region;
            let coerced: Vec<NodeId> = values.iter().zip(&types).map(|(&v, t)| self.coerce(v, t, span)).collect();
            yields.push(self.add(Op::Yield, control_type(), span, &coerced));
        }
        self.region = outer;
        let node = self.add(Op::If { then: then_region, otherwise: else_region, results: names.len() }, control_type(), span, &[cond, yields[0], yields[1]]);
        self.ir.regions[then_region as usize].owner = Some(node);
        self.ir.regions[else_region as usize].owner = Some(node);
        for (i, (name, _)) in names.iter().enumerate() {
            let result = self.add(Op::IfResult { index: i }, types[i].clone(), span, &[node]);
            if let Some(var) = self.lookup_mut(name) {
                var.node = Some(result);
            }
        }
    }

    fn branch(&mut self, b: &Block) {
        if let Some(Some(_)) = self.block_value(b) {
            if let Some(e) = &b.value {
                self.err(diag::unused_value(e.span));
            }
        }
    }

    /// Inlines a call of a user or library function.
    pub(crate) fn call_function(&mut self, def: Rc<FnDef>, args: &[Arg], span: Span) -> Val {
        let decl = &def.decl;
        let name = decl.name.name.clone();
        if self.call_stack.len() >= MAX_INLINING {
            self.err(diag::inlining_too_deep(span, MAX_INLINING));
            return None;
        }
        if let Some(i) = self.call_stack.iter().position(|(n, _)| *n == name) {
            let mut chain: Vec<String> = self.call_stack[i..].iter().map(|(n, _)| n.clone()).collect();
            chain.push(name.clone());
            let first = self.call_stack[i].1;
            self.err(diag::recursion(span, first, &chain));
            return None;
        }
        let usage = format!(
            "{}({})",
            name,
            decl.params.iter().map(|p| p.name.name.clone()).collect::<Vec<_>>().join(", ")
        );
        let mut bound: Vec<Option<&Expr>> = vec![None; decl.params.len()];
        let mut next_positional = 0;
        for a in args {
            match &a.name {
                None => {
                    if next_positional >= decl.params.len() || bound[next_positional].is_some() {
                        let problem = format!("takes {} arguments, got {}", decl.params.len(), args.len());
                        self.err(diag::bad_arguments(span, &name, &problem, &usage));
                        return None;
                    }
                    bound[next_positional] = Some(&a.value);
                    next_positional += 1;
                }
                Some(k) => match decl.params.iter().position(|p| p.name.name == k.name) {
                    Some(i) if bound[i].is_none() => bound[i] = Some(&a.value),
                    Some(_) => {
                        self.err(diag::bad_arguments(k.span, &name, &format!("`{}` given twice", k.name), &usage));
                        return None;
                    }
                    None => {
                        self.err(diag::bad_arguments(k.span, &name, &format!("no parameter `{}`", k.name), &usage));
                        return None;
                    }
                },
            }
        }
        if let Some(i) = bound.iter().position(Option::is_none) {
            let problem = format!("missing argument `{}`", decl.params[i].name.name);
            self.err(diag::bad_arguments(span, &name, &problem, &usage));
            return None;
        }
        let mut values = Vec::new();
        for e in bound.into_iter().flatten() {
            values.push((self.expr(e), e.span));
        }
        if values.iter().any(|(v, _)| v.is_none()) {
            return None;
        }
        let override_span = if def.library { Some(self.sp(span)) } else { self.frame().span_override };
        self.frames.push(Frame { scopes: vec![HashMap::new()], symbols: HashMap::new(), span_override: override_span });
        self.call_stack.push((name.clone(), self.sp(span)));
        let mut ok = true;
        for (p, (v, vspan)) in decl.params.iter().zip(values) {
            let Some(v) = v else { continue };
            let v = match &p.ty {
                Some(ann) => self.annotate(v, ann, vspan, true),
                None => Some(v),
            };
            ok &= v.is_some();
            self.bind(&p.name, v, false, None);
        }
        let before = self.diags.len();
        let result = if ok { self.block_value(&decl.body) } else { None };
        let result = match (result, &decl.ret) {
            (Some(Some(v)), Some(ann)) => self.annotate(v, ann, span, false),
            (Some(v), _) => v,
            (None, _) => {
                if ok && self.diags.len() == before {
                    self.err(diag::no_value(span, &name));
                }
                None
            }
        };
        self.call_stack.pop();
        self.frames.pop();
        result
    }

    pub(crate) fn output(&mut self, args: &[Arg], span: Span) {
        let usage = "output(x, \"name\")";
        if !self.at_top_level() {
            self.err(diag::not_at_top_level(span, "output"));
            return;
        }
        let positional: Vec<&Arg> = args.iter().filter(|a| a.name.is_none()).collect();
        if positional.len() != 2 || positional.len() != args.len() {
            self.err(diag::bad_arguments(span, "output", &format!("takes 2 arguments, got {}", args.len()), usage));
            return;
        }
        let name_arg = std::slice::from_ref(positional[1]);
        let Some(name) = self.string_arg("output", name_arg, span, usage) else { return };
        let Some(v) = self.expr(&positional[0].value) else { return };
        let ty = self.ty(v).clone();
        let writers: Vec<String> = match ty.placement {
            Placement::Secret => {
                let d = diag::output_secret(span, self.node_span(v));
                self.err(d);
                return;
            }
            Placement::Party(p) => vec![self.ir.party_name(p).to_string()],
            Placement::Public => self.ir.parties.clone(),
        };
        for w in writers {
            if let Some(first) = self.outputs.insert((w.clone(), name.clone()), span) {
                self.err(diag::duplicate_output(span, first, &name, &w));
                return;
            }
        }
        self.add(Op::Output { name }, ty, span, &[v]);
    }
}

/// A snapshot of a variable's binding, detached from the scope.
struct Var {
    node: Val,
    mutable: bool,
    span: Span,
}

/// Names assigned anywhere in `stmts`, nested blocks included, in first-seen order.
fn assigned_names(stmts: &[Stmt]) -> Vec<String> {
    fn walk(stmts: &[Stmt], out: &mut Vec<String>) {
        for s in stmts {
            match &s.kind {
                StmtKind::Assign { target, .. } => {
                    if !out.contains(&target.name) {
                        out.push(target.name.clone());
                    }
                }
                StmtKind::For { body, .. } => walk(&body.stmts, out),
                StmtKind::If { then, otherwise, .. } => {
                    walk(&then.stmts, out);
                    match otherwise {
                        Some(Else::Block(b)) => walk(&b.stmts, out),
                        Some(Else::If(s)) => walk(std::slice::from_ref(s), out),
                        None => {}
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(stmts, &mut out);
    out
}
