//! Parsing: `.sf` text to the AST. pest does the recognising; this module turns its pairs into
//! our own AST right away, so no pest type escapes.

pub mod ast;

use crate::diagnostics::{self, Diagnostic};
use ast::*;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;
use std::sync::OnceLock;

#[derive(pest_derive::Parser)]
#[grammar = "syntax/grammar.pest"]
struct SfParser;

/// How many syntax errors one run reports at most.
const MAX_SYNTAX_ERRORS: usize = 20;

/// Parses a whole file and reports every independent syntax error: the statement (or function)
/// holding an error is blanked out, byte for byte so that spans stay true, and the rest is
/// parsed again.
pub fn parse_recovering(source: &str) -> Result<Program, Vec<Diagnostic>> {
    check_limits(source).map_err(|d| vec![d])?;
    let mut text = source.as_bytes().to_vec();
    let mut errors: Vec<Diagnostic> = Vec::new();
    loop {
        let attempt = String::from_utf8(text.clone()).map_err(|_| errors.clone())?;
        match parse(&attempt) {
            Ok(program) if errors.is_empty() => return Ok(program),
            Ok(_) => return Err(errors),
            Err(d) => {
                let at = d.primary.span.start;
                errors.push(d);
                let (start, end) = item_extent(&text, at);
                if errors.len() >= MAX_SYNTAX_ERRORS || start >= end {
                    return Err(errors);
                }
                for b in &mut text[start..end] {
                    if *b != b'\n' {
                        *b = b' ';
                    }
                }
            }
        }
    }
}

/// The byte range to blank around an error at `at`: from the start of its top-level item to
/// the item's end, or to the first `;` after the error when brackets are unbalanced.
fn item_extent(text: &[u8], at: usize) -> (usize, usize) {
    let (start, end) = item_bounds(text, at);
    let semicolon = text.get(at..).and_then(|rest| rest.iter().position(|&b| b == b';')).map(|i| at + i + 1);
    (start, semicolon.map_or(end, |s| s.min(end)))
}

/// Top-level items end at a `;` or a closing `}` at depth 0 (a `}` followed by `else` does not
/// end one). Strings and comments are skipped.
fn item_bounds(text: &[u8], at: usize) -> (usize, usize) {
    let mut depth = 0i32;
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        match c {
            b'"' => {
                i += 1;
                while i < text.len() && text[i] != b'"' && text[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if text.get(i + 1) == Some(&b'/') => {
                while i < text.len() && text[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth -= 1,
            b'}' => {
                depth -= 1;
                let rest = text[i + 1..].iter().skip_while(|b| b.is_ascii_whitespace());
                let else_follows = rest.take(4).copied().collect::<Vec<u8>>() == b"else";
                if depth <= 0 && !else_follows {
                    if at < i + 1 && at >= start {
                        return (start, i + 1);
                    }
                    depth = 0;
                    start = i + 1;
                }
            }
            b';' if depth <= 0 => {
                if at < i + 1 && at >= start {
                    return (start, i + 1);
                }
                depth = 0;
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    (start, text.len())
}

/// Deepest nesting of brackets and braces the front end accepts; past it, the recursive stages
/// could run out of stack.
pub const MAX_NESTING: usize = 128;
/// Most operators in one statement, for the same reason (a chain of `+` is a deep tree).
pub const MAX_OPERATORS: usize = 512;

/// Refuses text whose nesting or expression length would exhaust the stack of the recursive
/// stages, before any of them runs.
fn check_limits(source: &str) -> Result<(), Diagnostic> {
    let (mut depth, mut operators, mut statement_start) = (0usize, 0usize, 0usize);
    let mut in_string = false;
    let mut chars = source.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if in_string {
            in_string = c != '"' && c != '\n';
            continue;
        }
        match c {
            '"' => in_string = true,
            '/' if chars.peek().map(|&(_, n)| n) == Some('/') => {
                while chars.peek().is_some_and(|&(_, n)| n != '\n') {
                    chars.next();
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(diagnostics::too_deep(Span::new(i, i + 1), MAX_NESTING));
                }
                if c == '{' {
                    operators = 0;
                    statement_start = i;
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ';' => {
                operators = 0;
                statement_start = i + 1;
            }
            '+' | '-' | '*' | '/' | '@' | '<' | '>' | '=' | '!' | '&' | '|' | ',' => {
                operators += 1;
                if operators > MAX_OPERATORS {
                    return Err(diagnostics::too_long(Span::new(statement_start, i + 1), MAX_OPERATORS));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses a whole file, stopping at the first syntax error, which is returned as one diagnostic
/// naming line, column and what was expected there.
pub fn parse(source: &str) -> Result<Program, Diagnostic> {
    check_limits(source)?;
    let mut pairs = SfParser::parse(Rule::program, source).map_err(|e| syntax_error(source, e))?;
    let program = pairs.next().map(|p| p.into_inner()).into_iter().flatten();
    let mut items = Vec::new();
    for pair in program {
        if pair.as_rule() != Rule::EOI {
            items.push(item(pair)?);
        }
    }
    Ok(Program { items })
}

fn syntax_error(source: &str, e: pest::error::Error<Rule>) -> Diagnostic {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let expected = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| rule_name(*r)).collect();
            names.sort_unstable();
            names.dedup();
            // Where an expression may start, its first tokens say nothing more.
            if names.contains(&"an expression") {
                names.retain(|n| !matches!(*n, "a name" | "a number" | "an integer" | "a string"));
            }
            match names.len() {
                0 => "valid syntax".to_string(),
                1 => names[0].to_string(),
                _ => {
                    let last = names.pop().unwrap_or_default();
                    format!("{} or {}", names.join(", "), last)
                }
            }
        }
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    // A statement that runs into the next line most likely lacks its `;`: say so, at the end of
    // the line that needs it.
    let before = source[..pos].trim_end();
    let line_break = source[before.len()..pos].contains('\n');
    let ended = before.ends_with([';', '{', '}', ',', '(', '[']);
    if line_break && !ended && !before.is_empty() {
        let at = before.len();
        let last = before.chars().next_back().map_or(1, char::len_utf8);
        return diagnostics::missing_semicolon(Span::new(at - last, at));
    }
    let end = source[pos..].chars().next().map_or(pos, |c| pos + c.len_utf8());
    diagnostics::syntax(Span::new(pos, end), &expected)
}

fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::ident | Rule::arg_name | Rule::dtype_name => "a name",
        Rule::parties_decl => "`parties`",
        Rule::use_decl => "`use`",
        Rule::fn_decl => "`fn`",
        Rule::let_stmt => "`let`",
        Rule::for_stmt => "`for`",
        Rule::if_stmt => "`if`",
        Rule::assign_stmt | Rule::expr_stmt => "a statement",
        Rule::expr | Rule::slice_start | Rule::slice_end => "an expression",
        Rule::type_ann => "a type",
        Rule::placement_ann => "`@party`",
        Rule::shape_ann => "a shape `[...]`",
        Rule::int => "an integer",
        Rule::float => "a number",
        Rule::string => "a string",
        Rule::or | Rule::and | Rule::eq | Rule::ne | Rule::le | Rule::ge | Rule::lt | Rule::gt | Rule::add
        | Rule::sub | Rule::mul | Rule::div | Rule::matmul => "an operator",
        Rule::field | Rule::index => "`.` or `[`",
        Rule::block => "a block `{ ... }`",
        Rule::tuple_pat => "a pattern",
        Rule::param | Rule::params => "a parameter",
        Rule::call | Rule::arg | Rule::list | Rule::paren | Rule::boolean | Rule::neg | Rule::not => "an expression",
        Rule::mut_kw => "`mut`",
        Rule::slice => "a slice",
        _ => return None,
    })
}

fn span_of(p: &Pair<Rule>) -> Span {
    let s = p.as_span();
    Span::new(s.start(), s.end())
}

fn ident(p: Pair<Rule>) -> Ident {
    Ident { name: p.as_str().to_string(), span: span_of(&p) }
}

fn item(p: Pair<Rule>) -> Result<Item, Diagnostic> {
    let span = span_of(&p);
    Ok(match p.as_rule() {
        Rule::parties_decl => Item::Parties { names: p.into_inner().map(ident).collect(), span },
        Rule::use_decl => {
            let mut inner = p.into_inner();
            let path = inner.next().map(|p| p.into_inner().map(ident).collect()).unwrap_or_default();
            Item::Use { path, names: inner.map(ident).collect(), span }
        }
        Rule::fn_decl => Item::Fn(fn_decl(p)?),
        _ => Item::Stmt(stmt(p)?),
    })
}

fn fn_decl(p: Pair<Rule>) -> Result<FnDecl, Diagnostic> {
    let span = span_of(&p);
    let mut name = None;
    let mut params = Vec::new();
    let mut ret = None;
    let mut body = None;
    for part in p.into_inner() {
        match part.as_rule() {
            Rule::ident => name = Some(ident(part)),
            Rule::params => {
                for param in part.into_inner() {
                    let mut inner = param.into_inner();
                    let Some(n) = inner.next() else { continue };
                    params.push(Param { name: ident(n), ty: inner.next().map(type_ann) });
                }
            }
            Rule::type_ann => ret = Some(type_ann(part)),
            Rule::block => body = Some(block(part)?),
            _ => {}
        }
    }
    match (name, body) {
        (Some(name), Some(body)) => Ok(FnDecl { name, params, ret, body, span }),
        _ => Err(diagnostics::syntax(span, "a function `fn name(params) { body }`")),
    }
}

fn block(p: Pair<Rule>) -> Result<Block, Diagnostic> {
    let span = span_of(&p);
    let mut stmts = Vec::new();
    let mut value = None;
    for part in p.into_inner() {
        if part.as_rule() == Rule::expr {
            value = Some(Box::new(expr(part)?));
        } else {
            stmts.push(stmt(part)?);
        }
    }
    Ok(Block { stmts, value, span })
}

fn stmt(p: Pair<Rule>) -> Result<Stmt, Diagnostic> {
    let span = span_of(&p);
    let rule = p.as_rule();
    let mut inner = p.into_inner();
    let mut next = || inner.next().ok_or_else(|| diagnostics::syntax(span, "a complete statement"));
    let kind = match rule {
        Rule::let_stmt => {
            let mut first = next()?;
            let mutable = first.as_rule() == Rule::mut_kw;
            if mutable {
                first = next()?;
            }
            let pattern = match first.as_rule() {
                Rule::tuple_pat => Pattern::Tuple(first.clone().into_inner().map(ident).collect(), span_of(&first)),
                _ => Pattern::Name(ident(first)),
            };
            let mut part = next()?;
            let mut ty = None;
            if part.as_rule() == Rule::type_ann {
                ty = Some(type_ann(part));
                part = next()?;
            }
            StmtKind::Let { mutable, pattern, ty, value: expr(part)? }
        }
        Rule::assign_stmt => StmtKind::Assign { target: ident(next()?), value: expr(next()?)? },
        Rule::for_stmt => StmtKind::For {
            var: ident(next()?),
            start: expr(next()?)?,
            end: expr(next()?)?,
            body: block(next()?)?,
        },
        Rule::if_stmt => {
            let cond = expr(next()?)?;
            let then = block(next()?)?;
            let otherwise = match inner.next() {
                Some(e) if e.as_rule() == Rule::block => Some(Else::Block(block(e)?)),
                Some(e) => Some(Else::If(Box::new(stmt(e)?))),
                None => None,
            };
            StmtKind::If { cond, then, otherwise }
        }
        _ => StmtKind::Expr(expr(next()?)?),
    };
    Ok(Stmt { kind, span })
}

fn type_ann(p: Pair<Rule>) -> TypeAnn {
    let span = span_of(&p);
    let mut t = TypeAnn { dtype: None, shape: None, placement: None, span };
    for part in p.into_inner() {
        match part.as_rule() {
            Rule::dtype_name => t.dtype = part.into_inner().next().map(ident),
            Rule::shape_ann => {
                t.shape = Some(
                    part.into_inner()
                        .map(|d| match d.as_rule() {
                            Rule::int => DimAnn::Const(d.as_str().parse().unwrap_or(i64::MAX), span_of(&d)),
                            _ => DimAnn::Sym(ident(d)),
                        })
                        .collect(),
                )
            }
            Rule::placement_ann => t.placement = part.into_inner().next().map(ident),
            _ => {}
        }
    }
    t
}

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::or, Assoc::Left))
            .op(Op::infix(Rule::and, Assoc::Left))
            .op(Op::infix(Rule::eq, Assoc::Left) | Op::infix(Rule::ne, Assoc::Left))
            .op(Op::infix(Rule::lt, Assoc::Left)
                | Op::infix(Rule::gt, Assoc::Left)
                | Op::infix(Rule::le, Assoc::Left)
                | Op::infix(Rule::ge, Assoc::Left))
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left) | Op::infix(Rule::matmul, Assoc::Left))
            .op(Op::prefix(Rule::neg) | Op::prefix(Rule::not))
            .op(Op::postfix(Rule::field) | Op::postfix(Rule::index))
    })
}

fn expr(p: Pair<Rule>) -> Result<Expr, Diagnostic> {
    pratt_expr(p.into_inner())
}

fn pratt_expr(pairs: Pairs<Rule>) -> Result<Expr, Diagnostic> {
    pratt()
        .map_primary(primary)
        .map_prefix(|op, rhs| {
            let rhs = rhs?;
            let span = span_of(&op).to(rhs.span);
            let u = if op.as_rule() == Rule::neg { UnOp::Neg } else { UnOp::Not };
            Ok(Expr { kind: ExprKind::Unary(u, Box::new(rhs)), span })
        })
        .map_postfix(|lhs, op| {
            let lhs = lhs?;
            let span = lhs.span.to(span_of(&op));
            let kind = match op.as_rule() {
                Rule::field => {
                    let name = op.into_inner().next().map(ident).ok_or_else(|| diagnostics::syntax(span, "a field name"))?;
                    ExprKind::Field(Box::new(lhs), name)
                }
                _ => ExprKind::Index(Box::new(lhs), op.into_inner().map(index_arg).collect::<Result<_, _>>()?),
            };
            Ok(Expr { kind, span })
        })
        .map_infix(|lhs, op, rhs| {
            let (lhs, rhs) = (lhs?, rhs?);
            let b = match op.as_rule() {
                Rule::or => BinOp::Or,
                Rule::and => BinOp::And,
                Rule::eq => BinOp::Eq,
                Rule::ne => BinOp::Ne,
                Rule::le => BinOp::Le,
                Rule::ge => BinOp::Ge,
                Rule::lt => BinOp::Lt,
                Rule::gt => BinOp::Gt,
                Rule::add => BinOp::Add,
                Rule::sub => BinOp::Sub,
                Rule::mul => BinOp::Mul,
                Rule::div => BinOp::Div,
                _ => BinOp::MatMul,
            };
            let span = lhs.span.to(rhs.span);
            Ok(Expr { kind: ExprKind::Binary(b, Box::new(lhs), Box::new(rhs)), span })
        })
        .parse(pairs)
}

fn index_arg(p: Pair<Rule>) -> Result<IndexArg, Diagnostic> {
    if p.as_rule() != Rule::slice {
        return Ok(IndexArg::Expr(expr(p)?));
    }
    let span = span_of(&p);
    let (mut start, mut end) = (None, None);
    for part in p.into_inner() {
        let e = part.clone().into_inner().next().map(expr).transpose()?;
        match part.as_rule() {
            Rule::slice_start => start = e,
            _ => end = e,
        }
    }
    Ok(IndexArg::Slice { start, end, span })
}

fn primary(p: Pair<Rule>) -> Result<Expr, Diagnostic> {
    let span = span_of(&p);
    let text = p.as_str();
    let kind = match p.as_rule() {
        Rule::int => match text.parse::<i64>() {
            Ok(v) => ExprKind::Int(v),
            Err(_) => return Err(diagnostics::syntax(span, "an integer that fits in 64 bits")),
        },
        Rule::float => match text.parse::<f64>() {
            Ok(v) if v.is_finite() => ExprKind::Float(v),
            _ => return Err(diagnostics::syntax(span, "a finite number")),
        },
        Rule::boolean => ExprKind::Bool(text == "true"),
        Rule::string => ExprKind::Str(p.into_inner().next().map(|s| s.as_str().to_string()).unwrap_or_default()),
        Rule::ident => ExprKind::Name(ident(p)),
        Rule::list => ExprKind::List(p.into_inner().map(expr).collect::<Result<_, _>>()?),
        Rule::paren => {
            let mut items: Vec<Expr> = p.into_inner().map(expr).collect::<Result<_, _>>()?;
            if items.len() == 1 && !text.trim_end_matches(')').trim_end().ends_with(',') {
                return Ok(items.remove(0));
            }
            ExprKind::Tuple(items)
        }
        Rule::call => {
            let mut inner = p.into_inner();
            let callee = inner.next().map(ident).ok_or_else(|| diagnostics::syntax(span, "a function name"))?;
            let mut args = Vec::new();
            for a in inner {
                let mut parts = a.into_inner();
                let first = parts.next().ok_or_else(|| diagnostics::syntax(span, "an argument"))?;
                if first.as_rule() == Rule::arg_name {
                    let name = first.into_inner().next().map(ident);
                    let value = parts.next().ok_or_else(|| diagnostics::syntax(span, "an argument"))?;
                    args.push(Arg { name, value: expr(value)? });
                } else {
                    args.push(Arg { name: None, value: expr(first)? });
                }
            }
            ExprKind::Call { callee, args }
        }
        Rule::expr => return expr(p),
        _ => return Err(diagnostics::syntax(span, "an expression")),
    };
    Ok(Expr { kind, span })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_acceptance_program() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/acceptance");
        let Ok(entries) = std::fs::read_dir(&dir) else { return };
        for case in entries.flatten() {
            let name = case.file_name().to_string_lossy().to_string();
            let path = case.path().join(format!("{name}.sf"));
            if let Ok(src) = std::fs::read_to_string(&path) {
                parse(&src).unwrap_or_else(|d| panic!("{}: {}", path.display(), d.message));
            }
        }
    }

    #[test]
    fn parses_the_stdlib() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../stdlib/std");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("stdlib/std").flatten() {
            let src = std::fs::read_to_string(entry.path()).expect("read");
            parse(&src).unwrap_or_else(|d| panic!("{}: {} at {:?}", entry.path().display(), d.message, d.primary.span));
            seen += 1;
        }
        assert!(seen > 0);
    }

    #[test]
    fn precedence_and_postfix() {
        let p = parse("parties a, b; let y = -x @ w.T + b * 2.0;").expect("parse");
        let Item::Stmt(Stmt { kind: StmtKind::Let { value, .. }, .. }) = &p.items[1] else { panic!() };
        let ExprKind::Binary(BinOp::Add, lhs, rhs) = &value.kind else { panic!("{value:?}") };
        assert!(matches!(&lhs.kind, ExprKind::Binary(BinOp::MatMul, l, r)
            if matches!(l.kind, ExprKind::Unary(UnOp::Neg, _)) && matches!(r.kind, ExprKind::Field(..))));
        assert!(matches!(rhs.kind, ExprKind::Binary(BinOp::Mul, ..)));
    }

    #[test]
    fn every_independent_syntax_error_is_reported() {
        let src = "parties a, b;\nlet x = 1 +;\nlet y = (2;\nfn f(x) { x + }\nlet z = 3;\nlet w = ] ;\n";
        let errors = parse_recovering(src).expect_err("accepted");
        let lines: Vec<usize> = errors.iter().map(|d| crate::ir::display::line_of(src, d.primary.span.start)).collect();
        assert_eq!(lines, vec![2, 3, 4, 6], "{errors:#?}");
        assert!(parse_recovering("parties a, b;\nlet z = 3;\n").is_ok());
    }

    #[test]
    fn syntax_error_names_what_was_expected() {
        let d = parse("parties a, b;\nlet x = ;").expect_err("accepted");
        assert_eq!(d.code, "E0001");
        assert_eq!(d.primary.span.start, 22);
        assert!(d.message.contains("expression"), "{}", d.message);
    }
}
