//! Symbolic dimensions: affine combinations of shape symbols, such as `n`, `3` or `2n + 1`.
//!
//! Shape symbols are public run-time parameters bound by the data. Keeping dimensions affine is
//! enough for concatenation and slicing with constant bounds, and it keeps equality decidable:
//! two dimensions are provably equal exactly when their canonical forms are equal.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of a shape symbol in the module's symbol table.
pub type SymId = u32;

/// `constant + sum(coef * sym)`, with terms sorted by symbol and no zero coefficients.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dim {
    pub constant: i64,
    pub terms: Vec<(SymId, i64)>,
}

/// A shape is a list of dimensions; a scalar has none.
pub type Shape = Vec<Dim>;

impl Dim {
    pub fn constant(c: i64) -> Dim {
        Dim { constant: c, terms: Vec::new() }
    }

    pub fn symbol(s: SymId) -> Dim {
        Dim { constant: 0, terms: vec![(s, 1)] }
    }

    /// The value of a dimension that mentions no symbol.
    pub fn as_const(&self) -> Option<i64> {
        self.terms.is_empty().then_some(self.constant)
    }

    pub fn add(&self, other: &Dim) -> Dim {
        let mut terms = self.terms.clone();
        for &(s, c) in &other.terms {
            match terms.iter_mut().find(|(t, _)| *t == s) {
                Some((_, k)) => *k += c,
                None => terms.push((s, c)),
            }
        }
        terms.retain(|&(_, c)| c != 0);
        terms.sort_unstable();
        Dim { constant: self.constant + other.constant, terms }
    }

    /// Evaluates the dimension once every symbol is bound; `None` names no symbol in particular,
    /// the caller knows which are unbound. Overflow and negative sizes are reported as `None` too.
    pub fn eval(&self, bindings: &[Option<u64>]) -> Option<u64> {
        let mut v: i64 = self.constant;
        for &(s, c) in &self.terms {
            let b = (*bindings.get(s as usize)?)?;
            v = v.checked_add(c.checked_mul(i64::try_from(b).ok()?)?)?;
        }
        u64::try_from(v).ok()
    }

    /// Displays the dimension with symbol names from `names`.
    pub fn display<'a>(&'a self, names: &'a [String]) -> impl fmt::Display + 'a {
        DimDisplay { dim: self, names }
    }
}

struct DimDisplay<'a> {
    dim: &'a Dim,
    names: &'a [String],
}

impl fmt::Display for DimDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for &(s, c) in &self.dim.terms {
            let name = self.names.get(s as usize).map(String::as_str).unwrap_or("?");
            let sign = if c < 0 { "-" } else if first { "" } else { "+" };
            let mag = c.unsigned_abs();
            if mag == 1 {
                write!(f, "{sign}{name}")?;
            } else {
                write!(f, "{sign}{mag}{name}")?;
            }
            first = false;
        }
        if first {
            write!(f, "{}", self.dim.constant)
        } else if self.dim.constant > 0 {
            write!(f, "+{}", self.dim.constant)
        } else if self.dim.constant < 0 {
            write!(f, "{}", self.dim.constant)
        } else {
            Ok(())
        }
    }
}

/// Displays a whole shape as `[n, 4]`.
pub fn display_shape(shape: &[Dim], names: &[String]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.display(names).to_string()).collect();
    format!("[{}]", dims.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_arithmetic_is_canonical() {
        let n = Dim::symbol(0);
        let three_n = n.add(&n).add(&n);
        assert_eq!(three_n.terms, vec![(0, 3)]);
        assert_eq!(three_n.eval(&[Some(5)]), Some(15));
        assert_eq!(n.add(&Dim::constant(2)), Dim::constant(2).add(&n));
        let names = vec!["n".to_string()];
        assert_eq!(three_n.add(&Dim::constant(1)).display(&names).to_string(), "3n+1");
        assert_eq!(n.eval(&[None]), None);
    }
}
