//! How images reach the engine, as the command line sets it: preprocessing, backend,
//! threads and the caps on what a model may allocate (`activations`, `exemplars`,
//! `sample-units`, `check`).

use exemplar_engine::{Backend, Preprocess};

/// How images reach the engine: preprocessing and backend (`activations` and `exemplars`).
#[derive(clap::Args, Clone, Debug)]
pub struct EngineOptions {
    /// Preprocessing preset: imagenet (resize 256, crop 224, ImageNet mean/std) or
    /// inception (pixel × 255 − 117).
    #[arg(long, default_value = "imagenet")]
    pub preset: String,
    /// Resize the shorter side to N pixels (0: no resize).
    #[arg(long)]
    pub resize: Option<u32>,
    /// Centre crop to N×N (0: no crop).
    #[arg(long)]
    pub crop: Option<u32>,
    /// Per-channel mean of 0..1 pixel values, as r,g,b.
    #[arg(long, value_delimiter = ',')]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation, as r,g,b.
    #[arg(long, value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
    /// gpu (WGSL compute shaders through wgpu) or cpu (the plain-Rust reference).
    #[arg(long, default_value = "gpu")]
    pub backend: String,
    /// Threads the CPU backend may use (0: every core this process may use, which
    /// respects CPU affinity, e.g. a Slurm allocation). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[command(flatten)]
    pub limits: LimitOptions,
}

impl EngineOptions {
    /// The preset with the overrides applied.
    pub fn preprocess(&self) -> Result<Preprocess, String> {
        let mut pre = Preprocess::preset(&self.preset).map_err(|e| e.to_string())?;
        if let Some(n) = self.resize {
            pre.resize = (n > 0).then_some(n);
        }
        if let Some(n) = self.crop {
            pre.crop = (n > 0).then_some(n);
        }
        let rgb = |name: &str, v: &[f32]| -> Result<[f32; 3], String> {
            <[f32; 3]>::try_from(v)
                .map_err(|_| format!("--{name} needs three values r,g,b, got {}", v.len()))
        };
        if let Some(m) = &self.mean {
            pre.mean = rgb("mean", m)?;
        }
        if let Some(s) = &self.std {
            pre.std = rgb("std", s)?;
        }
        Ok(pre)
    }

    /// The backend named by `--backend`, with `--threads` applied to the CPU path (every
    /// engine of the command is made with it).
    pub fn backend(&self) -> Result<Backend, String> {
        exemplar_engine::set_cpu_threads(self.threads);
        self.backend
            .parse()
            .map_err(|e: exemplar_engine::EngineError| e.to_string())
    }
}

/// Caps on what a model may make the engine allocate (`activations`, `exemplars`,
/// `sample-units`, `check`); see [`exemplar_engine::LoadOptions`].
#[derive(clap::Args, Clone, Debug)]
pub struct LimitOptions {
    /// The most elements one tensor of the model may have (weights, folded constants,
    /// intermediate tensors); a model over it is refused, naming the tensor.
    #[arg(long, default_value_t = exemplar_engine::LoadOptions::DEFAULT_MAX_TENSOR_ELEMENTS)]
    pub max_tensor_elements: u64,
    /// The most bytes of the model's weights together, and of all tensors of one run
    /// together (batches are split to stay under it).
    #[arg(long, default_value_t = exemplar_engine::LoadOptions::DEFAULT_MAX_TOTAL_BYTES)]
    pub max_total_bytes: u64,
}

impl Default for LimitOptions {
    fn default() -> LimitOptions {
        let d = exemplar_engine::LoadOptions::default();
        LimitOptions {
            max_tensor_elements: d.max_tensor_elements,
            max_total_bytes: d.max_total_bytes,
        }
    }
}

impl LimitOptions {
    /// As the engine takes them.
    pub fn load_options(&self) -> exemplar_engine::LoadOptions {
        exemplar_engine::LoadOptions {
            max_tensor_elements: self.max_tensor_elements,
            max_total_bytes: self.max_total_bytes,
        }
    }
}
