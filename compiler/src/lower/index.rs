//! What each name in the user's file stands for, recorded while lowering: the editor's hover
//! and go-to-definition read it (`sfc lsp`). Only spans in the user's file are recorded; the
//! names inside inlined library code are not.

use crate::syntax::ast::Span;

/// Where a name was defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Definition {
    /// In the user's file.
    Here(Span),
    /// In a standard library module (`std::nn`), at this span of its source.
    Library { module: String, span: Span },
    /// Nowhere in source: a shape symbol bound by an input's annotation, say.
    Builtin,
}

/// One occurrence of a name: a definition or a use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub span: Span,
    pub name: String,
    pub kind: Kind,
    pub definition: Definition,
    /// `dtype[shape] @placement` of the value there, for values.
    pub ty: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Value,
    Function,
    ShapeSymbol,
}

/// Every occurrence recorded in one lowering, in the order met.
#[derive(Clone, Debug, Default)]
pub struct Index {
    pub occurrences: Vec<Occurrence>,
}

impl Index {
    /// The occurrences whose span holds byte `offset` (a name inside a function that is
    /// inlined at several calls occurs once per call, with each call's type), innermost first.
    pub fn at(&self, offset: usize) -> Vec<&Occurrence> {
        let mut found: Vec<&Occurrence> = self.occurrences.iter().filter(|o| o.span.start <= offset && offset <= o.span.end).collect();
        found.sort_by_key(|o| o.span.end - o.span.start);
        found
    }

    /// The types the name at `offset` took, distinct, in the order met.
    pub fn types_at(&self, offset: usize) -> Vec<String> {
        let here = self.at(offset);
        let Some(first) = here.first() else { return Vec::new() };
        let mut types: Vec<String> = Vec::new();
        for o in here.iter().filter(|o| o.span == first.span) {
            if let Some(t) = &o.ty {
                if !types.contains(t) {
                    types.push(t.clone());
                }
            }
        }
        types
    }
}
