//! The ONNX project's own operator tests (Debian's `libonnx-testdata`), on the CPU and
//! the GPU: every node test whose operators the engine supports. Inputs after the first
//! become initializers (the engine feeds one tensor; weights, shapes and bounds are
//! constants in real models). Tolerance: |got − expected| ≤ 1e-4·|expected| + 1e-6.
//! A test the engine refuses at load (a 1-D or 3-D pool, an integer type, training
//! mode, a shape computation on the fed input, which the engine only folds on constants
//! and shapes) is listed as refused, with the reason; all others must pass.

mod common;

use std::path::Path;

use exemplar_engine::onnx::{decode_model, TensorProto};
use exemplar_engine::{Engine, Tensor};
use prost::Message;

const DATA: &str = "/usr/share/libonnx-testdata/data/node";
const SUPPORTED: &[&str] = &[
    "Conv",
    "Relu",
    "Clip",
    "Sigmoid",
    "Mul",
    "Add",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "LRN",
    "Concat",
    "BatchNormalization",
    "Flatten",
    "Reshape",
    "Gemm",
    "MatMul",
    "Identity",
    "Dropout",
    "Sub",
    "Div",
    "Pow",
    "Erf",
    "Sqrt",
    "Tanh",
    "Gelu",
    "Softmax",
    "LogSoftmax",
    "LayerNormalization",
    "ReduceMean",
    "Transpose",
    "Gather",
    "Squeeze",
    "Unsqueeze",
    "Slice",
    "Expand",
    "Where",
    "Pad",
    "Split",
    "Cast",
    "Shape",
    "ConstantOfShape",
    "Range",
    "Equal",
];

fn read_tensor(path: &Path) -> TensorProto {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    TensorProto::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn close(got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.shape != want.shape {
        return Err(format!("shape {:?}, expected {:?}", got.shape, want.shape));
    }
    for (i, (g, w)) in got.data.iter().zip(&want.data).enumerate() {
        let ok = (g - w).abs() <= 1e-4 * w.abs() + 1e-6; // false for NaN
        if !ok {
            return Err(format!("value {i} is {g}, expected {w}"));
        }
    }
    Ok(())
}

#[test]
fn onnx_node_tests_pass_on_cpu_and_gpu() {
    let Ok(dirs) = std::fs::read_dir(DATA) else {
        common::missing(&format!(
            "the ONNX node test suite {DATA} (apt-get install libonnx-testdata)"
        ));
        return;
    };
    let gpu = common::gpu();
    let mut dirs: Vec<_> = dirs.filter_map(|d| d.ok()).map(|d| d.path()).collect();
    dirs.sort();
    let (mut ran, mut refused, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for dir in dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Ok(bytes) = std::fs::read(dir.join("model.onnx")) else {
            continue;
        };
        let Ok(mut model) = decode_model(&bytes) else {
            continue;
        };
        let Some(graph) = model.graph.as_mut() else {
            continue;
        };
        if graph.node.is_empty()
            || !graph
                .node
                .iter()
                .all(|n| SUPPORTED.contains(&n.op_type.as_str()))
        {
            continue;
        }
        let target = graph.output[0].name.clone();
        let mut sets: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|d| d.ok())
            .map(|d| d.path())
            .filter(|p| p.is_dir())
            .collect();
        sets.sort();
        let Some(set0) = sets.first() else { continue };
        let inputs: Vec<String> = graph.input.iter().map(|v| v.name.clone()).collect();
        for (i, input) in inputs.iter().enumerate().skip(1) {
            let mut t = read_tensor(&set0.join(format!("input_{i}.pb")));
            t.name = input.clone();
            graph.initializer.push(t);
        }
        let mut outcome = Ok(());
        for backend in ["cpu", "gpu"] {
            let ctx = match backend {
                "gpu" => match &gpu {
                    Some(g) => Some(g),
                    None => continue,
                },
                _ => None,
            };
            let engine = match Engine::from_model(&model, &target, ctx) {
                Ok(e) => e,
                Err(e) => {
                    outcome = Err(format!("refused: {e}"));
                    break;
                }
            };
            for set in &sets {
                let x = match read_tensor(&set.join("input_0.pb")).to_f32() {
                    Ok(x) => x,
                    Err(e) => {
                        outcome = Err(format!("refused: {e}"));
                        break;
                    }
                };
                let want = read_tensor(&set.join("output_0.pb"))
                    .to_f32()
                    .expect("expected output");
                let r = engine
                    .target_tensor_blocking(&x)
                    .map_err(|e| e.to_string())
                    .and_then(|got| close(&got, &want));
                if let Err(e) = r {
                    failed.push(format!("{name} [{backend}]: {e}"));
                }
            }
            if outcome.is_err() {
                break;
            }
        }
        match outcome {
            Ok(()) => ran.push(name),
            Err(e) => refused.push(format!("{name}: {e}")),
        }
    }
    eprintln!(
        "ran {} ONNX node tests on cpu{}:",
        ran.len(),
        if gpu.is_some() {
            " and gpu"
        } else {
            " only (no GPU)"
        }
    );
    for r in &ran {
        eprintln!("  {r}");
    }
    eprintln!("refused at load ({}):", refused.len());
    for r in &refused {
        eprintln!("  {r}");
    }
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
    // Guards against passing vacuously: the suite is there, so these must have run.
    assert!(ran.len() >= 180, "only {} node tests ran", ran.len());
    for must in [
        "test_conv_with_strides_padding",
        "test_maxpool_2d_ceil",
        "test_lrn",
        "test_averagepool_2d_pads_count_include_pad",
        "test_gemm_all_attributes",
        "test_concat_3d_axis_1",
        "test_transpose_all_permutations_3",
        "test_softmax_axis_1",
        "test_logsoftmax_large_number",
        "test_layer_normalization_3d_axis1_epsilon",
        "test_erf",
        "test_reduce_mean_keepdims_random",
        "test_pow_bcast_array",
        "test_div_bcast",
        "test_sub_bcast",
        "test_sqrt",
        "test_gather_negative_indices",
        "test_unsqueeze_unsorted_axes",
        "test_squeeze_negative_axes",
        "test_slice_neg_steps",
        "test_slice_default_axes",
        "test_expand_dim_changed",
        "test_expand_dim_unchanged",
        "test_where_example",
        "test_where_long_example",
        "test_constant_pad",
        "test_edge_pad",
        "test_reflect_pad",
        "test_cast_FLOAT_to_DOUBLE",
        "test_split_equal_parts_2d",
        "test_split_variable_parts_default_axis",
    ] {
        assert!(ran.iter().any(|r| r == must), "{must} did not run");
    }
}
