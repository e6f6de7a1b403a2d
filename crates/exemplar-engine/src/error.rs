//! The one error type of the crate.

/// Everything that can go wrong between model bytes and activations, worded for the
/// person who will read it (a researcher at a terminal or in a browser console).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The bytes are not a readable ONNX protobuf.
    #[error("the model is not a valid ONNX file: {0}")]
    Decode(String),
    /// The model is readable but not something the engine can run as it is.
    #[error("the model cannot be used: {0}")]
    Model(String),
    /// A node the target needs uses an operator (or a form of one) the engine lacks.
    #[error(
        "node '{node}' uses the operator {op_type}, which the engine does not support{detail}"
    )]
    UnsupportedOp {
        /// The node's name (or `#index` when the model leaves it unnamed).
        node: String,
        /// The ONNX operator type, e.g. `Resize`.
        op_type: String,
        /// What exactly is missing, starting with ": ", or empty.
        detail: String,
    },
    /// The requested target tensor is not in the graph.
    #[error("the model has no tensor named '{name}'{hint}")]
    UnknownTensor {
        /// The name that was asked for.
        name: String,
        /// Some names that do exist, as a hint.
        hint: String,
    },
    /// An input or a request does not fit the model (wrong shape, channel out of range).
    #[error("invalid input: {0}")]
    Input(String),
    /// No usable GPU (no WebGPU in this browser, no Vulkan driver natively).
    #[error("no GPU is available: {0}")]
    NoGpu(String),
    /// The GPU failed while running (device lost, out of memory, mapping failed).
    #[error("the GPU failed: {0}")]
    Gpu(String),
    /// A model or an image asks for more than [`crate::LoadOptions`] or
    /// [`crate::ImageLimits`] allow (a tensor of too many elements, too many bytes in all,
    /// an image of too many pixels): named, so that the limit can be raised on purpose.
    #[error("over a safety limit: {0}")]
    Limit(String),
    /// A file could not be read or an image could not be decoded.
    #[error("{0}")]
    Io(String),
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, EngineError>;
