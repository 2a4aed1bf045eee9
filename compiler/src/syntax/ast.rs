//! The abstract syntax tree. Every node carries the byte span it came from; pest types never
//! leave the parser.

/// A byte range in the source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Parties { names: Vec<Ident>, span: Span },
    Use { path: Vec<Ident>, names: Vec<Ident>, span: Span },
    Fn(FnDecl),
    Stmt(Stmt),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FnDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: Option<TypeAnn>,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeAnn>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub value: Option<Box<Expr>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Let { mutable: bool, pattern: Pattern, ty: Option<TypeAnn>, value: Expr },
    Assign { target: Ident, value: Expr },
    For { var: Ident, start: Expr, end: Expr, body: Block },
    If { cond: Expr, then: Block, otherwise: Option<Else> },
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Else {
    If(Box<Stmt>),
    Block(Block),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    Name(Ident),
    Tuple(Vec<Ident>, Span),
}

/// `dtype[shape] @placement`, each part optional (a bare `@alice` is allowed).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeAnn {
    pub dtype: Option<Ident>,
    pub shape: Option<Vec<DimAnn>>,
    pub placement: Option<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DimAnn {
    Const(i64, Span),
    Sym(Ident),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Le,
    Ge,
    Lt,
    Gt,
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Or => "||",
            And => "&&",
            Eq => "==",
            Ne => "!=",
            Le => "<=",
            Ge => ">=",
            Lt => "<",
            Gt => ">",
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            MatMul => "@",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Name(Ident),
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call { callee: Ident, args: Vec<Arg> },
    Field(Box<Expr>, Ident),
    Index(Box<Expr>, Vec<IndexArg>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IndexArg {
    Expr(Expr),
    Slice { start: Option<Expr>, end: Option<Expr>, span: Span },
}
