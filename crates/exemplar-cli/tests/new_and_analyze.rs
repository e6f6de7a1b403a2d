//! `exemplar new` makes a valid experiment; `exemplar analyze` reads the collector's
//! database and JSON Lines and writes the reports.

mod common;

use common::{exemplar, record_of, trial};
use exemplar_cli::collector::Db;
use exemplar_core::plan::Phase;
use exemplar_core::record::{Body, TrialMode};
use serde_json::Value;

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
    let mut bodies = vec![Body::InstructionsDone {
        instruction_time: 60000.0,
        pages_visited: vec![0],
    }];
    // 12 main trials: units 0-3 three times each (the unit's answer), half per button row;
    // 5 correct catch trials.
    for k in 0..12u32 {
        let u = k % 4;
        let mut t = trial(
            &format!("u{u}"),
            if u < 2 { "m1" } else { "m2" },
            u,
            correct[u as usize],
        );
        t.trial_index = k;
        t.button_pressed = if k % 2 == 0 { 1 } else { 4 };
        bodies.push(Body::Trial(Box::new(t)));
    }
    for k in 0..5u32 {
        let mut t = trial("c", "catch", 0, true);
        t.phase = Phase::Catch;
        t.trial_index = 12 + k;
        t.catch_trial = true;
        t.mode = TrialMode::CatchTrial;
        (t.rt, t.rt_dom, t.button_pressed, t.confidence) = (1900.0, 1910.0, 2, 3);
        bodies.push(Body::Trial(Box::new(t)));
    }
    bodies.push(Body::SessionCompleted {
        main_correct: 0,
        catch_correct: 5,
        answered: 17,
        practice_rounds: 1,
        main_phase_time: 300000.0,
    });
    bodies
        .into_iter()
        .enumerate()
        .map(|(seq, body)| {
            let mut r = record_of(pid, pid, seq as u64, 1000.0, body);
            r.timestamp += 1000.0 * seq as f64;
            serde_json::to_value(r).unwrap()
        })
        .collect()
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
