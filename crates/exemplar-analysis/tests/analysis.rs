//! Exclusion rules, scores and the bootstrap against hand-computed values.

mod common;

use common::Session;
use exemplar_analysis::{analyze, read, stats, Options, Rule, SessionVerdict};
use exemplar_core::rng::Rng;

fn verdict(s: &Session, options: &Options) -> SessionVerdict {
    let a = analyze(&s.records(), options);
    assert_eq!(a.sessions.len(), 1);
    a.sessions[0].clone()
}

fn failed(s: &Session) -> Vec<Rule> {
    verdict(s, &Options::default())
        .failures
        .iter()
        .map(|f| f.rule)
        .collect()
}

fn base() -> Session {
    Session::passing("s", &Session::default_main(12))
}

#[test]
fn the_base_fixture_passes_every_rule() {
    let v = verdict(&base(), &Options::default());
    assert!(v.passed, "{:?}", v.failures);
    assert_eq!((v.main_trials, v.catch_trials, v.catch_correct), (12, 5, 5));
    assert_eq!((v.upper_row, v.lower_row), (9, 8));
    assert_eq!(v.main_phase_time_s, Some(600.0));
    assert_eq!(v.instruction_time_s, Some(60.0));
    assert_eq!(v.practice_rounds, Some(1));
}

#[test]
fn catch_accuracy_needs_four_of_five() {
    let mut s = base();
    s.catch_correct = 4;
    assert_eq!(failed(&s), vec![]);
    s.catch_correct = 3;
    assert_eq!(failed(&s), vec![Rule::CatchAccuracy]);
    let v = verdict(&s, &Options::default());
    assert_eq!(
        v.failures[0].reason,
        "3 of 5 catch trials correct (60.0 %), need at least 80.0 %"
    );
}

#[test]
fn each_button_row_needs_five_answers() {
    // 17 main-block answers (12 main + 5 catch).
    let mut s = base();
    s.upper = 5;
    assert_eq!(failed(&s), vec![]);
    s.upper = 4;
    assert_eq!(failed(&s), vec![Rule::UpperRow]);
    s.upper = 12;
    assert_eq!(failed(&s), vec![]);
    s.upper = 13;
    assert_eq!(failed(&s), vec![Rule::LowerRow]);
    // With L = 2 levels, buttons 0, 1 are upper and 2..3 lower: the same answers split
    // differently (button 2 now counts as lower).
    let options = Options {
        confidence_levels: 2,
        ..Options::default()
    };
    s.upper = 17;
    let v = verdict(&s, &options);
    // Buttons 0,1,2,0,1,2,…: index % 3 == 2 → 5 of 17 are ≥ 2.
    assert_eq!((v.upper_row, v.lower_row), (12, 5));
    assert!(v.passed, "{:?}", v.failures);
}

#[test]
fn main_phase_time_must_lie_between_135_and_2500_seconds() {
    let mut s = base();
    for (ms, ok) in [
        (134_999.0, false),
        (135_000.0, true),
        (2_500_000.0, true),
        (2_500_001.0, false),
    ] {
        s.main_phase_ms = Some(ms);
        let expect = if ok {
            vec![]
        } else {
            vec![Rule::MainPhaseTime]
        };
        assert_eq!(failed(&s), expect, "{ms} ms");
    }
}

#[test]
fn main_phase_time_falls_back_to_trial_timestamps() {
    // No session_completed: 17 answers 8 s apart = 128 s (fails); 9 s apart = 144 s.
    let mut s = base();
    s.completed = false;
    s.trial_gap_ms = 8_000.0;
    let v = verdict(&s, &Options::default());
    assert_eq!(v.main_phase_time_s, Some(128.0));
    assert_eq!(v.main_phase_time_from.as_deref(), Some("trial timestamps"));
    // Practice rounds come from the practice_round events then.
    assert_eq!(v.practice_rounds, Some(1));
    assert_eq!(failed(&s), vec![Rule::MainPhaseTime]);
    s.trial_gap_ms = 9_000.0;
    assert_eq!(failed(&s), vec![]);
    // A session_completed without main_phase_time also falls back.
    s.completed = true;
    s.main_phase_ms = None;
    assert_eq!(
        verdict(&s, &Options::default()).main_phase_time_s,
        Some(144.0)
    );
}

#[test]
fn instructions_need_fifteen_seconds() {
    let mut s = base();
    s.instruction_ms = Some(14_999.0);
    assert_eq!(failed(&s), vec![Rule::InstructionTime]);
    s.instruction_ms = Some(15_000.0);
    assert_eq!(failed(&s), vec![]);
    // Missing: fails by default, is not applied on request.
    s.instruction_ms = None;
    assert_eq!(failed(&s), vec![Rule::InstructionTime]);
    let mut lenient = Options::default();
    lenient.exclusion.missing_data_fails = false;
    assert!(verdict(&s, &lenient).passed);
    // Switched off.
    let mut off = Options::default();
    off.exclusion.min_instruction_time_s = None;
    assert!(verdict(&s, &off).passed);
}

#[test]
fn at_most_three_practice_rounds() {
    let mut s = base();
    s.practice_rounds = 3;
    assert_eq!(failed(&s), vec![]);
    s.practice_rounds = 4;
    assert_eq!(failed(&s), vec![Rule::PracticeRounds]);
    // Without session_completed, counted from the practice_round events.
    s.completed = false;
    let v = verdict(&s, &Options::default());
    assert_eq!(v.practice_rounds, Some(4));
    assert!(v.failures.iter().any(|f| f.rule == Rule::PracticeRounds));
}

#[test]
fn several_failures_are_all_listed() {
    let mut s = base();
    s.catch_correct = 0;
    s.instruction_ms = Some(1000.0);
    s.practice_rounds = 5;
    assert_eq!(
        failed(&s),
        vec![
            Rule::CatchAccuracy,
            Rule::InstructionTime,
            Rule::PracticeRounds
        ]
    );
}

/// Two passing sessions and one failing, on models A (units a1, a2) and B (b1, b2, b3).
fn scoring_fixture() -> Vec<serde_json::Value> {
    let t = true;
    let f = false;
    let s1 = Session::passing(
        "s1",
        &[
            ("A", "a1", t),
            ("A", "a1", t),
            ("A", "a1", t),
            ("A", "a1", f),
            ("A", "a2", t),
            ("A", "a2", f),
            ("B", "b1", t),
            ("B", "b1", t),
            ("B", "b2", f),
            ("B", "b2", f),
            ("B", "b3", t),
            ("B", "b3", f),
        ],
    );
    let s2 = Session::passing(
        "s2",
        &[
            ("A", "a1", t),
            ("A", "a1", f),
            ("A", "a2", t),
            ("A", "a2", t),
            ("B", "b1", t),
            ("B", "b1", f),
            ("B", "b2", t),
            ("B", "b2", f),
            ("B", "b3", t),
            ("B", "b3", t),
        ],
    );
    // Fails the catch rule; its answers (all wrong on a1) must not count.
    let mut s3 = Session::passing("s3", &[("A", "a1", f); 12]);
    s3.catch_correct = 2;
    let mut records = s1.records();
    records.extend(s2.records());
    records.extend(s3.records());
    // Delivered twice: must be counted once.
    records.extend(s1.records());
    records
}

#[test]
fn unit_and_model_scores_match_hand_computation() {
    let a = analyze(&scoring_fixture(), &Options::default());
    assert_eq!(a.input.sessions, 3);
    assert_eq!(a.input.sessions_passed, 2);
    assert_eq!(
        a.input.duplicates,
        scoring_fixture().len() - a.input.records
    );
    assert_eq!(a.input.trials_scored, 22);
    let score = |id: &str| a.units.iter().find(|u| u.unit_id == id).unwrap();
    // a1: s1 3/4, s2 1/2 → 4/6; a2: 1/2 + 2/2 → 3/4; b1 3/4; b2 1/4; b3 3/4.
    assert_eq!((score("a1").correct, score("a1").trials), (4, 6));
    assert_eq!(score("a1").score, 4.0 / 6.0);
    assert_eq!(score("a2").score, 0.75);
    assert_eq!(score("b1").score, 0.75);
    assert_eq!(score("b2").score, 0.25);
    assert_eq!(score("b3").score, 0.75);
    assert_eq!(score("a1").sessions, 2);
    assert_eq!(a.models.len(), 2);
    let (ma, mb) = (&a.models[0], &a.models[1]);
    assert_eq!((ma.label.as_str(), ma.units, ma.trials), ("A", 2, 10));
    assert!((ma.mean - 17.0 / 24.0).abs() < 1e-15);
    assert!((mb.mean - 7.0 / 12.0).abs() < 1e-15);
    assert!(ma.ci_low <= ma.mean && ma.mean <= ma.ci_high);
    // Ranks: b2 1, a1 2, a2/b1/b3 4 → R_A = 6, R_B = 9; H = 0.4 (36/2 + 81/3) − 18 = 0.
    let kw = a.kruskal_wallis.as_ref().unwrap();
    assert!(kw.h.abs() < 1e-12, "{}", kw.h);
    assert!((kw.p - 1.0).abs() < 1e-12);
    assert_eq!(a.posthoc.len(), 1);
    // Accuracy by confidence: confidence = 1 + index % 3 within each session.
    let total: usize = a.accuracy_by_confidence.iter().map(|c| c.trials).sum();
    assert_eq!(total, 22);
    assert_eq!(a.accuracy_by_confidence[0].trials, 4 + 4);
    // RT: 1500 + 100 k ms, k = 0..11 (s1) and 0..9 (s2).
    let rt = a.rt.as_ref().unwrap();
    let expect = ((0..12)
        .chain(0..10)
        .map(|k| 1500.0 + 100.0 * k as f64)
        .sum::<f64>())
        / 22.0;
    assert!((rt.mean_ms - expect).abs() < 1e-9);
}

#[test]
fn csv_and_jsonl_round_trips_give_the_same_scores() {
    let records = scoring_fixture();
    let jsonl: String = records.iter().map(|r| format!("{r}\n")).collect();
    let from_jsonl = analyze(&read::parse_jsonl(&jsonl).unwrap(), &Options::default());
    assert_eq!(from_jsonl, analyze(&records, &Options::default()));

    // The CSV export has trial rows only: without session events, only the rules that
    // can be checked are applied.
    let header = "rt,button_pressed,switched_queries,confidence,choice,correct,catch_trial,is_demo,trial_index,time_elapsed,model,layer,channel,batch,mode,session_id,participant_id,experiment_id,experiment_version,record_id,seq,timestamp,phase,attempt,unit_id";
    let cols: Vec<&str> = header.split(',').collect();
    let mut csv = format!("{header}\n");
    for r in records.iter().filter(|r| r["type"] == "trial") {
        let row: Vec<String> = cols
            .iter()
            .map(|c| match &r[*c] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            })
            .collect();
        csv += &row.join(",");
        csv.push('\n');
    }
    let rows = read::parse_csv(&csv).unwrap();
    let strict = analyze(&rows, &Options::default());
    assert_eq!(strict.input.sessions_passed, 0);
    assert!(strict.sessions[0]
        .failures
        .iter()
        .any(|f| f.rule == Rule::InstructionTime));
    let mut lenient = Options::default();
    lenient.exclusion.missing_data_fails = false;
    let from_csv = analyze(&rows, &lenient);
    let reference = analyze(&records, &Options::default());
    assert_eq!(from_csv.input.sessions_passed, 2);
    assert_eq!(from_csv.units, reference.units);
    assert_eq!(from_csv.models, reference.models);
}

#[test]
fn bootstrap_is_deterministic_brackets_the_mean_and_narrows_with_more_units() {
    let pattern = [
        0.512, 0.634, 0.701, 0.823, 0.907, 0.998, 0.557, 0.761, 0.949, 0.668,
    ];
    let small: Vec<f64> = pattern.to_vec();
    let large: Vec<f64> = pattern.iter().cycle().take(100).copied().collect();
    let ci = |v: &[f64], seed| {
        stats::bootstrap_mean_ci(v, 10_000, 0.95, &mut Rng::derive(seed, "bootstrap")).unwrap()
    };
    assert_eq!(ci(&small, 1), ci(&small, 1));
    assert_ne!(ci(&small, 1), ci(&small, 2));
    let mean = stats::mean(&small).unwrap();
    for c in [ci(&small, 1), ci(&large, 1)] {
        assert!(c.low < mean && mean < c.high, "{c:?} vs {mean}");
    }
    let (ws, wl) = (
        ci(&small, 1).high - ci(&small, 1).low,
        ci(&large, 1).high - ci(&large, 1).low,
    );
    // Same spread, 10× the units: about √10 ≈ 3.2× narrower.
    assert!(wl < ws / 2.5 && wl > ws / 4.0, "{ws} vs {wl}");
    // The normal-approximation width 2 · 1.96 · sd/√n, within 15 %.
    let sd = stats::sd(&small).unwrap() * (9.0f64 / 10.0).sqrt();
    let normal = 2.0 * 1.96 * sd / 10f64.sqrt();
    assert!((ws / normal - 1.0).abs() < 0.15, "{ws} vs {normal}");
    // One unit: the interval is the point.
    let one = ci(&[0.7], 3);
    assert_eq!((one.low, one.high), (0.7, 0.7));
}

#[test]
fn the_analysis_bootstrap_is_reproducible_and_hand_checkable() {
    let records = scoring_fixture();
    let a = analyze(&records, &Options::default());
    let b = analyze(&records, &Options::default());
    assert_eq!(a.models, b.models);
    // Model A has two units, 2/3 and 3/4: a resample's mean is 2/3, 17/24 or 3/4 with
    // probabilities 1/4, 1/2, 1/4, so the 2.5 % and 97.5 % quantiles of 10,000 resample
    // means are 2/3 and 3/4 for any seed.
    assert_eq!((a.models[0].ci_low, a.models[0].ci_high), (4.0 / 6.0, 0.75));
}

#[test]
fn kruskal_wallis_hand_computed() {
    // Ranks 1..6 in three pairs: R = 3, 7, 11; H = 12/42 · (9 + 49 + 121)/2 − 21 = 32/7,
    // and χ²₂'s survival function is exp(−x/2).
    let kw = stats::kruskal_wallis(&[vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]).unwrap();
    assert!((kw.h - 32.0 / 7.0).abs() < 1e-12);
    assert!((kw.p - (-16.0f64 / 7.0).exp()).abs() < 1e-14);
    assert!(stats::kruskal_wallis(&[vec![1.0, 1.0], vec![1.0]]).is_none());
    assert!(stats::kruskal_wallis(&[vec![1.0, 2.0]]).is_none());
}

#[test]
fn conover_matches_scikit_posthocs_published_example() {
    // scikit-posthocs README: posthoc_conover(x, p_adjust='holm') for
    // x = [[1,2,3,5,1], [12,31,54,nan], [10,12,6,74,11]] gives
    // p(1,2) = 0.00119517, p(1,3) = 0.00278329, p(2,3) = 0.18672227.
    let groups = vec![
        vec![1.0, 2.0, 3.0, 5.0, 1.0],
        vec![12.0, 31.0, 54.0],
        vec![10.0, 12.0, 6.0, 74.0, 11.0],
    ];
    let pairs = stats::conover(&groups).unwrap();
    let got: Vec<(usize, usize, f64)> = pairs.iter().map(|p| (p.i, p.j, p.p_holm)).collect();
    for ((i, j, p), expect) in got.iter().zip([0.001_195_17, 0.002_783_29, 0.186_722_27]) {
        assert!((p - expect).abs() < 5e-9, "({i},{j}): {p} vs {expect}");
    }
}

#[test]
fn reports_are_written() {
    let a = analyze(&scoring_fixture(), &Options::default());
    let dir = std::env::temp_dir().join(format!("exemplar-analysis-{}", std::process::id()));
    exemplar_analysis::write_reports(&a, &dir).unwrap();
    let models = std::fs::read_to_string(dir.join("models.csv")).unwrap();
    assert!(models.starts_with("model_label,model,mode,units,trials,mean,ci_low,ci_high,sd,median\nA,A,natural,2,10,0.70833333333333"), "{models}");
    let units = std::fs::read_to_string(dir.join("units.csv")).unwrap();
    assert_eq!(units.lines().count(), 6);
    let sessions = std::fs::read_to_string(dir.join("sessions.csv")).unwrap();
    assert!(sessions.contains("s3,p-s3,false,"), "{sessions}");
    assert!(sessions.contains("catch_accuracy: 2 of 5 catch trials correct"));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("| A | 2 | 10 | 70.8 |"), "{md}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 4);
    assert!(!html.contains("<script"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(json["input"]["sessions_passed"], 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn practice_rounds_of_a_design_count_over_its_blocks() {
    // Without session_completed: four blocks, each passed at the first round, say four
    // rounds in all (the round numbers repeat per block).
    let mut s = base();
    s.completed = false;
    s.practice_rounds = 0;
    let mut records = s.records();
    let template = serde_json::json!({
        "record_id": "s-p", "format": "exemplar.record/1", "session_id": "s", "participant_id": "s",
        "participant_id_source": "pid", "experiment_id": "e", "experiment_version": "1", "seq": 900,
        "time_elapsed": 1.0, "timestamp": 1.0, "type": "practice_round", "attempt": 0,
        "correct": 1, "answered": 1, "next": "main"
    });
    for block in 0..4u64 {
        let mut r = template.clone();
        r["record_id"] = format!("s-p{block}").into();
        r["seq"] = (900 + block).into();
        r["block"] = block.into();
        records.push(r);
    }
    let a = analyze(&records, &Options::default());
    assert_eq!(a.sessions[0].practice_rounds, Some(4));
}
