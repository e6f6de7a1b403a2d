//! The seeds reach deep into each target (a seed the parser refuses would fuzz only its
//! error path), every saved crash stays fixed, and a short deterministic fuzzing run of
//! every target finds nothing.

use std::path::Path;
use std::time::Duration;

use exemplar_engine::{Engine, Tensor};
use exemplar_fuzz::{mutate, seeds, targets};

#[test]
fn every_seed_is_accepted() {
    for (name, bytes) in seeds::seeds("experiment") {
        let text = std::str::from_utf8(&bytes).unwrap();
        exemplar_core::Experiment::from_json(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, bytes) in seeds::seeds("onnx") {
        let model = exemplar_engine::onnx::decode_model(&bytes[2..]).unwrap();
        let target = model.graph.as_ref().unwrap().output[0].name.clone();
        let engine = Engine::from_model_with(&model, &target, None, &targets::MODEL_LIMITS)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let shape = vec![1, 3, 8, 8];
        let input = Tensor::new(shape.clone(), vec![0.5; 192]).unwrap();
        let out = engine
            .target_tensor_blocking(&input)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.shape, engine.target_shape(&shape).unwrap(), "{name}");
    }
    for (name, bytes) in seeds::seeds("envelope") {
        exemplar_cli::collector::parse_envelope(&bytes, 64)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    for (name, bytes) in seeds::seeds("analysis") {
        let text = std::str::from_utf8(&bytes[1..]).unwrap();
        let records = if bytes[0] & 1 == 1 {
            exemplar_analysis::read::parse_csv(text)
        } else {
            exemplar_analysis::read::parse_jsonl(text)
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!records.is_empty(), "{name}");
    }
}

/// Every file under `regressions/<target>/` is an input that once crashed the target.
#[test]
fn saved_crashes_stay_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut n = 0;
    for target in targets::TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for entry in dir {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| targets::run(target, &data));
            assert!(result.is_ok(), "{} crashes {target} again", path.display());
            n += 1;
        }
    }
    eprintln!("{n} saved crash inputs replayed");
}

#[test]
fn a_short_deterministic_run_finds_nothing() {
    for target in targets::TARGETS {
        let corpus = seeds::seeds(target).into_iter().map(|(_, b)| b).collect();
        let stats = mutate::fuzz(target, corpus, Duration::from_secs(60), 300, 1, None);
        assert_eq!(stats.execs, 300, "{target}");
        assert!(
            stats.signatures > 1,
            "{target}: the mutants never got anywhere new"
        );
        assert!(
            stats.crashes.is_empty(),
            "{target}: {:?}",
            stats.crashes.iter().map(|c| &c.message).collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_allocation_cap_turns_a_blow_up_into_an_abort() {
    // The cap itself, in a child process: allocating past it must abort, not succeed.
    if std::env::var_os("EXEMPLAR_FUZZ_CAP_CHILD").is_some() {
        let (v, _) = exemplar_fuzz::guard::capped(1 << 20, || vec![0u8; 2 << 20]);
        println!("allocated {} bytes past the cap", v.len());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_allocation_cap_turns_a_blow_up_into_an_abort",
            "--nocapture",
        ])
        .env("EXEMPLAR_FUZZ_CAP_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child survived: {stderr}");
    assert!(stderr.contains("over its cap"), "{stderr}");
    let (v, peak) = exemplar_fuzz::guard::capped(1 << 20, || vec![0u8; 1000]);
    assert_eq!(v.len(), 1000);
    assert!(peak >= 1000, "{peak}");
}

/// Found by the `onnx` target (regressions/onnx/slice-starts-longer-than-rank.bin): a
/// Slice without `axes` whose `starts`/`ends` have more entries than its input has axes
/// panicked in `slice_dims` (crates/exemplar-engine/src/graph.rs, "index out of bounds")
/// instead of being an error.
#[test]
fn slice_with_more_starts_than_axes_is_an_error() {
    use exemplar_engine::onnx::TensorProto;
    let m = seeds::model(
        vec![seeds::node("Slice", &["x", "st", "en"], "y", vec![])],
        vec![
            TensorProto::from_i64("st", &[5], &[0, 0, 0, 0, 0]),
            TensorProto::from_i64("en", &[5], &[1, 1, 1, 1, 1]),
        ],
        &[1, 3, 8, 8],
        "y",
    );
    let loaded = std::panic::catch_unwind(|| {
        Engine::from_model_with(&m, "y", None, &targets::MODEL_LIMITS)
            .and_then(|e| e.target_shape(&[1, 3, 8, 8]))
    });
    let result = loaded.expect("Slice panicked");
    assert!(result.is_err(), "5 starts on a rank-4 input: {result:?}");
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions/onnx/slice-starts-longer-than-rank.bin");
    let data = std::fs::read(file).unwrap();
    assert!(std::panic::catch_unwind(|| targets::run("onnx", &data)).is_ok());
}

/// Found by the `onnx` target under AFL++ (regressions/onnx/*-node-without-inputs.bin):
/// a node with no inputs at all (in the inputs found: a Transpose, a Pad) reaches
/// `out_shape` (crates/exemplar-engine/src/graph.rs), which reads `ins[0]` of an empty
/// list: "index out of bounds: the len is 0 but the index is 0". Two ways in: the constant
/// folder (graph/fold.rs, `fold`, at load: such a node counts as constant) and the
/// shape planner (`Graph::shapes_and_bytes`, from `Engine::target_shape`). Fixed by an
/// arity check at the top of `out_shape`.
#[test]
fn a_node_without_inputs_is_an_error() {
    for op in [
        "Transpose",
        "Reshape",
        "Slice",
        "Concat",
        "Flatten",
        "Pad",
        "Identity",
    ] {
        let m = seeds::model(
            vec![
                seeds::node(op, &[], "c", vec![]),
                seeds::node("Add", &["x", "c"], "y", vec![]),
            ],
            vec![],
            &[1, 3, 8, 8],
            "y",
        );
        let loaded = std::panic::catch_unwind(|| {
            Engine::from_model_with(&m, "y", None, &targets::MODEL_LIMITS)
                .and_then(|e| e.target_shape(&[1, 3, 8, 8]))
        });
        let result = loaded.unwrap_or_else(|_| panic!("{op} without inputs panicked"));
        assert!(result.is_err(), "{op} without inputs loaded: {result:?}");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions/onnx");
    for name in [
        "fold-node-without-inputs.bin",
        "shapes-node-without-inputs.bin",
    ] {
        let data = std::fs::read(dir.join(name)).unwrap();
        let replay = std::panic::catch_unwind(|| targets::run("onnx", &data));
        assert!(replay.is_ok(), "{name} still crashes");
    }
}
