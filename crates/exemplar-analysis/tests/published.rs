//! The published datasets' layouts (IMI release, Borowski et al. 2021) read and scored by
//! the same analysis as exemplar's own records, on small files written in those layouts
//! with their quirks: anonymised and `nan` cells, negative confidence ratings, RT in
//! seconds, practice channels named `channel_r`, repeated trials.

use exemplar_analysis::read::parse_csv;
use exemplar_analysis::{analyze, Options, Rule};
use serde_json::Value;

const IMI: &str = "\
participant_id,task_id,trial_index,corrected_trial_index,rt,button_pressed,switched_queries,confidence,choice,correct,catch_trial,is_demo,batch,channel,layer,mode,model,passed_checks,time_elapsed,query_a,query_b
p1,t1,0,0,2210.4,0,False,3,b,False,False,True,0,3,inception4a,natural,googlenet,True,15000,anonymized,anonymized
p1,t1,1,1,1234.5,1,False,2,b,True,False,False,0,5,inception4a,natural,googlenet,True,16234,anonymized,anonymized
p1,t1,2,2,nan,4,True,anonymized,a,False,False,False,1,5,inception4a,natural,googlenet,True,17000,anonymized,anonymized
p1,t1,3,3,980,2,False,1,b,True,False,False,0,7,layer3,natural,resnet50,True,18000,anonymized,anonymized
p1,t1,4,4,700,0,False,3,b,True,True,False,0,1,mixed4b,catch_trial,googlenet,True,19000,anonymized,anonymized
p2,t2,0,0,1500,5,False,3,b,True,False,False,0,5,inception4a,natural,googlenet,True,9000,anonymized,anonymized
p2,t2,1,1,1600,3,True,3,b,True,False,False,0,7,layer3,natural,resnet50,True,10600,anonymized,anonymized
p3,t3,0,0,300,0,False,3,a,False,False,False,0,5,inception4a,natural,googlenet,False,500,anonymized,anonymized
";

#[test]
fn the_imi_release_is_scored_as_the_paper_scores_it() {
    let records = parse_csv(IMI).expect("reads the IMI layout");
    assert_eq!(records.len(), 8);
    let second = &records[2];
    assert_eq!(second["session_id"], "p1/t1");
    assert_eq!(second["phase"], "main");
    assert!(second.get("rt").is_none(), "nan is no RT");
    assert!(
        second.get("confidence").is_none(),
        "an anonymised cell is absent"
    );
    assert_eq!(records[1]["rt"], 1234.5);
    assert_eq!(records[0]["phase"], "practice");
    assert_eq!(records[4]["phase"], "catch");

    let a = analyze(&records, &Options::default());
    assert_eq!(a.input.sessions, 3);
    assert_eq!(a.input.sessions_passed, 2);
    assert_eq!(a.input.trials_scored, 5);
    let failed = a.sessions.iter().find(|s| s.session_id == "p3/t3").unwrap();
    assert!(!failed.passed);
    assert_eq!(failed.failures[0].rule, Rule::PublishedChecks);
    // Sessions that passed the release's checks are not judged by the exclusion rules
    // (the release has no session events): p1/t1 has one catch trial and few answers.
    assert!(a
        .sessions
        .iter()
        .filter(|s| s.session_id != "p3/t3")
        .all(|s| s.passed));

    let unit = |model: &str| a.units.iter().find(|u| u.model == model).unwrap();
    let g = unit("googlenet");
    assert_eq!(
        (g.unit_id.as_str(), g.trials, g.correct),
        ("inception4a/5 (natural)", 3, 2)
    );
    let r = unit("resnet50");
    assert_eq!(
        (r.layer.as_str(), r.channel, r.trials, r.correct),
        ("layer3", Some(7), 2, 2)
    );
    let model = |m: &str| a.models.iter().find(|x| x.model == m).unwrap().mean;
    assert!((model("googlenet") - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(model("resnet50"), 1.0);
}

const BOROWSKI_I: &str = "\
subject_id,trial_nr,block_nr,instr_type,trial_type,catch_trial,batch,layer,kernel_size,channel,query_order,correct,conf_rating,RT,response,correct_response
1,1,1,natural,practice,False,0,mixed3a,1x1,channel_r,0,1,3,2.5,1,1
1,2,1,natural,main,False,0,mixed4a,3x3,channel_12,1,1,-3,1.5,-1,-1
1,3,1,natural,main,False,1,mixed4a,1x1,40,0,1,2,0.8,1,1
1,4,1,natural,main,True,0,mixed4b,1x1,channel_3,0,1,3,0.4,1,1
1,5,2,optimized,main,False,0,mixed4a,3x3,channel_12,1,0,-1,2.25,-1,1
1,6,2,optimized,main,False,1,mixed4a,1x1,40,0,1,1,1.0,1,1
1,7,2,optimized,repeated,False,0,mixed4a,3x3,channel_12,1,1,2,1.1,1,1
2,1,1,natural,main,False,0,mixed4a,3x3,channel_12,0,0,1,3.0,1,-1
2,2,2,optimized,main,False,0,mixed4a,3x3,channel_12,1,1,3,1.2,1,1
2,3,2,optimized,main,False,1,mixed4a,1x1,40,1,1,-2,1.3,-1,-1
2,4,3,none_pre,main,False,0,mixed4a,3x3,channel_12,0,0,-1,4.0,-1,1
";

#[test]
fn borowski_experiment_one_is_scored_per_condition_over_subjects() {
    let records = parse_csv(BOROWSKI_I).expect("reads Borowski's layout");
    let first_main = &records[1];
    assert_eq!(first_main["session_id"], "1");
    assert_eq!(first_main["rt"], 1500, "RT in seconds becomes ms");
    assert_eq!(first_main["confidence"], 3, "|conf_rating|");
    assert_eq!(first_main["channel"], 12);
    assert_eq!(first_main["condition"], "natural");
    assert_eq!(first_main["block"], 1);
    assert_eq!(records[0]["phase"], "practice");
    assert!(records[0]
        .get("channel")
        .map(Value::is_string)
        .unwrap_or(false));
    assert_eq!(records[6]["type"], "repeated_trial");

    let a = analyze(&records, &Options::default());
    assert_eq!(
        a.input.trials, 10,
        "the repeated trial is read but is no trial"
    );
    assert_eq!(a.input.sessions_passed, 2);
    assert_eq!(a.input.trials_scored, 8);
    let cond = |c: &str| a.conditions.iter().find(|x| x.condition == c).unwrap();
    // Per subject, then the mean over subjects: natural 2/2 and 0/1; optimized 1/2 and
    // 2/2; none_pre 0/1.
    assert_eq!((cond("natural").mean, cond("natural").sessions), (0.5, 2));
    assert_eq!(
        (cond("optimized").mean, cond("optimized").trials),
        (0.75, 4)
    );
    assert_eq!((cond("none_pre").mean, cond("none_pre").sessions), (0.0, 1));
    let conditions: Vec<&str> = a.conditions.iter().map(|c| c.condition.as_str()).collect();
    assert_eq!(conditions, ["natural", "none_pre", "optimized"]);
}

#[test]
fn borowski_experiment_two_takes_its_condition_names() {
    let text = "\
subject_id,trial_nr,block_nr,instr_type,trial_type,catch_trial,batch,layer,kernel_size,channel,query_order,correct,conf_rating,RT,response,correct_response,condition_name,instruction_grid_mode,n_instruction_patches,expert_level
a,1,1,natural,main,False,0,mixed4a,3x3,12,0,1,3,1.0,1,1,natural_max_1,max,1,expert
a,2,1,natural,main,False,0,mixed4a,3x3,13,0,0,-3,1.0,-1,1,natural_max_1,max,1,expert
b,1,1,optimized,main,False,0,mixed4a,3x3,12,0,1,2,1.0,1,1,optimized_min_max_9,min_max,9,lay
";
    let records = parse_csv(text).expect("reads experiment II");
    let a = analyze(&records, &Options::default());
    let names: Vec<(&str, f64)> = a
        .conditions
        .iter()
        .map(|c| (c.condition.as_str(), c.mean))
        .collect();
    assert_eq!(
        names,
        [("natural_max_1", 0.5), ("optimized_min_max_9", 1.0)]
    );
}

#[test]
fn a_bad_cell_names_its_line_and_column() {
    let bad = IMI.replacen(",True,False,False,0,5,", ",maybe,False,False,0,5,", 1);
    let e = parse_csv(&bad).expect_err("not a truth value");
    let text = e.to_string();
    assert!(
        text.contains("line 3") && text.contains("column correct"),
        "{text}"
    );
    let bad = BOROWSKI_I.replacen(",repeated,", ",bonus,", 1);
    let e = parse_csv(&bad).expect_err("an unknown trial type");
    assert!(e.to_string().contains("trial_type"), "{e}");
    let bad = BOROWSKI_I.replacen(",1.5,", ",fast,", 1);
    let e = parse_csv(&bad).expect_err("RT is no number");
    assert!(e.to_string().contains("column RT"), "{e}");
}

#[test]
fn a_published_dataset_stands_beside_a_study() {
    let study = analyze(&parse_csv(IMI).unwrap(), &Options::default());
    // The baseline: the IMI rows of the second participant only, where GoogLeNet is 1/1.
    let lines: Vec<&str> = IMI.lines().filter(|l| !l.starts_with("p1,")).collect();
    let baseline = analyze(&parse_csv(&lines.join("\n")).unwrap(), &Options::default());
    let mut a = study.clone();
    a.baselines.push(exemplar_analysis::Baseline::from_analysis(
        "imi.csv", &baseline,
    ));
    let rows = exemplar_analysis::beside(&a, &a.baselines[0]);
    let labels: Vec<(&str, &str)> = rows.iter().map(|r| (r.kind, r.label.as_str())).collect();
    assert_eq!(labels, [("model", "googlenet"), ("model", "resnet50")]);
    let g = &rows[0];
    assert!((g.study.unwrap().mean - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(g.baseline.unwrap().mean, 1.0);
    assert_eq!(g.baseline.unwrap().n, 1);

    let md = exemplar_analysis::markdown(&a);
    assert!(md.contains("Beside imi.csv"), "{md}");
    assert!(md.contains("-33.3"), "the difference in points: {md}");
    let csv = exemplar_analysis::report::baselines_csv(&a);
    assert!(csv.starts_with("baseline,kind,label,n,mean,"), "{csv}");
    assert!(csv.contains("imi.csv,model,googlenet,1,"), "{csv}");

    // Labels only one side has get a row with the other side empty.
    let borowski = analyze(&parse_csv(BOROWSKI_I).unwrap(), &Options::default());
    let b = exemplar_analysis::Baseline::from_analysis("borowski.csv", &borowski);
    let rows = exemplar_analysis::beside(&study, &b);
    assert!(rows
        .iter()
        .any(|r| r.label == "natural" && r.kind == "condition" && r.study.is_none()));
    assert!(rows
        .iter()
        .any(|r| r.label == "googlenet" && r.baseline.is_none()));
}
