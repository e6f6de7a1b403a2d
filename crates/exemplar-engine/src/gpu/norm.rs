//! Row-wise kernels (`norm.wgsl`): Softmax/LogSoftmax and LayerNormalization (one
//! workgroup per row, tree reductions in workgroup memory), and ReduceMean (one
//! invocation per output value).

use bytemuck::{Pod, Zeroable};

use super::MAX_RANK;

pub(super) const SOURCE: &str = include_str!("norm.wgsl");

/// `softmax`'s parameters: row r holds `len` values `inner` apart.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct SoftmaxParams {
    /// outer × inner.
    pub rows: u32,
    pub len: u32,
    pub inner: u32,
    /// 1 for LogSoftmax.
    pub log: u32,
}

/// `layer_norm`'s parameters; scale and bias repeat along the row (they are a suffix of
/// the normalised shape).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct LayerNormParams {
    pub rows: u32,
    pub len: u32,
    pub scale_len: u32,
    pub bias_len: u32,
    pub epsilon: f32,
}

/// `reduce_mean`'s parameters; axes outermost first, right-aligned in [`MAX_RANK`] slots.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct ReduceMeanParams {
    pub total: u32,
    /// Values averaged per output.
    pub count: u32,
    /// The output's sizes with reduced axes as 1.
    pub kept: [u32; MAX_RANK],
    /// The reduced sizes with kept axes as 1.
    pub folded: [u32; MAX_RANK],
    /// The input's strides.
    pub strides: [u32; MAX_RANK],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_have_the_words_the_kernels_read() {
        assert_eq!(size_of::<SoftmaxParams>(), 4 * 4); // p[0..4]
        assert_eq!(size_of::<LayerNormParams>(), 5 * 4); // p[0..5]
        assert_eq!(size_of::<ReduceMeanParams>(), 20 * 4); // p[0..20]
    }
}
