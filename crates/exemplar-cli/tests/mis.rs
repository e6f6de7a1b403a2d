//! `exemplar mis` end to end with an encoder whose embeddings are known: a 1×1 convolution
//! that keeps the three colour channels, whose channel means for a flat-colour image are the
//! colour itself (`--mean 0,0,0 --std 1,1,1`: r/255, g/255, b/255). Δ of each batch and
//! each unit's MIS are checked against the closed form.

mod common;

use std::path::Path;

use common::exemplar;
use common::onnx::{model, node, value, weight};
use serde_json::Value;

/// x → Conv 1×1 (identity on the 3 channels) → `emb` → Relu → `out`.
fn encoder() -> Vec<u8> {
    let mut eye = vec![0.0; 9];
    for i in 0..3 {
        eye[i * 4] = 1.0;
    }
    model(
        "encoder",
        vec![
            node("Conv", "conv", &["x", "w"], "emb", &[]),
            node("Relu", "relu", &["emb"], "out", &[]),
        ],
        vec![weight("w", &[3, 3, 1, 1], eye)],
        vec![value("x", &[-1, 3, -1, -1])],
        vec![value("out", &[-1, 3, -1, -1])],
    )
}

type Rgb = [u8; 3];

/// A batch folder with these colours for `max_0..8`, `min_0..8` and the two queries.
fn batch(dir: &Path, max: &[Rgb; 9], min: &[Rgb; 9], max_q: Rgb, min_q: Rgb) {
    std::fs::create_dir_all(dir).unwrap();
    let save = |name: String, c: Rgb| {
        image::RgbImage::from_pixel(16, 16, image::Rgb(c))
            .save(dir.join(name))
            .unwrap()
    };
    for i in 0..9 {
        save(format!("max_{i}.png"), max[i]);
        save(format!("min_{i}.png"), min[i]);
    }
    save("max_9.png".into(), max_q);
    save("min_9.png".into(), min_q);
}

fn embed(c: Rgb) -> Vec<f64> {
    c.iter().map(|&v| f64::from(v as f32 / 255.0)).collect()
}

fn cos(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

fn s(q: Rgb, refs: &[Rgb; 9]) -> f64 {
    refs.iter().map(|&r| cos(&embed(q), &embed(r))).sum::<f64>() / 9.0
}

fn delta(max: &[Rgb; 9], min: &[Rgb; 9], max_q: Rgb, min_q: Rgb) -> f64 {
    (s(max_q, max) - s(max_q, min)) - (s(min_q, max) - s(min_q, min))
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn mis_of_a_stimuli_folder_in_closed_form() {
    let dir = std::env::temp_dir().join(format!("exemplar-mis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let stimuli = dir.join("stimuli");
    // Reddish max references, bluish min references.
    let max: [Rgb; 9] = std::array::from_fn(|i| [200 + 5 * i as u8, 20 + 10 * i as u8, 30]);
    let min: [Rgb; 9] = std::array::from_fn(|i| [25, 40 + 7 * i as u8, 210 - 3 * i as u8]);
    // Batch 0: queries the right way round (Δ > 0); batch 1: swapped (Δ < 0); unit b: one
    // batch with a query near both sides (a small Δ).
    let cases: [(&str, Rgb, Rgb); 3] = [
        ("layer/channel_3/0", [180, 60, 40], [30, 90, 190]),
        ("layer/channel_3/1", [30, 90, 190], [180, 60, 40]),
        ("layer/channel_8/0", [120, 60, 110], [110, 70, 120]),
    ];
    let mut want = Vec::new();
    for (folder, max_q, min_q) in cases {
        batch(&stimuli.join(folder), &max, &min, max_q, min_q);
        want.push(delta(&max, &min, max_q, min_q));
    }
    assert!(
        want[0] > 0.0 && want[1] < 0.0 && want[2].abs() < want[0] / 4.0,
        "{want:?}"
    );
    let enc = dir.join("encoder.onnx");
    std::fs::write(&enc, encoder()).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "mis",
            stimuli.to_str().unwrap(),
            "--encoder",
            enc.to_str().unwrap(),
            "--mean",
            "0,0,0",
            "--std",
            "1,1,1",
            "--resize",
            "16",
            "--crop",
            "16",
            "--backend",
            "cpu",
        ];
        args.extend(extra);
        exemplar(&args)
    };

    // Per batch, JSON: the four similarities and Δ.
    let (ok, stdout, stderr) = run(&["--format", "json", "--alpha", "10"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("3 batches"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["output"], "out");
    let batches = report["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 3);
    for (b, (want, (folder, max_q, _))) in batches.iter().zip(want.iter().zip(cases)) {
        assert_eq!(b["path"], folder);
        let got = b["delta"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-6,
            "{folder}: Δ {got}, closed form {want}"
        );
        let s_max = b["max_query_to_max"].as_f64().unwrap();
        assert!((s_max - s(max_q, &max)).abs() < 1e-6, "{folder}");
        let p = b["predicted"].as_f64().unwrap();
        // σ' ≤ 1/4, times α = 10: the embeddings' f32 rounding in Δ, at most 2.5×.
        assert!((p - sigmoid(10.0 * want)).abs() < 3e-6, "{folder}: {p}");
    }
    let units = report["units"].as_array().unwrap();
    assert_eq!(units.len(), 2);
    assert_eq!(units[0]["unit"], "layer/channel_3");
    assert_eq!(units[0]["batches"], 2);
    let mis = (sigmoid(10.0 * want[0]) + sigmoid(10.0 * want[1])) / 2.0;
    assert!((units[0]["mis"].as_f64().unwrap() - mis).abs() < 3e-6);
    assert_eq!(units[0]["share_delta_positive"], 0.5);

    // Per unit, CSV, without α: the share of batches with Δ > 0.
    let (ok, stdout, stderr) = run(&[]);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "unit,model,layer,channel,batches,mis,share_delta_positive"
    );
    assert_eq!(lines[1], "layer/channel_3,,,,2,0.5,0.5");
    let positive = if want[2] > 0.0 { "1" } else { "0" };
    assert_eq!(
        lines[2],
        format!("layer/channel_8,,,,1,{positive},{positive}")
    );

    // Refusals: a negative α, a tensor the encoder lacks, an all-black image (no
    // direction), an incomplete batch folder.
    let (ok, _, stderr) = run(&["--alpha=-1"]);
    assert!(!ok && stderr.contains("--alpha -1"), "{stderr}");
    let (ok, _, stderr) = run(&["--output", "nope"]);
    assert!(!ok && stderr.contains("nope"), "{stderr}");
    batch(
        &stimuli.join("layer/channel_9/0"),
        &max,
        &min,
        [0, 0, 0],
        [30, 90, 190],
    );
    let (ok, _, stderr) = run(&[]);
    assert!(
        !ok && stderr.contains("layer/channel_9/0") && stderr.contains("all zeros"),
        "{stderr}"
    );
    std::fs::remove_file(stimuli.join("layer/channel_9/0/min_4.png")).unwrap();
    let (ok, _, stderr) = run(&[]);
    assert!(!ok && stderr.contains("without min_4.png"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every batch of an experiment (main, catch and practice units), named by its JSON path.
#[test]
fn mis_of_every_batch_of_an_experiment() {
    let dir = std::env::temp_dir().join(format!("exemplar-mis-exp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exp = dir.join("study");
    let (ok, _, stderr) = exemplar(&["new", exp.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let enc = dir.join("encoder.onnx");
    std::fs::write(&enc, encoder()).unwrap();
    let (ok, stdout, stderr) = exemplar(&[
        "mis",
        exp.to_str().unwrap(),
        "--encoder",
        enc.to_str().unwrap(),
        "--backend",
        "cpu",
        "--per",
        "batch",
    ]);
    assert!(ok, "{stderr}");
    let experiment: Value =
        serde_json::from_str(&std::fs::read_to_string(exp.join("experiment.json")).unwrap())
            .unwrap();
    let count = |units: &Value| {
        units.as_array().map_or(0, |u| {
            u.iter()
                .map(|u| u["batches"].as_array().unwrap().len())
                .sum()
        })
    };
    let total = count(&experiment["units"])
        + count(&experiment["catch_units"])
        + count(&experiment["practice"]["trials"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1 + total, "{stdout}");
    assert!(total >= 3, "{stdout}");
    assert!(
        lines[1].starts_with("practice.trials[0].batches[0],"),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("units[0].batches[0],")),
        "{stdout}"
    );
    for line in &lines[1..] {
        let delta: f64 = line.split(',').nth(10).unwrap().parse().unwrap();
        assert!(delta.is_finite(), "{line}");
    }

    // The same CSV beside human answers: `analyze --mis` joins every main trial to its
    // batch by unit id and writes each unit's MIS beside its score.
    std::fs::write(dir.join("mis.csv"), &stdout).unwrap();
    let mut records = String::new();
    let mut trials = 0;
    for unit in experiment["units"].as_array().unwrap() {
        for b in 0..unit["batches"].as_array().unwrap().len() {
            for (p, correct) in [true, true, false].into_iter().enumerate() {
                let r = serde_json::json!({
                    "type": "trial", "session_id": format!("s{p}"), "phase": "main",
                    "unit_id": unit["id"], "model": unit["model"], "layer": unit["layer"],
                    "channel": unit["channel"], "batch": b, "correct": correct,
                    "passed_checks": true,
                });
                records += &format!("{r}\n");
                trials += 1;
            }
        }
    }
    std::fs::write(dir.join("r.jsonl"), records).unwrap();
    let out = dir.join("analysis");
    let (ok, stdout, stderr) = exemplar(&[
        "analyze",
        dir.join("r.jsonl").to_str().unwrap(),
        "--mis",
        dir.join("mis.csv").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "{trials} scored trials matched to a batch, 0 without one"
        )),
        "{stdout}"
    );
    let machine = std::fs::read_to_string(out.join("machine.csv")).unwrap();
    let units = experiment["units"].as_array().unwrap().len();
    assert_eq!(machine.lines().count(), 1 + units, "{machine}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `checks.encoder` in an experiment: `exemplar check --min-predicted / --max-predicted`
/// flags the batches whose predicted accuracy (σ(α·Δ) of that encoder, with its model's
/// preprocessing) lies outside the bounds: the same values `exemplar mis` prints.
#[test]
fn check_flags_batches_the_encoder_finds_too_hard_or_too_easy() {
    let dir = std::env::temp_dir().join(format!("exemplar-mis-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exp = dir.join("study");
    let (ok, _, stderr) = exemplar(&["new", exp.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    std::fs::write(exp.join("encoder.onnx"), encoder()).unwrap();
    let path = exp.join("experiment.json");
    let mut e: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    e["checks"]["models"]["colours"] = serde_json::json!({
        "file": "encoder.onnx", "preset": "imagenet", "mean": [0, 0, 0], "std": [1, 1, 1]
    });
    e["checks"]["encoder"] = serde_json::json!({"model": "colours", "output": "out", "alpha": 10});
    std::fs::write(&path, serde_json::to_string_pretty(&e).unwrap()).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (ok, _, stderr) = exemplar(&["validate", &s(&exp)]);
    assert!(ok, "{stderr}");

    // What `exemplar mis` says of each batch, with the same encoder and preprocessing.
    let enc = s(&exp.join("encoder.onnx"));
    let (ok, stdout, stderr) = exemplar(&[
        "mis",
        &s(&exp),
        "--encoder",
        &enc,
        "--backend",
        "cpu",
        "--per",
        "batch",
        "--alpha",
        "10",
        "--mean",
        "0,0,0",
        "--std",
        "1,1,1",
    ]);
    assert!(ok, "{stderr}");
    let mut predicted: Vec<(String, f64)> = stdout
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[0].to_string(), cells[11].parse().unwrap())
        })
        .collect();
    predicted.sort_by(|a, b| a.1.total_cmp(&b.1));
    let lowest = predicted[0].1;
    let highest = predicted.last().unwrap().1;
    assert!(
        lowest < highest,
        "the new experiment's batches differ: {predicted:?}"
    );

    let check = |extra: &[&str]| {
        let mut args = vec![
            "check".to_string(),
            s(&exp),
            "--backend".into(),
            "cpu".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        exemplar(&args)
    };
    // Bounds around every batch: nothing flagged.
    let (ok, stdout, stderr) = check(&["--min-predicted", "0", "--max-predicted", "1"]);
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok  ")).count(),
        predicted.len()
    );
    // Just above the lowest: that batch (and any equal to it) is too hard; status 1.
    let min = format!("{}", lowest + 1e-9);
    let (ok, stdout, stderr) = check(&["--min-predicted", &min]);
    assert!(!ok, "{stderr}");
    let flagged: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FLAG")).collect();
    let want = predicted.iter().filter(|p| p.1 < lowest + 1e-9).count();
    assert_eq!(flagged.len(), want, "{stdout}");
    assert!(flagged[0].contains("too hard"), "{stdout}");
    assert!(
        flagged.iter().any(|l| l.contains(&predicted[0].0)),
        "{stdout}"
    );
    // Just below the highest: too easy.
    let max = format!("{}", highest - 1e-9);
    let (ok, stdout, _) = check(&["--max-predicted", &max, "--json"]);
    assert!(!ok);
    let easy = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["flag"] == "too easy for the machine")
        .count();
    assert_eq!(
        easy,
        predicted.iter().filter(|p| p.1 > highest - 1e-9).count()
    );
    // The same bound in the experiment (checks.encoder.min_predicted) is the default.
    e["checks"]["encoder"]["min_predicted"] = (lowest + 1e-9).into();
    std::fs::write(&path, serde_json::to_string_pretty(&e).unwrap()).unwrap();
    let (ok, stdout, _) = check(&[]);
    assert!(!ok);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("FLAG")).count(),
        want,
        "{stdout}"
    );
    e["checks"]["encoder"]
        .as_object_mut()
        .unwrap()
        .remove("min_predicted");
    // An output the model does not have is a validation problem.
    e["checks"]["encoder"]["output"] = "nope".into();
    std::fs::write(&path, serde_json::to_string_pretty(&e).unwrap()).unwrap();
    let (ok, stdout, stderr) = exemplar(&["validate", &s(&exp)]);
    assert!(
        !ok && format!("{stdout}{stderr}").contains("checks.encoder.output"),
        "{stdout}{stderr}"
    );
    // Bounds outside 0–1, or no encoder, are refused.
    let (ok, _, stderr) = check(&["--min-predicted", "1.5"]);
    assert!(!ok && stderr.contains("between 0 and 1"), "{stderr}");
    e["checks"].as_object_mut().unwrap().remove("encoder");
    std::fs::write(&path, serde_json::to_string_pretty(&e).unwrap()).unwrap();
    let (ok, _, stderr) = check(&["--min-predicted", "0.5"]);
    assert!(
        !ok && stderr.contains("checks.encoder is not set"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
