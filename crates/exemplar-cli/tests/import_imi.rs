//! `exemplar import-imi` on the original release's stimuli (../shared/imi, never copied
//! into the repository): both layouts become a valid experiment with the right files.

mod common;

#[test]
fn imports_the_released_layouts() {
    let imi = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/imi");
    if !imi.join("catch_trials").is_dir() {
        common::missing(&format!("the original stimuli at {}", imi.display()));
        return;
    }
    let out = std::env::temp_dir().join(format!("exemplar-imi-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = common::command()
        .arg("import-imi")
        .arg(imi.join("catch_trials"))
        .arg(imi.join("demo_natural_9_references"))
        .args(["--mode", "both", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("(14 units, 2 practice trials)"),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let exp = exemplar_core::Experiment::load_dir(&out).expect("valid");
    let optimized = exp
        .units
        .iter()
        .find(|u| u.id == "mixed4d_pool_reduce_pre_relu_conv/52/optimized")
        .expect("optimized unit");
    assert_eq!(
        optimized.batches[0].queries.as_deref(),
        Some("stimuli/mixed4d_pool_reduce_pre_relu_conv/channel_52/natural")
    );
    // The study's between-participants design: one group per kind of references, the
    // synthetic one with its extra instruction page; balanced by participant id.
    let groups: Vec<&str> = exp
        .design
        .as_ref()
        .unwrap()
        .groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(groups, ["natural", "optimized"]);
    assert!(
        exp.conditions["optimized"].instructions[0].contains("first image (top left) is special")
    );
    assert!(exp.conditions["natural"].instructions.is_empty());
    for (pid, group) in [("0", "natural"), ("1", "optimized"), ("2", "natural")] {
        let plan = exemplar_core::Plan::for_participant(&exp, pid);
        assert_eq!(plan.group.as_deref(), Some(group));
        let want = if group == "natural" {
            exemplar_core::experiment::Mode::Natural
        } else {
            exemplar_core::experiment::Mode::Optimized
        };
        assert!(plan.blocks[0].main.iter().all(|t| t.unit.mode == want));
    }
    // Natural batches are byte-for-byte the released files.
    let src = imi
        .join("catch_trials/mixed5a_pool_reduce_pre_relu_conv/channel_16/natural_images/max_8.png");
    let dst = out.join("stimuli/mixed5a_pool_reduce_pre_relu_conv/channel_16/natural/max_8.png");
    assert_eq!(std::fs::read(src).unwrap(), std::fs::read(dst).unwrap());
    // Practice: min_1..9 renumbered 0..8 (min_9 shown first), queries become *_9.
    let trial = imi.join("demo_natural_9_references/trials/trial_2");
    let practice = out.join("stimuli/practice/demo_natural_9_references/trial_2");
    assert_eq!(
        std::fs::read(trial.join("references/min_9.png")).unwrap(),
        std::fs::read(practice.join("min_8.png")).unwrap()
    );
    assert_eq!(
        std::fs::read(trial.join("references/min_1.png")).unwrap(),
        std::fs::read(practice.join("min_0.png")).unwrap()
    );
    assert_eq!(
        std::fs::read(trial.join("queries/max.png")).unwrap(),
        std::fs::read(practice.join("max_9.png")).unwrap()
    );
    // Importing into a non-empty folder is refused.
    let again = common::command()
        .arg("import-imi")
        .arg(imi.join("catch_trials"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists and is not empty"));
    std::fs::remove_dir_all(&out).unwrap();
}
