//! The standard library: `.sf` modules shipped inside the compiler, imported with
//! `use std::<module>::{...}`.

/// Every library module: its path and its source.
pub const MODULES: &[(&[&str], &str)] = &[(&["std", "nn"], include_str!("../../stdlib/std/nn.sf"))];

pub fn module(path: &[&str]) -> Option<&'static str> {
    MODULES.iter().find(|(p, _)| *p == path).map(|(_, src)| *src)
}

/// The module that defines function `name`, as `std::nn`, for help on a missing import.
pub fn exported(name: &str) -> Option<String> {
    let needle = format!("fn {name}(");
    MODULES.iter().find(|(_, src)| src.contains(&needle)).map(|(p, _)| p.join("::"))
}
