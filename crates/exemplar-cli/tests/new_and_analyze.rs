//! `exemplar new` makes a valid experiment; `exemplar analyze` reads the collector's
//! database and JSON Lines and writes the reports.

mod common;

use common::exemplar;
use exemplar_cli::collector::Db;
use serde_json::{json, Value};

#[test]
fn new_makes_an_experiment_that_validates() {
    let dir = std::env::temp_dir().join(format!("exemplar-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let (ok, _, stderr) = exemplar(&["new", d]);
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = exemplar(&["validate", d]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("valid (2 units, 0 catch units, 60 stimulus files)"),
        "{stdout}"
    );
    assert!(dir.join("GUIDE.md").is_file());
    let (ok, _, stderr) = exemplar(&["new", d]);
    assert!(
        !ok && stderr.contains("exists and is not empty"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One passing session of `pid` answering `correct[i]` on unit i (models m1: u0,u1; m2: u2,u3).
fn session(pid: &str, correct: [bool; 4]) -> Vec<Value> {
    let base = |seq: u64, body: Value| {
        let mut r = json!({
            "record_id": format!("{pid}-{seq}"), "format": "exemplar.record/1", "session_id": pid, "participant_id": pid,
            "participant_id_source": "pid", "experiment_id": "e", "experiment_version": "1", "seq": seq,
            "time_elapsed": 1000.0 * seq as f64, "timestamp": 1.7e12 + 1000.0 * seq as f64
        });
        r.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        if r["type"] == "trial" {
            let rest = json!({"chosen_stimulus": "s/max_9.png", "min_query": "s/min_9.png", "max_query": "s/max_9.png",
                "min_references": [], "max_references": [], "input": "click", "window_width": 1280.0, "window_height": 800.0,
                "device_pixel_ratio": 1.0, "focus_losses": 0, "visibility_losses": 0, "fullscreen": true});
            r.as_object_mut()
                .unwrap()
                .extend(rest.as_object().unwrap().clone());
        }
        r
    };
    let mut out = vec![base(
        0,
        json!({"type": "instructions_done", "instruction_time": 60000.0, "pages_visited": [0]}),
    )];
    let mut seq = 1;
    // 12 main trials: units 0-3 three times each (the unit's answer), half per button row;
    // 5 correct catch trials.
    for k in 0..12u64 {
        let u = (k % 4) as usize;
        let ok = correct[u];
        let button = if k % 2 == 0 { 1 } else { 4 };
        out.push(base(seq, json!({"type": "trial", "phase": "main", "trial_index": k, "attempt": 0, "is_demo": false, "catch_trial": false,
            "unit_id": format!("u{u}"), "model": if u < 2 { "m1" } else { "m2" }, "layer": "l", "channel": u, "batch": 0, "mode": "natural",
            "rt": 2000.0, "rt_dom": 2010.0, "onset": 1.0, "button_pressed": button, "switched_queries": false, "confidence": 2,
            "choice": if ok { "b" } else { "a" }, "correct": ok})));
        seq += 1;
    }
    for k in 0..5u64 {
        out.push(base(seq, json!({"type": "trial", "phase": "catch", "trial_index": 12 + k, "attempt": 0, "is_demo": false, "catch_trial": true,
            "unit_id": "c", "model": "catch", "layer": "l", "channel": 0, "batch": 0, "mode": "catch_trial", "rt": 1900.0, "rt_dom": 1910.0,
            "onset": 1.0, "button_pressed": 2, "switched_queries": false, "confidence": 3, "choice": "b", "correct": true})));
        seq += 1;
    }
    out.push(base(seq, json!({"type": "session_completed", "main_correct": 0, "catch_correct": 5, "answered": 17, "practice_rounds": 1, "main_phase_time": 300000.0})));
    out
}

#[test]
fn analyze_reads_the_database_and_json_lines() {
    let dir = std::env::temp_dir().join(format!("exemplar-analyze-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let records: Vec<Value> = [
        session("s1", [true, true, false, true]),
        session("s2", [true, false, false, true]),
    ]
    .concat();
    let db = Db::open(&dir.join("r.db")).unwrap();
    db.insert(
        &records
            .iter()
            .map(|v| (serde_json::from_value(v.clone()).unwrap(), v.clone()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    drop(db);
    let text: String = records.iter().map(|r| r.to_string() + "\n").collect();
    std::fs::write(dir.join("r.jsonl"), text).unwrap();
    for input in ["r.db", "r.jsonl"] {
        let out = dir.join(format!("out-{input}"));
        let (ok, stdout, stderr) = exemplar(&[
            "analyze",
            dir.join(input).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{input}: {stderr}");
        assert!(stdout.contains("reports in"), "{stdout}");
        for f in [
            "report.html",
            "report.md",
            "models.csv",
            "units.csv",
            "sessions.csv",
        ] {
            assert!(out.join(f).is_file(), "{input}: {f}");
        }
        // m1: u0 = 1.0, u1 = 0.5 → 0.75; m2: u2 = 0.0, u3 = 1.0 → 0.5.
        let models = std::fs::read_to_string(out.join("models.csv")).unwrap();
        let line = |m: &str| {
            models
                .lines()
                .find(|l| l.starts_with(&format!("{m},")))
                .unwrap_or_else(|| panic!("{m} in {models}"))
                .to_string()
        };
        assert!(line("m1").contains(",0.75"), "{models}");
        assert!(line("m2").contains(",0.5"), "{models}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
