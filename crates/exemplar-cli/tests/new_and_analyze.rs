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

/// An empty folder of this name (and this process) under the temporary directory.
fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The records of `pid`'s session with these bodies, in order, a second apart.
fn records(pid: &str, bodies: Vec<Body>) -> Vec<Value> {
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

/// The collector's SQLite database at `path` holding `records` (its connection open).
fn database_with(path: &std::path::Path, records: &[Value]) -> Db {
    let db = Db::open(path).unwrap();
    let typed: Vec<_> = records
        .iter()
        .map(|v| (serde_json::from_value(v.clone()).unwrap(), v.clone()))
        .collect();
    db.insert(&typed).unwrap();
    db
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
    records(pid, bodies)
}

#[test]
fn analyze_reads_the_database_and_json_lines() {
    let dir = fresh_dir("exemplar-analyze");
    let records: Vec<Value> = [
        session("s1", [true, true, false, true]),
        session("s2", [true, false, false, true]),
    ]
    .concat();
    let db = database_with(&dir.join("r.db"), &records);
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

/// A session shaped like the demo's (10 main and 2 catch trials, all correct, half per
/// button row), its main phase taking `main_phase_s`; answered by a `?simulate=`
/// participant when `simulated`.
fn demo_session(pid: &str, main_phase_s: f64, simulated: bool) -> Vec<Value> {
    let mut bodies = vec![Body::InstructionsDone {
        instruction_time: 30000.0,
        pages_visited: vec![0, 1, 2],
    }];
    for k in 0..12u32 {
        let u = k % 4;
        let mut t = trial(&format!("u{u}"), "m", u, true);
        t.trial_index = k;
        t.button_pressed = if k % 2 == 0 { 1 } else { 4 };
        if k >= 10 {
            t.phase = Phase::Catch;
            t.catch_trial = true;
            t.mode = TrialMode::CatchTrial;
        }
        if simulated {
            t.input = exemplar_core::record::Input::Simulated;
        }
        bodies.push(Body::Trial(Box::new(t)));
    }
    bodies.push(Body::SessionCompleted {
        main_correct: 10,
        catch_correct: 2,
        answered: 12,
        practice_rounds: 1,
        main_phase_time: 1000.0 * main_phase_s,
    });
    records(pid, bodies)
}

fn sessions_csv(out: &std::path::Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(out.join("sessions.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (id, passed, simulated) = (col("session_id"), col("passed"), col("simulated"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[id].to_string(),
                f[passed].to_string(),
                f[simulated].to_string(),
            )
        })
        .collect()
}

#[test]
fn analyze_applies_the_experiments_own_rules_and_keeps_simulated_sessions_apart() {
    let dir = fresh_dir("exemplar-analyze-rules");
    // Two demo-length sessions of 40 s (as a person takes the demo), one too quick (10 s),
    // and one of the simulated participant.
    let records: Vec<Value> = [
        demo_session("p1", 40.0, false),
        demo_session("p2", 45.0, false),
        demo_session("p3", 10.0, false),
        demo_session("sim", 40.0, true),
    ]
    .concat();
    let text: String = records.iter().map(|r| r.to_string() + "\n").collect();
    let responses = dir.join("r.jsonl");
    std::fs::write(&responses, text).unwrap();
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../demo");
    let run = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let mut args = vec![
            "analyze",
            responses.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (ok, stdout, stderr) = exemplar(&args);
        assert!(ok, "{stderr}");
        (sessions_csv(&out), stdout, stderr)
    };
    let row = |id: &str, passed: &str, simulated: &str| {
        (id.to_string(), passed.to_string(), simulated.to_string())
    };

    // The original study's thresholds (135 s for 50 trials) exclude every demo session,
    // and say so.
    let (sessions, _, stderr) = run("default", &[]);
    assert!(stderr.contains("no --experiment"), "{stderr}");
    assert!(
        sessions.iter().all(|(_, passed, _)| passed == "false"),
        "{sessions:?}"
    );

    // The demo's own rules (at least 24 s) keep the two real sessions of 40 s and more;
    // the simulated one passes the rules but is listed apart and not scored.
    let (sessions, stdout, _) = run("demo", &["--experiment", demo]);
    assert_eq!(
        sessions,
        vec![
            row("p1", "true", "false"),
            row("p2", "true", "false"),
            row("p3", "false", "false"),
            row("sim", "true", "true")
        ]
    );
    assert!(stdout.contains("2 of 3 sessions passed the exclusion rules (1 simulated sessions listed apart, not scored); 20 trials scored"), "{stdout}");

    // Asked to, it scores the simulated session too.
    let (_, stdout, _) = run(
        "with-simulated",
        &["--experiment", demo, "--score-simulated"],
    );
    assert!(stdout.contains("3 of 4 sessions passed the exclusion rules (1 of them simulated, scored as asked); 30 trials scored"), "{stdout}");

    // A broken rule in the experiment is an error naming it.
    let bad = dir.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let mut exp: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{demo}/experiment.json")).unwrap())
            .unwrap();
    exp["analysis"]["exclusion"]["min_catch_accuracy"] = 80.into();
    std::fs::write(bad.join("experiment.json"), exp.to_string()).unwrap();
    let (ok, _, stderr) = exemplar(&[
        "analyze",
        responses.to_str().unwrap(),
        "--out",
        dir.join("x").to_str().unwrap(),
        "--experiment",
        bad.to_str().unwrap(),
    ]);
    assert!(
        !ok && stderr.contains("analysis.exclusion.min_catch_accuracy"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn analyze_warns_of_a_database_copied_without_its_write_ahead_log() {
    let dir = fresh_dir("exemplar-analyze-wal");
    let records = demo_session("p1", 40.0, false);
    let db = database_with(&dir.join("r.db"), &records);
    // While the collector's connection is open, its records are in r.db-wal: a copy of
    // r.db alone may lack them, and analyze says so.
    assert!(dir.join("r.db-wal").is_file());
    std::fs::copy(dir.join("r.db"), dir.join("copy.db")).unwrap();
    let out = dir.join("out").to_str().unwrap().to_string();
    let (_, _, stderr) = exemplar(&[
        "analyze",
        dir.join("copy.db").to_str().unwrap(),
        "--out",
        &out,
    ]);
    assert!(
        stderr.contains("has no") && stderr.contains("copy.db-wal"),
        "{stderr}"
    );
    // With the log beside it, no warning.
    let (ok, _, stderr) = exemplar(&["analyze", dir.join("r.db").to_str().unwrap(), "--out", &out]);
    assert!(ok && !stderr.contains("write-ahead"), "{stderr}");
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `exemplar new --design` writes each study's design, valid and with the blocks and
/// groups the study had.
#[test]
fn new_writes_each_design() {
    let dir = fresh_dir("exemplar-new-designs");
    for (design, groups, blocks) in [
        ("borowski-exp1", vec!["exp1"], 4),
        ("borowski-exp2", vec!["exp2"], 4),
        ("imi", vec!["natural", "optimized"], 1),
    ] {
        let d = dir.join(design);
        let (ok, _, stderr) = exemplar(&["new", d.to_str().unwrap(), "--design", design]);
        assert!(ok, "{design}: {stderr}");
        let (ok, stdout, stderr) = exemplar(&["validate", d.to_str().unwrap()]);
        assert!(
            ok && stdout.contains("valid (4 units"),
            "{design}: {stdout}{stderr}"
        );
        assert!(std::fs::read_to_string(d.join("GUIDE.md"))
            .unwrap()
            .contains("## Design"));
        let exp = exemplar_core::Experiment::load_dir(&d).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..8 {
            let plan = exemplar_core::Plan::for_participant(&exp, &k.to_string());
            assert_eq!(plan.blocks.len(), blocks, "{design}");
            seen.insert(plan.group.unwrap());
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), groups, "{design}");
    }
    let exp = exemplar_core::Experiment::load_dir(&dir.join("borowski-exp2")).unwrap();
    let plan = exemplar_core::Plan::for_participant(&exp, "0");
    let single = plan
        .blocks
        .iter()
        .find(|b| b.condition.as_deref() == Some("optimized_max_1"))
        .unwrap();
    for t in &single.main {
        assert_eq!((t.min_references.len(), t.max_references.len()), (0, 1));
        assert!(
            t.max_references[0].starts_with("stimuli/unit_")
                && t.max_references[0].contains("_opt/")
        );
        assert!(!t.max_query.contains("_opt/"), "natural queries");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Simulated sessions of `exemplar new --design borowski-exp1`, scored per condition and
/// per block as Borowski et al. report them: none_pre all wrong, natural all right,
/// optimized and none_post half right.
#[test]
fn analyze_scores_each_condition_and_block_of_a_design() {
    use exemplar_core::record::{Input, TrialRecord};
    use exemplar_core::score::{self, Choice};
    let dir = fresh_dir("exemplar-analyze-design");
    let exp_dir = dir.join("exp1");
    let (ok, _, stderr) = exemplar(&[
        "new",
        exp_dir.to_str().unwrap(),
        "--design",
        "borowski-exp1",
    ]);
    assert!(ok, "{stderr}");
    let exp = exemplar_core::Experiment::load_dir(&exp_dir).unwrap();
    let mut all = Vec::new();
    for k in 0..8 {
        let pid = k.to_string();
        let plan = exemplar_core::Plan::for_participant(&exp, &pid);
        let mut participant = exemplar_core::simulate::Participant::new(1.0, k).unwrap();
        let mut bodies = vec![Body::InstructionsDone {
            instruction_time: 60000.0,
            pages_visited: vec![0, 1],
        }];
        for t in exemplar_core::simulate::run_session(&exp, &plan, &mut participant) {
            let button = if t.index % 2 == 0 { 0 } else { 3 };
            let answer = score::answer(button, 3, t.trial.switched_queries).unwrap();
            let mut r = TrialRecord::from_plan(&plan, &t.stage, &t.trial, &answer, Input::Click);
            r.correct = match r.condition.as_deref().unwrap() {
                "none_pre" => false,
                "natural" => true,
                _ => t.index == 0,
            };
            r.choice = if r.correct { Choice::B } else { Choice::A };
            (r.rt, r.rt_dom) = (2000.0, 2010.0);
            bodies.push(Body::Trial(Box::new(r)));
        }
        bodies.push(Body::SessionCompleted {
            main_correct: 0,
            catch_correct: 0,
            answered: 8,
            practice_rounds: 4,
            main_phase_time: 60000.0,
        });
        all.extend(records(&pid, bodies));
    }
    let responses = dir.join("r.jsonl");
    let text: String = all.iter().map(|r| r.to_string() + "\n").collect();
    std::fs::write(&responses, text).unwrap();
    let out = dir.join("out");
    let (ok, stdout, stderr) = exemplar(&[
        "analyze",
        responses.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--experiment",
        exp_dir.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("8 of 8 sessions passed"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("conditions.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // condition, block, sessions, trials, correct, mean, …
    let by_condition: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .filter(|r| r[1].is_empty())
        .map(|r| (r[0], r[2], r[3], r[5]))
        .collect();
    assert_eq!(
        by_condition,
        [
            ("natural", "8", "16", "1"),
            ("none_post", "8", "16", "0.5"),
            ("none_pre", "8", "16", "0"),
            ("optimized", "8", "16", "0.5"),
        ],
        "{csv}"
    );
    let by_block: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| !r[1].is_empty())
        .map(|r| (r[1], r[0], r[2]))
        .collect();
    assert_eq!(
        by_block,
        [
            ("0", "none_pre", "8"),
            ("1", "natural", "4"),
            ("1", "optimized", "4"),
            ("2", "natural", "4"),
            ("2", "optimized", "4"),
            ("3", "none_post", "8"),
        ],
        "{csv}"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("Scores by condition") && report.contains("Scores by block"));
    let models = std::fs::read_to_string(out.join("models.csv")).unwrap();
    assert!(
        models.contains("placeholder (natural) [none_pre]"),
        "{models}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `exemplar analyze --baseline` reads a published layout and puts its scores beside the
/// study's in every report; a baseline with nothing scored is refused.
#[test]
fn analyze_puts_a_published_baseline_beside_the_study() {
    let dir = fresh_dir("exemplar-analyze-baseline");
    let records = demo_session("p1", 40.0, false);
    let jsonl: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.join("r.jsonl"), jsonl).unwrap();
    let borowski = "\
subject_id,trial_nr,block_nr,instr_type,trial_type,catch_trial,batch,layer,kernel_size,channel,query_order,correct,conf_rating,RT,response,correct_response
1,1,1,natural,main,False,0,mixed4a,3x3,channel_12,1,1,-3,1.5,-1,-1
2,1,1,natural,main,False,0,mixed4a,3x3,channel_12,1,0,2,2.5,1,-1
";
    std::fs::write(dir.join("borowski_exp1.csv"), borowski).unwrap();
    let out = dir.join("out");
    let (ok, stdout, stderr) = exemplar(&[
        "analyze",
        dir.join("r.jsonl").to_str().unwrap(),
        "--experiment",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../demo"),
        "--baseline",
        dir.join("borowski_exp1.csv").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Beside borowski_exp1.csv"), "{stdout}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Beside borowski_exp1.csv</h2>"));
    let csv = std::fs::read_to_string(out.join("baselines.csv")).unwrap();
    assert!(
        csv.contains("borowski_exp1.csv,condition,natural,,,,,2,0.5,"),
        "{csv}"
    );

    // A file with no scored trial is a mistake, not an empty column.
    std::fs::write(dir.join("empty.csv"), borowski.lines().next().unwrap()).unwrap();
    let (ok, _, stderr) = exemplar(&[
        "analyze",
        dir.join("r.jsonl").to_str().unwrap(),
        "--baseline",
        dir.join("empty.csv").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        !ok && stderr.contains("no trial in it is scored"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
