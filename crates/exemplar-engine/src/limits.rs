//! Caps on what a model file may make the engine allocate.
//!
//! A model is untrusted input: a file of a hundred bytes can declare a tensor of 2^40
//! elements (a Reshape, Expand, Range, ConstantOfShape or Pad to a huge shape, a huge
//! dilation), and an engine that believed it would try to allocate terabytes. Every shape
//! the engine derives is therefore computed with checked arithmetic and held to
//! [`LoadOptions`]: one tensor may have at most
//! [`max_tensor_elements`](LoadOptions::max_tensor_elements) elements, and the tensors of
//! a model's constants, or of one run, at most
//! [`max_total_bytes`](LoadOptions::max_total_bytes) together. Going over is an
//! [`EngineError::Limit`] that names the tensor (and the node computing it).

use crate::{EngineError, Result};

/// Limits a model is loaded and run under; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// The most elements one tensor may have: a weight in the file, a constant folded at
    /// load, or an intermediate tensor of a run (axes of size 0 count as 1 here, so that
    /// strides cannot overflow either). Default: 2^28 = 268,435,456 (1 GiB as f32), some
    /// hundred times the largest activation of ResNet-50 on a 224×224 image.
    pub max_tensor_elements: u64,
    /// The most bytes (4 per element, as the engine computes in f32) of the model's
    /// constants together (weights and initializers), and of every tensor of one run
    /// together, counted as if none were freed: an upper bound on what a run holds. A
    /// batch of images over it is split into smaller batches (images are independent, so
    /// the result is the same); only one image over it is an error. Default: 4 GiB
    /// (2^32 bytes).
    pub max_total_bytes: u64,
}

impl LoadOptions {
    /// Default of [`LoadOptions::max_tensor_elements`].
    pub const DEFAULT_MAX_TENSOR_ELEMENTS: u64 = 1 << 28;
    /// Default of [`LoadOptions::max_total_bytes`].
    pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 1 << 32;

    /// The real number of elements of `shape`, after checking that the product of its
    /// axes (0 counted as 1) stays within [`LoadOptions::max_tensor_elements`]. `what`
    /// names the tensor in the error.
    pub(crate) fn elements(&self, shape: &[usize], what: impl FnOnce() -> String) -> Result<usize> {
        let mut bound: u64 = 1;
        let mut real: u64 = 1;
        for &d in shape {
            let d = d as u64;
            match bound
                .checked_mul(d.max(1))
                .filter(|&b| b <= self.max_tensor_elements)
            {
                Some(b) => bound = b,
                None => return Err(self.too_many(shape, what())),
            }
            real *= d; // at most `bound`
        }
        Ok(real as usize)
    }

    fn too_many(&self, shape: &[usize], what: String) -> EngineError {
        EngineError::Limit(format!(
            "{what} would have shape {shape:?}, over the limit of {} elements per tensor \
             (max_tensor_elements)",
            self.max_tensor_elements
        ))
    }

    /// Checks a running byte total against [`LoadOptions::max_total_bytes`].
    pub(crate) fn total(&self, bytes: u64, what: impl FnOnce() -> String) -> Result<()> {
        if bytes > self.max_total_bytes {
            Err(EngineError::Limit(format!(
                "{} take {bytes} bytes together, over the limit of {} bytes (max_total_bytes)",
                what(),
                self.max_total_bytes
            )))
        } else {
            Ok(())
        }
    }
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            max_tensor_elements: LoadOptions::DEFAULT_MAX_TENSOR_ELEMENTS,
            max_total_bytes: LoadOptions::DEFAULT_MAX_TOTAL_BYTES,
        }
    }
}

/// The product of `dims` (each an axis size, from a file), or an error naming `what` when
/// an axis is negative or the product overflows.
pub(crate) fn checked_product(dims: &[i64], what: impl Fn() -> String) -> Result<usize> {
    dims.iter().try_fold(1usize, |acc, &d| {
        let d = usize::try_from(d)
            .map_err(|_| EngineError::Model(format!("{} has a negative dimension {d}", what())))?;
        acc.checked_mul(d).ok_or_else(|| {
            EngineError::Limit(format!(
                "{} has dimensions {dims:?}, whose product overflows",
                what()
            ))
        })
    })
}
