//! Data movement kernels (`layout.wgsl`): strided copies (Transpose, Slice, Expand),
//! Gather with constant indices, and Pad.

use bytemuck::{Pod, Zeroable};

use super::codes::wgsl_codes;
use super::MAX_RANK;
use crate::graph::PadMode;

wgsl_codes! {
    /// Pad's mode as `pad` reads it (`p[1]`).
    pub(super) enum PadCode {
        Constant => "PAD_CONSTANT",
        Edge => "PAD_EDGE",
        Reflect => "PAD_REFLECT",
        Wrap => "PAD_WRAP",
    }
}

impl From<PadMode> for PadCode {
    fn from(mode: PadMode) -> PadCode {
        match mode {
            PadMode::Constant => PadCode::Constant,
            PadMode::Edge => PadCode::Edge,
            PadMode::Reflect => PadCode::Reflect,
            PadMode::Wrap => PadCode::Wrap,
        }
    }
}

/// The shader: its mode numbers, then `layout.wgsl`.
pub(super) fn source() -> String {
    format!("{}{}", PadCode::wgsl_consts(), include_str!("layout.wgsl"))
}

/// `transpose`'s parameters (a strided copy); axes outermost first, right-aligned in
/// [`MAX_RANK`] slots.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct StridedCopyParams {
    pub total: u32,
    /// The output's sizes (padded with 1).
    pub sizes: [u32; MAX_RANK],
    /// The input stride of a step along each output axis (padded with 0; negative
    /// strides as two's complement: u32 arithmetic wraps, and the sum lands in range).
    pub strides: [u32; MAX_RANK],
    /// The input offset of the first value.
    pub offset: u32,
}

/// `gather`'s parameters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct GatherParams {
    pub total: u32,
    /// Values after the axis.
    pub inner: u32,
    /// Number of indices.
    pub count: u32,
    /// Length of the axis.
    pub axis_len: u32,
}

/// `pad`'s parameters; axes outermost first, right-aligned in [`MAX_RANK`] slots.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct PadParams {
    pub total: u32,
    /// A [`PadCode`].
    pub mode: u32,
    pub value: f32,
    /// The output's sizes (padded with 1).
    pub out_sizes: [u32; MAX_RANK],
    /// The input's sizes (padded with 1).
    pub in_sizes: [u32; MAX_RANK],
    /// The values padded before each axis (negative crops).
    pub begins: [i32; MAX_RANK],
    /// The input's strides (padded with 0).
    pub strides: [u32; MAX_RANK],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::codes::assert_uses_names;

    #[test]
    fn params_have_the_words_the_kernels_read() {
        assert_eq!(size_of::<StridedCopyParams>(), 14 * 4); // p[0..14]
        assert_eq!(size_of::<GatherParams>(), 4 * 4); // p[0..4]
        assert_eq!(size_of::<PadParams>(), 27 * 4); // p[0..27]
    }

    #[test]
    fn the_shader_compares_with_the_generated_mode_numbers() {
        assert_eq!(PadCode::from(PadMode::Wrap).code(), 3);
        assert!(source().starts_with("const PAD_CONSTANT: u32 = 0u;\n"));
        // Reflect is the kernel's last branch (an `else`): every other mode is named.
        let names: Vec<&str> = PadCode::ALL
            .iter()
            .filter(|&&m| m != PadCode::Reflect)
            .map(|m| m.wgsl_name())
            .collect();
        assert_uses_names(include_str!("layout.wgsl"), &names, "p[1] == N");
    }
}
