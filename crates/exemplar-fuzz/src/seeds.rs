//! Seed inputs, generated from files of the repository (the demo's experiment, its ONNX
//! model, records of a simulated session of it) and from small models built here. Every
//! seed is a valid input, so that mutations start deep in each parser.

use std::path::{Path, PathBuf};

use exemplar_core::simulate::{run_session, Participant};
use exemplar_core::{Experiment, Phase, Plan};
use exemplar_engine::onnx::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto, FLOAT,
};
use prost::Message;
use serde_json::{json, Value};

/// The repository's root (seeds are read from its files).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> Vec<u8> {
    let p = repo_root().join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("seed file {}: {e}", p.display()))
}

/// The seeds of `target`, each with a file name.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "experiment" => experiment(),
        "onnx" => onnx(),
        "envelope" => envelope(),
        "analysis" => analysis(),
        _ => panic!("unknown target {target:?}"),
    }
}

fn demo() -> Experiment {
    let text = String::from_utf8(read("demo/experiment.json")).expect("UTF-8");
    Experiment::from_json(&text).expect("the demo experiment is valid")
}

fn experiment() -> Vec<(String, Vec<u8>)> {
    let raw = read("demo/experiment.json");
    let value: Value = serde_json::from_slice(&raw).expect("JSON");
    let mut small = value.clone();
    // A smaller variant: fewer pages and units, so that mutations are cheaper.
    if let Some(obj) = small.as_object_mut() {
        obj.remove("pages");
    }
    // A design: blocks of three conditions, counterbalanced, and a second group.
    let mut design = value.clone();
    design["conditions"] = json!({
        "none": {"references": "none", "main_trials": 2, "instructions": ["## None\n\nNo examples."]},
        "one": {"per_side": 1, "sides": "max_only", "main_trials": 2, "catch_trials": 1},
        "four": {"per_side": 4, "main_trials": 2, "practice": {"max_attempts": 1, "trials": []}}
    });
    design["design"] = json!({"groups": [
        {"name": "a", "blocks": ["none", "one", "four", "none"], "order": "latin_square", "fixed_first": 1},
        {"name": "b", "blocks": ["four"], "order": "random"}
    ]});
    vec![
        ("demo.json".into(), raw),
        ("demo-compact.json".into(), value.to_string().into_bytes()),
        ("demo-no-pages.json".into(), small.to_string().into_bytes()),
        ("demo-design.json".into(), design.to_string().into_bytes()),
    ]
}

/// The records of one simulated session of the demo, as the app writes them.
pub fn session_records(session: &str, p_correct: f64, seed: u64) -> Vec<Value> {
    let exp = demo();
    let plan = Plan::for_participant(&exp, session);
    let mut who = Participant::new(p_correct, seed).expect("a probability");
    let trials = run_session(&exp, &plan, &mut who);
    let mut out = Vec::new();
    let t0 = 1_700_000_000_000.0;
    let env = json!({"user_agent": "fuzz", "window_width": 1280.0, "window_height": 800.0,
        "screen_width": 1280.0, "screen_height": 800.0, "device_pixel_ratio": 2.0});
    let mut bodies = vec![
        {
            let mut b = env.clone();
            b["type"] = json!("session_started");
            b["seed"] = json!("s");
            b["query"] = json!("?PROLIFIC_PID=x");
            b
        },
        json!({"type": "consent_given"}),
        json!({"type": "instructions_done", "instruction_time": 61000.5, "pages_visited": [0, 1, 2, 3]}),
        json!({"type": "fullscreen", "active": true}),
    ];
    for t in &trials {
        let phase = match t.trial.phase {
            Phase::Practice => "practice",
            Phase::Main => "main",
            Phase::Catch => "catch",
        };
        bodies.push(json!({
            "type": "trial", "phase": phase, "trial_index": t.index, "attempt": t.attempt,
            "is_demo": phase == "practice", "catch_trial": phase == "catch",
            "unit_id": t.trial.unit.unit_id, "model": t.trial.unit.model, "layer": t.trial.unit.layer,
            "channel": t.trial.unit.channel, "batch": t.trial.unit.batch, "mode": if phase == "catch" { "catch_trial" } else { "natural" },
            "rt": t.rt_ms, "rt_dom": t.rt_ms + 16.0, "onset": 1000.0,
            "button_pressed": t.answer.button_pressed, "switched_queries": t.trial.switched_queries,
            "confidence": t.answer.confidence, "choice": if t.answer.correct { "b" } else { "a" }, "correct": t.answer.correct,
            "chosen_stimulus": t.trial.max_query, "min_query": t.trial.min_query, "max_query": t.trial.max_query,
            "min_references": t.trial.min_references, "max_references": t.trial.max_references,
            "input": "click", "window_width": 1280.0, "window_height": 800.0,
            "device_pixel_ratio": 2.0, "focus_losses": 0, "visibility_losses": 0, "fullscreen": true,
        }));
    }
    bodies.push(json!({"type": "practice_round", "attempt": 0, "correct": 5, "answered": 5, "next": "main"}));
    bodies.push(json!({"type": "feedback", "text": "fine, \"thanks\"\n=1+1"}));
    bodies.push(
        json!({"type": "session_completed", "main_correct": 9, "catch_correct": 2,
        "answered": 14, "practice_rounds": 1, "main_phase_time": 600000.0}),
    );
    for (seq, body) in bodies.into_iter().enumerate() {
        let mut r = json!({
            "record_id": format!("{session}-{seq}"), "format": exemplar_core::record::RECORD_FORMAT,
            "session_id": session, "participant_id": format!("p-{session}"),
            "participant_id_source": "pid", "experiment_id": "exemplar-demo",
            "experiment_version": "1.0.0", "seq": seq, "time_elapsed": 1000.0 * seq as f64,
            "timestamp": t0 + 1000.0 * seq as f64,
        });
        for (k, v) in body.as_object().expect("an object") {
            r[k] = v.clone();
        }
        out.push(r);
    }
    out
}

fn envelope() -> Vec<(String, Vec<u8>)> {
    let records = session_records("s1", 0.8, 1);
    let wrap = |rs: &[Value]| {
        json!({"format": exemplar_core::record::RECORD_FORMAT, "records": rs})
            .to_string()
            .into_bytes()
    };
    let mut out = vec![("empty.json".to_string(), wrap(&[]))];
    // Every kind of record on its own, then a whole request's worth.
    for r in &records {
        let name = format!("one-{}.json", r["type"].as_str().unwrap_or("x"));
        if !out.iter().any(|(n, _)| *n == name) {
            out.push((name, wrap(std::slice::from_ref(r))));
        }
    }
    out.push((
        "session-start.json".into(),
        wrap(&records[..records.len().min(12)]),
    ));
    out
}

fn analysis() -> Vec<(String, Vec<u8>)> {
    // Small files (fuzzers slow down with size): a whole session, the start of another
    // and a duplicate.
    let mut records = session_records("s1", 0.9, 1);
    records.extend(session_records("s2", 0.5, 2).into_iter().take(8));
    records.push(records[5].clone());
    let mut jsonl = vec![0u8];
    exemplar_cli::export::jsonl(&records, &mut jsonl).expect("to memory");
    let mut csv = vec![1u8];
    exemplar_cli::export::csv(&records, &mut csv, exemplar_cli::export::Cells::Raw)
        .expect("to memory");
    let mut csv_neutral = vec![1u8];
    exemplar_cli::export::csv(
        &records,
        &mut csv_neutral,
        exemplar_cli::export::Cells::Neutralised,
    )
    .expect("to memory");
    let mut body = vec![0u8];
    body.extend(
        json!({"format": exemplar_core::record::RECORD_FORMAT, "records": &records[..10]})
            .to_string()
            .bytes(),
    );
    let mut activations = vec![1u8];
    let text = read("demo/stimuli/units/b6e_c16/activations.csv");
    for line in text.split(|&b| b == b'\n').take(40) {
        activations.extend(line);
        activations.push(b'\n');
    }
    vec![
        ("sessions.jsonl".into(), jsonl),
        ("sessions.csv".into(), csv),
        ("sessions-neutralised.csv".into(), csv_neutral),
        ("envelope-line.jsonl".into(), body),
        ("activations.csv".into(), activations),
    ]
}

/// A FLOAT graph input or output of `dims` (a negative axis is symbolic).
pub fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: d.max(0),
                            dim_param: if d < 0 { "N".into() } else { String::new() },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// A node with one output.
pub fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        name: format!("{op}_{output}"),
        op_type: op.into(),
        attribute: attrs,
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: 7,
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: v,
        r#type: 2,
        ..Default::default()
    }
}

/// A FLOAT initializer of `shape` with small values.
pub fn weights(name: &str, shape: &[usize]) -> TensorProto {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0).collect();
    TensorProto::from_f32(name, shape, &data)
}

/// A model of `nodes` reading `x` of shape `input` (negative: symbolic), output `out`.
pub fn model(
    nodes: Vec<NodeProto>,
    init: Vec<TensorProto>,
    input: &[i64],
    out: &str,
) -> ModelProto {
    ModelProto {
        ir_version: 8,
        producer_name: "exemplar-fuzz".into(),
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            initializer: init,
            input: vec![value_info("x", input)],
            output: vec![value_info(out, &[])],
            value_info: vec![],
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
    }
}

/// Small models over the engine's operators, in the shapes exporters write.
pub fn small_models() -> Vec<(String, ModelProto)> {
    let conv = model(
        vec![
            node(
                "Conv",
                &["x", "w", "b"],
                "c",
                vec![
                    ints("kernel_shape", &[3, 3]),
                    ints("pads", &[1, 1, 1, 1]),
                    ints("strides", &[1, 1]),
                ],
            ),
            node(
                "BatchNormalization",
                &["c", "s", "b2", "m", "v"],
                "n",
                vec![],
            ),
            node("Relu", &["n"], "r", vec![]),
            node(
                "MaxPool",
                &["r"],
                "p",
                vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
            ),
            node("Clip", &["p"], "k", vec![]),
            node("GlobalAveragePool", &["k"], "g", vec![]),
            node("Flatten", &["g"], "f", vec![int("axis", 1)]),
            node("Gemm", &["f", "fw", "fb"], "y", vec![int("transB", 1)]),
            node("Softmax", &["y"], "z", vec![int("axis", 1)]),
        ],
        vec![
            weights("w", &[4, 3, 3, 3]),
            weights("b", &[4]),
            weights("s", &[4]),
            weights("b2", &[4]),
            weights("m", &[4]),
            TensorProto::from_f32("v", &[4], &[1.0; 4]),
            weights("fw", &[5, 4]),
            weights("fb", &[5]),
        ],
        &[-1, 3, 8, 8],
        "z",
    );
    let shapes = model(
        vec![
            node("Shape", &["x"], "s", vec![]),
            node("Gather", &["s", "i0"], "n", vec![int("axis", 0)]),
            node("Unsqueeze", &["n", "ax"], "nu", vec![]),
            node("Concat", &["nu", "rest"], "shape", vec![int("axis", 0)]),
            node("Reshape", &["x", "shape"], "r", vec![]),
            node("Transpose", &["r"], "t", vec![ints("perm", &[0, 2, 1])]),
            node("MatMul", &["t", "mw"], "mm", vec![]),
            node(
                "LayerNormalization",
                &["mm", "lg", "lb"],
                "ln",
                vec![int("axis", -1)],
            ),
            node("Gelu", &["ln"], "ge", vec![]),
            node(
                "ReduceMean",
                &["ge"],
                "y",
                vec![ints("axes", &[1]), int("keepdims", 0)],
            ),
        ],
        vec![
            TensorProto::from_i64("i0", &[], &[0]),
            TensorProto::from_i64("ax", &[1], &[0]),
            TensorProto::from_i64("rest", &[2], &[3, -1]),
            weights("mw", &[3, 6]),
            weights("lg", &[6]),
            weights("lb", &[6]),
        ],
        &[-1, 3, 8, 8],
        "y",
    );
    let layout = model(
        vec![
            node("Pad", &["x", "pads"], "p", vec![]),
            node("Slice", &["p", "st", "en", "axs"], "s", vec![]),
            node(
                "AveragePool",
                &["s"],
                "a",
                vec![ints("kernel_shape", &[2, 2])],
            ),
            node("Sigmoid", &["a"], "sg", vec![]),
            node("Mul", &["sg", "a"], "m", vec![]),
            node("Add", &["m", "bias"], "ad", vec![]),
            node("Expand", &["ad", "es"], "e", vec![]),
            node("Concat", &["e", "e"], "cc", vec![int("axis", 1)]),
            node(
                "Conv",
                &["cc", "dw"],
                "y",
                vec![
                    int("group", 6),
                    ints("kernel_shape", &[3, 3]),
                    ints("dilations", &[2, 2]),
                ],
            ),
        ],
        vec![
            TensorProto::from_i64("pads", &[8], &[0, 0, 1, 1, 0, 0, 1, 1]),
            TensorProto::from_i64("st", &[2], &[1, 1]),
            TensorProto::from_i64("en", &[2], &[9, 9]),
            TensorProto::from_i64("axs", &[2], &[2, 3]),
            weights("bias", &[1, 3, 1, 1]),
            TensorProto::from_i64("es", &[4], &[1, 3, 7, 7]),
            weights("dw", &[6, 1, 3, 3]),
        ],
        &[1, 3, 8, 8],
        "y",
    );
    vec![
        ("conv-classifier".into(), conv),
        ("shape-arithmetic".into(), shapes),
        ("layout".into(), layout),
    ]
}

/// The demo's model cut after its `k` first nodes (only the initializers they read), its
/// input made 1×3×8×8 so that it runs in microseconds.
fn demo_prefix(demo: &ModelProto, k: usize) -> ModelProto {
    let mut m = demo.clone();
    let g = m.graph.as_mut().expect("a graph");
    g.node.truncate(k);
    let used: std::collections::HashSet<&String> =
        g.node.iter().flat_map(|n| n.input.iter()).collect();
    let init = g
        .initializer
        .iter()
        .filter(|t| used.contains(&t.name))
        .cloned()
        .collect();
    let last = g
        .node
        .last()
        .map(|n| n.output[0].clone())
        .unwrap_or_default();
    let input = g.input[0].name.clone();
    g.initializer = init;
    g.input = vec![value_info(&input, &[1, 3, 8, 8])];
    g.output = vec![value_info(&last, &[])];
    g.value_info.clear();
    m
}

fn onnx() -> Vec<(String, Vec<u8>)> {
    let with_header = |side: u8, m: &ModelProto| {
        let mut v = vec![0u8, side];
        v.extend(m.encode_to_vec());
        v
    };
    let mut out: Vec<(String, Vec<u8>)> = small_models()
        .iter()
        .map(|(n, m)| (format!("{n}.bin"), with_header(7, m)))
        .collect();
    let demo = exemplar_engine::onnx::decode_model(&read(
        "demo/models/efficientnet-lite0-to-blocks.7.onnx",
    ))
    .expect("the demo model decodes");
    for k in [1, 3, 6, 12] {
        out.push((
            format!("demo-first-{k}.bin"),
            with_header(7, &demo_prefix(&demo, k)),
        ));
    }
    out
}

/// Writes the seeds of `target` into `dir` (created).
pub fn write(target: &str, dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let seeds = seeds(target);
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(seeds.len())
}
