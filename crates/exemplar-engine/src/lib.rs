//! The activation engine: how strongly one unit of a vision model responds to an image.
//!
//! A *unit* is a channel of a tensor inside an ONNX model (a layer's output). Its
//! *activation* for an image is the channel's mean over the spatial positions (over the
//! tokens for a `[N, tokens, channels]` tensor). The engine loads only the part of the
//! graph the target tensor needs (or several targets, all computed in one pass:
//! [`Engine::new_targets`], [`Engine::activations_of`]), folds BatchNormalization into the
//! convolution before it, and runs the rest either as WGSL compute shaders through wgpu
//! (WebGPU in the browser, Vulkan natively) or on the CPU, where a plain-Rust implementation of every
//! operator serves as the reference for the GPU kernels and as the fallback.
//!
//! Supported operators: Conv, Relu, Clip, Sigmoid, Tanh, Erf, Gelu, Sqrt, Add, Sub, Mul,
//! Div, Pow, MaxPool, AveragePool, GlobalAveragePool, LRN, Concat, BatchNormalization,
//! LayerNormalization, Softmax, LogSoftmax, ReduceMean, Transpose, Gather (constant
//! indices), Slice (constant bounds), Split (constant sizes or equal parts), Squeeze,
//! Unsqueeze, Flatten, Reshape, Expand (constant shape), Pad (constant, edge, reflect,
//! wrap; constant pads), Where, Cast (to float), Gemm, MatMul, Identity and Dropout
//! (inference); 2-D windows with asymmetric `pads` or `auto_pad`. Constants are folded at
//! load: any node whose inputs are all constants (initializers, numeric Constant nodes,
//! folded values) is evaluated on integers or floats and becomes a constant, for Shape,
//! Size, ConstantOfShape, Cast, Range, Equal, Less, Greater, Not, And, Or, Xor, Where, Neg,
//! Abs, Floor, Ceil, Min, Max, the arithmetic and the data movement operators above; so
//! torch exports' shape arithmetic (`Shape → Gather → Unsqueeze → Concat → Reshape`) is
//! supported. `Shape` of a computed tensor depends on the input's shape (its batch axis is
//! usually symbolic): those computations are folded again for each input shape the engine
//! is given. Anything else the target needs is a load-time [`EngineError::UnsupportedOp`]
//! naming the node.
//! Besides the ONNX operator suite and generated networks (among them torchvision's
//! ConvNeXt and ViT-B/32, scaled down, as torch exports them), the engine is checked
//! against tract-onnx on models with trained weights: open_nsfw (a tf2onnx export: NHWC
//! input transposed in the graph, fused BatchNormalization) and EfficientNet-Lite0
//! (depthwise convolutions, TensorFlow "SAME" padding, ReLU6 as Clip).
//!
//! ```no_run
//! use exemplar_engine::{Backend, Engine, Preprocess};
//! # fn main() -> Result<(), exemplar_engine::EngineError> {
//! let model = std::fs::read("googlenet.onnx").map_err(|e| exemplar_engine::EngineError::Io(e.to_string()))?;
//! // Only the nodes up to this tensor are loaded and run.
//! let engine = Engine::new_blocking(&model, "inception4a_output", Backend::Gpu)?;
//! let (width, height) = (300, 240);
//! let rgb = vec![128u8; (width * height * 3) as usize]; // interleaved RGB pixels
//! let image = Preprocess::inception().apply(&rgb, width, height)?; // [3, 224, 224]
//! let activations = engine.activations_blocking(&[image], &[7, 12])?;
//! println!("channel 7: {}, channel 12: {}", activations[0][0], activations[0][1]);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
// In the browser there are no threads and wgpu's handles are not Send; natively they are
// Send + Sync, which is what the Arcs are for.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

mod cpu;
mod error;
mod gpu;
mod graph;
mod limits;
#[cfg(not(target_arch = "wasm32"))]
mod native;
pub mod onnx;
mod preprocess;
mod tensor;

use std::sync::Arc;

pub use cpu::{cpu_kernel, set_cpu_threads};
pub use error::{EngineError, Result};
/// The ONNX operators the engine supports: computed on the data, and folded at load
/// when their inputs are constants or the input's shape.
pub mod operators {
    pub use crate::graph::{COMPUTED, FOLDABLE};
}
pub use limits::LoadOptions;
#[cfg(not(target_arch = "wasm32"))]
pub use native::{
    activations_json, activations_json_with, decode_image, decode_image_bytes, ImageLimits,
};
pub use preprocess::Preprocess;
pub use tensor::Tensor;

/// The largest tensor of one CPU batch (below glibc's largest mmap threshold, 32 MiB, so
/// freed tensors' memory is reused): see `Engine::batches`.
const CPU_BATCH_TENSOR_BYTES: u64 = 16 << 20;

/// Where the graph runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Plain Rust on the CPU: the reference, and the fallback without WebGPU.
    Cpu,
    /// WGSL compute shaders through wgpu.
    Gpu,
}

impl std::str::FromStr for Backend {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Backend> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            "gpu" => Ok(Backend::Gpu),
            other => Err(EngineError::Input(format!(
                "unknown backend '{other}' (known: gpu, cpu)"
            ))),
        }
    }
}

/// An open GPU device with the engine's kernels compiled; share one between engines
/// (several layers or models) to open the device and compile the shaders only once.
#[derive(Clone)]
pub struct GpuContext(Arc<gpu::Gpu>);

impl GpuContext {
    /// Opens the first high-performance adapter: WebGPU in the browser, Vulkan natively.
    /// Fails with [`EngineError::NoGpu`] where there is none.
    pub async fn new() -> Result<GpuContext> {
        Ok(GpuContext(Arc::new(gpu::Gpu::new(None).await?)))
    }

    /// [`GpuContext::new`] with storage buffers limited to `bytes` each (below the
    /// adapter's own limit): batches are then split more finely. For tests of the
    /// splitting, and to keep the engine's buffers small beside other GPU work.
    pub async fn with_max_buffer_bytes(bytes: u64) -> Result<GpuContext> {
        Ok(GpuContext(Arc::new(gpu::Gpu::new(Some(bytes)).await?)))
    }

    /// [`GpuContext::new`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking() -> Result<GpuContext> {
        pollster::block_on(GpuContext::new())
    }

    /// The adapter's name and API.
    pub fn adapter(&self) -> &str {
        self.0.adapter()
    }
}

/// A model loaded up to one target tensor (or several, computed in one pass), ready to
/// compute activations.
pub struct Engine {
    graph: Arc<graph::Graph>,
    gpu: Option<gpu::GpuModel>,
}

impl Engine {
    /// Loads `model_bytes` (an ONNX file) up to the tensor named `target` and prepares
    /// `backend` (for the GPU: opens a device and uploads the weights), under the default
    /// [`LoadOptions`].
    pub async fn new(model_bytes: &[u8], target: &str, backend: Backend) -> Result<Engine> {
        Engine::new_with(model_bytes, target, backend, &LoadOptions::default()).await
    }

    /// [`Engine::new`] under the given limits.
    pub async fn new_with(
        model_bytes: &[u8],
        target: &str,
        backend: Backend,
        options: &LoadOptions,
    ) -> Result<Engine> {
        // The model first: a model that cannot load needs no GPU.
        Engine::new_targets(model_bytes, &[target], backend, options).await
    }

    /// [`Engine::new_with`] for several targets, all computed in one pass over the graph
    /// (up to the deepest); see [`Engine::activations_of`].
    pub async fn new_targets(
        model_bytes: &[u8],
        targets: &[&str],
        backend: Backend,
        options: &LoadOptions,
    ) -> Result<Engine> {
        let model = onnx::decode_model(model_bytes)?;
        let graph = Arc::new(graph::Graph::load(&model, targets, options)?);
        let ctx = match backend {
            Backend::Cpu => None,
            Backend::Gpu => Some(GpuContext::new().await?),
        };
        Ok(Engine::from_graph(graph, ctx.as_ref()))
    }

    /// Loads the model for the CPU backend (`gpu` is `None`) or for an open GPU, under
    /// the default [`LoadOptions`].
    pub fn load(model_bytes: &[u8], target: &str, gpu: Option<&GpuContext>) -> Result<Engine> {
        Engine::load_with(model_bytes, target, gpu, &LoadOptions::default())
    }

    /// [`Engine::load`] under the given limits.
    pub fn load_with(
        model_bytes: &[u8],
        target: &str,
        gpu: Option<&GpuContext>,
        options: &LoadOptions,
    ) -> Result<Engine> {
        let model = onnx::decode_model(model_bytes)?;
        Engine::from_model_with(&model, target, gpu, options)
    }

    /// [`Engine::load`] from an already decoded model.
    pub fn from_model(
        model: &onnx::ModelProto,
        target: &str,
        gpu: Option<&GpuContext>,
    ) -> Result<Engine> {
        Engine::from_model_with(model, target, gpu, &LoadOptions::default())
    }

    /// [`Engine::from_model`] under the given limits.
    pub fn from_model_with(
        model: &onnx::ModelProto,
        target: &str,
        gpu: Option<&GpuContext>,
        options: &LoadOptions,
    ) -> Result<Engine> {
        Engine::from_model_targets(model, &[target], gpu, options)
    }

    /// [`Engine::from_model_with`] for several targets, computed in one pass.
    pub fn from_model_targets(
        model: &onnx::ModelProto,
        targets: &[&str],
        gpu: Option<&GpuContext>,
        options: &LoadOptions,
    ) -> Result<Engine> {
        let graph = Arc::new(graph::Graph::load(model, targets, options)?);
        Ok(Engine::from_graph(graph, gpu))
    }

    fn from_graph(graph: Arc<graph::Graph>, gpu: Option<&GpuContext>) -> Engine {
        let gpu = gpu.map(|ctx| gpu::GpuModel::new(ctx.0.clone(), graph.clone()));
        Engine { graph, gpu }
    }

    /// [`Engine::new`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking(model_bytes: &[u8], target: &str, backend: Backend) -> Result<Engine> {
        pollster::block_on(Engine::new(model_bytes, target, backend))
    }

    /// [`Engine::new_with`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking_with(
        model_bytes: &[u8],
        target: &str,
        backend: Backend,
        options: &LoadOptions,
    ) -> Result<Engine> {
        pollster::block_on(Engine::new_with(model_bytes, target, backend, options))
    }

    /// [`Engine::new_targets`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_targets_blocking(
        model_bytes: &[u8],
        targets: &[&str],
        backend: Backend,
        options: &LoadOptions,
    ) -> Result<Engine> {
        pollster::block_on(Engine::new_targets(model_bytes, targets, backend, options))
    }

    /// The target tensors' names, in the order [`Engine::activations_of`] takes them.
    pub fn targets(&self) -> &[String] {
        &self.graph.targets
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        if self.gpu.is_some() {
            Backend::Gpu
        } else {
            Backend::Cpu
        }
    }

    /// The GPU adapter's name and API, when the GPU backend is in use.
    pub fn adapter(&self) -> Option<&str> {
        self.gpu.as_ref().map(|g| g.gpu().adapter())
    }

    /// The name of the graph input the images are fed to.
    pub fn input_name(&self) -> &str {
        &self.graph.input
    }

    /// The ONNX operator types that run, in order (after pruning and folding; shape
    /// computations folded for each input shape are left out).
    pub fn op_types(&self) -> Vec<&str> {
        self.graph
            .nodes
            .iter()
            .filter(|n| !matches!(n.op, graph::Op::Pending { fold: true, .. }))
            .map(|n| n.op_type.as_str())
            .collect()
    }

    /// The (first) target's shape for an input of the given shape.
    pub fn target_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(self.target_shapes(input)?.swap_remove(0))
    }

    /// Every target's shape for an input of the given shape, in order.
    pub fn target_shapes(&self, input: &[usize]) -> Result<Vec<Vec<usize>>> {
        let shapes = self.graph.shapes(input)?;
        Ok(self
            .graph
            .targets
            .iter()
            .map(|t| shapes[t.as_str()].clone())
            .collect())
    }

    /// The graph input's declared shape (`None` for a symbolic axis; empty when the model
    /// declares none).
    pub fn input_shape(&self) -> &[Option<usize>] {
        &self.graph.input_decl
    }

    /// How many channels the (first) target has for an input of the given shape: the axis
    /// that [`Engine::activations`] indexes (axis 1 of `[N, C, …]`, the last of
    /// `[N, tokens, C]`).
    pub fn channels(&self, input: &[usize]) -> Result<usize> {
        Ok(cpu::reduce_layout(&self.target_shape(input)?)?.1)
    }

    /// Bytes of intermediate GPU buffers for an input of the given shape (after reuse).
    pub fn gpu_buffer_bytes(&self, input: &[usize]) -> Option<Result<u64>> {
        self.gpu.as_ref().map(|g| g.plan_bytes(input))
    }

    /// The activations of `channels` of the target for each image: `result[i][k]` is the
    /// mean of channel `channels[k]` for image `i`. Images are the model input without
    /// its batch axis (`[C, H, W]`, or `[1, C, H, W]`), all of one size; they run in
    /// batches the model allows. For an engine of one target (else see
    /// [`Engine::activations_of`]).
    pub async fn activations(
        &self,
        images: &[Tensor],
        channels: &[usize],
    ) -> Result<Vec<Vec<f32>>> {
        if self.graph.targets.len() != 1 {
            return Err(EngineError::Input(format!(
                "the engine computes {} targets: name channels for each",
                self.graph.targets.len()
            )));
        }
        self.activations_of(images, &[channels]).await
    }

    /// The activations of every target in one pass over the graph: `channels[t]` lists
    /// the channels read from target `t` ([`Engine::targets`]), and `result[i]` holds
    /// image `i`'s means of those channels, target after target.
    pub async fn activations_of(
        &self,
        images: &[Tensor],
        channels: &[&[usize]],
    ) -> Result<Vec<Vec<f32>>> {
        if channels.len() != self.graph.targets.len() {
            return Err(EngineError::Input(format!(
                "{} channel lists for {} targets",
                channels.len(),
                self.graph.targets.len()
            )));
        }
        let width: usize = channels.iter().map(|c| c.len()).sum();
        let mut out = Vec::with_capacity(images.len());
        let batches = self.batches(images)?;
        let Some(g) = &self.gpu else {
            // Batches side by side hold their tensors together: as many as stay within
            // the one run's limit (`max_total_bytes`, counted as if nothing were freed).
            let bytes = match batches.first() {
                Some(b) => self.graph.run_bytes(&b.shape)?.max(1),
                None => 1,
            };
            let most =
                usize::try_from(self.graph.limits.max_total_bytes / bytes).unwrap_or(usize::MAX);
            for rows in cpu::map_batches(&batches, most.max(1), |b| self.cpu_means(b, channels)) {
                out.extend(rows?);
            }
            return Ok(out);
        };
        for batch in batches {
            let (shape, flat) = g.run(&batch, gpu::Readback::ChannelMeans(channels)).await?;
            if width == 0 {
                out.extend((0..shape[0]).map(|_| Vec::new()));
            } else {
                out.extend(flat.chunks(width).take(shape[0]).map(|c| c.to_vec()));
            }
        }
        Ok(out)
    }

    /// [`Engine::activations_of`] for one batch on the CPU.
    fn cpu_means(&self, batch: &Tensor, channels: &[&[usize]]) -> Result<Vec<Vec<f32>>> {
        let tensors = cpu::run_all(&self.graph, batch)?;
        let mut rows: Vec<Vec<f32>> = Vec::new();
        for (t, list) in tensors.iter().zip(channels) {
            let means = cpu::channel_means(t, list)?;
            if rows.is_empty() {
                rows = means;
            } else if rows.len() != means.len() {
                return Err(EngineError::Input(format!(
                    "the targets' first axes differ ({:?} and {:?}): they must both be the images",
                    tensors[0].shape, t.shape
                )));
            } else {
                rows.iter_mut().zip(means).for_each(|(r, m)| r.extend(m));
            }
        }
        Ok(rows)
    }

    /// [`Engine::activations_of`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn activations_of_blocking(
        &self,
        images: &[Tensor],
        channels: &[&[usize]],
    ) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.activations_of(images, channels))
    }

    /// [`Engine::activations`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn activations_blocking(
        &self,
        images: &[Tensor],
        channels: &[usize],
    ) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.activations(images, channels))
    }

    /// The whole (first) target tensor for one input batch (the shape the graph input expects,
    /// e.g. `[N, C, H, W]`). For tests and inspection: [`Engine::activations`] reads back
    /// far less.
    pub async fn target_tensor(&self, input: &Tensor) -> Result<Tensor> {
        self.check_input(input)?;
        match &self.gpu {
            Some(g) => {
                let (shape, data) = g.run(input, gpu::Readback::Tensor).await?;
                Tensor::new(shape, data)
            }
            None => cpu::run(&self.graph, input),
        }
    }

    /// [`Engine::target_tensor`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn target_tensor_blocking(&self, input: &Tensor) -> Result<Tensor> {
        pollster::block_on(self.target_tensor(input))
    }

    fn check_input(&self, input: &Tensor) -> Result<()> {
        self.check_input_shape(&input.shape)
    }

    fn check_input_shape(&self, shape: &[usize]) -> Result<()> {
        let decl = &self.graph.input_decl;
        let fits = decl.is_empty()
            || (decl.len() == shape.len()
                && decl
                    .iter()
                    .zip(shape)
                    .skip(1)
                    .all(|(d, &s)| d.is_none_or(|d| d == s)));
        if fits {
            Ok(())
        } else {
            Err(EngineError::Input(format!(
                "input '{}' expects shape {:?} (? = any), got {:?}",
                self.graph.input,
                decl.iter()
                    .map(|d| d.map_or("?".to_string(), |v| v.to_string()))
                    .collect::<Vec<_>>(),
                shape
            )))
        }
    }

    /// Stacks images into batches of the size the model's input allows: its declared
    /// batch size if fixed, else as many as keep every tensor under the GPU's limit on a
    /// buffer binding (and all buffers under 1 GiB), or on the CPU the largest tensor under
    /// 16 MiB. Images are independent, so running
    /// sub-batches in sequence gives what one large batch would.
    fn batches(&self, images: &[Tensor]) -> Result<Vec<Tensor>> {
        let Some(first) = images.first() else {
            return Ok(Vec::new());
        };
        // An image is the model input without its batch axis; a leading axis of 1 that
        // makes it the input's rank is dropped.
        let rank = match self.graph.input_decl.len() {
            0 => 4,
            r => r,
        };
        let shape: Vec<usize> = match first.shape.as_slice() {
            [1, rest @ ..] if first.shape.len() == rank => rest.to_vec(),
            s if s.len() + 1 == rank => s.to_vec(),
            s => {
                return Err(EngineError::Input(format!(
                    "an image must be a tensor of rank {} (the model input without its batch axis), got shape {s:?}",
                    rank - 1
                )))
            }
        };
        if let Some((i, t)) = images.iter().enumerate().find(|(_, t)| {
            t.data.len() != first.data.len()
                || t.shape.iter().product::<usize>() != shape.iter().product::<usize>()
        }) {
            return Err(EngineError::Input(format!(
                "image {i} has shape {:?}, unlike image 0 ({:?})",
                t.shape, first.shape
            )));
        }
        let mut per_batch = match self.graph.input_decl.first() {
            Some(Some(fixed)) => *fixed,
            _ => images.len(),
        };
        let with_batch = |b: usize| {
            let mut s = vec![b];
            s.extend(&shape);
            s
        };
        self.check_input_shape(&with_batch(per_batch.max(1)))?;
        if !matches!(self.graph.input_decl.first(), Some(Some(_))) {
            // Every tensor of a run together stays under max_total_bytes (a single image
            // over it is an error naming the limit).
            let one = self.graph.run_bytes(&with_batch(1))?.max(1);
            let most = (self.graph.limits.max_total_bytes / one).max(1);
            per_batch = per_batch.min(usize::try_from(most).unwrap_or(usize::MAX));
        }
        if self.gpu.is_none() && !matches!(self.graph.input_decl.first(), Some(Some(_))) {
            // On the CPU, batches whose largest tensor stays under CPU_BATCH_TENSOR_BYTES:
            // the allocator then reuses the memory a freed tensor held instead of mapping
            // (and faulting in) fresh pages for every node, and far less is held at once.
            // Convolutions run image by image anyway, and an image's values do not depend
            // on its batch.
            let largest = self
                .graph
                .shapes(&with_batch(1))?
                .values()
                .map(|s| s.iter().product::<usize>() as u64 * 4)
                .max()
                .unwrap_or(4)
                .max(1);
            let most = (CPU_BATCH_TENSOR_BYTES / largest).max(1);
            per_batch = per_batch.min(usize::try_from(most).unwrap_or(usize::MAX));
        }
        if let Some(g) = &self.gpu {
            let limit = g.gpu().binding_limit();
            let (largest, one) = g.largest_tensor(&with_batch(1))?;
            if one > limit {
                return Err(EngineError::Gpu(format!(
                    "tensor '{largest}' needs {one} bytes for a single image of shape {shape:?}, but the GPU binds at most {limit} bytes per buffer; use smaller images or the CPU backend"
                )));
            }
            let bytes = g.plan_bytes(&with_batch(1))?.max(1);
            let budget: u64 = 1 << 30; // keep a batch's buffers under 1 GiB
            per_batch = per_batch.min((budget / bytes).max(1) as usize);
            if matches!(self.graph.input_decl.first(), Some(Some(_))) {
                // A fixed batch size cannot be split; its plan reports what is too large.
            } else if g.largest_tensor(&with_batch(per_batch))?.1 > limit {
                // The largest batch that fits (tensors grow with the batch): 1 fits.
                let (mut lo, mut hi) = (1, per_batch);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if g.largest_tensor(&with_batch(mid))?.1 <= limit {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                per_batch = lo;
            }
        }
        let per_batch = per_batch.max(1);
        let mut out = Vec::new();
        for chunk in images.chunks(per_batch) {
            let mut s = vec![chunk.len()];
            s.extend(&shape);
            // Copied image by image (an element-wise iterator here took 5 % of a small
            // network's time in wasm).
            let mut data = Vec::with_capacity(chunk.len() * first.data.len());
            for t in chunk {
                data.extend_from_slice(&t.data);
            }
            let batch = Tensor::new(s, data)?;
            self.check_input(&batch)?;
            out.push(batch);
        }
        Ok(out)
    }
}
