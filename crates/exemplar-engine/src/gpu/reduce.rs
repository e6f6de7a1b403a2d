//! The channel-mean kernel (`reduce.wgsl`): the activations an experiment reads (the
//! mean of chosen channels per image), also GlobalAveragePool.

use bytemuck::{Pod, Zeroable};

pub(super) const SOURCE: &str = include_str!("reduce.wgsl");

/// `channel_mean`'s parameters: the mean over `spatial` values, `spatial_stride` apart,
/// of each listed channel of each image.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct ChannelMeanParams {
    pub images: u32,
    /// Channels listed (the length of the channel buffer).
    pub channels: u32,
    pub spatial: u32,
    pub image_stride: u32,
    pub channel_stride: u32,
    pub spatial_stride: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_have_the_words_the_kernel_reads() {
        assert_eq!(size_of::<ChannelMeanParams>(), 6 * 4); // p[0..6]
    }
}
