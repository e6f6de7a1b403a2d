//! The GPU backend: the pruned graph as a sequence of WGSL compute dispatches (wgpu).
//!
//! Weights are uploaded once, one buffer per constant tensor. For each input shape a plan
//! (`plan.rs`) is built once: every intermediate tensor gets a slot, slots are reused once
//! the tensors in them are dead (views such as Flatten share their input's slot), and each
//! node becomes one or more dispatches with their parameters already uploaded. A run
//! writes the input, submits every dispatch in one compute pass and reads back only what
//! was asked: the channel means of the target, or (for tests) the whole target.
//!
//! The rooms: `device.rs` opens the device and compiles the kernels, `plan.rs` turns the
//! graph into dispatches and runs them, and each kernel family has a module beside its
//! WGSL file (`conv.rs` with `conv.wgsl`, …) holding the kernel's parameters as a typed
//! struct laid out as the WGSL reads them, and the numbers its `switch` agrees on
//! (`codes.rs`: one Rust enum each, the WGSL constants generated from it).

mod codes;
mod conv;
mod device;
mod elementwise;
mod layout;
mod matmul;
mod norm;
mod plan;
mod pool;
mod reduce;
mod slots;

pub(crate) use device::Gpu;
pub(crate) use plan::{GpuModel, Readback};

/// The most axes the elementwise, reduction and transpose kernels index.
const MAX_RANK: usize = 6;

/// `len` values `at(0..len)` right-aligned in `N` slots, the slots before them `fill`.
fn right_aligned<T: Copy, const N: usize>(len: usize, fill: T, at: impl Fn(usize) -> T) -> [T; N] {
    let pad = N - len;
    std::array::from_fn(|d| if d < pad { fill } else { at(d - pad) })
}

/// `v` right-aligned in [`MAX_RANK`] slots, padded with `fill`.
fn pad6(v: &[usize], fill: u32) -> [u32; MAX_RANK] {
    right_aligned(v.len(), fill, |d| v[d] as u32)
}

#[cfg(test)]
mod tests {
    use super::device::full_source;
    use super::{conv, elementwise, layout, matmul, norm, pool, reduce};

    /// Every kernel's full source (with the generated constants) is valid WGSL, checked
    /// by naga (wgpu's own shader translator) without a device.
    #[test]
    fn every_shader_is_valid_wgsl() {
        let sources = [
            ("conv.wgsl", conv::SOURCE.to_string()),
            ("elementwise.wgsl", elementwise::source()),
            ("layout.wgsl", layout::source()),
            ("matmul.wgsl", matmul::SOURCE.to_string()),
            ("norm.wgsl", norm::SOURCE.to_string()),
            ("pool.wgsl", pool::source()),
            ("reduce.wgsl", reduce::SOURCE.to_string()),
        ];
        for (name, src) in sources {
            let full = full_source(&src);
            let module = naga::front::wgsl::parse_str(&full)
                .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&full)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::default(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&full)));
        }
    }
}
