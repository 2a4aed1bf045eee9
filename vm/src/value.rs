//! Values in registers, and the shape-level tensor operations that plaintext and shares share.

use crate::error::VmError;
use ndarray::{ArrayD, Axis, IxDyn};
use sf_isa::DType;
use std::sync::Arc;

/// A plaintext tensor: a private value on its owner, or a public value on every party.
#[derive(Clone, Debug, PartialEq)]
pub enum Plain {
    Fix(ArrayD<f64>),
    Int(ArrayD<i64>),
    Bool(ArrayD<bool>),
}

impl Plain {
    pub fn dtype(&self) -> DType {
        match self {
            Plain::Fix(_) => DType::Fix,
            Plain::Int(_) => DType::Int,
            Plain::Bool(_) => DType::Bool,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Plain::Fix(a) => a.shape(),
            Plain::Int(a) => a.shape(),
            Plain::Bool(a) => a.shape(),
        }
    }

    /// A module's public constant as a plaintext tensor.
    pub fn from_constant(c: sf_isa::Constant) -> Result<Plain, VmError> {
        let shape: Vec<usize> = c.shape.iter().map(|&d| d as usize).collect();
        let shaped = |e: ndarray::ShapeError| VmError::Value(format!("a constant of shape {}: {e}", fmt_shape(&shape)));
        Ok(match c.values {
            sf_isa::ConstValues::Fix(v) => Plain::Fix(ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(shaped)?),
            sf_isa::ConstValues::Int(v) => Plain::Int(ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(shaped)?),
        })
    }

    /// Rows `range` (along the first axis), copied.
    pub fn rows(&self, range: std::ops::Range<usize>) -> Plain {
        let take = ndarray::Slice::from(range);
        match self {
            Plain::Fix(a) => Plain::Fix(a.slice_axis(Axis(0), take).to_owned()),
            Plain::Int(a) => Plain::Int(a.slice_axis(Axis(0), take).to_owned()),
            Plain::Bool(a) => Plain::Bool(a.slice_axis(Axis(0), take).to_owned()),
        }
    }

    /// Applies the same shape-level operation whatever the element type.
    pub fn map_array(&self, f: &dyn ArrayFn) -> Result<Plain, VmError> {
        Ok(match self {
            Plain::Fix(a) => Plain::Fix(f.f64(a)?),
            Plain::Int(a) => Plain::Int(f.i64(a)?),
            Plain::Bool(a) => Plain::Bool(f.bool(a)?),
        })
    }
}

/// A shape-level operation (slice, reshape, gather...) that works on tensors of any element.
pub trait ArrayFn {
    fn apply<T: Clone + Default>(&self, a: &ArrayD<T>) -> Result<ArrayD<T>, VmError>
    where
        Self: Sized;
    fn f64(&self, a: &ArrayD<f64>) -> Result<ArrayD<f64>, VmError>;
    fn i64(&self, a: &ArrayD<i64>) -> Result<ArrayD<i64>, VmError>;
    fn bool(&self, a: &ArrayD<bool>) -> Result<ArrayD<bool>, VmError>;
    fn u128(&self, a: &ArrayD<u128>) -> Result<ArrayD<u128>, VmError>;
}

/// Implements the typed entry points of [`ArrayFn`] through its generic `apply`.
#[macro_export]
macro_rules! array_fn_dispatch {
    () => {
        fn f64(&self, a: &ndarray::ArrayD<f64>) -> Result<ndarray::ArrayD<f64>, $crate::error::VmError> {
            self.apply(a)
        }
        fn i64(&self, a: &ndarray::ArrayD<i64>) -> Result<ndarray::ArrayD<i64>, $crate::error::VmError> {
            self.apply(a)
        }
        fn bool(&self, a: &ndarray::ArrayD<bool>) -> Result<ndarray::ArrayD<bool>, $crate::error::VmError> {
            self.apply(a)
        }
        fn u128(&self, a: &ndarray::ArrayD<u128>) -> Result<ndarray::ArrayD<u128>, $crate::error::VmError> {
            self.apply(a)
        }
    };
}

/// One party's view of a value.
#[derive(Clone, Debug)]
pub enum Value {
    /// Held by reference, so that a register, its copies and every party of a process share one
    /// tensor: a loaded constant of gigabytes exists once in memory however often it is used.
    Plain(Arc<Plain>),
    /// This party's additive share of a secret, in Z_2^128.
    Shared { share: ArrayD<u128>, dtype: DType },
}

impl Value {
    pub fn plain(p: Plain) -> Value {
        Value::Plain(Arc::new(p))
    }

    /// The plaintext, if this is not a share.
    pub fn as_plain(&self) -> Option<&Plain> {
        match self {
            Value::Plain(p) => Some(p),
            Value::Shared { .. } => None,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Value::Plain(p) => p.shape(),
            Value::Shared { share, .. } => share.shape(),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Value::Plain(p) => p.dtype(),
            Value::Shared { dtype, .. } => *dtype,
        }
    }
}

pub fn fmt_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

/// The numpy broadcast of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, VmError> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = (i + a.len()).checked_sub(rank).map_or(1, |j| a[j]);
        let db = (i + b.len()).checked_sub(rank).map_or(1, |j| b[j]);
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(VmError::Shape(format!("shapes {} and {} do not broadcast", fmt_shape(a), fmt_shape(b)))),
        };
    }
    Ok(out)
}

/// Elementwise `f` over two tensors with broadcasting.
pub fn zip_with<A: Copy, B: Copy, C>(a: &ArrayD<A>, b: &ArrayD<B>, f: impl Fn(A, B) -> C) -> Result<ArrayD<C>, VmError> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let dim = IxDyn(&shape);
    let (Some(va), Some(vb)) = (a.broadcast(dim.clone()), b.broadcast(dim.clone())) else {
        return Err(VmError::Shape(format!("shapes {} and {} do not broadcast", fmt_shape(a.shape()), fmt_shape(b.shape()))));
    };
    Ok(ndarray::Zip::from(&va).and(&vb).map_collect(|&x, &y| f(x, y)))
}

/// Broadcasts a tensor to `shape`, materialised.
pub fn broadcast_to<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, VmError> {
    Ok(broadcast_view(a, shape)?.to_owned())
}

/// `a` seen with `shape`, without a copy.
pub fn broadcast_view<'a, T>(a: &'a ArrayD<T>, shape: &[usize]) -> Result<ndarray::ArrayViewD<'a, T>, VmError> {
    a.broadcast(IxDyn(shape)).ok_or_else(|| VmError::Shape(format!("shape {} does not broadcast to {}", fmt_shape(a.shape()), fmt_shape(shape))))
}

/// The (m, k, n) of `a @ b` and the result shape, for ranks 1 and 2.
pub fn matmul_dims(a: &[usize], b: &[usize]) -> Result<((usize, usize, usize), Vec<usize>), VmError> {
    let err = || VmError::Shape(format!("cannot multiply matrices of shapes {} and {}", fmt_shape(a), fmt_shape(b)));
    let ((m, k1), (k2, n), out) = match (a, b) {
        ([m, k], [k2, n]) => ((*m, *k), (*k2, *n), vec![*m, *n]),
        ([m, k], [k2]) => ((*m, *k), (*k2, 1), vec![*m]),
        ([k], [k2, n]) => ((1, *k), (*k2, *n), vec![*n]),
        ([k], [k2]) => ((1, *k), (*k2, 1), vec![]),
        _ => return Err(err()),
    };
    if k1 != k2 {
        return Err(err());
    }
    Ok(((m, k1, n), out))
}

/// Matrix product of two tensors of rank 1 or 2 with a given multiply-accumulate.
pub fn matmul_with<T: Copy + Default>(a: &ArrayD<T>, b: &ArrayD<T>, kernel: impl Fn(&[T], &[T], usize, usize, usize) -> Vec<T>) -> Result<ArrayD<T>, VmError> {
    let ((m, k, n), out) = matmul_dims(a.shape(), b.shape())?;
    // Contiguous operands (the usual case) are used in place; others are copied once.
    let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
    let (Some(a), Some(b)) = (a.as_slice(), b.as_slice()) else {
        return Err(VmError::Internal("a standard-layout array without a slice".into()));
    };
    let c = kernel(a, b, m, k, n);
    ArrayD::from_shape_vec(IxDyn(&out), c).map_err(|e| VmError::Shape(e.to_string()))
}

/// Matrix product of row-major matrices with a given multiply-accumulate `mac(acc, x, y)`.
pub fn matmul_generic<T: Copy + Default>(a: &[T], b: &[T], m: usize, k: usize, n: usize, mac: impl Fn(T, T, T) -> T) -> Vec<T> {
    let mut c = vec![T::default(); m * n];
    for i in 0..m {
        for p in 0..k {
            let x = a[i * k + p];
            for j in 0..n {
                c[i * n + j] = mac(c[i * n + j], x, b[p * n + j]);
            }
        }
    }
    c
}

pub fn sum_axis<T: Copy>(a: &ArrayD<T>, axis: usize, zero: T, add: impl Fn(T, T) -> T) -> Result<ArrayD<T>, VmError> {
    if axis >= a.ndim() {
        return Err(VmError::Shape(format!("axis {axis} out of range for shape {}", fmt_shape(a.shape()))));
    }
    Ok(a.fold_axis(Axis(axis), zero, |&acc, &x| add(acc, x)))
}

/// Joins tensors along `axis`, in standard layout (ndarray's `concatenate` may give a
/// column-major result, which every later pass would then walk element by element).
pub fn concat<T: Clone>(parts: &[&ArrayD<T>], axis: usize) -> Result<ArrayD<T>, VmError> {
    let mismatch = || {
        let shapes: Vec<String> = parts.iter().map(|p| fmt_shape(p.shape())).collect();
        VmError::Shape(format!("cannot concatenate shapes {} along axis {axis}", shapes.join(", ")))
    };
    let first = parts.first().ok_or_else(mismatch)?.shape();
    let fits = |p: &&ArrayD<T>| p.ndim() == first.len() && p.shape().iter().zip(first).enumerate().all(|(d, (s, f))| d == axis || s == f);
    if axis >= first.len() || !parts.iter().all(fits) {
        return Err(mismatch());
    }
    let slices: Option<Vec<&[T]>> = parts.iter().map(|p| p.as_slice()).collect();
    let Some(slices) = slices else {
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        return Ok(ndarray::concatenate(Axis(axis), &views).map_err(|_| mismatch())?.as_standard_layout().into_owned());
    };
    // Row-major parts: for each index over the axes before `axis`, each part's contiguous
    // block in turn.
    let outer: usize = first[..axis].iter().product();
    let mut shape = first.to_vec();
    shape[axis] = parts.iter().map(|p| p.shape()[axis]).sum();
    let mut out = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        for (part, slice) in parts.iter().zip(&slices) {
            let block: usize = part.shape()[axis..].iter().product();
            out.extend_from_slice(&slice[o * block..(o + 1) * block]);
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| VmError::Internal(e.to_string()))
}

/// The transpose, in standard layout. A row-major matrix is transposed in cache-sized tiles,
/// since walking an `ArrayD` element by element costs tens of nanoseconds each.
pub fn transpose<T: Copy + Default>(a: &ArrayD<T>) -> ArrayD<T> {
    match (a.shape(), a.as_slice()) {
        (&[rows, cols], Some(src)) => ArrayD::from_shape_vec(IxDyn(&[cols, rows]), sf_kernels::transpose(src, rows, cols)).unwrap_or_else(|_| a.t().as_standard_layout().into_owned()),
        _ => a.t().as_standard_layout().into_owned(),
    }
}

/// The elements in row-major order: a copy of the memory when the array is contiguous, which
/// is the usual case, and an element-by-element walk only when it is not.
/// The elements in row-major order, borrowed when the array already lies so in memory.
pub fn flat<T: Copy>(a: &ArrayD<T>) -> std::borrow::Cow<'_, [T]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

pub fn to_flat<T: Copy>(a: &ArrayD<T>) -> Vec<T> {
    match a.as_slice() {
        Some(s) => s.to_vec(),
        None => a.iter().copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiled_transpose_matches_ndarray() {
        for (r, c) in [(1, 1), (3, 70), (70, 3), (33, 65), (100, 100)] {
            let a = ArrayD::from_shape_vec(IxDyn(&[r, c]), (0..(r * c) as u128).collect()).expect("shape");
            assert_eq!(transpose(&a), a.t().as_standard_layout().into_owned(), "{r} x {c}");
        }
        let v = ArrayD::from_shape_vec(IxDyn(&[4]), vec![1i64, 2, 3, 4]).expect("shape");
        assert_eq!(transpose(&v), v);
    }

    #[test]
    fn concat_is_row_major_and_matches_ndarray() {
        let a = ArrayD::from_shape_vec(IxDyn(&[3, 2]), (0..6u128).collect()).expect("shape");
        let b = ArrayD::from_shape_vec(IxDyn(&[3, 1]), (10..13u128).collect()).expect("shape");
        for (parts, axis) in [(vec![&a, &b], 1), (vec![&a, &a], 0)] {
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            let got = concat(&parts, axis).expect("concat");
            assert!(got.is_standard_layout());
            assert_eq!(got, ndarray::concatenate(Axis(axis), &views).expect("ndarray"));
        }
        assert!(concat(&[&a, &b], 0).is_err(), "mismatched shapes are refused");
    }
}
