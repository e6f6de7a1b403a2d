//! The fuzz targets: each takes arbitrary bytes and returns a signature of how far the
//! input got (which check refused it, or that it passed), which the built-in loop uses as
//! a cheap stand-in for coverage. A target that panics, aborts or hangs has found a bug.

use std::hash::{Hash, Hasher};

use exemplar_core::simulate::{run_session, Participant};
use exemplar_core::{Experiment, Plan};
use exemplar_engine::{Engine, LoadOptions, Tensor};

/// The targets, by name.
pub const TARGETS: [&str; 4] = ["experiment", "onnx", "envelope", "analysis"];

/// The caps a fuzzed model is loaded under: small, so that no input may make the engine
/// allocate more than some megabytes; [`CAP_BYTES`] is far above what they allow.
pub const MODEL_LIMITS: LoadOptions = LoadOptions {
    max_tensor_elements: 1 << 18,
    max_total_bytes: 32 << 20,
};

/// The most bytes one input may hold live at once (see [`crate::guard`]). Inputs are at
/// most 1 MiB; every target should stay far below this.
pub const CAP_BYTES: usize = 256 << 20;

/// The most input elements the `onnx` target runs a model on (it only plans beyond).
const MAX_RUN_ELEMENTS: usize = 1 << 14;

/// Runs `target` on `data` under the allocation cap; panics on an unknown target.
pub fn run(target: &str, data: &[u8]) -> u64 {
    let f = match target {
        "experiment" => experiment,
        "onnx" => onnx,
        "envelope" => envelope,
        "analysis" => analysis,
        _ => panic!("unknown target {target:?}; the targets are {TARGETS:?}"),
    };
    crate::guard::capped(CAP_BYTES, || f(data)).0
}

/// A signature of an outcome: the message with numbers and quoted parts left out, so
/// that one check is one signature whatever values it names.
fn signature<T, E: std::fmt::Display>(stage: u8, r: &Result<T, E>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    stage.hash(&mut h);
    if let Err(e) = r {
        let text = e.to_string();
        let mut quoted = false;
        for c in text.chars().take(80) {
            if c == '\'' || c == '"' {
                quoted = !quoted;
            } else if !quoted && !c.is_ascii_digit() {
                c.hash(&mut h);
            }
        }
    }
    h.finish()
}

/// `experiment.json`: parse and check; an accepted experiment must plan and run a whole
/// simulated session.
pub fn experiment(data: &[u8]) -> u64 {
    let Ok(text) = std::str::from_utf8(data) else {
        return 0;
    };
    let exp = Experiment::from_json(text);
    let sig = signature(1, &exp);
    if let Ok(exp) = exp {
        let plan = Plan::for_participant(&exp, "fuzz-participant");
        let _ = plan.hash();
        let mut p = Participant::new(0.8, 7).expect("0.8 is a probability");
        let trials = run_session(&exp, &plan, &mut p);
        return sig ^ (trials.len() as u64).min(3);
    }
    sig
}

/// An ONNX model: byte 0 picks the target tensor (0: the graph's first output, k: the
/// output of the k-th node from the end), byte 1 the spatial size of the input, the rest
/// is the model file. Loaded under [`MODEL_LIMITS`]; then the target's shape is planned
/// and, for a small input, computed on the CPU.
pub fn onnx(data: &[u8]) -> u64 {
    if data.len() < 2 {
        return 0;
    }
    let (pick, side, bytes) = (data[0] as usize, 1 + (data[1] as usize % 8), &data[2..]);
    let model = exemplar_engine::onnx::decode_model(bytes);
    let sig = signature(1, &model);
    let Ok(model) = model else { return sig };
    let Some(graph) = model.graph.as_ref() else {
        return sig ^ 2;
    };
    let target = if pick == 0 || graph.node.is_empty() {
        graph.output.first().map(|o| o.name.clone())
    } else {
        let node = &graph.node[graph.node.len() - 1 - (pick - 1) % graph.node.len()];
        node.output.first().cloned()
    };
    let Some(target) = target else {
        return sig ^ 3;
    };
    let engine = Engine::from_model_with(&model, &target, None, &MODEL_LIMITS);
    let sig = signature(2, &engine);
    let Ok(engine) = engine else { return sig };
    let decl = engine.input_shape();
    let shape: Vec<usize> = if decl.is_empty() {
        vec![1, 3, side, side]
    } else {
        decl.iter()
            .enumerate()
            .map(|(i, d)| d.unwrap_or(if i == 0 { 1 } else { side }))
            .collect()
    };
    let planned = engine.target_shape(&shape);
    let sig = sig ^ signature(3, &planned);
    let elements = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    if planned.is_err() || elements > MAX_RUN_ELEMENTS {
        return sig;
    }
    let values = (0..elements).map(|i| (i % 17) as f32 / 8.0 - 1.0).collect();
    let Ok(input) = Tensor::new(shape.clone(), values) else {
        return sig ^ 4;
    };
    let out = engine.target_tensor_blocking(&input);
    if let (Ok(out), Ok(want)) = (&out, &planned) {
        assert_eq!(
            &out.shape, want,
            "the computed target's shape is not the planned one"
        );
    }
    let sig = sig ^ signature(4, &out);
    if out.is_ok() && shape.len() > 1 {
        // The per-channel means the app reads, through the batching path.
        let image = Tensor::new(shape[1..].to_vec(), input.data.clone());
        if let (Ok(image), Ok(c)) = (image, engine.channels(&shape)) {
            let channels: Vec<usize> = [0, c.saturating_sub(1)]
                .into_iter()
                .filter(|&k| k < c)
                .collect();
            let means = engine.activations_blocking(&[image], &channels);
            return sig ^ signature(5, &means);
        }
    }
    sig
}

/// The collector's request body; an accepted one must have well-formed ids and
/// serialise again.
pub fn envelope(data: &[u8]) -> u64 {
    let parsed = exemplar_cli::collector::parse_envelope(data, 64);
    let sig = signature(1, &parsed.as_ref().map_err(|(_, why)| why));
    if let Ok(records) = parsed {
        assert!(records.len() <= 64, "more records than max_records");
        for (r, raw) in &records {
            assert_eq!(r.record_id, format!("{}-{}", r.session_id, r.seq));
            assert!(raw.is_object());
            let again = serde_json::to_string(r).expect("a record serialises");
            serde_json::from_str::<exemplar_core::Record>(&again)
                .expect("a serialised record parses again");
        }
        return sig ^ (records.len() as u64).min(4);
    }
    sig
}

/// The analysis readers: byte 0 picks CSV (odd) or JSON Lines (even), the rest is the
/// file. What reads is deduplicated and analysed (with few bootstrap resamples), and the
/// reports are written to strings.
pub fn analysis(data: &[u8]) -> u64 {
    let Some((&kind, rest)) = data.split_first() else {
        return 0;
    };
    let text = String::from_utf8_lossy(rest);
    let read = if kind & 1 == 1 {
        exemplar_analysis::read::parse_csv(&text)
    } else {
        exemplar_analysis::read::parse_jsonl(&text)
    };
    let sig = signature(1 + (kind & 1), &read);
    let Ok(records) = read else { return sig };
    let options = exemplar_analysis::Options {
        bootstrap_resamples: 20,
        ..Default::default()
    };
    let a = exemplar_analysis::analyze(&records, &options);
    let _ = exemplar_analysis::report::markdown(&a);
    let _ = exemplar_analysis::report::html(&a);
    let _ = exemplar_analysis::report::units_csv(&a);
    let _ = exemplar_analysis::report::sessions_csv(&a);
    let _ = exemplar_analysis::report::posthoc_csv(&a);
    let _ = exemplar_analysis::report::models_csv(&a);
    sig ^ (records.len() as u64).min(8)
}
