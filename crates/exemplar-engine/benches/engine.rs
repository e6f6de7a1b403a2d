//! Per-image latency and images/s of GoogLeNet truncated at inception 4a and at 5b, and of
//! ResNet-50 truncated at layer3 and at layer4 (torchvision forms and widths, seeded random
//! weights, 224x224 input), at batch 1 and 16: our GPU path (whatever adapter wgpu opens:
//! lavapipe on CI machines), our CPU path on one thread and on every core, and tract-onnx
//! (one thread) on the same CPU, in one process.
//! Prints figures and ratios; asserts nothing. Run with `cargo bench -p exemplar-engine`;
//! `-- googlenet` or `-- resnet` runs one network.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{nets, ModelBuilder, Rng};
use exemplar_engine::{Engine, GpuContext, Tensor};
use tract_onnx::prelude::*;

const HW: usize = 224;

/// Seconds per call: one warm-up call (the GPU plans buffers for a new shape), then calls
/// until two seconds have passed (at least one).
fn seconds_per_call(mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut calls = 0u32;
    while calls < 1 || start.elapsed() < Duration::from_secs(2) {
        f();
        calls += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(calls)
}

fn tract_model(
    m: &ModelBuilder,
    target: &str,
    shape: &[usize],
) -> std::sync::Arc<TypedRunnableModel> {
    let bytes = m.bytes_with_outputs(&[target]);
    tract_onnx::onnx()
        .model_for_read(&mut bytes.as_slice())
        .and_then(|m| m.with_input_fact(0, f32::fact(shape).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .expect("tract loads the benchmark network")
}

fn report(what: &str, batch: usize, secs: f64, tract: f64) {
    let per_image = secs / batch as f64;
    println!(
        "  {what:<6} batch {batch:>2}: {:>9.2} ms/image {:>8.2} images/s   {:>6.2}x tract's time",
        per_image * 1e3,
        1.0 / per_image,
        secs / tract
    );
}

fn main() {
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if let Some(o) = only
        .as_deref()
        .filter(|o| !["googlenet", "resnet"].contains(o))
    {
        eprintln!("unknown network {o:?}: googlenet or resnet");
        std::process::exit(2);
    }
    let gpu = match GpuContext::new_blocking() {
        Ok(g) => {
            println!("GPU adapter: {}", g.adapter());
            Some(g)
        }
        Err(e) => {
            println!("no GPU ({e}); GPU figures skipped");
            None
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "CPU: {cores} threads available; our matrix kernel: {}; tract-onnx runs on one \
         thread, our CPU path on one (cpu1) and on all {cores} (cpu{cores})",
        exemplar_engine::cpu_kernel()
    );
    let mut rng = Rng::new(99);
    for key in ["googlenet", "resnet"] {
        if only.as_deref().is_some_and(|o| o != key) {
            continue;
        }
        // Built only when selected: ResNet-50's weights alone are about 100 MB.
        let (name, m, targets) = if key == "googlenet" {
            let (m, t) = nets::googlenet_full(1, HW);
            let [a, b] = t;
            ("GoogLeNet", m, [("inception 4a", a), ("inception 5b", b)])
        } else {
            let (m, t) = nets::resnet50_full(1, HW);
            let [a, b] = t;
            ("ResNet-50", m, [("layer3", a), ("layer4", b)])
        };
        bench_net(name, &m, &targets, gpu.as_ref(), &mut rng);
    }
}

fn bench_net(
    name: &str,
    m: &ModelBuilder,
    targets: &[(&str, String)],
    gpu: Option<&GpuContext>,
    rng: &mut Rng,
) {
    let bytes = m.bytes();
    for (label, target) in targets {
        println!("{name} {HW}x{HW} up to {label} (tensor '{target}')");
        for batch in [1usize, 16] {
            let images: Vec<Tensor> = (0..batch).map(|_| rng.tensor(&[3, HW, HW])).collect();
            let shape = [batch, 3, HW, HW];
            let stacked = Tensor::new(
                shape.to_vec(),
                images.iter().flat_map(|t| t.data.iter().copied()).collect(),
            )
            .expect("a batch");
            let tract = tract_model(m, target, &shape);
            let x = tract_onnx::prelude::Tensor::from_shape(&shape, &stacked.data).expect("input");
            let t_tract = seconds_per_call(|| {
                tract
                    .run(tvec!(x.clone().into_tvalue()))
                    .expect("tract runs");
            });
            report("tract", batch, t_tract, t_tract);
            let cpu = Engine::load(&bytes, target, None).expect("loads");
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mut t_cpu = f64::NAN;
            for threads in [1, cores] {
                exemplar_engine::set_cpu_threads(threads);
                t_cpu = seconds_per_call(|| {
                    cpu.activations_blocking(&images, &[0, 7])
                        .expect("cpu runs");
                });
                report(&format!("cpu{threads}"), batch, t_cpu, t_tract);
                if cores == 1 {
                    break;
                }
            }
            exemplar_engine::set_cpu_threads(0);
            if let Some(g) = gpu {
                let eng = Engine::load(&bytes, target, Some(g)).expect("loads");
                let t_gpu = seconds_per_call(|| {
                    eng.activations_blocking(&images, &[0, 7])
                        .expect("gpu runs");
                });
                report("gpu", batch, t_gpu, t_tract);
                println!(
                    "  gpu/cpu time ratio at batch {batch}: {:.2}",
                    t_gpu / t_cpu
                );
            }
        }
    }
}
