//! Designs: conditions, blocks and their counterbalancing, groups between participants.

use std::collections::BTreeMap;

use exemplar_core::plan::{latin_square, Phase, Plan};
use exemplar_core::record::{Input, TrialRecord};
use exemplar_core::score::{self, Progress, Stage};
use exemplar_core::simulate::{run_session, Participant};
use exemplar_core::Experiment;
use serde_json::{json, Value};

fn demo_value() -> Value {
    serde_json::from_str(include_str!("../../../demo/experiment.json")).unwrap()
}

/// The demo's units, each also as an optimized twin (`<id>_opt`), and `design` on top.
fn with_design(conditions: Value, design: Value) -> Experiment {
    let mut v = demo_value();
    let twins: Vec<Value> = v["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let mut u = u.clone();
            u["id"] = json!(format!("{}_opt", u["id"].as_str().unwrap()));
            u["mode"] = json!("optimized");
            u
        })
        .collect();
    v["units"].as_array_mut().unwrap().extend(twins);
    v["conditions"] = conditions;
    v["design"] = design;
    Experiment::from_json(&v.to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// Borowski et al. (2021), experiment I, in small: a none baseline before and after,
/// natural and optimized blocks between them, counterbalanced.
fn borowski_exp1() -> Experiment {
    with_design(
        json!({
            "none": {"references": "none", "main_trials": 4,
                      "instructions": ["## No examples\n\nPick the image you think activates the unit more."]},
            "natural": {"references": "natural", "main_trials": 6, "catch_trials": 1},
            "optimized": {"references": "optimized", "per_side": 4, "sides": "max_only",
                          "main_trials": 6, "catch_trials": 1,
                          "practice": {"max_attempts": 1, "trials": []}}
        }),
        json!({"groups": [{"name": "all", "blocks": ["none", "natural", "optimized", "none"],
                            "order": "latin_square", "fixed_first": 1, "fixed_last": 1}]}),
    )
}

fn conditions(plan: &Plan) -> Vec<&str> {
    plan.blocks
        .iter()
        .map(|b| b.condition.as_deref().unwrap_or(""))
        .collect()
}

#[test]
fn each_block_shows_its_condition() {
    let exp = borowski_exp1();
    let plan = Plan::for_participant(&exp, "p-1");
    assert_eq!(plan.group.as_deref(), Some("all"));
    let names = conditions(&plan);
    assert_eq!(names.len(), 4);
    assert_eq!((names[0], names[3]), ("none", "none"));
    let mut middle = vec![names[1], names[2]];
    middle.sort();
    assert_eq!(middle, ["natural", "optimized"]);

    for block in &plan.blocks {
        let name = block.condition.as_deref().unwrap();
        let main: Vec<_> = block
            .main
            .iter()
            .filter(|t| t.phase == Phase::Main)
            .collect();
        let catch = block.main.len() - main.len();
        match name {
            "none" => {
                assert_eq!((main.len(), catch), (4, 0));
                for t in block.main.iter().chain(block.practice.iter().flatten()) {
                    assert!(t.min_references.is_empty() && t.max_references.is_empty());
                    assert_eq!(t.images().count(), 2);
                }
                // Natural units (the queries are natural in both kinds).
                assert!(main.iter().all(|t| !t.unit.unit_id.ends_with("_opt")));
                assert_eq!(block.practice.len(), 3);
            }
            "natural" => {
                assert_eq!((main.len(), catch), (6, 1));
                for t in &block.main {
                    assert_eq!((t.min_references.len(), t.max_references.len()), (9, 9));
                    assert!(t.max_references[0].ends_with("max_8.jpg"), "{t:?}");
                }
                assert!(main.iter().all(|t| !t.unit.unit_id.ends_with("_opt")));
            }
            "optimized" => {
                assert_eq!((main.len(), catch), (6, 1));
                assert!(
                    block.practice.iter().all(Vec::is_empty),
                    "its own empty practice"
                );
                for t in &block.main {
                    assert!(t.min_references.is_empty(), "max only");
                    assert_eq!(t.max_references.len(), 4);
                    // The four most extreme references, the most extreme first.
                    assert!(t.max_references[0].ends_with("max_8.jpg"));
                    let mut ranks: Vec<&str> = t
                        .max_references
                        .iter()
                        .map(|f| &f[f.len() - 9..f.len() - 4])
                        .collect();
                    ranks.sort();
                    assert_eq!(ranks, ["max_5", "max_6", "max_7", "max_8"]);
                }
                assert!(main.iter().all(|t| t.unit.unit_id.ends_with("_opt")));
            }
            other => panic!("unexpected condition {other}"),
        }
    }
    // Pre and post baselines draw on their own.
    assert_ne!(plan.blocks[0].main, plan.blocks[3].main);
}

#[test]
fn a_balanced_latin_square_puts_every_block_everywhere_and_after_every_other() {
    for n in 1..=7 {
        let rows = latin_square(n);
        assert_eq!(
            rows.len(),
            if n % 2 == 0 || n == 1 { n } else { 2 * n },
            "n={n}"
        );
        let per_row = rows.len() / n;
        for pos in 0..n {
            let mut count = vec![0; n];
            for row in &rows {
                count[row[pos]] += 1;
            }
            assert!(
                count.iter().all(|&c| c == per_row),
                "n={n} position {pos}: {count:?}"
            );
        }
        let mut pairs: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for row in &rows {
            let mut sorted = row.clone();
            sorted.sort();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "a permutation");
            for w in row.windows(2) {
                *pairs.entry((w[0], w[1])).or_default() += 1;
            }
        }
        if n > 1 {
            assert_eq!(pairs.len(), n * (n - 1), "n={n}: every ordered pair");
            assert!(pairs.values().all(|&c| c == per_row), "n={n}: {pairs:?}");
        }
    }
}

#[test]
fn block_order_is_counterbalanced_over_participant_ids() {
    let exp = borowski_exp1();
    let order = |pid: &str| conditions(&Plan::for_participant(&exp, pid))[1].to_string();
    // Consecutive numeric ids take turns exactly.
    let natural_first = (0..1000)
        .filter(|k| order(&k.to_string()) == "natural")
        .count();
    assert_eq!(natural_first, 500);
    assert_ne!(order("41"), order("42"));
    // Other ids are hashed: balanced on average.
    let natural_first = (0..1000)
        .filter(|k| order(&format!("prolific-{k:04}")) == "natural")
        .count();
    assert!(
        (430..=570).contains(&natural_first),
        "{natural_first} of 1000"
    );

    // Four counterbalanced blocks: each of the 4 orders of a Williams square equally.
    let exp = with_design(
        json!({
            "a": {"main_trials": 2}, "b": {"main_trials": 2},
            "c": {"main_trials": 2}, "d": {"main_trials": 2}
        }),
        json!({"groups": [{"name": "g", "blocks": ["a", "b", "c", "d"], "order": "latin_square"}]}),
    );
    let mut orders: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for k in 0..400 {
        let plan = Plan::for_participant(&exp, &k.to_string());
        let names = conditions(&plan).iter().map(|s| s.to_string()).collect();
        *orders.entry(names).or_default() += 1;
    }
    assert_eq!(orders.len(), 4);
    assert!(orders.values().all(|&c| c == 100), "{orders:?}");

    // Drawn: varies with the participant and stays for the same one.
    let exp = with_design(
        json!({"a": {"main_trials": 2}, "b": {"main_trials": 2}, "c": {"main_trials": 2}}),
        json!({"groups": [{"name": "g", "blocks": ["a", "b", "c"], "order": "random"}]}),
    );
    let drawn: std::collections::BTreeSet<Vec<String>> = (0..60)
        .map(|k| {
            let plan = Plan::for_participant(&exp, &format!("p{k}"));
            conditions(&plan).iter().map(|s| s.to_string()).collect()
        })
        .collect();
    assert_eq!(drawn.len(), 6, "all orders of three blocks appear");
    assert_eq!(
        Plan::for_participant(&exp, "p1"),
        Plan::for_participant(&exp, "p1")
    );
}

/// IMI (2023): one condition per participant.
fn between() -> Experiment {
    with_design(
        json!({
            "natural": {"references": "natural"},
            "optimized": {"references": "optimized",
                          "instructions": ["## Synthetic examples\n\nThe first image of each group is special."]}
        }),
        json!({"groups": [
            {"name": "natural", "blocks": ["natural"]},
            {"name": "optimized", "blocks": ["optimized"]}
        ]}),
    )
}

#[test]
fn groups_are_balanced_by_participant_id_or_named_by_the_link() {
    let exp = between();
    let group = |pid: &str| Plan::for_participant(&exp, pid).group.unwrap();
    let optimized = (0..100)
        .filter(|k| group(&k.to_string()) == "optimized")
        .count();
    assert_eq!(optimized, 50);
    let optimized = (0..1000)
        .filter(|k| group(&format!("worker-{k}")) == "optimized")
        .count();
    assert!((430..=570).contains(&optimized), "{optimized} of 1000");

    for name in ["natural", "optimized"] {
        for pid in ["0", "1", "someone"] {
            let plan = Plan::for_link(&exp, pid, Some(name)).unwrap();
            assert_eq!(plan.group.as_deref(), Some(name));
            assert_eq!(conditions(&plan), [name]);
        }
    }
    assert_eq!(
        Plan::for_link(&exp, "7", None).unwrap(),
        Plan::for_participant(&exp, "7")
    );
    let err = Plan::for_link(&exp, "7", Some("Natural")).unwrap_err();
    assert!(err.to_string().contains("\"Natural\""), "{err}");
    // Without a design the parameter means nothing (links made before designs still work).
    let demo = Experiment::from_json(&demo_value().to_string()).unwrap();
    assert_eq!(
        Plan::for_link(&demo, "7", Some("natural")).unwrap(),
        Plan::for_participant(&demo, "7")
    );
    // The same participant in two groups has two plans.
    let a = Plan::for_link(&exp, "7", Some("natural")).unwrap();
    let b = Plan::for_link(&exp, "7", Some("optimized")).unwrap();
    assert_ne!(a.hash(), b.hash());
}

#[test]
fn a_session_runs_every_block_and_its_records_name_group_condition_and_block() {
    let exp = borowski_exp1();
    let plan = Plan::for_participant(&exp, "3");
    let mut participant = Participant::new(1.0, 3).unwrap();
    let trials = run_session(&exp, &plan, &mut participant);
    let expected: usize = plan
        .blocks
        .iter()
        .map(|b| b.practice.first().map_or(0, Vec::len) + b.main.len())
        .sum();
    assert_eq!(trials.len(), expected);
    let blocks: Vec<u32> = trials.iter().filter_map(|t| t.stage.block()).collect();
    assert!(blocks.windows(2).all(|w| w[0] <= w[1]), "blocks in order");
    assert_eq!(blocks.last(), Some(&3));

    for t in &trials {
        let answer = score::answer(t.answer.button_pressed, 3, t.trial.switched_queries).unwrap();
        let record = TrialRecord::from_plan(&plan, &t.stage, &t.trial, &answer, Input::Simulated);
        let block = t.stage.block().unwrap();
        assert_eq!(record.group.as_deref(), Some("all"));
        assert_eq!(record.block, Some(block));
        assert_eq!(
            record.condition, plan.blocks[block as usize].condition,
            "{:?}",
            t.stage
        );
        assert_eq!(record.trial_index, t.index);
    }

    // The pages between: the none block's instructions come before its practice.
    let mut p = Progress::default();
    let mut seen = Vec::new();
    while p.stage != Stage::End && seen.len() < 500 {
        seen.push(p.stage.clone());
        assert!(p.fits(&exp, &plan), "{:?}", p.stage);
        if p.trial(&plan).is_some() {
            p.answer(Phase::Main, true);
            p.finish_trial(&exp, &plan);
        } else {
            p.advance(&exp, &plan);
        }
    }
    let intro = seen
        .iter()
        .position(|s| *s == Stage::BlockIntro { block: 0, page: 0 })
        .expect("block 0's instructions");
    assert_eq!(
        seen[intro + 1],
        Stage::PracticeIntro {
            block: 0,
            attempt: 0
        }
    );
    assert!(seen.contains(&Stage::BlockIntro { block: 3, page: 0 }));
    // The optimized block has no practice: straight to its main intro.
    let opt = plan
        .blocks
        .iter()
        .position(|b| b.condition.as_deref() == Some("optimized"))
        .unwrap() as u32;
    assert!(!seen
        .iter()
        .any(|s| matches!(s, Stage::PracticeIntro { block, .. } if *block == opt)));
    assert!(seen.contains(&Stage::MainIntro { block: opt }));
    let mut beyond = p.clone();
    beyond.stage = Stage::BlockIntro { block: 1, page: 0 };
    // Only the none blocks have instructions.
    assert_eq!(
        beyond.fits(&exp, &plan),
        exp.condition_of(&plan.blocks[1]).instructions.len() == 1
    );
    beyond.stage = Stage::Main { block: 4, index: 0 };
    assert!(!beyond.fits(&exp, &plan));
}

#[test]
fn stages_store_their_block_only_when_it_is_not_the_first() {
    let first = serde_json::to_string(&Stage::Main { block: 0, index: 3 }).unwrap();
    assert_eq!(first, r#"{"stage":"main","index":3}"#);
    for stage in [
        Stage::Main { block: 2, index: 3 },
        Stage::BlockIntro { block: 1, page: 0 },
        Stage::PracticeIntro {
            block: 3,
            attempt: 1,
        },
        Stage::MainIntro { block: 0 },
    ] {
        let text = serde_json::to_string(&stage).unwrap();
        assert_eq!(
            serde_json::from_str::<Stage>(&text).unwrap(),
            stage,
            "{text}"
        );
    }
    assert_eq!(
        serde_json::from_str::<Stage>(r#"{"stage":"main","index":3}"#).unwrap(),
        Stage::Main { block: 0, index: 3 }
    );
}

#[test]
fn spares_keep_the_blocks_condition() {
    let exp = borowski_exp1();
    let plan = Plan::for_participant(&exp, "0");
    let b = plan
        .blocks
        .iter()
        .position(|b| b.condition.as_deref() == Some("optimized"))
        .unwrap();
    let t = plan.blocks[b]
        .main
        .iter()
        .find(|t| t.phase == Phase::Main)
        .unwrap();
    let spares = plan.spares(&exp, b as u32, t);
    assert!(!spares.is_empty());
    for s in spares {
        assert!(s.min_references.is_empty());
        assert_eq!(s.max_references.len(), 4);
        assert_eq!(s.unit, {
            let mut u = t.unit.clone();
            u.batch = s.unit.batch;
            u
        });
    }
}

fn problems(conditions: Value, design: Value) -> Vec<String> {
    let mut v = demo_value();
    v["conditions"] = conditions;
    v["design"] = design;
    match Experiment::from_json(&v.to_string()) {
        Ok(_) => Vec::new(),
        Err(p) => p.0.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn validate_names_every_problem_of_a_design() {
    let found = problems(
        json!({
            "square": {"per_side": 5},
            "empty": {"references": "optimized"},
            "baseline": {"references": "none", "catch_trials": 1},
            "picked": {"units": ["no_such_unit"]},
            "greedy": {"main_trials": 99},
            "unused": {}
        }),
        json!({"groups": [
            {"name": "g", "blocks": ["square", "empty", "baseline", "picked", "greedy", "missing"],
             "fixed_first": 4, "fixed_last": 3},
            {"name": "g", "blocks": []},
            {"name": " x", "blocks": ["square"]}
        ]}),
    );
    let expect = [
        "conditions.square.per_side: must be 1, 4 or 9",
        "conditions.empty: draws from no unit",
        "conditions.baseline.catch_trials: must be 0 without references",
        "conditions.picked.units: no unit with id \"no_such_unit\"",
        "conditions.greedy.main_trials: 99 trials per block",
        "conditions.unused: is not a block of any design.groups",
        "design.groups[0].blocks[5]: no condition \"missing\"",
        "design.groups[0].fixed_last: fixed_first + fixed_last is 7",
        "design.groups[1].name: duplicate group name",
        "design.groups[1].blocks: needs at least one block",
        "design.groups[2].name: must be a name without surrounding spaces",
    ];
    for e in expect {
        assert!(found.iter().any(|f| f.starts_with(e)), "{e}\nin {found:#?}");
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");

    // Types are checked per condition, with the path.
    let found = problems(
        json!({"a": {"references": "synthetic"}, "b": {"sides": "both"}}),
        json!({"groups": [{"name": "g", "blocks": ["a", "b"], "order": "sometimes"}]}),
    );
    for e in ["conditions.a", "conditions.b", "design"] {
        assert!(found.iter().any(|f| f.starts_with(e)), "{e}\nin {found:#?}");
    }
}

#[test]
fn validate_refuses_hostile_and_mislabelled_designs() {
    let twins = |v: &mut Value| {
        let mut u = v["units"][0].clone();
        u["id"] = json!("opt_1");
        u["mode"] = json!("optimized");
        v["units"].as_array_mut().unwrap().push(u);
    };
    let check = |conditions: Value, design: Value| {
        let mut v = demo_value();
        twins(&mut v);
        v["conditions"] = conditions;
        v["design"] = design;
        match Experiment::from_json(&v.to_string()) {
            Ok(_) => Vec::new(),
            Err(p) => p.0.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        }
    };
    let found = check(
        json!({"": {"main_trials": 2}, "synthetic": {"references": "optimized", "units": ["opt_1", "unit_0"], "main_trials": 1}}),
        json!({"groups": [{"name": "g", "blocks": ["", "synthetic"], "fixed_first": 4294967295u32, "fixed_last": 1}]}),
    );
    let ids: Vec<String> = demo_value()["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    let natural = &ids[0];
    let found_units = check(
        json!({"synthetic": {"references": "optimized", "units": ["opt_1", natural], "main_trials": 1}}),
        json!({"groups": [{"name": "g", "blocks": ["synthetic"]}]}),
    );
    assert!(
        found_units.iter().any(
            |f| f.starts_with("conditions.synthetic.units: unit") && f.contains("mode natural")
        ),
        "{found_units:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("a condition's name must be a name")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("fixed_first + fixed_last is 4294967296")),
        "{found:#?}"
    );
    let many: Vec<&str> = vec!["a"; 101];
    let found = check(
        json!({"a": {"main_trials": 1, "practice": {"max_attempts": 101, "trials": []}}}),
        json!({"groups": [{"name": "g", "blocks": many}]}),
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("101 blocks; a session has at most 100")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("conditions.a.practice.max_attempts: must be at most 100")),
        "{found:#?}"
    );
}
