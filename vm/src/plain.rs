//! Plaintext kernels: what a party computes on its own values, and every party on public ones.

use crate::error::VmError;
use crate::value::{self, Plain};
use ndarray::{ArrayD, Axis, IxDyn};
use sf_isa::{BinOp, ReduceOp, UnaryOp};

/// An elementwise comparison with broadcasting.
fn compare<T: Copy + PartialOrd>(op: BinOp, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<ArrayD<bool>, VmError> {
    value::zip_with(a, b, |p, q| op.compare(&p, &q).unwrap_or(false))
}

pub fn binary(op: BinOp, x: &Plain, y: &Plain) -> Result<Plain, VmError> {
    use BinOp::*;
    if op.is_comparison() {
        return Ok(Plain::Bool(match (x, y) {
            (Plain::Fix(a), Plain::Fix(b)) => compare(op, a, b)?,
            (Plain::Int(a), Plain::Int(b)) => compare(op, a, b)?,
            (Plain::Bool(a), Plain::Bool(b)) => compare(op, a, b)?,
            _ => return Err(VmError::Internal(format!("{} on mixed dtypes", op.name()))),
        }));
    }
    Ok(match (x, y) {
        (Plain::Fix(a), Plain::Fix(b)) => match op {
            Add => Plain::Fix(value::zip_with(a, b, |p, q| p + q)?),
            Sub => Plain::Fix(value::zip_with(a, b, |p, q| p - q)?),
            Mul => Plain::Fix(value::zip_with(a, b, |p, q| p * q)?),
            Div => Plain::Fix(value::zip_with(a, b, |p, q| p / q)?),
            MatMul => Plain::Fix(value::matmul_with(a, b, |a, b, m, k, n| value::matmul_generic(a, b, m, k, n, |c, x, y| c + x * y))?),
            _ => return Err(VmError::Internal(format!("{} on numbers", op.name()))),
        },
        (Plain::Int(a), Plain::Int(b)) => match op {
            Add => Plain::Int(value::zip_with(a, b, i64::wrapping_add)?),
            Sub => Plain::Int(value::zip_with(a, b, i64::wrapping_sub)?),
            Mul => Plain::Int(value::zip_with(a, b, i64::wrapping_mul)?),
            Div => Plain::Fix(value::zip_with(a, b, |p, q| p as f64 / q as f64)?),
            MatMul => Plain::Int(value::matmul_with(a, b, |a, b, m, k, n| value::matmul_generic(a, b, m, k, n, |c: i64, x, y| c.wrapping_add(x.wrapping_mul(y))))?),
            _ => return Err(VmError::Internal(format!("{} on numbers", op.name()))),
        },
        (Plain::Bool(a), Plain::Bool(b)) => Plain::Bool(match op {
            And => value::zip_with(a, b, |p, q| p && q)?,
            Or => value::zip_with(a, b, |p, q| p || q)?,
            _ => return Err(VmError::Internal(format!("{} on bools", op.name()))),
        }),
        _ => return Err(VmError::Internal(format!("{} on mixed dtypes", op.name()))),
    })
}

pub fn unary(op: UnaryOp, x: &Plain) -> Result<Plain, VmError> {
    use UnaryOp::*;
    Ok(match x {
        Plain::Fix(a) => Plain::Fix(a.mapv(match op {
            Neg => |v: f64| -v,
            Exp => f64::exp,
            Log => f64::ln,
            Sqrt => f64::sqrt,
            Rsqrt => |v: f64| 1.0 / v.sqrt(),
            Reciprocal => |v: f64| 1.0 / v,
            Tanh => f64::tanh,
            Abs => f64::abs,
            Sigmoid => |v: f64| 1.0 / (1.0 + (-v).exp()),
            Not => return Err(VmError::Internal("`!` on numbers".into())),
        })),
        Plain::Int(a) => match op {
            Neg => Plain::Int(a.mapv(i64::wrapping_neg)),
            Abs => Plain::Int(a.mapv(i64::wrapping_abs)),
            _ => return Err(VmError::Internal(format!("{} on ints", op.name()))),
        },
        Plain::Bool(a) => match op {
            Not => Plain::Bool(a.mapv(|v| !v)),
            _ => return Err(VmError::Internal(format!("{} on bools", op.name()))),
        },
    })
}

fn reduce_axis<T: Copy + PartialOrd>(a: &ArrayD<T>, axis: usize, op: ReduceOp) -> Result<(ArrayD<T>, ArrayD<i64>), VmError> {
    if axis >= a.ndim() || a.shape()[axis] == 0 {
        return Err(VmError::Shape(format!("cannot take {} along axis {axis} of {}", op.name(), value::fmt_shape(a.shape()))));
    }
    let mut shape = a.shape().to_vec();
    shape.remove(axis);
    let mut best = Vec::with_capacity(shape.iter().product());
    let mut at = Vec::with_capacity(best.capacity());
    for lane in a.lanes(Axis(axis)) {
        let (mut bi, mut bv) = (0usize, lane[0]);
        for (i, &v) in lane.iter().enumerate().skip(1) {
            let better = match op {
                ReduceOp::Max | ReduceOp::ArgMax => v > bv,
                ReduceOp::Min | ReduceOp::ArgMin => v < bv,
            };
            if better {
                bi = i;
                bv = v;
            }
        }
        best.push(bv);
        at.push(bi as i64);
    }
    let shaped = |e: ndarray::ShapeError| VmError::Internal(e.to_string());
    Ok((ArrayD::from_shape_vec(IxDyn(&shape), best).map_err(shaped)?, ArrayD::from_shape_vec(IxDyn(&shape), at).map_err(shaped)?))
}

pub fn reduce(op: ReduceOp, x: &Plain, axis: usize) -> Result<Plain, VmError> {
    let arg = matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin);
    Ok(match x {
        Plain::Fix(a) => {
            let (v, i) = reduce_axis(a, axis, op)?;
            if arg { Plain::Int(i) } else { Plain::Fix(v) }
        }
        Plain::Int(a) => {
            let (v, i) = reduce_axis(a, axis, op)?;
            if arg { Plain::Int(i) } else { Plain::Int(v) }
        }
        Plain::Bool(_) => return Err(VmError::Internal("reduce of bools".into())),
    })
}

pub fn sum(x: &Plain, axis: usize) -> Result<Plain, VmError> {
    Ok(match x {
        Plain::Fix(a) => Plain::Fix(value::sum_axis(a, axis, 0.0, |p, q| p + q)?),
        Plain::Int(a) => Plain::Int(value::sum_axis(a, axis, 0, i64::wrapping_add)?),
        Plain::Bool(_) => return Err(VmError::Internal("sum of bools".into())),
    })
}

pub fn select(c: &ArrayD<bool>, a: &Plain, b: &Plain) -> Result<Plain, VmError> {
    fn pick<T: Copy>(c: &ArrayD<bool>, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<ArrayD<T>, VmError> {
        let shape = value::broadcast_shape(c.shape(), &value::broadcast_shape(a.shape(), b.shape())?)?;
        let (c, a, b) = (value::broadcast_to(c, &shape)?, value::broadcast_to(a, &shape)?, value::broadcast_to(b, &shape)?);
        Ok(ndarray::Zip::from(&c).and(&a).and(&b).map_collect(|&c, &a, &b| if c { a } else { b }))
    }
    Ok(match (a, b) {
        (Plain::Fix(a), Plain::Fix(b)) => Plain::Fix(pick(c, a, b)?),
        (Plain::Int(a), Plain::Int(b)) => Plain::Int(pick(c, a, b)?),
        (Plain::Bool(a), Plain::Bool(b)) => Plain::Bool(pick(c, a, b)?),
        _ => return Err(VmError::Internal("select of mixed dtypes".into())),
    })
}

pub fn concat(values: &[&Plain], axis: usize) -> Result<Plain, VmError> {
    macro_rules! all {
        ($variant:ident) => {{
            let parts: Option<Vec<_>> = values.iter().map(|v| if let Plain::$variant(a) = v { Some(a) } else { None }).collect();
            parts.map(|p| value::concat(&p, axis)).transpose()?.map(Plain::$variant)
        }};
    }
    all!(Fix).or(all!(Int)).or(all!(Bool)).ok_or_else(|| VmError::Internal("concat of mixed dtypes".into()))
}

pub fn transpose(x: &Plain) -> Plain {
    match x {
        Plain::Fix(a) => Plain::Fix(value::transpose(a)),
        Plain::Int(a) => Plain::Int(value::transpose(a)),
        Plain::Bool(a) => Plain::Bool(value::transpose(a)),
    }
}

pub fn cast_to_fix(x: &Plain) -> Plain {
    match x {
        Plain::Fix(a) => Plain::Fix(a.clone()),
        Plain::Int(a) => Plain::Fix(a.mapv(|v| v as f64)),
        Plain::Bool(a) => Plain::Fix(a.mapv(|v| if v { 1.0 } else { 0.0 })),
    }
}
