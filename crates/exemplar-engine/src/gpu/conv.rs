//! Convolution kernels (`conv.wgsl`): `conv2d`, one invocation per output value, and
//! `conv2d_tiled`, 4 output channels × 4 output columns per invocation from weights
//! packed by [`pack_weights`].

use bytemuck::{Pod, Zeroable};

use crate::graph::Geom;

pub(super) const SOURCE: &str = include_str!("conv.wgsl");

/// `conv2d`'s parameters, in the order `conv.wgsl` reads them (`p[0]`, `p[1]`, …).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct ConvParams {
    /// Output values (`conv2d`) or tiles (`conv2d_tiled`): the invocations with work.
    pub total: u32,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub m: u32,
    pub oh: u32,
    pub ow: u32,
    pub kh: u32,
    pub kw: u32,
    pub sh: u32,
    pub sw: u32,
    pub pt: u32,
    pub pl: u32,
    pub dh: u32,
    pub dw: u32,
    /// Input channels per group.
    pub cpg: u32,
    /// Output channels per group.
    pub mpg: u32,
}

impl ConvParams {
    /// The parameters of a convolution of geometry `gm` with `m` output channels in
    /// `group` groups, over `total` invocations.
    pub fn new(total: usize, gm: &Geom, m: usize, group: usize) -> ConvParams {
        ConvParams {
            total: total as u32,
            c: gm.c as u32,
            h: gm.h as u32,
            w: gm.w as u32,
            m: m as u32,
            oh: gm.oh as u32,
            ow: gm.ow as u32,
            kh: gm.kh as u32,
            kw: gm.kw as u32,
            sh: gm.sh as u32,
            sw: gm.sw as u32,
            pt: gm.pt as u32,
            pl: gm.pl as u32,
            dh: gm.dh as u32,
            dw: gm.dw as u32,
            cpg: (gm.c / group) as u32,
            mpg: (m / group) as u32,
        }
    }
}

/// `conv2d_tiled`'s parameters: `conv2d`'s (with `total` the number of tiles), then the
/// tiles along x and the tiles of 4 output channels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct ConvTiledParams {
    pub conv: ConvParams,
    pub x_tiles: u32,
    pub channel_tiles: u32,
}

/// Weights `[M, C/group, KH, KW]` (`kk` = C/group·KH·KW values per output channel) as
/// `conv2d_tiled` reads them: `[ceil(M/4)][C/group][KH][KW][4]`, zeros beyond M.
pub(super) fn pack_weights(w: &[f32], m: usize, kk: usize) -> Vec<f32> {
    let mut data = vec![0f32; m.div_ceil(4) * kk * 4];
    for (o, row) in w.chunks_exact(kk.max(1)).enumerate().take(m) {
        for (j, &v) in row.iter().enumerate() {
            data[((o / 4) * kk + j) * 4 + o % 4] = v;
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_have_the_words_the_kernels_read() {
        // conv2d reads p[0..17], conv2d_tiled also p[17] and p[18].
        assert_eq!(size_of::<ConvParams>(), 17 * 4);
        assert_eq!(size_of::<ConvTiledParams>(), 19 * 4);
    }

    #[test]
    fn packed_weights_interleave_four_output_channels() {
        // 5 output channels of 2 weights each: two tiles, the second padded with zeros.
        let w: Vec<f32> = (0..10).map(|v| v as f32).collect();
        let p = pack_weights(&w, 5, 2);
        assert_eq!(
            p,
            [0., 2., 4., 6., 1., 3., 5., 7., 8., 0., 0., 0., 9., 0., 0., 0.]
        );
    }
}
