//! The session's progress: page order, the practice loop, answers and reloads.

use exemplar_core::experiment::Experiment;
use exemplar_core::plan::Plan;
use exemplar_core::score::{answer, Choice, Progress, RoundOutcome, Stage};

fn demo() -> Experiment {
    Experiment::from_json(include_str!("../../../demo/experiment.json")).expect("demo is valid")
}

/// Walks the pages before the trials.
fn to_practice(p: &mut Progress, exp: &Experiment, plan: &Plan) {
    p.advance(exp, plan); // welcome -> consent
    assert_eq!(p.stage, Stage::Consent);
    p.advance(exp, plan);
    assert_eq!(p.stage, Stage::Instructions { page: 0 });
    p.advance(exp, plan);
    p.back();
    assert_eq!(p.stage, Stage::Instructions { page: 0 }, "back navigation");
    p.back();
    assert_eq!(
        p.stage,
        Stage::Instructions { page: 0 },
        "no page before the first"
    );
    for _ in 0..exp.pages.instructions.len() {
        p.advance(exp, plan);
    }
    assert_eq!(p.stage, Stage::Fullscreen);
    p.advance(exp, plan);
    assert_eq!(p.stage, Stage::PracticeIntro { attempt: 0 });
    p.advance(exp, plan);
    assert_eq!(
        p.stage,
        Stage::Practice {
            attempt: 0,
            index: 0
        }
    );
}

fn play_round(
    p: &mut Progress,
    exp: &Experiment,
    plan: &Plan,
    wrong_at: Option<u32>,
) -> Option<RoundOutcome> {
    let Stage::Practice { attempt, .. } = p.stage else {
        panic!("not in practice: {:?}", p.stage)
    };
    let mut outcome = None;
    for i in 0..plan.practice[attempt as usize].len() as u32 {
        assert_eq!(p.stage, Stage::Practice { attempt, index: i });
        assert!(p.trial(plan).is_some());
        p.answer(wrong_at != Some(i));
        outcome = p.round_outcome(exp, plan);
        p.advance(exp, plan);
    }
    outcome
}

#[test]
fn practice_repeats_until_all_correct() {
    let exp = demo();
    let plan = Plan::for_participant(&exp, "p");
    let mut p = Progress::default();
    to_practice(&mut p, &exp, &plan);
    assert_eq!(
        play_round(&mut p, &exp, &plan, Some(2)),
        Some(RoundOutcome::Repeat)
    );
    assert_eq!(p.stage, Stage::PracticeIntro { attempt: 1 });
    p.advance(&exp, &plan);
    assert_eq!(
        play_round(&mut p, &exp, &plan, None),
        Some(RoundOutcome::Passed)
    );
    assert_eq!(p.stage, Stage::MainIntro);
    p.advance(&exp, &plan);
    assert_eq!(p.stage, Stage::Main { index: 0 });
}

#[test]
fn practice_gives_up_after_max_attempts() {
    let exp = demo();
    let plan = Plan::for_participant(&exp, "p");
    let mut p = Progress::default();
    to_practice(&mut p, &exp, &plan);
    for attempt in 0..exp.practice.max_attempts {
        let outcome = play_round(&mut p, &exp, &plan, Some(0));
        if attempt + 1 < exp.practice.max_attempts {
            assert_eq!(outcome, Some(RoundOutcome::Repeat));
            p.advance(&exp, &plan);
        } else {
            assert_eq!(outcome, Some(RoundOutcome::OutOfAttempts));
        }
    }
    assert_eq!(p.stage, Stage::MainIntro);
}

#[test]
fn main_block_counts_and_ends_with_feedback() {
    let exp = demo();
    let plan = Plan::for_participant(&exp, "p");
    let mut p = Progress {
        stage: Stage::MainIntro,
        ..Progress::default()
    };
    p.advance(&exp, &plan);
    for i in 0..plan.main.len() {
        p.answer(i % 3 != 0);
        p.answer(false); // a second answer to the same trial is ignored
        p.advance(&exp, &plan);
    }
    assert_eq!(
        p.main_correct,
        (0..plan.main.len()).filter(|i| i % 3 != 0).count() as u32
    );
    assert_eq!(p.stage, Stage::Feedback);
    p.advance(&exp, &plan);
    assert_eq!(p.stage, Stage::End);
}

#[test]
fn progress_survives_serialization_mid_trial() {
    // What the app stores on every change; a reload restores it.
    let exp = demo();
    let plan = Plan::for_participant(&exp, "p");
    let mut p = Progress {
        stage: Stage::Main { index: 4 },
        main_correct: 3,
        ..Progress::default()
    };
    p.answer(true);
    let restored: Progress = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(restored, p);
    assert!(
        restored.done,
        "an answered trial is not shown again after a reload"
    );
    let mut next = restored.clone();
    next.advance(&exp, &plan);
    assert_eq!(next.stage, Stage::Main { index: 5 });
    assert!(!next.done);
}

#[test]
fn no_fullscreen_and_no_instructions_skip_their_pages() {
    let mut exp = demo();
    exp.display.fullscreen = false;
    exp.pages.instructions.clear();
    let plan = Plan::for_participant(&exp, "p");
    let mut p = Progress::default();
    p.advance(&exp, &plan);
    p.advance(&exp, &plan);
    assert_eq!(p.stage, Stage::PracticeIntro { attempt: 0 });
}

#[test]
fn buttons_map_to_choice_and_confidence_like_the_original() {
    // Unswitched: min query ("a") on top. Buttons 0-2 upper row, 3-5 lower row.
    let a = answer(0, 3, false).unwrap();
    assert_eq!(
        (a.choice, a.confidence, a.correct, a.upper),
        (Choice::A, 1, false, true)
    );
    let b = answer(5, 3, false).unwrap();
    assert_eq!(
        (b.choice, b.confidence, b.correct, b.upper),
        (Choice::B, 3, true, false)
    );
    let s = answer(1, 3, true).unwrap();
    assert_eq!((s.choice, s.confidence, s.correct), (Choice::B, 2, true));
    let s = answer(3, 3, true).unwrap();
    assert_eq!((s.choice, s.confidence, s.correct), (Choice::A, 1, false));
    assert!(answer(6, 3, false).is_none());
    assert_eq!(answer(3, 2, false).unwrap().confidence, 2);
}
