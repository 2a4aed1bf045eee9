//! Semantic analysis and lowering: AST to typed IR.
//!
//! One walk over the program resolves names, checks arguments, infers each value's dtype,
//! symbolic shape and placement, and enforces information flow: a value becomes visible to a
//! party only through its own `input`, `reveal` or `send`. Errors are collected, not thrown; a
//! failed sub-expression yields no node, and its users stay quiet, so one mistake gives one
//! diagnostic.

use crate::diagnostics::{self as diag, Diagnostic};
use crate::ir::{BinOp, DType, Dim, Ir, Literal, NodeId, Op, PartyId, Placement, Shape, Type};
use crate::syntax::ast::{self, Arg, DimAnn, Expr, ExprKind, Ident, Item, Pattern, Span, StmtKind, TypeAnn};
use sf_isa::display_shape;
use std::collections::HashMap;

/// Builtins of the language that this compiler does not lower yet, for a precise diagnostic.
const LATER_BUILTINS: &[&str] = &[
    "exp", "log", "sqrt", "rsqrt", "reciprocal", "tanh", "abs", "select", "clip", "mean", "max", "min", "argmax",
    "zeros", "ones", "full", "arange", "reshape", "len", "load", "random_uniform", "psi", "sigmoid", "relu",
    "softmax",
];
const BUILTINS: &[&str] = &["input", "output", "reveal", "share", "send", "sum", "concat"];

pub fn lower(program: &ast::Program) -> (Ir, Vec<Diagnostic>) {
    let mut l = Lower::default();
    for item in &program.items {
        l.item(item);
    }
    if l.parties_span.is_none() && l.diags.iter().all(|d| d.code != "E0101") {
        l.diags.push(diag::parties_first(Span::new(0, 0)));
    }
    (l.ir, l.diags)
}

#[derive(Default)]
struct Lower {
    ir: Ir,
    diags: Vec<Diagnostic>,
    parties_span: Option<Span>,
    party_spans: Vec<Span>,
    symbols: HashMap<String, u32>,
    /// A name bound to `None` failed to lower; its uses report nothing more.
    scope: HashMap<String, Val>,
    inputs: HashMap<(PartyId, String), Span>,
    outputs: HashMap<(String, String), Span>,
}

/// A lowered value: `None` when an error was already reported for it.
type Val = Option<NodeId>;

impl Lower {
    fn item(&mut self, item: &Item) {
        match item {
            Item::Parties { names, span } => self.parties(names, *span),
            _ if self.parties_span.is_none() => {
                let span = match item {
                    Item::Use { span, .. } => *span,
                    Item::Fn(f) => f.span,
                    Item::Stmt(s) => s.span,
                    Item::Parties { span, .. } => *span,
                };
                if self.diags.iter().all(|d| d.code != "E0101") {
                    self.diags.push(diag::parties_first(span));
                }
            }
            Item::Use { span, .. } => self.diags.push(diag::not_supported(*span, "`use` of the standard library")),
            Item::Fn(f) => self.diags.push(diag::not_supported(f.name.span, "a function definition")),
            Item::Stmt(s) => self.stmt(s),
        }
    }

    fn parties(&mut self, names: &[Ident], span: Span) {
        if let Some(first) = self.parties_span {
            self.diags.push(diag::parties_twice(span, first));
            return;
        }
        self.parties_span = Some(span);
        for n in names {
            if n.name == "spu" || n.name == "pub" {
                self.diags.push(diag::reserved_party(n.span, &n.name));
            } else if let Some(i) = self.ir.parties.iter().position(|p| *p == n.name) {
                self.diags.push(diag::duplicate_party(n.span, self.party_spans[i], &n.name));
            } else {
                self.ir.parties.push(n.name.clone());
                self.party_spans.push(n.span);
            }
        }
        if self.ir.parties.len() < 2 {
            self.diags.push(diag::too_few_parties(span));
        }
    }

    fn stmt(&mut self, s: &ast::Stmt) {
        match &s.kind {
            StmtKind::Let { mutable, pattern, ty, value } => {
                if *mutable {
                    self.diags.push(diag::not_supported(s.span, "`let mut`"));
                    return;
                }
                let name = match pattern {
                    Pattern::Name(n) => n,
                    Pattern::Tuple(_, span) => {
                        self.diags.push(diag::not_supported(*span, "a tuple pattern"));
                        return;
                    }
                };
                let node = match (&value.kind, ty) {
                    (ExprKind::Call { callee, args }, _) if callee.name == "input" => self.input(args, ty.as_ref(), value.span),
                    (_, Some(ann)) => {
                        let v = self.expr(value);
                        v.and_then(|v| self.annotate(v, ann, value.span))
                    }
                    (_, None) => self.expr(value),
                };
                self.scope.insert(name.name.clone(), node);
            }
            StmtKind::Assign { .. } => self.diags.push(diag::not_supported(s.span, "assignment")),
            StmtKind::For { .. } => self.diags.push(diag::not_supported(s.span, "a `for` loop")),
            StmtKind::If { .. } => self.diags.push(diag::not_supported(s.span, "an `if` statement")),
            StmtKind::Expr(e) => match &e.kind {
                ExprKind::Call { callee, args } if callee.name == "output" => self.output(args, e.span),
                _ => {
                    if self.expr(e).is_some() {
                        self.diags.push(diag::unused_value(e.span));
                    }
                }
            },
        }
    }

    fn ty(&self, v: NodeId) -> &Type {
        &self.ir.node(v).ty
    }

    fn span(&self, v: NodeId) -> Span {
        self.ir.node(v).span
    }

    fn shape_str(&self, shape: &Shape) -> String {
        display_shape(shape, &self.ir.symbols)
    }

    fn party(&mut self, id: &Ident) -> Option<PartyId> {
        match self.ir.parties.iter().position(|p| *p == id.name) {
            Some(i) => Some(i as PartyId),
            None => {
                self.diags.push(diag::unknown_party(id.span, &id.name, &self.ir.parties));
                None
            }
        }
    }

    fn placement(&mut self, id: &Ident) -> Option<Placement> {
        match id.name.as_str() {
            "spu" => Some(Placement::Secret),
            "pub" => Some(Placement::Public),
            _ => self.party(id).map(Placement::Party),
        }
    }

    fn dtype(&mut self, id: &Ident) -> Option<DType> {
        match id.name.as_str() {
            "fix" => Some(DType::Fix),
            "int" => Some(DType::Int),
            "bool" => Some(DType::Bool),
            other => {
                self.diags.push(diag::bad_annotation(id.span, &format!("unknown dtype `{other}`"), "the dtypes are `fix`, `int` and `bool`"));
                None
            }
        }
    }

    /// The shape of an annotation; `bind` creates shape symbols not seen before (inputs do).
    fn shape(&mut self, dims: &[DimAnn], bind: bool) -> Option<Shape> {
        let mut shape = Vec::with_capacity(dims.len());
        for d in dims {
            shape.push(match d {
                DimAnn::Const(c, span) => {
                    if *c < 0 || *c > u32::MAX as i64 {
                        self.diags.push(diag::bad_annotation(*span, "a dimension must be between 0 and 2^32", "write a smaller size"));
                        return None;
                    }
                    Dim::constant(*c)
                }
                DimAnn::Sym(id) => match self.symbols.get(&id.name) {
                    Some(&s) => Dim::symbol(s),
                    None if bind => {
                        let s = self.ir.symbols.len() as u32;
                        self.ir.symbols.push(id.name.clone());
                        self.symbols.insert(id.name.clone(), s);
                        Dim::symbol(s)
                    }
                    None => {
                        self.diags.push(diag::bad_annotation(
                            id.span,
                            &format!("unknown shape symbol `{}`", id.name),
                            "shape symbols are bound by the shapes of inputs, e.g. `input(\"x\")` declared `fix[n, 3]`",
                        ));
                        return None;
                    }
                },
            });
        }
        Some(shape)
    }

    fn input(&mut self, args: &[Arg], ann: Option<&TypeAnn>, span: Span) -> Val {
        let name = self.string_arg("input", args, span, "let x: fix[n, 3] @alice = input(\"x\")")?;
        let usage = "declare the input's type: `let x: fix[n, 3] @alice = input(\"x\")`";
        let Some(ann) = ann else {
            self.diags.push(diag::bad_annotation(span, "an input needs a type annotation with its owner", usage));
            return None;
        };
        let Some(owner) = &ann.placement else {
            self.diags.push(diag::bad_annotation(ann.span, "an input needs an owner: `@party`", usage));
            return None;
        };
        let owner_id = match self.placement(owner)? {
            Placement::Party(p) => p,
            _ => {
                self.diags.push(diag::bad_annotation(owner.span, "an input belongs to one party, not to `@spu` or `@pub`", usage));
                return None;
            }
        };
        let dtype = match &ann.dtype {
            Some(d) => self.dtype(d)?,
            None => {
                self.diags.push(diag::bad_annotation(ann.span, "an input needs a dtype", usage));
                return None;
            }
        };
        let shape = self.shape(ann.shape.as_deref().unwrap_or(&[]), true)?;
        if let Some(first) = self.inputs.insert((owner_id, name.clone()), span) {
            self.diags.push(diag::bad_arguments(span, "input", &format!("{} already has an input called \"{name}\"", owner.name), "input(\"another_name\")"));
            let _ = first;
            return None;
        }
        Some(self.ir.add(Op::Input { name }, Type { dtype, shape, placement: Placement::Party(owner_id) }, span, &[]))
    }

    /// Checks a value against a `let` annotation and applies what it asks (a cast, a share).
    fn annotate(&mut self, v: NodeId, ann: &TypeAnn, value_span: Span) -> Val {
        let mut v = v;
        if let Some(d) = &ann.dtype {
            let want = self.dtype(d)?;
            let have = self.ty(v).dtype;
            if have == DType::Int && want == DType::Fix {
                v = self.cast(v, DType::Fix);
            } else if have != want {
                self.diags.push(diag::dtype_mismatch(d.span, format!("declared {want} but the value is {have}"), "convert the value or change the annotation"));
                return None;
            }
        }
        if let Some(dims) = &ann.shape {
            let declared = self.shape(dims, false)?;
            let actual = self.ty(v).shape.clone();
            let differs = declared.len() != actual.len() || declared.iter().zip(&actual).any(|(a, b)| provably_different(a, b));
            if differs {
                self.diags.push(diag::annotation_shape(ann.span, &self.shape_str(&declared), &self.shape_str(&actual), value_span));
                return None;
            }
        }
        if let Some(p) = &ann.placement {
            let want = self.placement(p)?;
            let have = self.ty(v).placement;
            match (want, have) {
                (Placement::Party(w), Placement::Party(h)) if w == h => {}
                (Placement::Party(_) | Placement::Secret, Placement::Public) | (Placement::Secret, Placement::Secret) | (Placement::Public, Placement::Public) => {}
                (Placement::Secret, Placement::Party(_)) => v = self.share(v, ann.span),
                (Placement::Party(w), Placement::Secret) => {
                    self.diags.push(diag::leak_secret(ann.span, value_span, self.ir.party_name(w)));
                    return None;
                }
                (Placement::Party(w), Placement::Party(h)) => {
                    let (owner, to) = (self.ir.party_name(h).to_string(), self.ir.party_name(w).to_string());
                    self.diags.push(diag::leak_private(ann.span, value_span, &owner, &to));
                    return None;
                }
                (Placement::Public, h) => {
                    let what = if h == Placement::Secret { "secret".to_string() } else { format!("private ({})", self.ir.placement_name(h)) };
                    self.diags.push(diag::leak_to_public(ann.span, value_span, &what));
                    return None;
                }
            }
        }
        Some(v)
    }

    fn cast(&mut self, v: NodeId, to: DType) -> NodeId {
        let node = self.ir.node(v).clone();
        if let (Op::Const(Literal::Int(i)), DType::Fix) = (&node.op, to) {
            let ty = Type { dtype: DType::Fix, ..node.ty };
            return self.ir.add(Op::Const(Literal::Fix(*i as f64)), ty, node.span, &[]);
        }
        let ty = Type { dtype: to, ..node.ty };
        self.ir.add(Op::Cast(to), ty, node.span, &[v])
    }

    fn share(&mut self, v: NodeId, span: Span) -> NodeId {
        let ty = Type { placement: Placement::Secret, ..self.ty(v).clone() };
        self.ir.add(Op::Share, ty, span, &[v])
    }

    fn expr(&mut self, e: &Expr) -> Val {
        let scalar = |dtype| Type { dtype, shape: vec![], placement: Placement::Public };
        match &e.kind {
            ExprKind::Int(i) => Some(self.ir.add(Op::Const(Literal::Int(*i)), scalar(DType::Int), e.span, &[])),
            ExprKind::Float(f) => Some(self.ir.add(Op::Const(Literal::Fix(*f)), scalar(DType::Fix), e.span, &[])),
            ExprKind::Bool(b) => Some(self.ir.add(Op::Const(Literal::Bool(*b)), scalar(DType::Bool), e.span, &[])),
            ExprKind::Str(_) => {
                self.diags.push(diag::wrong_role(e.span, "a string is not a value", "strings name inputs and outputs: `input(\"x\")`, `output(x, \"y\")`"));
                None
            }
            ExprKind::Name(id) => self.name(id),
            ExprKind::List(_) => {
                self.diags.push(diag::not_supported(e.span, "a list outside `concat`"));
                None
            }
            ExprKind::Tuple(_) => {
                self.diags.push(diag::not_supported(e.span, "a tuple"));
                None
            }
            ExprKind::Unary(ast::UnOp::Neg, x) => {
                let x = self.expr(x)?;
                if self.ty(x).dtype == DType::Bool {
                    self.diags.push(diag::dtype_mismatch(e.span, "cannot negate a bool".into(), "use `!` for logical negation"));
                    return None;
                }
                let ty = self.ty(x).clone();
                Some(self.ir.add(Op::Neg, ty, e.span, &[x]))
            }
            ExprKind::Unary(ast::UnOp::Not, _) => {
                self.diags.push(diag::not_supported(e.span, "boolean negation `!`"));
                None
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r, e.span),
            ExprKind::Call { callee, args } => self.call(callee, args, e.span),
            ExprKind::Field(x, f) if f.name == "T" => {
                let x = self.expr(x)?;
                let ty = self.ty(x).clone();
                if ty.shape.len() > 2 {
                    self.diags.push(diag::not_supported(e.span, "`.T` of a tensor of rank above 2"));
                    return None;
                }
                let shape = ty.shape.iter().rev().cloned().collect();
                Some(self.ir.add(Op::Transpose, Type { shape, ..ty }, e.span, &[x]))
            }
            ExprKind::Field(_, f) => {
                self.diags.push(diag::wrong_role(f.span, &format!("no field `{}`", f.name), "the only field is `.T` (transpose)"));
                None
            }
            ExprKind::Index(..) => {
                self.diags.push(diag::not_supported(e.span, "indexing and slicing"));
                None
            }
        }
    }

    fn name(&mut self, id: &Ident) -> Val {
        if let Some(v) = self.scope.get(&id.name) {
            return *v;
        }
        if self.ir.parties.contains(&id.name) {
            self.diags.push(diag::wrong_role(id.span, &format!("`{}` is a party, not a value", id.name), "parties appear in placements (`@alice`) and in `to:` arguments"));
        } else if self.symbols.contains_key(&id.name) {
            self.diags.push(diag::not_supported(id.span, "a shape symbol used as a value"));
        } else {
            let suggestion = diag::closest(&id.name, self.scope.keys().map(String::as_str)).map(str::to_string);
            self.diags.push(diag::undefined_name(id.span, &id.name, suggestion.as_deref()));
        }
        None
    }

    fn binary(&mut self, op: ast::BinOp, l: &Expr, r: &Expr, span: Span) -> Val {
        let ir_op = match op {
            ast::BinOp::Add => BinOp::Add,
            ast::BinOp::Sub => BinOp::Sub,
            ast::BinOp::Mul => BinOp::Mul,
            ast::BinOp::MatMul => BinOp::MatMul,
            ast::BinOp::Div => {
                self.diags.push(diag::not_supported(span, "division `/`"));
                return None;
            }
            other => {
                self.diags.push(diag::not_supported(span, &format!("the operator `{}`", other.symbol())));
                return None;
            }
        };
        let (a, b) = (self.expr(l), self.expr(r));
        let (a, b) = self.unify_dtypes(a?, b?, span)?;
        let (ta, tb) = (self.ty(a).clone(), self.ty(b).clone());
        let shape = if ir_op == BinOp::MatMul {
            self.matmul_shape(&ta.shape, &tb.shape, span, (l.span, r.span))?
        } else {
            match broadcast(&ta.shape, &tb.shape) {
                Some(s) => s,
                None => {
                    let (ls, rs) = (self.shape_str(&ta.shape), self.shape_str(&tb.shape));
                    self.diags.push(diag::shape_mismatch(span, &format!("`{}`", op.symbol()), (l.span, ls), (r.span, rs)));
                    return None;
                }
            }
        };
        let ty = Type { dtype: ta.dtype, shape, placement: ta.placement.join(tb.placement) };
        Some(self.ir.add(Op::Binary(ir_op), ty, span, &[a, b]))
    }

    /// Casts an int operand to fix when the other is fix; bools do not mix with numbers.
    fn unify_dtypes(&mut self, a: NodeId, b: NodeId, span: Span) -> Option<(NodeId, NodeId)> {
        match (self.ty(a).dtype, self.ty(b).dtype) {
            (x, y) if x == y && x != DType::Bool => Some((a, b)),
            (DType::Int, DType::Fix) => Some((self.cast(a, DType::Fix), b)),
            (DType::Fix, DType::Int) => Some((a, self.cast(b, DType::Fix))),
            (x, y) => {
                self.diags.push(diag::dtype_mismatch(span, format!("arithmetic on {x} and {y}"), "arithmetic takes `fix` and `int` operands"));
                None
            }
        }
    }

    fn matmul_shape(&mut self, a: &Shape, b: &Shape, span: Span, spans: (Span, Span)) -> Option<Shape> {
        let (ls, rs) = (self.shape_str(a), self.shape_str(b));
        let (k1, k2, out) = match (a.len(), b.len()) {
            (2, 2) => (&a[1], &b[0], vec![a[0].clone(), b[1].clone()]),
            (2, 1) => (&a[1], &b[0], vec![a[0].clone()]),
            (1, 2) => (&a[0], &b[0], vec![b[1].clone()]),
            (1, 1) => (&a[0], &b[0], vec![]),
            _ => {
                self.diags.push(diag::shape_mismatch(span, "`@` (it takes vectors and matrices)", (spans.0, ls), (spans.1, rs)));
                return None;
            }
        };
        if provably_different(k1, k2) {
            self.diags.push(diag::shape_mismatch(span, "`@` (inner dimensions differ)", (spans.0, ls), (spans.1, rs)));
            return None;
        }
        Some(out)
    }

    fn call(&mut self, callee: &Ident, args: &[Arg], span: Span) -> Val {
        match callee.name.as_str() {
            "reveal" => self.reveal(args, span),
            "share" => {
                let x = self.positional("share", args, span, 1, &[], "share(x)")?;
                let x = self.expr(&x[0])?;
                match self.ty(x).placement {
                    Placement::Party(_) => Some(self.share(x, span)),
                    _ => Some(x),
                }
            }
            "send" => self.send(args, span),
            "sum" => self.sum(args, span),
            "concat" => self.concat(args, span),
            "input" => {
                self.diags.push(diag::bad_arguments(span, "input", "an input must be bound directly by `let`", "let x: fix[n] @alice = input(\"x\")"));
                None
            }
            "output" => {
                self.diags.push(diag::bad_arguments(span, "output", "`output` is a statement, not a value", "output(x, \"name\");"));
                None
            }
            name if LATER_BUILTINS.contains(&name) => {
                self.diags.push(diag::not_supported(callee.span, &format!("the builtin `{name}`")));
                None
            }
            name => {
                let suggestion = diag::closest(name, BUILTINS.iter().chain(LATER_BUILTINS).copied());
                self.diags.push(diag::unknown_function(callee.span, name, suggestion));
                None
            }
        }
    }

    /// Checks a call's arguments: `count` positional ones, then only the keywords in `keywords`.
    /// Returns the positional expressions.
    fn positional<'a>(&mut self, callee: &str, args: &'a [Arg], span: Span, count: usize, keywords: &[&str], usage: &str) -> Option<Vec<&'a Expr>> {
        let positional: Vec<&Expr> = args.iter().filter(|a| a.name.is_none()).map(|a| &a.value).collect();
        if positional.len() != count {
            let problem = format!("takes {count} positional argument{}, got {}", if count == 1 { "" } else { "s" }, positional.len());
            self.diags.push(diag::bad_arguments(span, callee, &problem, usage));
            return None;
        }
        let mut seen: Vec<&str> = Vec::new();
        for a in args {
            if let Some(n) = &a.name {
                if !keywords.contains(&n.name.as_str()) || seen.contains(&n.name.as_str()) {
                    let problem = if seen.contains(&n.name.as_str()) { format!("`{}` given twice", n.name) } else { format!("no keyword argument `{}`", n.name) };
                    self.diags.push(diag::bad_arguments(n.span, callee, &problem, usage));
                    return None;
                }
                seen.push(&n.name);
            }
        }
        if args.iter().position(|a| a.name.is_some()).is_some_and(|first_kw| args[first_kw..].iter().any(|a| a.name.is_none())) {
            self.diags.push(diag::bad_arguments(span, callee, "positional arguments must come before keyword arguments", usage));
            return None;
        }
        Some(positional)
    }

    fn keyword<'a>(args: &'a [Arg], name: &str) -> Option<&'a Expr> {
        args.iter().find(|a| a.name.as_ref().is_some_and(|n| n.name == name)).map(|a| &a.value)
    }

    fn string_arg(&mut self, callee: &str, args: &[Arg], span: Span, usage: &str) -> Option<String> {
        let x = self.positional(callee, args, span, 1, &[], usage)?;
        match &x[0].kind {
            ExprKind::Str(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => Some(s.clone()),
            _ => {
                self.diags.push(diag::bad_arguments(x[0].span, callee, "the name must be a string of letters, digits, `_` or `-`", usage));
                None
            }
        }
    }

    /// The party named by a `to:` argument.
    fn to_party(&mut self, e: &Expr, callee: &str, usage: &str) -> Option<PartyId> {
        match &e.kind {
            ExprKind::Name(id) => self.party(id),
            _ => {
                self.diags.push(diag::bad_arguments(e.span, callee, "`to:` takes a party name", usage));
                None
            }
        }
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
                Some(self.ir.add(Op::Reveal { to }, Type { placement, ..ty }, span, &[v]))
            }
            (Placement::Public, _) => Some(v),
            (Placement::Party(p), Some(t)) if p == t => Some(v),
            (Placement::Party(p), t) => {
                let to_name = t.map_or("bob", |t| self.ir.party_name(t)).to_string();
                self.diags.push(diag::reveal_not_secret(x[0].span, self.ir.party_name(p), &to_name));
                None
            }
        }
    }

    fn send(&mut self, args: &[Arg], span: Span) -> Val {
        let usage = "send(x, to: bob)";
        let x = self.positional("send", args, span, 1, &["to"], usage)?;
        let Some(to_expr) = Self::keyword(args, "to") else {
            self.diags.push(diag::bad_arguments(span, "send", "missing `to:`", usage));
            return None;
        };
        let to = self.to_party(to_expr, "send", usage)?;
        let v = self.expr(x[0])?;
        let ty = self.ty(v).clone();
        match ty.placement {
            Placement::Party(p) if p == to => Some(v),
            Placement::Party(_) => Some(self.ir.add(Op::Send { to }, Type { placement: Placement::Party(to), ..ty }, span, &[v])),
            Placement::Public => Some(v),
            Placement::Secret => {
                self.diags.push(diag::wrong_role(x[0].span, "`send` moves private values; this value is secret", &format!("use `reveal(x, to: {})`", self.ir.party_name(to))));
                None
            }
        }
    }

    fn axis(&mut self, args: &[Arg], callee: &str, rank: usize, usage: &str, span: Span) -> Option<usize> {
        let Some(e) = Self::keyword(args, "axis") else {
            self.diags.push(diag::bad_arguments(span, callee, "missing `axis:`", usage));
            return None;
        };
        let value = match &e.kind {
            ExprKind::Int(i) => *i,
            ExprKind::Unary(ast::UnOp::Neg, inner) => match inner.kind {
                ExprKind::Int(i) => -i,
                _ => i64::MIN,
            },
            _ => i64::MIN,
        };
        if value == i64::MIN {
            self.diags.push(diag::bad_arguments(e.span, callee, "`axis:` takes an integer literal", usage));
            return None;
        }
        let normalised = if value < 0 { value + rank as i64 } else { value };
        if normalised < 0 || normalised >= rank as i64 {
            self.diags.push(diag::axis_out_of_range(e.span, value, rank));
            return None;
        }
        Some(normalised as usize)
    }

    fn sum(&mut self, args: &[Arg], span: Span) -> Val {
        let usage = "sum(x, axis: 0)";
        let x = self.positional("sum", args, span, 1, &["axis"], usage)?;
        let v = self.expr(x[0])?;
        let ty = self.ty(v).clone();
        if ty.dtype == DType::Bool {
            self.diags.push(diag::dtype_mismatch(x[0].span, "cannot sum bools".into(), "sum takes `fix` or `int`"));
            return None;
        }
        let axis = self.axis(args, "sum", ty.shape.len(), usage, span)?;
        let mut shape = ty.shape.clone();
        shape.remove(axis);
        Some(self.ir.add(Op::Sum { axis }, Type { shape, ..ty }, span, &[v]))
    }

    fn concat(&mut self, args: &[Arg], span: Span) -> Val {
        let usage = "concat([a, b], axis: 0)";
        let x = self.positional("concat", args, span, 1, &["axis"], usage)?;
        let ExprKind::List(items) = &x[0].kind else {
            self.diags.push(diag::bad_arguments(x[0].span, "concat", "the first argument must be a list `[a, b, ...]`", usage));
            return None;
        };
        if items.is_empty() {
            self.diags.push(diag::bad_arguments(x[0].span, "concat", "the list is empty", usage));
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
                || t.shape.iter().zip(&first.shape).enumerate().any(|(d, (a, b))| d != axis && provably_different(a, b));
            if mismatch {
                let (a, b) = (self.shape_str(&first.shape), self.shape_str(&t.shape));
                let what = format!("`concat` along axis {axis} ({} and {})", first.dtype, t.dtype);
                self.diags.push(diag::shape_mismatch(span, &what, (items[0].span, a), (items[i].span, b)));
                return None;
            }
            shape[axis] = shape[axis].add(&t.shape[axis]);
            placement = placement.join(t.placement);
        }
        Some(self.ir.add(Op::Concat { axis }, Type { dtype: first.dtype, shape, placement }, span, &parts))
    }

    fn output(&mut self, args: &[Arg], span: Span) {
        let usage = "output(x, \"name\")";
        let positional: Vec<&Arg> = args.iter().filter(|a| a.name.is_none()).collect();
        if positional.len() != 2 || positional.len() != args.len() {
            self.diags.push(diag::bad_arguments(span, "output", &format!("takes 2 arguments, got {}", args.len()), usage));
            return;
        }
        let name_arg = std::slice::from_ref(positional[1]);
        let Some(name) = self.string_arg("output", name_arg, span, usage) else { return };
        let Some(v) = self.expr(&positional[0].value) else { return };
        let ty = self.ty(v).clone();
        let writers: Vec<String> = match ty.placement {
            Placement::Secret => {
                self.diags.push(diag::output_secret(span, self.span(v)));
                return;
            }
            Placement::Party(p) => vec![self.ir.party_name(p).to_string()],
            Placement::Public => self.ir.parties.clone(),
        };
        for w in writers {
            if let Some(first) = self.outputs.insert((w.clone(), name.clone()), span) {
                self.diags.push(diag::duplicate_output(span, first, &name, &w));
                return;
            }
        }
        self.ir.add(Op::Output { name }, ty, span, &[v]);
    }
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
            // One side symbolic: the constant side wins when it is one; the run time checks the rest.
            (Some(x), Some(y)) => if y.as_const().is_some() { y.clone() } else { x.clone() },
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
