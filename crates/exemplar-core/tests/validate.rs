//! A malformed experiment gets every problem at once, each with its JSON path.

use exemplar_core::experiment::Experiment;
use serde_json::{json, Value};

fn demo() -> Value {
    serde_json::from_str(include_str!("../../../demo/experiment.json")).unwrap()
}

/// Every problem `from_json` finds; and the participant's page's parser
/// (`from_json_lean`) must agree on whether the file is usable (it ignores only unknown
/// top-level fields) and on what it means.
fn problems(v: &Value) -> Vec<String> {
    let text = v.to_string();
    let lean = Experiment::from_json_lean(&text);
    match Experiment::from_json(&text) {
        Ok(e) => {
            assert_eq!(lean.as_ref().ok(), Some(&e), "{:?}", lean.as_ref().err());
            vec![]
        }
        Err(p) => {
            let got: Vec<String> = p.0.iter().map(|p| p.to_string()).collect();
            let only_unknown = got.iter().all(|p| p.contains(": unknown field;"));
            assert!(
                lean.is_err() || only_unknown,
                "the lean parser accepts {got:#?}"
            );
            got
        }
    }
}

fn assert_problem(v: &Value, path: &str, needle: &str) {
    let got = problems(v);
    assert!(
        got.iter()
            .any(|p| p.starts_with(&format!("{path}: ")) && p.contains(needle)),
        "expected a problem at {path} containing {needle:?}, got {got:#?}"
    );
}

#[test]
fn demo_is_valid_and_loads_from_disk() {
    assert!(problems(&demo()).is_empty());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo");
    Experiment::load_dir(&dir).expect("demo loads with all its stimuli");
}

#[test]
fn not_json_names_line_and_column() {
    let err = Experiment::from_json("{\"id\": \"x\",\n  \"version\": }").unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("not valid JSON:") && text.contains("line 2"),
        "{text}"
    );
}

#[test]
fn not_an_object() {
    let got = problems(&json!([1, 2]));
    assert_eq!(got, vec!["the experiment must be a JSON object"]);
}

#[test]
fn missing_required_field() {
    let mut v = demo();
    v.as_object_mut().unwrap().remove("session");
    assert_problem(&v, "session", "missing (required)");
}

#[test]
fn unknown_field_is_named() {
    let mut v = demo();
    v["colour"] = json!("red");
    assert_problem(&v, "colour", "unknown field");
    v["timing"]["initial_wait"] = json!(3);
    assert_problem(
        &v,
        "timing.initial_wait",
        "unknown field `initial_wait`, expected one of `initial_wait_ms`",
    );
}

#[test]
fn wrong_type_deep_in_a_unit() {
    let mut v = demo();
    v["units"][3]["channel"] = json!("seven");
    assert_problem(
        &v,
        "units[3].channel",
        "invalid type: string \"seven\", expected u32",
    );
    v["units"][1]["batches"][0]["batch"] = json!(-1);
    assert_problem(&v, "units[1].batches[0].batch", "invalid value");
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut v = demo();
    v["units"][0]["channel"] = json!("x");
    v["catch_units"][1]["model"] = json!(5);
    v["practice"]["trials"][2]["layer"] = json!(null);
    v["timing"]["feedback"] = json!("yes");
    v["confidence_levels"] = json!(300);
    let got = problems(&v);
    assert_eq!(got.len(), 5, "{got:#?}");
    for path in [
        "units[0].channel",
        "catch_units[1].model",
        "practice.trials[2].layer",
        "timing.feedback",
        "confidence_levels",
    ] {
        assert!(
            got.iter().any(|p| p.starts_with(path)),
            "{path} missing from {got:#?}"
        );
    }
}

#[test]
fn bad_enum_value() {
    let mut v = demo();
    v["session"]["draw"] = json!("lottery");
    assert_problem(&v, "session.draw", "unknown variant `lottery`");
    let mut v = demo();
    v["collect"] = json!({"kind": "ftp"});
    assert_problem(
        &v,
        "collect.kind",
        "unknown variant `ftp`, expected one of `http`, `jatos`, `datapipe`, `mturk`, `prolific`, `download`, `none`",
    );
}

#[test]
fn duplicate_unit_ids_and_batches() {
    let mut v = demo();
    v["units"][2]["id"] = v["units"][0]["id"].clone();
    v["units"][4]["batches"][1]["batch"] = json!(0);
    let id = v["units"][0]["id"].as_str().unwrap().to_string();
    assert_problem(&v, "units[2].id", &format!("duplicate unit id \"{id}\""));
    assert_problem(&v, "units[4].batches[1].batch", "duplicate batch number 0");
}

#[test]
fn too_many_trials_for_the_batches() {
    let mut v = demo();
    v["session"]["main_trials"] = json!(13);
    v["session"]["catch_trials"] = json!(3);
    assert_problem(
        &v,
        "session.main_trials",
        "13 trials asked for, but the units have only 12 batches",
    );
    assert_problem(
        &v,
        "session.catch_trials",
        "3 catch trials asked for, but catch_units have only 2",
    );
}

#[test]
fn unit_without_batches_and_no_units() {
    let mut v = demo();
    v["units"][0]["batches"] = json!([]);
    assert_problem(&v, "units[0].batches", "needs at least one batch");
    v["units"] = json!([]);
    assert_problem(&v, "units", "needs at least one unit");
}

#[test]
fn paths_must_stay_inside_the_experiment() {
    let mut v = demo();
    v["units"][0]["batches"][0]["references"] = json!("../secret");
    v["units"][1]["batches"][0]["references"] = json!("/etc");
    v["units"][2]["batches"][0]["queries"] = json!("https://example.org/x");
    assert_problem(
        &v,
        "units[0].batches[0].references",
        "must not leave the experiment folder",
    );
    assert_problem(
        &v,
        "units[1].batches[0].references",
        "must be a relative path",
    );
    assert_problem(&v, "units[2].batches[0].queries", "must be a relative path");
}

#[test]
fn settings_out_of_range() {
    let mut v = demo();
    v["confidence_levels"] = json!(0);
    v["practice"]["max_attempts"] = json!(0);
    v["completion"]["redirect_url"] = json!("javascript:alert(1)");
    v["collect"] = json!({"kind": "http", "url": " ", "headers": {"Bad Header": "x"}});
    v["id"] = json!("");
    assert_problem(&v, "confidence_levels", "must be between 1 and 4");
    assert_problem(&v, "practice.max_attempts", "must be at least 1");
    assert_problem(&v, "completion.redirect_url", "must start with https://");
    assert_problem(&v, "collect.url", "must not be empty");
    assert_problem(
        &v,
        "collect.headers.Bad Header",
        "not a valid HTTP header name",
    );
    assert_problem(&v, "id", "must not be empty");
}

#[test]
fn missing_stimulus_file_names_the_batch_and_file() {
    let dir = std::env::temp_dir().join(format!("exemplar-missing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut v = demo();
    // Point one batch at a folder that does not exist; everything else resolves to the demo.
    let demo_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../demo")
        .canonicalize()
        .unwrap();
    std::os::unix::fs::symlink(demo_dir.join("stimuli"), dir.join("stimuli")).unwrap();
    v["units"][3]["batches"][1]["references"] = json!("stimuli/nowhere");
    std::fs::write(dir.join("experiment.json"), v.to_string()).unwrap();
    let err = Experiment::load_dir(&dir).unwrap_err();
    let text: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
    assert_eq!(text.len(), 20, "{text:#?}");
    assert!(
        text.contains(
            &"units[3].batches[1].references: file not found: stimuli/nowhere/min_0.jpg"
                .to_string()
        ),
        "{text:#?}"
    );
    assert!(text.contains(
        &"units[3].batches[1].references: file not found: stimuli/nowhere/max_9.jpg".to_string()
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn adapters_need_what_they_use() {
    let mut v = demo();
    v["collect"] = json!({"kind": "prolific", "url": "https://lab.example/records"});
    v["completion"] = json!({});
    assert_problem(
        &v,
        "completion.code",
        "is required with collect.kind \"prolific\"",
    );
    let mut v = demo();
    v["collect"] = json!({"kind": "datapipe", "experiment_id": " "});
    assert_problem(&v, "collect.experiment_id", "must not be empty");
    let mut v = demo();
    v["collect"] = json!({"kind": "mturk"});
    assert_problem(&v, "collect", "missing field `url`");
    let mut v = demo();
    v["collect"] = json!({"kind": "jatos", "url": "x"});
    assert_problem(&v, "collect", "unknown field `url`, there are no fields");
    for ok in [
        json!({"kind": "jatos"}),
        json!({"kind": "download"}),
        json!({"kind": "datapipe", "experiment_id": "AbC123"}),
    ] {
        let mut v = demo();
        v["collect"] = ok.clone();
        assert!(problems(&v).is_empty(), "{ok}: {:?}", problems(&v));
    }
}

#[test]
fn delivery_settings_out_of_range() {
    let mut v = demo();
    v["delivery"] = json!({"timeout_ms": 100, "batch_size": 0});
    assert_problem(&v, "delivery.timeout_ms", "must be at least 500, got 100");
    assert_problem(&v, "delivery.batch_size", "must be at least 1");
    v["delivery"] = json!({"timeout": 3});
    assert_problem(&v, "delivery.timeout", "unknown field `timeout`");
}

#[test]
fn check_models_name_their_field() {
    let mut v = demo();
    v["checks"] = json!({"models": {"demo-generated": {"file": "../model.onnx", "preset": "vgg", "std": [0.2, 0.0, 0.2]}}});
    assert_problem(&v, "checks.models.demo-generated.file", "..");
    assert_problem(
        &v,
        "checks.models.demo-generated.preset",
        "unknown preset \"vgg\"",
    );
    assert_problem(&v, "checks.models.demo-generated.std", "non-zero");
    assert_eq!(problems(&v).len(), 3, "{:#?}", problems(&v));
    v["checks"] = json!({"models": {"m": {"fiel": "x.onnx"}}});
    let got = problems(&v);
    assert!(
        got.len() == 1 && got[0].starts_with("checks") && got[0].contains("fiel"),
        "{got:#?}"
    );
}

#[test]
fn analysis_rules_are_the_experiments_with_the_original_thresholds_as_defaults() {
    use exemplar_core::experiment::Exclusion;
    // Without `analysis`, the original study's thresholds; the scaling rule gives them
    // back for the original session (45 main, 5 catch trials, 3 practice rounds).
    let mut v = demo();
    v.as_object_mut().unwrap().remove("analysis");
    let exp = Experiment::from_json(&v.to_string()).unwrap();
    assert_eq!(exp.analysis.exclusion, Exclusion::default());
    assert_eq!(Exclusion::scaled(45, 5, 3), Exclusion::default());
    // The demo sets its own; a field left out keeps its default, `null` switches a rule off.
    let exp = Experiment::from_json(&demo().to_string()).unwrap();
    assert_eq!(exp.analysis.exclusion.min_main_phase_time_s, Some(24.0));
    let mut v = demo();
    v["analysis"] = json!({"exclusion": {"min_catch_accuracy": null}});
    let e = Experiment::from_json(&v.to_string())
        .unwrap()
        .analysis
        .exclusion;
    assert_eq!(e.min_catch_accuracy, None);
    assert_eq!(e.min_main_phase_time_s, Some(135.0));
    // Thresholds no session could meet, and unknown rules, are problems with their paths.
    for (rules, path, needle) in [
        (
            json!({"min_catch_accuracy": 80}),
            "analysis.exclusion.min_catch_accuracy",
            "between 0 and 1",
        ),
        (
            json!({"min_main_phase_time_s": -1}),
            "analysis.exclusion.min_main_phase_time_s",
            "at least 0",
        ),
        (
            json!({"min_main_phase_time_s": 60, "max_main_phase_time_s": 30}),
            "analysis.exclusion.max_main_phase_time_s",
            "must not be below min_main_phase_time_s",
        ),
        (
            json!({"min_catch": 0.5}),
            "analysis.exclusion.min_catch",
            "unknown field `min_catch`",
        ),
    ] {
        let mut v = demo();
        v["analysis"] = json!({ "exclusion": rules });
        assert_problem(&v, path, needle);
    }
}

#[test]
fn language_and_texts() {
    use exemplar_core::texts::T;
    // English by default; German defaults for `de`, for the texts and for pages left at
    // their English defaults; a page of the experiment's own stays as written.
    let mut v = demo();
    v.as_object_mut().unwrap().remove("pages");
    let exp = Experiment::from_json(&v.to_string()).unwrap();
    assert_eq!(exp.language, "en");
    assert_eq!(
        exp.text(T::Prompt),
        "Which image at the center matches the Right Examples better?"
    );
    v["language"] = json!("de-AT");
    v["pages"] = json!({"welcome": "# Servus"});
    let exp = Experiment::from_json(&v.to_string()).unwrap();
    assert_eq!(
        exp.text(T::Prompt),
        "Welches Bild in der Mitte passt besser zu den rechten Beispielen?"
    );
    assert_eq!(exp.pages.welcome, "# Servus");
    assert_eq!(
        exp.pages.end,
        "# Vielen Dank!\n\nIhre Antworten wurden gespeichert."
    );
    assert!(exp.markdown_texts().any(|t| t.starts_with("## Vollbild")));
    // The lean parser (the participant's page) gives the same experiment.
    assert_eq!(Experiment::from_json_lean(&v.to_string()).unwrap(), exp);
    // An experiment's own text wins.
    v["texts"] = json!({"prompt": "Welches passt?", "task_count": "{task}/{tasks}"});
    let exp = Experiment::from_json(&v.to_string()).unwrap();
    assert_eq!(exp.text(T::Prompt), "Welches passt?");
    assert_eq!(exp.text(T::TaskCount), "{task}/{tasks}");
    // Unknown texts, unknown placeholders and malformed tags are problems.
    let mut bad = v.clone();
    bad["texts"] = json!({"promt": "x"});
    assert_problem(&bad, "texts.promt", "unknown text; known: loading_study");
    bad["texts"] = json!({"task_count": "{task} of {total}"});
    assert_problem(
        &bad,
        "texts.task_count",
        "unknown placeholder {total}: it has {task}, {tasks}",
    );
    bad["texts"] = json!({"prompt": "Pick {one}"});
    assert_problem(
        &bad,
        "texts.prompt",
        "unknown placeholder {one}: this text has none",
    );
    bad["texts"] = json!({"prompt": 3});
    assert_problem(&bad, "texts.prompt", "invalid type");
    let mut bad = v.clone();
    bad["language"] = json!("German");
    assert_problem(&bad, "language", "must be a language tag");
}

#[test]
fn the_check_encoder_names_a_check_model() {
    let mut v = demo();
    v["checks"] = json!({
        "models": {"m": {"file": "m.onnx"}},
        "encoder": {"model": "other", "output": " ", "alpha": -1.0}
    });
    assert_problem(
        &v,
        "checks.encoder.model",
        "\"other\" is not a key of checks.models",
    );
    assert_problem(&v, "checks.encoder.output", "must name a tensor");
    assert_problem(&v, "checks.encoder.alpha", "finite number ≥ 0");
    assert_eq!(problems(&v).len(), 3, "{:#?}", problems(&v));
    v["checks"]["encoder"] = json!({"model": "m", "output": "pool", "alpha": 12.5});
    assert!(problems(&v).is_empty(), "{:#?}", problems(&v));
    v["checks"]["encoder"] =
        json!({"model": "m", "output": "pool", "min_predicted": 0.9, "max_predicted": 0.6});
    assert_problem(
        &v,
        "checks.encoder.max_predicted",
        "must not be below min_predicted",
    );
    v["checks"]["encoder"] = json!({"model": "m", "output": "pool", "min_predicted": 1.5});
    assert_problem(&v, "checks.encoder.min_predicted", "between 0 and 1");
    v["checks"]["encoder"] = json!({"model": "m", "output": "pool", "beta": 1});
    assert!(problems(&v).iter().any(|p| p.contains("beta")));
}
