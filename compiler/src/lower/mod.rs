//! Semantic analysis and lowering: AST to typed IR.
//!
//! One walk over the program resolves names, checks arguments, infers each value's dtype,
//! symbolic shape and placement, and enforces information flow: a value becomes visible to a
//! party only through its own `input`, `reveal` or `send`. Errors are collected, not thrown; a
//! failed sub-expression yields no node and its users stay quiet, so one mistake gives one
//! diagnostic.
//!
//! Functions are inlined at each call, which makes them generic over shapes and placements for
//! free: a parameter's shape symbols bind to the argument's dimensions. Loops become loop
//! regions (see `crate::ir`); a variable assigned in a loop body is carried from one iteration to
//! the next, and its type is widened until it is stable (a public accumulator that meets a
//! secret becomes secret from the first iteration on).

mod builtins;
mod expr;
mod flow;
mod types;

use crate::diagnostics::{self as diag, Diagnostic};
use crate::ir::{Dim, Ir, NodeId, Op, RegionId, Type, TOP};
use crate::syntax::ast::{self, FnDecl, Ident, Item, Span, StmtKind, TypeAnn};
use std::collections::HashMap;
use std::rc::Rc;

pub use types::{broadcast, provably_different};

mod load;
pub mod index;

use index::{Definition, Index, Kind, Occurrence};

/// Lowers a program; the IR is complete only when no diagnostic is an error. Files named by
/// `load` are read relative to `base_dir`, the source file's folder.
pub fn lower(program: &ast::Program, base_dir: &std::path::Path) -> (Ir, Vec<Diagnostic>) {
    let (ir, diagnostics, _) = lower_with(program, base_dir, None);
    (ir, diagnostics)
}

/// [`lower`], also returning what each name in the file stands for (for the editor; `sfc
/// compile` does not pay for it).
pub fn lower_indexed(program: &ast::Program, base_dir: &std::path::Path) -> (Ir, Vec<Diagnostic>, Index) {
    let (ir, diagnostics, index) = lower_with(program, base_dir, Some(Index::default()));
    (ir, diagnostics, index.unwrap_or_default())
}

fn lower_with(program: &ast::Program, base_dir: &std::path::Path, index: Option<Index>) -> (Ir, Vec<Diagnostic>, Option<Index>) {
    let mut l = Lower { base_dir: base_dir.to_path_buf(), index, ..Lower::default() };
    l.declare_functions(&program.items, false, "");
    for item in &program.items {
        l.item(item);
    }
    if l.parties_span.is_none() && l.diags.iter().all(|d| d.code != "E0101") {
        l.diags.push(diag::parties_first(Span::new(0, 0)));
    }
    // Loop bodies lowered again with wider types leave their first attempt behind, unreachable.
    crate::passes::dce::run(&mut l.ir);
    (l.ir, l.diags, l.index)
}

/// A lowered value: `None` when an error was already reported for it.
pub(crate) type Val = Option<NodeId>;

pub(crate) struct Var {
    // A binding's current value; `None` after an error.
    pub node: Val,
    pub mutable: bool,
    pub span: Span,
    pub ann: Option<TypeAnn>,
}

/// The names visible in one function body (or the top level): functions do not capture.
#[derive(Default)]
pub(crate) struct Frame {
    pub scopes: Vec<HashMap<String, Var>>,
    /// Shape symbols: at the top level those bound by inputs; in a function those its
    /// parameters bound.
    pub symbols: HashMap<String, Dim>,
    /// Set while inlining library code, whose spans point into another file: nodes and
    /// diagnostics take the span of the call instead.
    pub span_override: Option<Span>,
}

pub(crate) struct FnDef {
    pub decl: FnDecl,
    /// From the standard library (its spans are not in the user's file).
    pub library: bool,
    /// The library module it comes from (`std::nn`), for library functions.
    pub module: String,
}

pub(crate) struct Lower {
    pub ir: Ir,
    pub diags: Vec<Diagnostic>,
    pub parties_span: Option<Span>,
    pub party_spans: Vec<Span>,
    /// Shape symbols of the module, by name.
    pub globals: HashMap<String, u32>,
    pub frames: Vec<Frame>,
    pub region: RegionId,
    pub functions: HashMap<String, Rc<FnDef>>,
    pub call_stack: Vec<(String, Span)>,
    pub loop_depth: usize,
    pub inputs: HashMap<(u16, String), Span>,
    pub outputs: HashMap<(String, String), Span>,
    pub base_dir: std::path::PathBuf,
    /// What each name stands for, when the editor asked for it.
    pub index: Option<Index>,
}

impl Default for Lower {
    fn default() -> Lower {
        Lower {
            ir: Ir::default(),
            diags: Vec::new(),
            parties_span: None,
            party_spans: Vec::new(),
            globals: HashMap::new(),
            frames: vec![Frame { scopes: vec![HashMap::new()], ..Frame::default() }],
            region: TOP,
            functions: HashMap::new(),
            call_stack: Vec::new(),
            loop_depth: 0,
            inputs: HashMap::new(),
            outputs: HashMap::new(),
            base_dir: std::path::PathBuf::from("."),
            index: None,
        }
    }
}

impl Lower {
    pub(crate) fn frame(&self) -> &Frame {
        &self.frames[self.frames.len() - 1]
    }

    pub(crate) fn frame_mut(&mut self) -> &mut Frame {
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    /// The span to give a node or diagnostic made from source span `s`.
    pub(crate) fn sp(&self, s: Span) -> Span {
        self.frame().span_override.unwrap_or(s)
    }

    pub(crate) fn err(&mut self, mut d: Diagnostic) {
        if let Some(call) = self.frame().span_override {
            d.primary.span = call;
            d.primary.text = format!("{} (in library code called here)", d.primary.text);
            d.secondary.clear();
        }
        self.diags.push(d);
    }

    pub(crate) fn add(&mut self, op: Op, ty: Type, span: Span, operands: &[NodeId]) -> NodeId {
        // Reported where the size first appears, not again at every value computed from it.
        if oversized(&ty.shape) && !operands.iter().any(|&o| oversized(&self.ty(o).shape)) {
            let shape = self.shape_str(&ty.shape);
            self.err(diag::too_many_elements(span, &shape));
        }
        let span = self.sp(span);
        self.ir.add(self.region, op, ty, span, operands)
    }

    pub(crate) fn at_top_level(&self) -> bool {
        self.frames.len() == 1 && self.loop_depth == 0 && self.region == TOP
    }

    fn declare_functions(&mut self, items: &[Item], library: bool, module: &str) {
        for item in items {
            if let Item::Fn(f) = item {
                if let Some(previous) = self.functions.get(&f.name.name) {
                    if !previous.library && !library {
                        let first = previous.decl.name.span;
                        self.err(diag::duplicate_function(f.name.span, first, &f.name.name));
                    }
                    continue;
                }
                self.functions.insert(f.name.name.clone(), Rc::new(FnDef { decl: f.clone(), library, module: module.to_string() }));
            }
        }
    }

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
                    self.err(diag::parties_first(span));
                }
            }
            Item::Use { path, names, span } => self.use_decl(path, names, *span),
            Item::Fn(_) => {}
            Item::Stmt(s) => self.stmt(s),
        }
    }

    fn parties(&mut self, names: &[Ident], span: Span) {
        if let Some(first) = self.parties_span {
            self.err(diag::parties_twice(span, first));
            return;
        }
        self.parties_span = Some(span);
        for n in names {
            if n.name == "spu" || n.name == "pub" {
                self.err(diag::reserved_party(n.span, &n.name));
            } else if let Some(i) = self.ir.parties.iter().position(|p| *p == n.name) {
                let first = self.party_spans[i];
                self.err(diag::duplicate_party(n.span, first, &n.name));
            } else {
                self.ir.parties.push(n.name.clone());
                self.party_spans.push(n.span);
            }
        }
        if self.ir.parties.len() < 2 {
            self.err(diag::too_few_parties(span));
        }
    }

    /// `use std::nn::{relu, softmax};` makes library functions callable by name.
    fn use_decl(&mut self, path: &[Ident], names: &[Ident], span: Span) {
        let module_path: Vec<&str> = path.iter().map(|i| i.name.as_str()).collect();
        let Some(source) = crate::stdlib::module(&module_path) else {
            let available = crate::stdlib::MODULES.iter().map(|(p, _)| p.join("::")).collect::<Vec<_>>().join(", ");
            self.err(diag::unknown_module(span, &module_path.join("::"), &available));
            return;
        };
        let program = match crate::syntax::parse(source) {
            Ok(p) => p,
            Err(d) => {
                self.err(diag::library_broken(span, &module_path.join("::"), &d.message));
                return;
            }
        };
        let mut library: HashMap<String, FnDecl> = HashMap::new();
        for item in program.items {
            if let Item::Fn(f) = item {
                library.insert(f.name.name.clone(), f);
            }
        }
        // The imported names, and every library function they may call.
        for name in names {
            if !library.contains_key(&name.name) {
                let suggestion = diag::closest(&name.name, library.keys().map(String::as_str)).map(str::to_string);
                self.err(diag::unknown_import(name.span, &name.name, &module_path.join("::"), suggestion.as_deref()));
            }
        }
        for (fname, decl) in library {
            let imported = names.iter().any(|n| n.name == fname);
            let user_defined = self.functions.get(&fname).is_some_and(|f| !f.library);
            if user_defined {
                continue;
            }
            if imported || !self.functions.contains_key(&fname) {
                self.functions.insert(fname, Rc::new(FnDef { decl, library: true, module: module_path.join("::") }));
            }
        }
    }

    pub(crate) fn stmt(&mut self, s: &ast::Stmt) {
        match &s.kind {
            StmtKind::Let { mutable, pattern, ty, value } => self.let_stmt(*mutable, pattern, ty.as_ref(), value, s.span),
            StmtKind::Assign { target, value } => self.assign(target, value, s.span),
            StmtKind::For { var, start, end, body } => self.for_loop(var, start, end, body, s.span),
            StmtKind::If { cond, then, otherwise } => self.if_stmt(cond, then, otherwise.as_ref(), s.span),
            StmtKind::Expr(e) => match &e.kind {
                ast::ExprKind::Call { callee, args } if callee.name == "output" => self.output(args, e.span),
                _ => {
                    let before = self.diags.len();
                    let v = self.expr_or_unit(e);
                    if v.is_some() && self.diags.len() == before && !self.is_call_to_function(e) {
                        self.err(diag::unused_value(e.span));
                    }
                }
            },
        }
    }

    fn is_call_to_function(&self, e: &ast::Expr) -> bool {
        matches!(&e.kind, ast::ExprKind::Call { callee, .. } if self.functions.contains_key(&callee.name))
    }

    pub(crate) fn push_scope(&mut self) {
        self.frame_mut().scopes.push(HashMap::new());
    }

    pub(crate) fn pop_scope(&mut self) {
        self.frame_mut().scopes.pop();
    }

    pub(crate) fn bind(&mut self, name: &Ident, node: Val, mutable: bool, ann: Option<TypeAnn>) {
        let span = name.span;
        self.record_value(name, span, node);
        if let Some(scope) = self.frame_mut().scopes.last_mut() {
            scope.insert(name.name.clone(), Var { node, mutable, span, ann });
        }
    }

    /// Records an occurrence of a value's name (a definition when `definition` is its own
    /// span), unless it lies in inlined library code.
    pub(crate) fn record_value(&mut self, name: &Ident, definition: Span, node: Val) {
        self.record(name, Kind::Value, Definition::Here(definition), node, "");
    }

    /// Records an occurrence whose value is `node` (its type shown with `note` after it),
    /// when indexing; the type is formatted only then.
    pub(crate) fn record(&mut self, name: &Ident, kind: Kind, definition: Definition, node: Val, note: &str) {
        if self.index.is_none() || self.frame().span_override.is_some() {
            return;
        }
        let ty = node.map(|n| format!("{}{note}", self.ir.type_string(&self.ir.node(n).ty)));
        if let Some(index) = &mut self.index {
            index.occurrences.push(Occurrence { span: name.span, name: name.name.clone(), kind, definition, ty });
        }
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<&Var> {
        self.frame().scopes.iter().rev().find_map(|s| s.get(name))
    }

    pub(crate) fn lookup_mut(&mut self, name: &str) -> Option<&mut Var> {
        self.frame_mut().scopes.iter_mut().rev().find_map(|s| s.get_mut(name))
    }
}

/// Whether the constant dimensions of a shape alone hold more elements than a value may have.
fn oversized(shape: &[sf_isa::Dim]) -> bool {
    let constants = shape.iter().filter_map(sf_isa::Dim::as_const).map(|c| c.max(0) as u64);
    sf_isa::elements_within_limit(constants).is_none()
}
