//! Window kernels over channels and positions (`pool.wgsl`): MaxPool and AveragePool,
//! LRN, and the copy of one Concat input into its place in the output.

use bytemuck::{Pod, Zeroable};

use super::codes::wgsl_codes;
use crate::graph::Geom;

wgsl_codes! {
    /// What `pool2d` computes over a window (`p[15]`).
    pub(super) enum PoolMode {
        Max => "POOL_MAX",
        /// The average of the values inside the input (`count_include_pad` 0).
        AverageInside => "POOL_AVERAGE_INSIDE",
        /// The average counting the padding (`count_include_pad` 1).
        AveragePadded => "POOL_AVERAGE_PADDED",
    }
}

/// The shader: its mode numbers, then `pool.wgsl`.
pub(super) fn source() -> String {
    format!("{}{}", PoolMode::wgsl_consts(), include_str!("pool.wgsl"))
}

/// `pool2d`'s parameters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct PoolParams {
    pub total: u32,
    pub h: u32,
    pub w: u32,
    pub oh: u32,
    pub ow: u32,
    pub kh: u32,
    pub kw: u32,
    pub sh: u32,
    pub sw: u32,
    pub pt: u32,
    pub pl: u32,
    pub pb: u32,
    pub pr: u32,
    pub dh: u32,
    pub dw: u32,
    pub mode: u32,
}

impl PoolParams {
    /// A pooling of geometry `gm` over `total` output values.
    pub fn new(total: usize, gm: &Geom, mode: PoolMode) -> PoolParams {
        PoolParams {
            total: total as u32,
            h: gm.h as u32,
            w: gm.w as u32,
            oh: gm.oh as u32,
            ow: gm.ow as u32,
            kh: gm.kh as u32,
            kw: gm.kw as u32,
            sh: gm.sh as u32,
            sw: gm.sw as u32,
            pt: gm.pt as u32,
            pl: gm.pl as u32,
            pb: gm.pb as u32,
            pr: gm.pr as u32,
            dh: gm.dh as u32,
            dw: gm.dw as u32,
            mode: mode.code(),
        }
    }
}

/// `lrn`'s parameters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct LrnParams {
    pub total: u32,
    pub channels: u32,
    /// Values per channel.
    pub inner: u32,
    /// Channels of the window before and after the channel itself.
    pub before: u32,
    pub after: u32,
    /// alpha / size.
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
}

/// `concat_copy`'s parameters: the input's values, in chunks of `chunk` that land
/// `chunk_dst` apart in the output, from `offset` on.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct ConcatParams {
    pub total: u32,
    pub chunk: u32,
    pub chunk_dst: u32,
    pub offset: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::codes::assert_uses_names;

    #[test]
    fn params_have_the_words_the_kernels_read() {
        assert_eq!(size_of::<PoolParams>(), 16 * 4); // p[0..16]
        assert_eq!(size_of::<LrnParams>(), 8 * 4); // p[0..8]
        assert_eq!(size_of::<ConcatParams>(), 4 * 4); // p[0..4]
    }

    #[test]
    fn the_shader_compares_with_the_generated_mode_numbers() {
        assert_eq!(PoolMode::AveragePadded.code(), 2);
        assert!(source().starts_with("const POOL_MAX: u32 = 0u;\n"));
        let names: Vec<&str> = PoolMode::ALL.iter().map(|m| m.wgsl_name()).collect();
        assert_uses_names(include_str!("pool.wgsl"), &names, "mode == N");
    }
}
