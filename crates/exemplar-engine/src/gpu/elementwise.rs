//! Elementwise kernels (`elementwise.wgsl`): the unary operators, the binary operators
//! with ONNX broadcasting, per-channel scale and shift (a standalone BatchNormalization)
//! and Where.

use bytemuck::{Pod, Zeroable};

use super::codes::wgsl_codes;
use super::MAX_RANK;

wgsl_codes! {
    /// The operator `unary` applies (`p[1]`).
    pub(super) enum UnaryOp {
        Relu => "UNARY_RELU",
        Clip => "UNARY_CLIP",
        Sigmoid => "UNARY_SIGMOID",
        Erf => "UNARY_ERF",
        Sqrt => "UNARY_SQRT",
        Tanh => "UNARY_TANH",
        /// Gelu with erf.
        Gelu => "UNARY_GELU",
        /// Gelu with the tanh approximation.
        GeluTanh => "UNARY_GELU_TANH",
    }
}

wgsl_codes! {
    /// The operator `binary` applies (`p[1]`).
    pub(super) enum BinaryOp {
        Add => "BINARY_ADD",
        Mul => "BINARY_MUL",
        Sub => "BINARY_SUB",
        Div => "BINARY_DIV",
        Pow => "BINARY_POW",
    }
}

/// The shader: its operator numbers, then `elementwise.wgsl`.
pub(super) fn source() -> String {
    format!(
        "{}{}{}",
        UnaryOp::wgsl_consts(),
        BinaryOp::wgsl_consts(),
        include_str!("elementwise.wgsl")
    )
}

/// `unary`'s parameters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct UnaryParams {
    pub total: u32,
    pub op: u32,
    /// Clip's bounds (unused by the other operators).
    pub min: f32,
    pub max: f32,
}

/// `binary`'s parameters; axes outermost first, right-aligned in [`MAX_RANK`] slots
/// (sizes padded with 1, strides with 0; a stride is 0 where the operand is broadcast).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct BinaryParams {
    pub total: u32,
    pub op: u32,
    pub sizes: [u32; MAX_RANK],
    pub a_strides: [u32; MAX_RANK],
    pub b_strides: [u32; MAX_RANK],
}

/// `affine`'s parameters: `y = a * b[channel] + c[channel]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct AffineParams {
    pub total: u32,
    pub channels: u32,
    /// Values per channel.
    pub inner: u32,
}

/// `where_select`'s parameters, laid out as [`BinaryParams`]'s axes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct WhereParams {
    pub total: u32,
    pub sizes: [u32; MAX_RANK],
    pub cond_strides: [u32; MAX_RANK],
    pub x_strides: [u32; MAX_RANK],
    pub y_strides: [u32; MAX_RANK],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::codes::assert_uses_names;

    #[test]
    fn params_have_the_words_the_kernels_read() {
        assert_eq!(size_of::<UnaryParams>(), 4 * 4); // p[0..4]
        assert_eq!(size_of::<BinaryParams>(), 20 * 4); // p[0..20]
        assert_eq!(size_of::<AffineParams>(), 3 * 4); // p[0..3]
        assert_eq!(size_of::<WhereParams>(), 25 * 4); // p[0..25]
    }

    #[test]
    fn the_shader_switches_on_the_generated_operator_numbers() {
        assert_eq!(UnaryOp::Relu.code(), 0);
        assert_eq!(UnaryOp::GeluTanh.code(), 7);
        assert_eq!(BinaryOp::Pow.code(), 4);
        let src = source();
        assert!(src.starts_with("const UNARY_RELU: u32 = 0u;\n"));
        assert!(src.contains("const BINARY_POW: u32 = 4u;\n"));
        let names: Vec<&str> = UnaryOp::ALL
            .iter()
            .map(|o| o.wgsl_name())
            .chain(BinaryOp::ALL.iter().map(|o| o.wgsl_name()))
            .collect();
        assert_uses_names(include_str!("elementwise.wgsl"), &names, "case N");
    }
}
