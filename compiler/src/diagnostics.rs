//! Every diagnostic the compiler can emit, one constructor each, with a stable code.
//!
//! A diagnostic has a primary span, optional secondary labels ("declared @alice here") and a help
//! line. Rendering goes through miette, so the CLI shows the source with the spans underlined.
//! Codes are stable: editors and the error catalogue in spec/ key on them.

use crate::syntax::ast::Span;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    fn error(code: &'static str, span: Span, message: impl Into<String>, label: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: Label { span, text: label.into() },
            secondary: Vec::new(),
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    fn also(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label { span, text: text.into() });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The codes, in one place, for the error catalogue and its test.
pub const CODES: &[(&str, &str)] = &[
    ("E0001", "syntax error"),
    ("E0002", "program nested too deeply or expression too long"),
    ("E0100", "unknown party"),
    ("E0101", "parties declared wrongly, twice, or not first"),
    ("E0102", "undefined name"),
    ("E0103", "unknown function"),
    ("E0104", "wrong arguments to a builtin"),
    ("E0105", "name used in the wrong role (a party as a value, a value as a party)"),
    ("E0106", "duplicate output name"),
    ("E0107", "assignment to a variable not declared `mut`"),
    ("E0108", "function defined twice"),
    ("E0109", "a function that returns no value used as a value"),
    ("E0110", "unknown library module or import"),
    ("E0111", "input or output outside the top level"),
    ("E0112", "not a dimension known at compile time"),
    ("E0113", "a file given to `load` cannot be read"),
    ("E0200", "shape mismatch"),
    ("E0201", "dtype mismatch"),
    ("E0202", "axis out of range"),
    ("E0203", "missing or invalid type annotation"),
    ("E0300", "value would leak to a party"),
    ("E0301", "output of a secret value"),
    ("E0302", "`if` on a condition that is not public"),
    ("E0303", "reveal of a value that is not secret"),
    ("E0304", "loop bound that is not public"),
    ("E0305", "recursion"),
    ("E0204", "slice out of range"),
    ("E0205", "a shape with more elements than a value may hold"),
    ("E0900", "not supported yet"),
    ("W0001", "value computed and never used"),
];

pub fn syntax(span: Span, expected: &str) -> Diagnostic {
    Diagnostic::error("E0001", span, format!("syntax error: expected {expected}"), format!("expected {expected}"))
}

pub fn too_deep(span: Span, limit: usize) -> Diagnostic {
    Diagnostic::error("E0002", span, format!("brackets and blocks are nested more than {limit} deep"), "too deep")
        .help("bind inner parts to names with `let` and use the names")
}

pub fn too_long(span: Span, limit: usize) -> Diagnostic {
    Diagnostic::error("E0002", span, format!("this statement has more than {limit} operators"), "too long")
        .help("split the expression into several `let` statements")
}

pub fn inlining_too_deep(span: Span, limit: usize) -> Diagnostic {
    Diagnostic::error("E0002", span, format!("function calls are nested more than {limit} deep"), "too deep")
        .help("call fewer functions inside one another")
}

pub fn cannot_load(span: Span, path: &str, reason: &str) -> Diagnostic {
    Diagnostic::error("E0113", span, format!("cannot load {path}: {reason}"), "loaded here")
        .help("`load` reads .npy files (float32, float64, int64) and CSV files, relative to the .sf file")
}

pub fn load_not_public(span: Span) -> Diagnostic {
    Diagnostic::error("E0300", span, "a loaded constant is public: it is in the module every party receives", "not @pub")
        .help("load public constants only; a party's private data is an `input`")
}

pub fn missing_semicolon(span: Span) -> Diagnostic {
    Diagnostic::error("E0001", span, "syntax error: expected `;`", "expected `;` after this")
        .help("end each statement with `;`")
}

pub fn not_supported(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error("E0900", span, format!("{what} is not supported yet"), "not supported yet")
        .help("see spec/language.md for the constructs this compiler accepts")
}

pub fn unknown_party(span: Span, name: &str, declared: &[String]) -> Diagnostic {
    Diagnostic::error("E0100", span, format!("unknown party `{name}`"), "not a declared party")
        .help(format!("the declared parties are {}", quoted_list(declared)))
}

pub fn parties_first(span: Span) -> Diagnostic {
    Diagnostic::error("E0101", span, "the program must begin by declaring its parties", "before `parties`")
        .help("start the file with `parties alice, bob;`")
}

pub fn parties_twice(span: Span, first: Span) -> Diagnostic {
    Diagnostic::error("E0101", span, "parties are declared twice", "second declaration")
        .also(first, "first declared here")
}

pub fn too_few_parties(span: Span) -> Diagnostic {
    Diagnostic::error("E0101", span, "a program needs at least two parties", "only one party")
        .help("name every party that takes part: `parties alice, bob;`")
}

pub fn duplicate_party(span: Span, first: Span, name: &str) -> Diagnostic {
    Diagnostic::error("E0101", span, format!("party `{name}` is declared twice"), "again here")
        .also(first, "first here")
}

pub fn reserved_party(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error("E0101", span, format!("`{name}` is a placement, not a party name"), "reserved")
        .help("`@spu` means secret-shared and `@pub` public; choose another party name")
}

pub fn undefined_name(span: Span, name: &str, suggestion: Option<&str>) -> Diagnostic {
    let d = Diagnostic::error("E0102", span, format!("cannot find `{name}` in this scope"), "not defined");
    match suggestion {
        Some(s) => d.help(format!("a name with a similar spelling exists: `{s}`")),
        None => d,
    }
}

pub fn unknown_function(span: Span, name: &str, suggestion: Option<&str>, library: Option<&str>) -> Diagnostic {
    let d = Diagnostic::error("E0103", span, format!("unknown function `{name}`"), "not a builtin or a function");
    match (library, suggestion) {
        (Some(module), _) => d.help(format!("`{name}` is in the standard library: `use {module}::{{{name}}};`")),
        (None, Some(s)) => d.help(format!("did you mean `{s}`?")),
        (None, None) => d,
    }
}

pub fn duplicate_function(span: Span, first: Span, name: &str) -> Diagnostic {
    Diagnostic::error("E0108", span, format!("function `{name}` is defined twice"), "defined again here")
        .also(first, "first defined here")
        .help("rename one of them")
}

pub fn no_value(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error("E0109", span, format!("`{name}` returns no value"), "used as a value")
        .help("end the function's body with the expression to return, without `;`")
}

pub fn unknown_module(span: Span, path: &str, available: &str) -> Diagnostic {
    Diagnostic::error("E0110", span, format!("no library module `{path}`"), "unknown module")
        .help(format!("the library modules are {available}"))
}

pub fn unknown_import(span: Span, name: &str, module: &str, suggestion: Option<&str>) -> Diagnostic {
    let d = Diagnostic::error("E0110", span, format!("`{module}` has no function `{name}`"), "not in this module");
    match suggestion {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d,
    }
}

pub fn library_broken(span: Span, module: &str, message: &str) -> Diagnostic {
    Diagnostic::error("E0110", span, format!("library module `{module}` does not parse: {message}"), "imported here")
        .help("this is a bug in the standard library shipped with sfc; please report it")
}

pub fn not_at_top_level(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error("E0111", span, format!("`{what}` must be at the top level of the program"), "inside a function or loop")
        .help(format!("move the `{what}` out of the function or loop; pass values in as arguments and return them"))
}

pub fn not_a_dimension(span: Span) -> Diagnostic {
    Diagnostic::error("E0112", span, "a shape or bound here must be known at compile time", "not a known dimension")
        .help("use an integer, a shape symbol such as `n`, `len(x)`, or sums and constant multiples of those")
}

pub fn assign_immutable(span: Span, declared: Span, name: &str) -> Diagnostic {
    Diagnostic::error("E0107", span, format!("cannot assign twice to `{name}`"), "assigned here")
        .also(declared, "declared without `mut`")
        .help(format!("declare it with `let mut {name} = ...`"))
}

pub fn loop_bound_not_public(span: Span, placement: &str) -> Diagnostic {
    Diagnostic::error("E0304", span, "the bounds of a loop must be public", format!("this is @{placement}"))
        .help("every party runs the same number of iterations; use a public value (a literal, a shape symbol, `len(x)`), or reveal the bound first")
}

pub fn condition_not_public(span: Span, placement: &str, secret: bool) -> Diagnostic {
    let help = if secret {
        "every party must take the same branch; choose between values obliviously with `select(c, a, b)`"
    } else {
        "every party must take the same branch; compute both values and `select(c, a, b)`, or reveal the condition to all first"
    };
    Diagnostic::error("E0302", span, format!("`if` on a condition that is not public (@{placement})"), format!("this is @{placement}")).help(help)
}

pub fn recursion(span: Span, first: Span, chain: &[String]) -> Diagnostic {
    Diagnostic::error("E0305", span, format!("recursion: {}", chain.join(" -> ")), "calls itself again here")
        .also(first, "first called here")
        .help("functions are inlined at compile time; write the repetition as a `for` loop")
}

pub fn slice_out_of_range(span: Span, start: i64, end: i64, len: i64) -> Diagnostic {
    Diagnostic::error("E0204", span, format!("slice {start}:{end} is out of range for an axis of {len}"), "out of range")
        .help(format!("slice bounds must satisfy 0 <= start <= end <= {len}"))
}

pub fn too_many_elements(span: Span, shape: &str) -> Diagnostic {
    Diagnostic::error("E0205", span, format!("a value of shape {shape} would hold more than 2^40 elements"), "too large")
        .help("a value holds at most 2^40 (about 10^12) elements; split the work into smaller pieces")
}

pub fn bad_arguments(span: Span, callee: &str, problem: &str, usage: &str) -> Diagnostic {
    Diagnostic::error("E0104", span, format!("`{callee}`: {problem}"), problem.to_string())
        .help(format!("use `{usage}`"))
}

pub fn wrong_role(span: Span, message: &str, help: &str) -> Diagnostic {
    Diagnostic::error("E0105", span, message.to_string(), "here").help(help.to_string())
}

pub fn duplicate_output(span: Span, first: Span, name: &str, party: &str) -> Diagnostic {
    Diagnostic::error("E0106", span, format!("{party} already has an output called \"{name}\""), "second output")
        .also(first, "first output")
        .help("give each output of a party its own name")
}

pub fn shape_mismatch(span: Span, what: &str, left: (Span, String), right: (Span, String)) -> Diagnostic {
    Diagnostic::error("E0200", span, format!("shape mismatch in {what}: {} and {}", left.1, right.1), "shapes do not agree")
        .also(left.0, format!("this has shape {}", left.1))
        .also(right.0, format!("this has shape {}", right.1))
}

pub fn annotation_shape(span: Span, declared: &str, actual: &str, value: Span) -> Diagnostic {
    Diagnostic::error("E0200", span, format!("declared shape {declared} but the value has shape {actual}"), "declared here")
        .also(value, format!("this has shape {actual}"))
}

pub fn dtype_mismatch(span: Span, message: String, help: &str) -> Diagnostic {
    Diagnostic::error("E0201", span, message, "wrong dtype").help(help.to_string())
}

pub fn axis_out_of_range(span: Span, axis: i64, rank: usize) -> Diagnostic {
    Diagnostic::error("E0202", span, format!("axis {axis} is out of range for a tensor of rank {rank}"), "no such axis")
        .help(format!("axes of this value are 0 to {}", rank.saturating_sub(1)))
}

pub fn bad_annotation(span: Span, message: &str, help: &str) -> Diagnostic {
    Diagnostic::error("E0203", span, message.to_string(), "here").help(help.to_string())
}

pub fn leak_secret(span: Span, value: Span, party: &str) -> Diagnostic {
    Diagnostic::error("E0300", span, format!("a secret value would become visible to {party}"), format!("declared @{party}"))
        .also(value, "this value is secret (@spu)")
        .help(format!("reveal it explicitly: `reveal(x, to: {party})`"))
}

pub fn leak_private(span: Span, value: Span, owner: &str, party: &str) -> Diagnostic {
    Diagnostic::error("E0300", span, format!("a value private to {owner} would become visible to {party}"), format!("declared @{party}"))
        .also(value, format!("this value is private to {owner}"))
        .help(format!("send it explicitly: `send(x, to: {party})`"))
}

pub fn leak_to_public(span: Span, value: Span, what: &str) -> Diagnostic {
    Diagnostic::error("E0300", span, format!("a {what} value would become public"), "declared @pub")
        .also(value, format!("this value is {what}"))
        .help("make it public explicitly with `reveal(x)`")
}

pub fn output_secret(span: Span, value: Span) -> Diagnostic {
    Diagnostic::error("E0301", span, "a secret value cannot be written as an output", "output of a secret")
        .also(value, "this value is secret (@spu)")
        .help("reveal it first: `output(reveal(x, to: alice), \"name\")` or `output(reveal(x), \"name\")`")
}

pub fn reveal_not_secret(span: Span, owner: &str, to: &str) -> Diagnostic {
    Diagnostic::error("E0303", span, format!("this value is private to {owner}, not secret; `reveal` applies to secrets"), "private value")
        .help(format!("a private value leaves its owner only through `send(x, to: {to})`"))
}

pub fn unused_value(span: Span) -> Diagnostic {
    Diagnostic {
        severity: Severity::Warning,
        ..Diagnostic::error("W0001", span, "this value is computed and never used", "unused")
    }
    .help("bind it with `let`, or pass it to `output`")
}

fn quoted_list(names: &[String]) -> String {
    if names.is_empty() {
        return "none (declare them with `parties a, b;`)".to_string();
    }
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The closest name within a small edit distance, for "did you mean" help.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.len() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Diagnostic {
    /// The diagnostic as one JSON object, for editors: code, severity, message, file, the
    /// primary range, every label with its range, and the help. Lines and columns count from 1;
    /// columns count characters.
    pub fn to_json(&self, file: &str, source: &str) -> serde_json::Value {
        let range = |span: Span| {
            let (sl, sc) = crate::ir::display::line_col(source, span.start);
            let (el, ec) = crate::ir::display::line_col(source, span.end);
            serde_json::json!({ "start": { "line": sl, "column": sc }, "end": { "line": el, "column": ec } })
        };
        let mut labels = vec![serde_json::json!({ "message": self.primary.text, "primary": true, "range": range(self.primary.span) })];
        labels.extend(self.secondary.iter().map(|l| serde_json::json!({ "message": l.text, "primary": false, "range": range(l.span) })));
        serde_json::json!({
            "code": self.code,
            "severity": match self.severity { Severity::Error => "error", Severity::Warning => "warning" },
            "message": self.message,
            "file": file,
            "range": range(self.primary.span),
            "labels": labels,
            "help": self.help,
        })
    }
}

/// A diagnostic bound to its source file, for rendering with miette.
pub struct Rendered {
    pub diagnostic: Diagnostic,
    pub source: miette::NamedSource<String>,
}

impl fmt::Debug for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.diagnostic.message)
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let d = &self.diagnostic;
        let label = |l: &Label, primary: bool| {
            let span = (l.span.start, l.span.end.saturating_sub(l.span.start));
            if primary {
                miette::LabeledSpan::new_primary_with_span(Some(l.text.clone()), span)
            } else {
                miette::LabeledSpan::new_with_span(Some(l.text.clone()), span)
            }
        };
        Some(Box::new(std::iter::once(label(&d.primary, true)).chain(d.secondary.iter().map(move |l| label(l, false)))))
    }
}
