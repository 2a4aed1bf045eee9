//! `load("file")`: a public constant read at compile time and embedded in the module.
//!
//! `.npy` files of float32, float64 or int64, and CSV files (numbers, one row a line), are read
//! relative to the source file. The constant is public: every party receives the module, so a
//! loaded value can be no party's secret. An annotation fixes dtype and shape; its shape symbols
//! bind to the file's sizes.

use super::{Lower, Val};
use crate::diagnostics as diag;
use crate::ir::{DType, Dim, Op, Placement, Type};
use crate::syntax::ast::{Arg, DimAnn, Span, TypeAnn};
use ndarray::ArrayD;
use sf_isa::{ConstValues, Constant};

impl Lower {
    pub(crate) fn load(&mut self, args: &[Arg], ann: Option<&TypeAnn>, span: Span) -> Val {
        let usage = "let w: fix[a, b] @pub = load(\"w.npy\")";
        let x = self.positional("load", args, span, 1, &[], usage)?;
        let crate::syntax::ast::ExprKind::Str(name) = &x[0].kind else {
            self.err(diag::bad_arguments(x[0].span, "load", "the file must be a string", usage));
            return None;
        };
        let name_span = x[0].span;
        if let Some(p) = ann.and_then(|a| a.placement.as_ref()) {
            if p.name != "pub" {
                self.err(diag::load_not_public(p.span));
                return None;
            }
        }
        let want = match ann.and_then(|a| a.dtype.as_ref()) {
            Some(d) => Some(self.dtype(d)?),
            None => None,
        };
        if want == Some(DType::Bool) {
            self.err(diag::bad_annotation(span, "a loaded constant is `fix` or `int`", usage));
            return None;
        }
        let path = self.base_dir.join(name);
        let rank_hint = ann.and_then(|a| a.shape.as_ref()).map(Vec::len);
        let constant = match read_constant(&path, want, rank_hint) {
            Ok(c) => c,
            Err(reason) => {
                self.err(diag::cannot_load(name_span, &path.display().to_string(), &reason));
                return None;
            }
        };
        let shape: Vec<Dim> = constant.shape.iter().map(|&d| Dim::constant(d as i64)).collect();
        if let Some(dims) = ann.and_then(|a| a.shape.as_ref()) {
            let ok = dims.len() == shape.len()
                && dims.iter().zip(&constant.shape).all(|(d, &actual)| match d {
                    DimAnn::Const(c, _) => *c as u64 == actual,
                    DimAnn::Sym(id) => match self.frame().symbols.get(&id.name) {
                        Some(known) => known.as_const() == Some(actual as i64),
                        None => {
                            self.frame_mut().symbols.insert(id.name.clone(), Dim::constant(actual as i64));
                            true
                        }
                    },
                });
            if !ok {
                let shown: Vec<String> = constant.shape.iter().map(u64::to_string).collect();
                self.err(diag::annotation_shape(span, "the annotation", &format!("[{}]", shown.join(", ")), name_span));
                return None;
            }
        }
        let ty = Type { dtype: constant.dtype(), shape, placement: Placement::Public };
        let id = self.ir.constants.len() as u32;
        self.ir.constants.push(constant);
        Some(self.add(Op::Constant(id), ty, span, &[]))
    }
}

/// The elements in row-major order, without a copy when they already lie so (a C-order .npy):
/// a constant of gigabytes is held once, not twice.
fn row_major<T: Clone>(a: ArrayD<T>) -> Vec<T> {
    if a.is_standard_layout() {
        let len = a.len();
        let (mut v, offset) = a.into_raw_vec_and_offset();
        let start = offset.unwrap_or(0);
        if start == 0 && v.len() == len {
            return v;
        }
        v.truncate(start + len);
        return v.split_off(start);
    }
    a.iter().cloned().collect()
}

/// Reads a constant from an `.npy` or CSV file.
fn read_constant(path: &std::path::Path, want: Option<DType>, rank_hint: Option<usize>) -> Result<Constant, String> {
    let is_npy = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let (shape, values) = if is_npy {
        let as_fix = |a: ArrayD<f64>| (a.shape().to_vec(), ConstValues::Fix(row_major(a)));
        if let Ok(a) = ndarray_npy::read_npy::<_, ArrayD<f64>>(path) {
            as_fix(a)
        } else if let Ok(a) = ndarray_npy::read_npy::<_, ArrayD<f32>>(path) {
            as_fix(a.mapv(f64::from))
        } else {
            match ndarray_npy::read_npy::<_, ArrayD<i64>>(path) {
                Ok(a) => (a.shape().to_vec(), ConstValues::Int(row_major(a))),
                Err(e) => return Err(format!("not an .npy file of float32, float64 or int64 ({e})")),
            }
        }
    } else {
        read_csv(path, want == Some(DType::Int), rank_hint)?
    };
    let values = match (values, want) {
        (ConstValues::Int(v), Some(DType::Fix)) => ConstValues::Fix(v.into_iter().map(|x| x as f64).collect()),
        (ConstValues::Fix(_), Some(DType::Int)) => return Err("the file holds floats, but the annotation says int".into()),
        (v, _) => v,
    };
    if let ConstValues::Fix(v) = &values {
        if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
            return Err(format!("it holds {bad}, which is not a finite number"));
        }
    }
    Ok(Constant { shape: shape.into_iter().map(|d| d as u64).collect(), values })
}

fn read_csv(path: &std::path::Path, int: bool, rank_hint: Option<usize>) -> Result<(Vec<usize>, ConstValues), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(file);
    let (mut rows, mut cols, mut header) = (0usize, None, false);
    let (mut fix, mut ints) = (Vec::new(), Vec::new());
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        // As `sfvm run` reads inputs: a first row with no number in it is a header, skipped.
        if cols.is_none() && !header && record.iter().all(|f| f.parse::<f64>().is_err()) {
            header = true;
            continue;
        }
        let row = rows + 1 + header as usize;
        match cols {
            None => cols = Some(record.len()),
            Some(c) if c != record.len() => return Err(format!("row {row} has {} columns, but row {} has {c}", record.len(), 1 + header as usize)),
            _ => {}
        }
        for (i, field) in record.iter().enumerate() {
            let bad = || format!("row {row}, column {}: `{field}` is not {}", i + 1, if int { "an integer" } else { "a number" });
            if int {
                ints.push(field.parse::<i64>().map_err(|_| bad())?);
            } else {
                fix.push(field.parse::<f64>().map_err(|_| bad())?);
            }
        }
        rows += 1;
    }
    let cols = cols.ok_or(if header { "the file has a header but no rows of numbers" } else { "the file is empty" })?;
    let shape = match rank_hint {
        Some(0) => vec![],
        Some(1) => vec![rows * cols],
        _ if rank_hint.is_none() && cols == 1 => vec![rows],
        _ => vec![rows, cols],
    };
    Ok((shape, if int { ConstValues::Int(ints) } else { ConstValues::Fix(fix) }))
}

