//! Device setup: the adapter, the device with its limits, the engine's compute pipelines
//! (every kernel compiled once), and the buffer and dispatch helpers the planner uses.

use wgpu::util::DeviceExt;

use super::matmul::TILE;
use super::plan::Groups;
use super::{conv, elementwise, layout, matmul, norm, pool, reduce};
use crate::{EngineError, Result};

/// A device with the engine's compute pipelines.
pub(crate) struct Gpu {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    limits: wgpu::Limits,
    adapter: String,
    pub(super) k: Kernels,
}

/// One compute pipeline per kernel entry point.
pub(super) struct Kernels {
    pub(super) conv: wgpu::ComputePipeline,
    pub(super) conv_tiled: wgpu::ComputePipeline,
    pub(super) unary: wgpu::ComputePipeline,
    pub(super) binary: wgpu::ComputePipeline,
    pub(super) affine: wgpu::ComputePipeline,
    pub(super) pool: wgpu::ComputePipeline,
    pub(super) lrn: wgpu::ComputePipeline,
    pub(super) concat: wgpu::ComputePipeline,
    pub(super) gemm: wgpu::ComputePipeline,
    pub(super) gemm_tiled: wgpu::ComputePipeline,
    pub(super) matmul: wgpu::ComputePipeline,
    pub(super) matmul_tiled: wgpu::ComputePipeline,
    pub(super) channel_mean: wgpu::ComputePipeline,
    pub(super) softmax: wgpu::ComputePipeline,
    pub(super) layer_norm: wgpu::ComputePipeline,
    pub(super) reduce_mean: wgpu::ComputePipeline,
    pub(super) transpose: wgpu::ComputePipeline,
    pub(super) gather: wgpu::ComputePipeline,
    pub(super) pad: wgpu::ComputePipeline,
    pub(super) select: wgpu::ComputePipeline,
}

fn pipeline(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    entry: &str,
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: None,
        module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    })
}

/// A kernel's full WGSL: `common.wgsl`, then `src` (the kernel module's source, with
/// the constants it generates).
pub(super) fn full_source(src: &str) -> String {
    format!("{}\n{}", include_str!("common.wgsl"), src)
}

fn module(device: &wgpu::Device, name: &str, src: &str) -> wgpu::ShaderModule {
    let full = full_source(src);
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(full.into()),
    })
}

impl Gpu {
    /// Opens the first high-performance adapter (WebGPU in the browser, Vulkan natively);
    /// `max_binding` lowers the bytes a storage buffer binding may have.
    pub async fn new(max_binding: Option<u64>) -> Result<Gpu> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                ..Default::default()
            })
            .await
            .map_err(|e| EngineError::NoGpu(e.to_string()))?;
        let info = adapter.get_info();
        let mut limits = adapter.limits();
        if let Some(max) = max_binding {
            limits.max_storage_buffer_binding_size =
                limits.max_storage_buffer_binding_size.min(max.max(4));
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("exemplar-engine"),
                required_features: wgpu::Features::empty(),
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| EngineError::NoGpu(format!("{} refused a device: {e}", info.name)))?;
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let conv = module(&device, "conv.wgsl", conv::SOURCE);
        let elementwise = module(&device, "elementwise.wgsl", &elementwise::source());
        let pool = module(&device, "pool.wgsl", &pool::source());
        let matmul = module(&device, "matmul.wgsl", matmul::SOURCE);
        let reduce = module(&device, "reduce.wgsl", reduce::SOURCE);
        let norm = module(&device, "norm.wgsl", norm::SOURCE);
        let layout = module(&device, "layout.wgsl", &layout::source());
        let k = Kernels {
            conv: pipeline(&device, &conv, "conv2d"),
            conv_tiled: pipeline(&device, &conv, "conv2d_tiled"),
            unary: pipeline(&device, &elementwise, "unary"),
            binary: pipeline(&device, &elementwise, "binary"),
            affine: pipeline(&device, &elementwise, "affine"),
            pool: pipeline(&device, &pool, "pool2d"),
            lrn: pipeline(&device, &pool, "lrn"),
            concat: pipeline(&device, &pool, "concat_copy"),
            gemm: pipeline(&device, &matmul, "gemm"),
            gemm_tiled: pipeline(&device, &matmul, "gemm_tiled"),
            matmul: pipeline(&device, &matmul, "matmul"),
            matmul_tiled: pipeline(&device, &matmul, "matmul_tiled"),
            channel_mean: pipeline(&device, &reduce, "channel_mean"),
            softmax: pipeline(&device, &norm, "softmax"),
            layer_norm: pipeline(&device, &norm, "layer_norm"),
            reduce_mean: pipeline(&device, &norm, "reduce_mean"),
            transpose: pipeline(&device, &layout, "transpose"),
            gather: pipeline(&device, &layout, "gather"),
            pad: pipeline(&device, &layout, "pad"),
            select: pipeline(&device, &elementwise, "where_select"),
        };
        if let Some(e) = validation.pop().await {
            return Err(EngineError::NoGpu(format!(
                "{} cannot compile the engine's kernels: {e}",
                info.name
            )));
        }
        Ok(Gpu {
            device,
            queue,
            limits,
            // Browsers may withhold the adapter's name.
            adapter: match info.name.as_str() {
                "" => format!("{:?}", info.backend),
                name => format!("{name} ({:?})", info.backend),
            },
            k,
        })
    }

    /// The adapter's name and backend, for logs.
    pub fn adapter(&self) -> &str {
        &self.adapter
    }

    /// The grid of the tiled matrix products (one workgroup per `TILE`×`TILE` block of
    /// an `m`×`n` output, `batch` times over y), or `None` beyond the device's grid.
    pub(super) fn tile_grid(&self, n: usize, m: usize, batch: usize) -> Option<Groups> {
        let max = self.limits.max_compute_workgroups_per_dimension as usize;
        let (x, y) = (n.div_ceil(TILE), m.div_ceil(TILE) * batch);
        (x <= max && y <= max).then_some(Groups::Grid(x as u32, y as u32))
    }

    /// Workgroup counts for `groups` workgroups, spread over y when x would exceed the
    /// per-dimension limit.
    pub(super) fn grid(&self, groups: u64) -> Result<(u32, u32)> {
        let max = u64::from(self.limits.max_compute_workgroups_per_dimension.max(1));
        if groups <= max {
            return Ok((groups as u32, 1));
        }
        let y = groups.div_ceil(max);
        if y > max {
            return Err(EngineError::Gpu(format!(
                "{groups} workgroups exceed the device's {max}x{max} grid"
            )));
        }
        Ok((max as u32, y as u32))
    }

    /// The most bytes one storage buffer may have.
    pub fn binding_limit(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    pub(super) fn storage(
        &self,
        label: &str,
        bytes: u64,
        extra: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer> {
        let size = bytes.max(4).next_multiple_of(4);
        let limit = self.binding_limit();
        if size > limit {
            return Err(EngineError::Gpu(format!(
                "tensor '{label}' needs {size} bytes but the device binds at most {limit}; use fewer images per call"
            )));
        }
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | extra,
            mapped_at_creation: false,
        }))
    }

    pub(super) fn upload(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        let padded;
        let contents = if data.len() < 4 || !data.len().is_multiple_of(4) {
            padded = {
                let mut v = data.to_vec();
                v.resize(data.len().max(4).next_multiple_of(4), 0);
                v
            };
            &padded[..]
        } else {
            data
        };
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            })
    }

    pub(super) fn bind(
        &self,
        p: &wgpu::ComputePipeline,
        entries: &[(u32, &wgpu::Buffer)],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = entries
            .iter()
            .map(|(binding, buf)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: buf.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &p.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    pub(super) async fn read(
        &self,
        encoder: wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        len: usize,
    ) -> Result<Vec<f32>> {
        let mut encoder = encoder;
        let bytes = (len as u64 * 4).max(4);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| EngineError::Gpu(e.to_string()))?;
        rx.await
            .map_err(|_| EngineError::Gpu("the device was lost before the results arrived".into()))?
            .map_err(|e| EngineError::Gpu(e.to_string()))?;
        let view = slice
            .get_mapped_range()
            .map_err(|e| EngineError::Gpu(e.to_string()))?;
        let mut out: Vec<f32> = bytemuck::pod_collect_to_vec(&view);
        drop(view);
        staging.unmap();
        out.truncate(len);
        Ok(out)
    }
}
