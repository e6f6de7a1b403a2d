//! The session's progress: page order, the practice loop, answers and reloads.

use exemplar_core::experiment::Experiment;
use exemplar_core::plan::{Phase, Plan};
use exemplar_core::record::PracticeNext;
use exemplar_core::score::{
    answer, Choice, Counted, Finished, Progress, RoundEnd, RoundOutcome, Stage,
};

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
    assert_eq!(
        p.stage,
        Stage::PracticeIntro {
            block: 0,
            attempt: 0
        }
    );
    p.advance(exp, plan);
    assert_eq!(
        p.stage,
        Stage::Practice {
            block: 0,
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
    let Stage::Practice {
        block: 0, attempt, ..
    } = p.stage
    else {
        panic!("not in practice: {:?}", p.stage)
    };
    let mut outcome = None;
    for i in 0..plan.blocks[0].practice[attempt as usize].len() as u32 {
        assert_eq!(
            p.stage,
            Stage::Practice {
                block: 0,
                attempt,
                index: i
            }
        );
        assert!(p.trial(plan).is_some());
        p.answer(Phase::Practice, wrong_at != Some(i));
        outcome = p.round_outcome(plan);
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
    assert_eq!(
        p.stage,
        Stage::PracticeIntro {
            block: 0,
            attempt: 1
        }
    );
    p.advance(&exp, &plan);
    assert_eq!(
        play_round(&mut p, &exp, &plan, None),
        Some(RoundOutcome::Passed)
    );
    assert_eq!(p.stage, Stage::MainIntro { block: 0 });
    p.advance(&exp, &plan);
    assert_eq!(p.stage, Stage::Main { block: 0, index: 0 });
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
    assert_eq!(p.stage, Stage::MainIntro { block: 0 });
}

#[test]
fn main_block_counts_and_ends_with_feedback() {
    let exp = demo();
    let plan = Plan::for_participant(&exp, "p");
    let mut p = Progress {
        stage: Stage::MainIntro { block: 0 },
        ..Progress::default()
    };
    p.advance(&exp, &plan);
    for i in 0..plan.blocks[0].main.len() {
        let phase = plan.blocks[0].main[i].phase;
        assert!(p.answer(phase, i % 3 != 0).is_some());
        // A second answer to the same trial is ignored.
        assert_eq!(p.answer(phase, false), None);
        p.advance(&exp, &plan);
    }
    assert_eq!(
        p.main_correct,
        (0..plan.blocks[0].main.len())
            .filter(|i| i % 3 != 0)
            .count() as u32
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
        stage: Stage::Main { block: 0, index: 4 },
        main_correct: 3,
        ..Progress::default()
    };
    p.answer(Phase::Main, true);
    let restored: Progress = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(restored, p);
    assert!(
        restored.done,
        "an answered trial is not shown again after a reload"
    );
    let mut next = restored.clone();
    next.advance(&exp, &plan);
    assert_eq!(next.stage, Stage::Main { block: 0, index: 5 });
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
    assert_eq!(
        p.stage,
        Stage::PracticeIntro {
            block: 0,
            attempt: 0
        }
    );
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

#[test]
fn finishing_a_trial_ends_practice_rounds_once() {
    let exp = demo();
    let plan = Plan::for_participant(&exp, "p");
    let mut p = Progress::default();
    to_practice(&mut p, &exp, &plan);
    // Nothing to finish before the answer (a Continue clicked twice).
    assert_eq!(p.finish_trial(&exp, &plan), None);
    assert_eq!(
        p.stage,
        Stage::Practice {
            block: 0,
            attempt: 0,
            index: 0
        }
    );
    let round = plan.blocks[0].practice[0].len() as u32;
    for i in 0..round {
        p.answer(Phase::Practice, i != 1);
        let finished = p.finish_trial(&exp, &plan);
        if i + 1 < round {
            assert_eq!(finished, Some(Finished::Next));
            assert_eq!(p.finish_trial(&exp, &plan), None, "only once per trial");
        } else {
            let end = RoundEnd {
                block: 0,
                attempt: 0,
                correct: round - 1,
                answered: round,
                outcome: RoundOutcome::Repeat,
            };
            assert_eq!(finished, Some(Finished::RoundEnded(end)));
            assert_eq!(end.rounds_used(), 1);
            assert_eq!(end.outcome.next(), PracticeNext::Repeat);
        }
    }
    assert_eq!(
        p.stage,
        Stage::PracticeIntro {
            block: 0,
            attempt: 1
        }
    );
    // A skipped trial is finished too, and is not an answer.
    p.advance(&exp, &plan);
    p.skip();
    assert_eq!(p.finish_trial(&exp, &plan), Some(Finished::Next));
    assert_eq!((p.practice_answered, p.practice_correct), (0, 0));
    assert_eq!(RoundOutcome::Passed.next(), PracticeNext::Main);
    assert_eq!(RoundOutcome::OutOfAttempts.next(), PracticeNext::Main);
}

#[test]
fn catch_trials_count_in_the_counter_and_apart() {
    let exp = demo();
    let plan = Plan::for_participant(&exp, "p");
    let mut p = Progress {
        stage: Stage::Main { block: 0, index: 0 },
        ..Progress::default()
    };
    let mut catch_correct = 0;
    let mut main_block = 0;
    for (i, t) in plan.blocks[0].main.iter().enumerate() {
        let counted = p.answer(t.phase, i % 2 == 0).expect("a new trial");
        assert_eq!(
            counted,
            Counted {
                main_block: true,
                catch_correct: t.phase == Phase::Catch && i % 2 == 0,
            }
        );
        catch_correct += counted.catch_correct as u32;
        main_block += counted.main_block as u32;
        p.finish_trial(&exp, &plan);
    }
    assert_eq!(p.stage, Stage::Feedback);
    assert_eq!(main_block as usize, plan.blocks[0].main.len());
    assert!(plan.blocks[0].main.iter().any(|t| t.phase == Phase::Catch));
    let expect = |phase: Phase| {
        plan.blocks[0]
            .main
            .iter()
            .enumerate()
            .filter(|(i, t)| i % 2 == 0 && t.phase == phase)
            .count() as u32
    };
    assert_eq!(catch_correct, expect(Phase::Catch));
    assert_eq!(p.main_correct, expect(Phase::Main) + expect(Phase::Catch));
    assert_eq!(
        p.main_correct_without_catch(catch_correct),
        expect(Phase::Main)
    );
    assert!(Phase::Main.in_main_block() && Phase::Catch.in_main_block());
    assert!(!Phase::Practice.in_main_block());
    // Practice answers count for neither.
    let mut q = Progress {
        stage: Stage::Practice {
            block: 0,
            attempt: 0,
            index: 0,
        },
        ..Progress::default()
    };
    assert_eq!(
        q.answer(Phase::Practice, true),
        Some(Counted {
            main_block: false,
            catch_correct: false
        })
    );
}

#[test]
fn a_jump_starts_the_trial_afresh() {
    let mut p = Progress {
        stage: Stage::Practice {
            block: 0,
            attempt: 1,
            index: 2,
        },
        done: true,
        practice_correct: 2,
        practice_answered: 3,
        main_correct: 4,
    };
    p.jump(Stage::Main { block: 0, index: 3 });
    assert_eq!(
        p,
        Progress {
            stage: Stage::Main { block: 0, index: 3 },
            main_correct: 4,
            ..Progress::default()
        }
    );
}

#[test]
fn trial_positions() {
    assert_eq!(
        Stage::Practice {
            block: 0,
            attempt: 2,
            index: 5
        }
        .trial_position(),
        Some((2, 5))
    );
    assert_eq!(
        Stage::Main { block: 0, index: 7 }.trial_position(),
        Some((0, 7))
    );
    assert_eq!(Stage::MainIntro { block: 0 }.trial_position(), None);
    assert_eq!(
        Stage::PracticeIntro {
            block: 0,
            attempt: 1
        }
        .trial_position(),
        None
    );
}
