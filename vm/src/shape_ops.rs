//! Shape-level operations, the same on plaintext of any dtype and on shares: they move elements,
//! never combine them, so on shares they need no protocol.

use crate::array_fn_dispatch;
use crate::error::VmError;
use crate::value::{fmt_shape, ArrayFn};
use ndarray::{ArrayD, Axis, IxDyn, Slice};

pub struct Reshape(pub Vec<usize>);

impl ArrayFn for Reshape {
    fn apply<T: Clone + Default>(&self, a: &ArrayD<T>) -> Result<ArrayD<T>, VmError> {
        if a.len() != self.0.iter().product::<usize>() {
            return Err(VmError::Shape(format!("cannot reshape {} into {}", fmt_shape(a.shape()), fmt_shape(&self.0))));
        }
        let flat: Vec<T> = a.iter().cloned().collect();
        ArrayD::from_shape_vec(IxDyn(&self.0), flat).map_err(|e| VmError::Shape(e.to_string()))
    }
    array_fn_dispatch!();
}

/// `start..end` along each axis.
pub struct SliceOf(pub Vec<(usize, usize)>);

impl ArrayFn for SliceOf {
    fn apply<T: Clone + Default>(&self, a: &ArrayD<T>) -> Result<ArrayD<T>, VmError> {
        let mut view = a.view();
        for (axis, &(start, end)) in self.0.iter().enumerate() {
            let len = view.shape().get(axis).copied().unwrap_or(0);
            if start > end || end > len {
                return Err(VmError::Shape(format!("slice {start}:{end} is out of range for axis {axis} of {}", fmt_shape(a.shape()))));
            }
            view.slice_axis_inplace(Axis(axis), Slice::from(start..end));
        }
        Ok(view.to_owned())
    }
    array_fn_dispatch!();
}

/// Entries at `index` along `axis`; a scalar index (`None` shape) removes the axis.
pub struct Gather {
    pub index: Vec<usize>,
    pub scalar: bool,
    pub axis: usize,
}

impl ArrayFn for Gather {
    fn apply<T: Clone + Default>(&self, a: &ArrayD<T>) -> Result<ArrayD<T>, VmError> {
        let len = *a.shape().get(self.axis).ok_or_else(|| VmError::Shape(format!("no axis {} in {}", self.axis, fmt_shape(a.shape()))))?;
        if let Some(&bad) = self.index.iter().find(|&&i| i >= len) {
            return Err(VmError::Value(format!("index {bad} is out of range for an axis of {len}")));
        }
        let taken = a.select(Axis(self.axis), &self.index);
        Ok(if self.scalar { taken.index_axis(Axis(self.axis), 0).to_owned() } else { taken })
    }
    array_fn_dispatch!();
}

/// Converts public index values to positions, refusing negatives.
pub fn positions(values: &ArrayD<i64>) -> Result<Vec<usize>, VmError> {
    values
        .iter()
        .map(|&v| usize::try_from(v).map_err(|_| VmError::Value(format!("index {v} is negative"))))
        .collect()
}
