//! The machine beside the humans: `exemplar mis --per batch`'s Δs joined to scored trials,
//! α fitted to the human answers, each unit's MIS beside its proportion correct, Spearman
//! with a bootstrap CI, and the reports.

use exemplar_analysis::machine::{read_batches_csv, BatchDelta};
use exemplar_analysis::read::parse_csv;
use exemplar_analysis::{analyze_with_machine, Options};
use exemplar_core::mis::sigmoid;
use exemplar_core::rng::Rng;
use serde_json::{json, Value};

/// A main trial of a session that passed (`passed_checks`, so no session events are
/// needed).
fn trial(session: &str, unit: &str, batch: u64, correct: bool) -> Value {
    json!({
        "type": "trial", "session_id": session, "phase": "main", "unit_id": unit,
        "model": "net", "layer": "l", "channel": 0, "mode": "natural", "batch": batch,
        "correct": correct, "passed_checks": true,
    })
}

#[test]
fn alpha_is_fitted_to_simulated_people_and_the_ranking_follows() {
    let alpha = 8.0;
    let mut rng = Rng::new(7);
    let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut batches = Vec::new();
    let mut records = Vec::new();
    for u in 0..40u64 {
        for b in 0..5u64 {
            let delta = (u as f64 - 20.0) / 20.0 * 0.3 + (b as f64 - 2.0) * 0.01;
            batches.push(BatchDelta {
                unit: format!("u{u}"),
                model: "net".into(),
                layer: "l".into(),
                channel: Some(0),
                batch: b,
                delta,
            });
            for p in 0..60 {
                let correct = uniform() < sigmoid(alpha * delta);
                records.push(trial(&format!("s{p}"), &format!("u{u}"), b, correct));
            }
        }
    }
    // A unit the MIS file does not have.
    for p in 0..10 {
        records.push(trial(&format!("s{p}"), "elsewhere", 0, true));
    }
    let a = analyze_with_machine(&records, &Options::default(), Some(&batches));
    let m = a.machine.as_ref().expect("a comparison");
    let fitted = m.alpha.expect("α fits");
    assert!((fitted - alpha).abs() / alpha < 0.1, "α = {fitted}");
    assert_eq!((m.trials_matched, m.trials_unmatched), (12_000, 10));
    assert_eq!(m.units.len(), 40);
    let u0 = m.units.iter().find(|u| u.unit_id == "u0").unwrap();
    let want: f64 = (0..5)
        .map(|b| sigmoid(fitted * (-0.3 + (b as f64 - 2.0) * 0.01)))
        .sum::<f64>()
        / 5.0;
    assert!((u0.mis - want).abs() < 1e-12);
    assert_eq!(u0.batches, 5);
    let rho = m.spearman.expect("ρ");
    assert!(rho > 0.9, "ρ = {rho}");
    let (lo, hi) = (m.ci_low.unwrap(), m.ci_high.unwrap());
    assert!(
        lo <= rho && rho <= hi && hi <= 1.0,
        "[{lo}, {hi}] around {rho}"
    );

    // The reports carry it.
    let md = exemplar_analysis::markdown(&a);
    assert!(
        md.contains("Machine and humans (MIS)") && md.contains("Spearman ρ"),
        "{md}"
    );
    let html = exemplar_analysis::html(&a);
    assert!(
        html.contains("Figure 5.") && html.contains("<circle"),
        "a scatter plot"
    );
    let csv = exemplar_analysis::report::machine_csv(&a);
    assert!(
        csv.starts_with("group,unit,batches,mis,human,alpha\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 41);
}

/// The IMI release has no unit ids: its trials find their batches by model, layer and
/// channel. Answers that follow Δ's sign without exception fit no α, and say so.
#[test]
fn records_without_unit_ids_match_by_layer_and_channel() {
    let imi = "\
participant_id,task_id,rt,button_pressed,confidence,correct,catch_trial,is_demo,batch,channel,layer,mode,model,passed_checks
p1,t1,900,0,3,True,False,False,0,5,inception4a,natural,googlenet,True
p1,t1,900,0,3,False,False,False,1,5,inception4a,natural,googlenet,True
p1,t1,900,0,3,True,False,False,0,7,layer3,natural,resnet50,True
p2,t2,900,0,3,True,False,False,0,5,inception4a,natural,googlenet,True
p2,t2,900,0,3,True,False,False,0,7,layer3,natural,resnet50,True
p2,t2,900,0,3,True,False,False,2,7,layer3,natural,resnet50,True
";
    let mis = "\
path,unit,model,layer,channel,batch,max_query_to_max,max_query_to_min,min_query_to_max,min_query_to_min,delta,predicted
a,units[0],googlenet,inception4a,5,0,0.9,0.5,0.5,0.7,0.2,1
b,units[0],googlenet,inception4a,5,1,0.6,0.6,0.6,0.5,-0.1,0
c,units[1],resnet50,layer3,7,0,0.9,0.5,0.5,0.8,0.3,1
";
    let batches = read_batches_csv(mis).expect("reads the MIS CSV");
    let records = parse_csv(imi).unwrap();
    let a = analyze_with_machine(&records, &Options::default(), Some(&batches));
    let m = a.machine.unwrap();
    assert_eq!(
        (m.trials_matched, m.trials_unmatched),
        (5, 1),
        "batch 2 is not in the file"
    );
    assert_eq!(m.alpha, None);
    assert!(m.alpha_note.unwrap().contains("share of batches"));
    let score = |model: &str| m.units.iter().find(|u| u.group == model).unwrap().mis;
    assert_eq!((score("googlenet"), score("resnet50")), (0.5, 1.0));
    assert_eq!(m.spearman, None, "two units");
}

#[test]
fn a_bad_mis_file_names_its_line_and_column() {
    let e = read_batches_csv("unit,batch,delta\nu,0,0.1\n").expect_err("columns missing");
    assert!(e.to_string().contains("no column model"), "{e}");
    let head = "unit,model,layer,channel,batch,delta\n";
    let e = read_batches_csv(&format!("{head}u,m,l,1,0,0.1\nu,m,l,1,x,0.1\n")).unwrap_err();
    assert!(
        e.to_string().contains("line 3") && e.to_string().contains("column batch"),
        "{e}"
    );
    let e = read_batches_csv(&format!("{head}u,m,l,1,0,NaN\n")).unwrap_err();
    assert!(e.to_string().contains("column delta"), "{e}");
}

/// A file written for a stimuli folder names its units by folder: trials whose unit id it
/// does not know find their batches by model, layer and channel, unless two units of the
/// file share those (two modes of one channel), which would be a guess.
#[test]
fn unknown_unit_ids_fall_back_to_an_unambiguous_layer_and_channel() {
    let batch = |unit: &str, channel: u64, b: u64, delta: f64| BatchDelta {
        unit: unit.into(),
        model: "net".into(),
        layer: "l".into(),
        channel: Some(channel),
        batch: b,
        delta,
    };
    let batches = [
        batch("units/l/3", 3, 0, 0.2),
        batch("natural/l/5", 5, 0, 0.1),
        batch("optimized/l/5", 5, 0, -0.1),
    ];
    let trial = |channel: u64, correct: bool| {
        json!({
            "type": "trial", "session_id": "s", "phase": "main", "unit_id": format!("exp-{channel}"),
            "model": "net", "layer": "l", "channel": channel, "mode": "natural", "batch": 0,
            "correct": correct, "passed_checks": true,
        })
    };
    let records = [trial(3, true), trial(3, false), trial(5, true)];
    let a = analyze_with_machine(&records, &Options::default(), Some(&batches));
    let m = a.machine.unwrap();
    assert_eq!((m.trials_matched, m.trials_unmatched), (2, 1));
    assert_eq!(m.units.len(), 1);
    assert_eq!(
        (m.units[0].unit_id.as_str(), m.units[0].batches),
        ("exp-3", 1)
    );
}
