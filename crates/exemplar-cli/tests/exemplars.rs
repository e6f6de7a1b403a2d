//! `exemplar exemplars` and `exemplar sample-units` end to end, with a model written by
//! the test whose activations are known in closed form: a 1×1 convolution of flat-colour
//! images, so channel 0 is the normalised red value and channel 1 minus the normalised
//! green value. The chosen files must be exactly the expected ranks, in the paper's fair
//! batches, and the output must validate as an experiment.

use std::collections::BTreeSet;
mod common;

use std::path::Path;

use common::exemplar;
use common::flat_images::{colour, copy_tree, image_at, image_path, setup, tree, which, IMAGES};
use exemplar_core::selection::{self, Queries, Side, Spec};
use serde_json::Value;

/// `exemplar exemplars` for channel 0 of `feat` on the CPU, with `extra` flags.
fn select_channel_0(
    model: &Path,
    images: &Path,
    out: &Path,
    extra: &[&str],
) -> (bool, String, String) {
    let mut args = vec![
        "exemplars",
        "--model",
        model.to_str().unwrap(),
        "--layer",
        "feat",
        "--channel",
        "0",
        "--images",
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ];
    args.extend(extra);
    exemplar(&args)
}

#[test]
fn exemplars_choose_the_expected_ranks_in_fair_batches_and_validate() {
    let (dir, images, model) = setup("exemplars");
    let exp = dir.join("exp");
    let (ok, _, stderr) = exemplar(&["new", exp.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let out = exp.join("stimuli");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let base = [
        "exemplars".to_string(),
        "--model".into(),
        s(&model),
        "--layer".into(),
        "feat".into(),
        "--images".into(),
        s(&images),
        "--backend".into(),
        "cpu".into(),
        "--seed".into(),
        "5".into(),
        "--chunk".into(),
        "16".into(),
    ];
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend(extra);
        exemplar(&args)
    };

    // Too many batches: refused before any computing, naming the numbers.
    let (ok, _, stderr) = run(&["--channel", "0", "--out", &s(&out), "--batches", "4"]);
    assert!(!ok);
    for want in [
        "4 batches",
        "80 images in all",
        "has 60 images",
        "--batches 3",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in {stderr}");
    }

    // The paper's rule on 60 images: 3 batches, 27 references and 3 queries per side.
    let (ok, stdout, stderr) = run(&[
        "--channel",
        "0",
        "--channel",
        "1",
        "--out",
        &s(&out),
        "--batches",
        "3",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("60/60 images"),
        "no progress line: {stderr}"
    );
    let spec = Spec {
        batches: 3,
        queries: Queries::Next,
    };
    let ranks = selection::side_ranks(IMAGES, &spec).unwrap();
    for channel in [0, 1] {
        let unit_dir = out.join("feat").join(format!("channel_{channel}"));
        let seed = selection::unit_seed(5, "feat", channel);
        let mut seen = BTreeSet::new();
        for side in [Side::Min, Side::Max] {
            let batches = selection::fair_batches(&ranks, side, seed);
            for (b, files) in batches.iter().enumerate() {
                for (file, &rank) in files.iter().enumerate() {
                    let path = unit_dir
                        .join(b.to_string())
                        .join(format!("{}_{file}.png", side.name()));
                    let got = which(&path);
                    assert_eq!(
                        got,
                        image_at(channel, side, rank),
                        "channel {channel} {}",
                        path.display()
                    );
                    assert!(seen.insert(got), "image {got} chosen twice");
                    // The paper's structure, stated on ranks: *_8 from the three most
                    // extreme, *_9 from ranks 28–30, file k from bin 8 − k.
                    let bin = if file == 9 { 9 } else { 8 - file };
                    assert_eq!(rank / 3, bin, "{}", path.display());
                }
            }
        }
        assert_eq!(seen.len(), IMAGES, "all 60 images are used exactly once");

        // The audit file: every image with its activation and rank.
        let csv = std::fs::read_to_string(unit_dir.join("activations.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "image,activation,rank,stimulus");
        assert_eq!(lines.len(), IMAGES + 1);
        let top = image_at(channel, Side::Max, 0);
        let fields: Vec<&str> = lines[1].split(',').collect();
        let name = image_path(Path::new(""), top);
        assert_eq!(fields[0], name.to_str().unwrap().replace('\\', "/"));
        let level = colour(top)[channel] as f64 / 255.0;
        let want = if channel == 0 {
            (level - 0.485) / 0.229
        } else {
            -(level - 0.456) / 0.224
        };
        let got: f64 = fields[1].parse().unwrap();
        // The engine's channel mean sums 224×224 values in f32: a few 1e-4 relative.
        assert!((got - want).abs() < 1e-3 * want.abs(), "{got} vs {want}");
        assert_eq!(fields[2], "1");
        assert!(fields[3].ends_with("/max_8.png"), "{}", lines[1]);
    }

    // The unit entries, ready for experiment.json, validate with the files beside them.
    let units: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(units.as_array().unwrap().len(), 2);
    assert_eq!(units[0]["layer"], "feat");
    assert_eq!(units[1]["channel"], 1);
    assert_eq!(
        units[0]["batches"][2]["references"],
        "stimuli/feat/channel_0/2"
    );
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("feat/channel_1/unit.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(written, units[1]);
    let path = exp.join("experiment.json");
    let mut experiment: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    experiment["units"] = units;
    std::fs::write(&path, serde_json::to_string_pretty(&experiment).unwrap()).unwrap();
    let (ok, stdout, stderr) = exemplar(&["validate", &s(&exp)]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("valid (2 units"), "{stdout}");

    // `exemplar check` with the model named in checks.models: every batch of the two
    // units passes (the skeleton's own units name no such model and are listed as such).
    std::fs::copy(&model, exp.join("linear.onnx")).unwrap();
    experiment["checks"] = serde_json::json!({
        "models": {"linear": {"file": "linear.onnx"}}
    });
    std::fs::write(&path, serde_json::to_string_pretty(&experiment).unwrap()).unwrap();
    let (ok, stdout, stderr) = exemplar(&["check", &s(&exp), "--backend", "cpu"]);
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("pass")).count(),
        6,
        "{stdout}"
    );
    assert!(stderr.contains("6 batches checked, 0 failing"), "{stderr}");
    // Swapped queries in one batch: that batch, and only it, fails, with the reason.
    let batch = out.join("feat/channel_0/1");
    std::fs::rename(batch.join("min_9.png"), batch.join("tmp.png")).unwrap();
    std::fs::rename(batch.join("max_9.png"), batch.join("min_9.png")).unwrap();
    std::fs::rename(batch.join("tmp.png"), batch.join("max_9.png")).unwrap();
    let (ok, stdout, stderr) = exemplar(&["check", &s(&exp), "--backend", "cpu", "--json"]);
    assert!(!ok, "{stdout}{stderr}");
    assert!(stderr.contains("6 batches checked, 1 failing"), "{stderr}");
    let verdicts: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failing: Vec<&Value> = verdicts
        .iter()
        .filter(|v| !v["violations"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(failing.len(), 1, "{stdout}");
    assert_eq!(failing[0]["path"], "units[0].batches[1]");
    assert_eq!(failing[0]["violations"][0], "queries_inverted");
    let a = &failing[0]["activations"];
    assert!(a["min_query"].as_f64() > a["max_query"].as_f64(), "{a}");
    std::fs::remove_file(exp.join("linear.onnx")).unwrap();
    let (ok, _, stderr) = exemplar(&["check", &s(&exp), "--backend", "cpu"]);
    assert!(!ok && stderr.contains("linear.onnx"), "{stderr}");

    // A second run into the same folders is refused rather than mixed in.
    let (ok, _, stderr) = run(&["--channel", "1", "--out", &s(&out), "--batches", "3"]);
    assert!(!ok && stderr.contains("not empty"), "{stderr}");

    // Percentile mode: 2 batches with queries around the 40th percentile from each end:
    // 24 of 60 images more extreme, so ranks 24 and 25 (1-based); 18 references.
    let out2 = dir.join("percentile");
    let (ok, _, stderr) = run(&[
        "--channel",
        "0",
        "--out",
        &s(&out2),
        "--batches",
        "2",
        "--query-percentile",
        "40",
        "--size",
        "224",
    ]);
    assert!(ok, "{stderr}");
    for side in [Side::Min, Side::Max] {
        let queries: BTreeSet<usize> = (0..2)
            .map(|b| which(&out2.join(format!("feat/channel_0/{b}/{}_9.png", side.name()))))
            .collect();
        let want: BTreeSet<usize> = [23, 24].map(|r| image_at(0, side, r)).into();
        assert_eq!(queries, want, "{side:?}");
        let references: BTreeSet<usize> = (0..2)
            .flat_map(|b| (0..9).map(move |f| (b, f)))
            .map(|(b, f)| which(&out2.join(format!("feat/channel_0/{b}/{}_{f}.png", side.name()))))
            .collect();
        let want: BTreeSet<usize> = (0..18).map(|r| image_at(0, side, r)).collect();
        assert_eq!(references, want, "{side:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Byte-for-byte copies in the image folder are ranked once: a copy would otherwise sit
/// next to its original in the ranking and one image could be two stimuli.
#[test]
fn exemplars_skip_byte_for_byte_copies_so_no_image_is_both_query_and_reference() {
    let (dir, images, model) = setup("copies");
    // Copies of the most and the least red image, which would otherwise be ranked
    // next to their originals (one as a reference, the other as a query).
    for (k, name) in [
        (image_at(0, Side::Max, 0), "copy_a.png"),
        (image_at(0, Side::Min, 0), "more/copy_b.png"),
    ] {
        std::fs::copy(image_path(&images, k), images.join(name)).unwrap();
    }
    let out = dir.join("out");
    let (ok, _, stderr) = select_channel_0(&model, &images, &out, &["--batches", "3"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("2 file(s) are byte-for-byte copies of others and are skipped"),
        "{stderr}"
    );
    // The copies are computed with the rest (a run is one slice of the whole list) and
    // left out of the ranking.
    assert!(stderr.contains("62/62 images"), "{stderr}");
    // All 60 stimuli are different images: each test image exactly once.
    let mut seen = BTreeSet::new();
    for b in 0..3 {
        for side in ["min", "max"] {
            for f in 0..10 {
                let path = out.join(format!("feat/channel_0/{b}/{side}_{f}.png"));
                assert!(
                    seen.insert(which(&path)),
                    "{} repeats an image",
                    path.display()
                );
            }
        }
    }
    assert_eq!(seen.len(), 60);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--format jpeg`: a source that already is the stimulus (224×224 JPEG, no resize or
/// crop to do) is copied byte for byte, so participants see exactly what was ranked; a
/// source that has to be resized is encoded as JPEG.
#[test]
fn exemplars_copy_jpeg_sources_that_are_already_the_stimulus() {
    let (dir, images, model) = setup("jpeg");
    let square = dir.join("square");
    std::fs::create_dir_all(&square).unwrap();
    let mut sources = Vec::new();
    for k in 0..IMAGES {
        let path = square.join(format!("{k:02}.jpg"));
        let [r, g, b] = colour(k);
        // Not flat, so that a re-encoding would change the bytes.
        image::RgbImage::from_fn(224, 224, |x, y| {
            image::Rgb([
                r,
                g.wrapping_add((x % 7) as u8),
                b.wrapping_add((y % 5) as u8),
            ])
        })
        .save(&path)
        .unwrap();
        sources.push(std::fs::read(&path).unwrap());
    }
    let out = dir.join("copied");
    let (ok, _, stderr) = select_channel_0(
        &model,
        &square,
        &out,
        &[
            "--batches",
            "2",
            "--format",
            "jpeg",
            "--resize",
            "0",
            "--crop",
            "224",
        ],
    );
    assert!(ok, "{stderr}");
    for b in 0..2 {
        for side in ["min", "max"] {
            for f in 0..10 {
                let written =
                    std::fs::read(out.join(format!("feat/channel_0/{b}/{side}_{f}.jpg"))).unwrap();
                assert!(
                    sources.contains(&written),
                    "batch {b} {side}_{f} is not a source's bytes"
                );
            }
        }
    }
    // 20×16 PNG sources must be resized: encoded as JPEG.
    let out = dir.join("encoded");
    let (ok, _, stderr) = select_channel_0(
        &model,
        &images,
        &out,
        &["--batches", "2", "--format", "jpeg"],
    );
    assert!(ok, "{stderr}");
    let written = std::fs::read(out.join("feat/channel_0/0/max_0.jpg")).unwrap();
    assert_eq!(&written[..3], &[0xff, 0xd8, 0xff], "not a JPEG");
    let img = image::load_from_memory(&written).unwrap();
    assert_eq!((img.width(), img.height()), (224, 224));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sample_units_draws_distinct_units_layer_first() {
    let (dir, _, model) = setup("sample");
    let m = model.to_str().unwrap();
    let sample = |extra: &[&str]| {
        let mut args = vec!["sample-units", "--model", m];
        args.extend(extra);
        exemplar(&args)
    };
    // Conv outputs: feat (2 channels) and head (5): 7 units in all.
    let (ok, stdout, stderr) = sample(&["--op-types", "Conv", "--count", "7", "--seed", "3"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("2 eligible layers, 7 channels"), "{stderr}");
    let units: BTreeSet<(String, u64)> = stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["layer"].as_str().unwrap().into(),
                v["channel"].as_u64().unwrap(),
            )
        })
        .collect();
    let all: BTreeSet<(String, u64)> = (0..2)
        .map(|c| ("feat".to_string(), c))
        .chain((0..5).map(|c| ("head".to_string(), c)))
        .collect();
    assert_eq!(units, all);
    let (_, again, _) = sample(&["--op-types", "Conv", "--count", "7", "--seed", "3"]);
    assert_eq!(stdout, again, "seeded");
    let (_, other, _) = sample(&["--op-types", "Conv", "--count", "7", "--seed", "4"]);
    assert_ne!(stdout, other);

    let (ok, stdout, stderr) = sample(&["--layers", "act", "--count", "2"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().count(), 2);
    assert!(
        stdout.lines().all(|l| l.contains("\"layer\":\"act\"")),
        "{stdout}"
    );

    let (ok, _, stderr) = sample(&["--layers", "feat,head", "--count", "8"]);
    assert!(
        !ok && stderr.contains("8 units asked for") && stderr.contains("7 channels"),
        "{stderr}"
    );
    let (ok, _, stderr) = sample(&["--layers", "nowhere", "--count", "1"]);
    assert!(!ok && stderr.contains("nowhere"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A run split into shards (by `--shard` and by Slurm's variables), merged, writes the same
/// bytes as one run; a killed shard resumes to the same bytes; activations computed
/// elsewhere (.npy with its list, or CSV) select the same stimuli; broken sets of shards are
/// refused with the reason.
#[test]
fn shards_merge_resume_and_outside_activations_give_one_runs_bytes() {
    let (dir, images, model) = setup("shards");
    for (k, name) in [(3, "copy_a.png"), (40, "more/copy_b.png")] {
        std::fs::copy(image_path(&images, k), images.join(name)).unwrap();
    }
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let select = |out: &Path| {
        vec![
            "--images".to_string(),
            s(&images),
            "--out".into(),
            s(out),
            "--experiment".into(),
            s(out),
            "--batches".into(),
            "3".into(),
            "--seed".into(),
            "9".into(),
        ]
    };
    let compute = |out: &Path, extra: &[&str]| {
        let mut args: Vec<String> = [
            "exemplars",
            "--model",
            &s(&model),
            "--layer",
            "feat",
            "--channel",
            "1",
            "--channel",
            "0",
            "--backend",
            "cpu",
            "--chunk",
            "7",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.extend(select(out));
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };

    // One run.
    let one = dir.join("one");
    let (ok, stdout_one, stderr) = exemplar(&compute(&one, &[]));
    assert!(ok, "{stderr}");
    assert!(
        !one.join("partials").exists(),
        "a whole run's checkpoint is removed"
    );
    let want = tree(&one);
    assert_eq!(
        want.len(),
        2 * (3 * 20 + 2),
        "{:?}",
        want.keys().collect::<Vec<_>>()
    );

    // Three shards: two by --shard, one as a Slurm array task (ids 1..3, so its K is 1).
    let split = dir.join("split");
    for k in [0, 2] {
        let (ok, _, stderr) = exemplar(&compute(&split, &["--shard", &format!("{k}/3")]));
        assert!(ok, "{stderr}");
        assert!(stderr.contains(&format!("shard {k} of 3")), "{stderr}");
    }
    let partials = split.join("partials/feat");
    let merge = |out: &Path| {
        let mut args = vec!["exemplars".to_string(), "merge".into(), s(&partials)];
        args.extend(select(out));
        exemplar(&args)
    };
    let (ok, _, stderr) = merge(&split);
    assert!(
        !ok && stderr.contains("2 of 3 shards found; missing: 1"),
        "{stderr}"
    );
    let run = common::command()
        .args(compute(&split, &[]))
        .env("SLURM_ARRAY_TASK_ID", "2")
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success() && stderr.contains("shard 1/3 from the Slurm array task"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = merge(&split);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, stdout_one, "the same unit entries");
    let mut got = tree(&split);
    got.retain(|k, _| !k.starts_with("partials/"));
    assert!(got == want, "merged shards differ from one run");

    // A shard killed part way: its rows and list cut mid-way (a line without its row, half
    // a row); run again, it resumes and writes the same bytes.
    let shard = |ext: &str| partials.join(format!("shard_1_of_3.{ext}"));
    let npy = std::fs::read(shard("npy")).unwrap();
    let list = std::fs::read_to_string(shard("txt")).unwrap();
    let array = exemplar_cli::npy::parse(&npy).unwrap();
    let rows: Vec<u8> = array.data[..2 * 8]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .chain([1, 2, 3])
        .collect();
    std::fs::write(shard("rows"), rows).unwrap();
    let lines: Vec<&str> = list.lines().collect();
    std::fs::write(
        shard("txt"),
        format!("{}\n{}", lines[..9].join("\n"), &lines[9][..5]),
    )
    .unwrap();
    std::fs::remove_file(shard("npy")).unwrap();
    let (ok, _, stderr) = merge(&dir.join("unused"));
    assert!(!ok && stderr.contains("is not finished"), "{stderr}");
    let (ok, _, stderr) = exemplar(&compute(&split, &["--shard", "1/3"]));
    assert!(
        ok && stderr.contains("resuming") && stderr.contains("8 images were done"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(shard("npy")).unwrap(), npy);
    assert_eq!(std::fs::read_to_string(shard("txt")).unwrap(), list);
    assert!(!shard("rows").exists());
    // A finished shard is not computed again.
    let (ok, _, stderr) = exemplar(&compute(&split, &["--shard", "1/3"]));
    assert!(ok && stderr.contains("was computed already"), "{stderr}");
    // A second process on a shard being computed is refused (a resubmitted array task).
    std::fs::remove_file(shard("npy")).unwrap();
    let held = std::fs::File::create(shard("lock")).unwrap();
    held.try_lock().unwrap();
    let (ok, _, stderr) = exemplar(&compute(&split, &["--shard", "1/3"]));
    assert!(
        !ok && stderr.contains("another process is computing"),
        "{stderr}"
    );
    held.unlock().unwrap();
    drop(held);
    let (ok, _, stderr) = exemplar(&compute(&split, &["--shard", "1/3"]));
    assert!(ok, "{stderr}");
    assert_eq!(std::fs::read(shard("npy")).unwrap(), npy);
    // A merge given another folder of the same names selects nothing it did not rank.
    let other = dir.join("other-images");
    copy_tree(&images, &other);
    for k in 0..IMAGES {
        image::RgbImage::from_pixel(20, 16, image::Rgb([1, 2, 3]))
            .save(image_path(&other, k))
            .unwrap();
    }
    let mut args = vec!["exemplars".to_string(), "merge".into(), s(&partials)];
    let mut sel = select(&dir.join("other-out"));
    sel[1] = s(&other);
    args.extend(sel);
    let (ok, _, stderr) = exemplar(&args);
    assert!(
        !ok && stderr.contains("is not the image whose activations were computed"),
        "{stderr}"
    );
    // Other settings in the same folder are refused, not mixed.
    let (ok, _, stderr) = exemplar(&compute(
        &split,
        &["--shard", "1/3", "--preset", "inception"],
    ));
    assert!(
        !ok && stderr.contains("written for other settings"),
        "{stderr}"
    );

    // Outside activations, from the one run's audit files: as .npy with its list, and as CSV.
    let audit = |c: usize| -> Vec<(String, String)> {
        std::fs::read_to_string(one.join(format!("feat/channel_{c}/activations.csv")))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_string(), f[1].to_string())
            })
            .collect()
    };
    let (c1, c0) = (audit(1), audit(0));
    let value = |rows: &[(String, String)], image: &str| -> String {
        rows.iter().find(|(i, _)| i == image).unwrap().1.clone()
    };
    let mut names: Vec<String> = c0.iter().map(|(i, _)| i.clone()).collect();
    names.sort();
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let mut csv = "image,1,0\n".to_string();
    let mut data = Vec::new();
    for n in &names {
        csv.push_str(&format!("{n},{},{}\n", value(&c1, n), value(&c0, n)));
        data.push(value(&c1, n).parse::<f32>().unwrap());
        data.push(value(&c0, n).parse::<f32>().unwrap());
    }
    std::fs::write(outside.join("acts.csv"), csv).unwrap();
    let mut bytes = Vec::new();
    exemplar_cli::npy::write(
        &mut bytes,
        &exemplar_cli::npy::Array {
            rows: names.len(),
            cols: 2,
            data,
        },
    )
    .unwrap();
    std::fs::write(outside.join("acts.npy"), bytes).unwrap();
    std::fs::write(outside.join("acts.txt"), names.join("\n") + "\n").unwrap();
    for file in ["acts.npy", "acts.csv"] {
        let out = outside.join(file.replace('.', "-"));
        let mut args: Vec<String> = [
            "exemplars",
            "--activations",
            &s(&outside.join(file)),
            "--layer",
            "feat",
            "--channel",
            "1",
            "--channel",
            "0",
            "--model-name",
            "linear",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.extend(select(&out));
        let (ok, stdout, stderr) = exemplar(&args);
        assert!(ok, "{file}: {stderr}");
        assert_eq!(stdout, stdout_one, "{file}");
        let got = tree(&out);
        // The audit files' activations come back through text: equal as written.
        assert!(got == want, "{file}: differs from the run");
    }
    // A file name the image list cannot hold is refused before anything is computed.
    let odd = dir.join("odd");
    copy_tree(&images, &odd);
    image::RgbImage::from_pixel(20, 16, image::Rgb([9, 9, 9]))
        .save(odd.join("two\nlines.png"))
        .unwrap();
    let mut args = compute(&dir.join("odd-out"), &[]);
    let at = args.iter().position(|a| a == &s(&images)).unwrap();
    args[at] = s(&odd);
    let (ok, _, stderr) = exemplar(&args);
    assert!(
        !ok && stderr.contains("holds a line break or tab"),
        "{stderr}"
    );
    assert!(!dir.join("odd-out/partials").exists());
    // A list that does not match the array is refused with both counts.
    std::fs::write(outside.join("acts.txt"), names[1..].join("\n")).unwrap();
    let (ok, _, stderr) = exemplar(&[
        "exemplars",
        "--activations",
        &s(&outside.join("acts.npy")),
        "--layer",
        "feat",
        "--channel",
        "1",
        "--channel",
        "0",
        "--images",
        &s(&images),
        "--out",
        &s(&dir.join("x")),
    ]);
    assert!(
        !ok && stderr.contains("lists 59 images") && stderr.contains("has 60 rows"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `sample-units --architecture` finds the paper's eligible layers by the tensor names of
/// real torchvision, timm, open_clip and Lucid exports (the engine's fixtures), and says
/// what to do with an export whose names carry no module paths.
#[test]
fn sample_units_knows_the_papers_layers_of_real_exports() {
    let exports =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../exemplar-engine/tests/data/exports");
    for (file, arch, layers, every) in [
        ("tv_googlenet-ts-op17", "googlenet", 57, "Conv_output_0"),
        (
            "lucid_inceptionv1-ts-op11",
            "googlenet",
            21,
            "Conv_output_0",
        ),
        ("tv_resnet50-ts-op17", "resnet", 16, "Conv_output_0"),
        ("tv_resnet50-dynamo-op18", "resnet", 16, ""),
        ("tv_wide_resnet50_2-ts-op20", "resnet", 16, "Conv_output_0"),
        ("tv_densenet201-ts-op17", "densenet", 30, "/features/"),
        (
            "tv_convnext_base-ts-op17",
            "convnext",
            20,
            "/features/features.",
        ),
        (
            "timm_convnext_base-ts-op13",
            "convnext",
            20,
            "/stages/stages.",
        ),
        (
            "tv_vit_b_32-ts-op17",
            "vit",
            8,
            "/encoder/layers/encoder_layer_",
        ),
        ("timm_vit_base_patch32-ts-op20", "vit", 8, "/blocks/blocks."),
        ("clip_vit_b_32-ts-op17", "vit", 8, "/transformer/resblocks."),
    ] {
        let model = exports.join(format!("{file}.onnx"));
        let (ok, stdout, stderr) = exemplar(&[
            "sample-units",
            "--model",
            model.to_str().unwrap(),
            "--architecture",
            arch,
            "--count",
            "12",
            "--seed",
            "3",
        ]);
        assert!(ok, "{file}: {stderr}");
        assert!(
            stderr.contains(&format!(": {layers} eligible layers")),
            "{file}: {stderr}"
        );
        for line in stdout.lines() {
            let unit: Value = serde_json::from_str(line).unwrap();
            let layer = unit["layer"].as_str().unwrap();
            assert!(layer.contains(every), "{file}: {layer}");
            // Never the insides of GELU, the stem's or head's norms, attention.
            for inside in [
                "/act/",
                "/gelu/",
                "mlp.1/",
                "block.4/",
                "/attn",
                "self_attention",
                "/head/",
                "/stem/",
            ] {
                assert!(!layer.contains(inside), "{file}: {layer}");
            }
        }
    }
    let dynamo = exports.join("tv_convnext_base-dynamo-op18.onnx");
    let (ok, _, stderr) = exemplar(&[
        "sample-units",
        "--model",
        dynamo.to_str().unwrap(),
        "--architecture",
        "convnext",
    ]);
    assert!(
        !ok && stderr.contains("dynamo=False") && stderr.contains("eligible convnext layer"),
        "{stderr}"
    );
}

/// Progress goes to stderr: in a log (a pipe), a line per tenth with the rate and the time
/// left; on a terminal (a pseudo-terminal from util-linux's `script`, as a researcher's
/// shell has), a bar instead of those lines.
#[test]
fn progress_is_lines_in_a_log_and_a_bar_on_a_terminal() {
    let (dir, images, model) = setup("progress");
    let (ok, _, stderr) = select_channel_0(
        &model,
        &images,
        &dir.join("log"),
        &["--chunk", "6", "--batches", "2"],
    );
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("exemplar exemplars: ") && l.contains(" images ("))
        .collect();
    // 60 images in chunks of 6: one line per tenth.
    assert_eq!(lines.len(), 10, "{stderr}");
    assert!(lines[0].starts_with(&format!("exemplar exemplars: 6/{IMAGES} images (10 %), ")));
    assert!(lines
        .iter()
        .all(|l| l.contains(" images/s, ") && l.ends_with(" left")));
    assert!(lines[9].starts_with(&format!(
        "exemplar exemplars: {IMAGES}/{IMAGES} images (100 %)"
    )));

    let quote = |p: &Path| format!("'{}'", p.to_str().unwrap());
    let command = format!(
        "{} exemplars --model {} --layer feat --channel 0 --images {} --out {} --backend cpu \
         --chunk 6 --batches 2",
        quote(Path::new(env!("CARGO_BIN_EXE_exemplar"))),
        quote(&model),
        quote(&images),
        quote(&dir.join("tty")),
    );
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .output()
        .expect("util-linux's `script` (Debian's bsdutils) runs the command on a terminal");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains(&format!("{IMAGES}/{IMAGES} images (100 %), "))
            && shown.contains(" images/s, "),
        "no finished bar on the terminal:\n{shown}"
    );
    assert!(
        !shown.contains(&format!("exemplar exemplars: {IMAGES}/{IMAGES} images")),
        "log lines on a terminal:\n{shown}"
    );
    // Both runs computed the same activations.
    let csv =
        |run: &str| std::fs::read(dir.join(run).join("feat/channel_0/activations.csv")).unwrap();
    assert!(csv("log") == csv("tty"), "the runs differ");
}
