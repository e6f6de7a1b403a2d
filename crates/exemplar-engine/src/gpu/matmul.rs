//! Matrix product kernels (`matmul.wgsl`): Gemm and batched MatMul, each tiled
//! (`TILE`×`TILE` outputs per workgroup through workgroup memory) and plain (one
//! invocation per output value, for grids the tiled kernels cannot be dispatched on).

use bytemuck::{Pod, Zeroable};

pub(super) const SOURCE: &str = include_str!("matmul.wgsl");

/// The output block one workgroup of `gemm_tiled` or `matmul_tiled` computes.
pub(super) const TILE: usize = 64;

/// The most batch axes `matmul` indexes.
pub(super) const MAX_BATCH_AXES: usize = 4;

/// `gemm`'s and `gemm_tiled`'s parameters: `y = alpha · A·B + beta · C`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct GemmParams {
    pub total: u32,
    pub m: u32,
    pub k: u32,
    pub n: u32,
    pub trans_a: u32,
    pub trans_b: u32,
    /// C's strides (0 where it is broadcast).
    pub c_row_stride: u32,
    pub c_col_stride: u32,
    pub alpha: f32,
    pub beta: f32,
}

/// `matmul`'s parameters; batch axes outermost first, right-aligned in
/// [`MAX_BATCH_AXES`] slots (sizes padded with 1, strides in matrices with 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct MatMulParams {
    pub total: u32,
    pub m: u32,
    pub k: u32,
    pub n: u32,
    pub batch: [u32; MAX_BATCH_AXES],
    pub a_strides: [u32; MAX_BATCH_AXES],
    pub b_strides: [u32; MAX_BATCH_AXES],
}

/// `matmul_tiled`'s parameters: `matmul`'s, then the tiles along M (`ceil(M / TILE)`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct MatMulTiledParams {
    pub matmul: MatMulParams,
    pub row_tiles: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_have_the_words_the_kernels_read() {
        assert_eq!(size_of::<GemmParams>(), 10 * 4); // p[0..10]
        assert_eq!(size_of::<MatMulParams>(), 16 * 4); // p[0..16]
        assert_eq!(size_of::<MatMulTiledParams>(), 17 * 4); // p[0..17]
    }
}
