//! `exemplar exemplars --units`: units of several layers in one pass over the images. Each
//! layer's stimuli, audit files and unit entries must be byte for byte what a one-layer run
//! of that layer writes, whole, split into shards and merged, resumed after a kill that left
//! the layers at different counts, and from activations computed elsewhere.

mod common;

use std::path::Path;

use common::exemplar;
use common::flat_images::{setup, tree};
use serde_json::Value;

/// What `sample-units` prints: the units of `feat`, `head` and `act`, interleaved.
const UNITS: &str = r#"{"layer":"feat","channel":1}
{"layer":"head","channel":3}
{"layer":"feat","channel":0}

{"layer":"act","channel":0}
{"layer":"head","channel":0}
"#;

/// The same units by layer, in order of first appearance.
const BY_LAYER: [(&str, &[&str]); 3] = [
    ("feat", &["1", "0"]),
    ("head", &["3", "0"]),
    ("act", &["0"]),
];

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

#[test]
fn several_layers_in_one_pass_write_what_one_run_per_layer_writes() {
    let (dir, images, model) = setup("layers");
    let units = dir.join("units.jsonl");
    std::fs::write(&units, UNITS).unwrap();
    let select = |out: &Path| {
        args(&[
            "--images",
            &s(&images),
            "--out",
            &s(out),
            "--experiment",
            &s(out),
            "--batches",
            "3",
            "--seed",
            "4",
        ])
    };
    let run = |out: &Path, what: &[&str], extra: &[&str]| {
        let mut a = args(&["exemplars", "--model", &s(&model), "--backend", "cpu"]);
        a.extend(args(what));
        a.extend(args(&["--chunk", "7"]));
        a.extend(select(out));
        a.extend(args(extra));
        exemplar(&a)
    };

    // One run per layer, into one folder: the reference.
    let singles = dir.join("singles");
    let mut want_units: Vec<Value> = Vec::new();
    for (layer, channels) in BY_LAYER {
        let mut what = vec!["--layer", layer];
        for c in channels {
            what.extend(["--channel", c]);
        }
        let (ok, stdout, stderr) = run(&singles, &what, &[]);
        assert!(ok, "{layer}: {stderr}");
        let Value::Array(entries) = serde_json::from_str(&stdout).unwrap() else {
            panic!("{stdout}")
        };
        want_units.extend(entries);
    }
    let want = tree(&singles);
    assert_eq!(want.len(), 5 * (3 * 20 + 2), "{:?}", want.keys());

    // All of them in one pass.
    let multi = dir.join("multi");
    let (ok, stdout, stderr) = run(&multi, &["--units", &s(&units)], &[]);
    assert!(ok, "{stderr}");
    let got_units: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(got_units, Value::Array(want_units.clone()));
    assert!(
        tree(&multi) == want,
        "one pass differs from one run per layer"
    );
    assert!(!multi.join("partials").exists());

    // Two shards of the pass, merged layer by layer.
    let split = dir.join("split");
    for k in 0..2 {
        let (ok, _, stderr) = run(
            &split,
            &["--units", &s(&units)],
            &["--shard", &format!("{k}/2")],
        );
        assert!(ok, "{stderr}");
        assert!(
            stderr.contains("partials/feat") && stderr.contains("partials/act"),
            "{stderr}"
        );
    }
    let partials = split.join("partials");
    let merge = |out: &Path| {
        let mut a = args(&["exemplars", "merge"]);
        a.extend(BY_LAYER.iter().map(|(l, _)| s(&partials.join(l))));
        a.extend(select(out));
        exemplar(&a)
    };
    let (ok, stdout, stderr) = merge(&split);
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        Value::Array(want_units.clone())
    );
    let mut got = tree(&split);
    got.retain(|k, _| !k.starts_with("partials/"));
    assert!(got == want, "merged shards differ from one run per layer");

    // Killed between the layers' appends: `act` finished, `feat` at 5 images, `head` at 3
    // and half a row. The same command resumes all from 3 and writes the same bytes.
    let shard = |layer: &str, ext: &str| partials.join(layer).join(format!("shard_1_of_2.{ext}"));
    let finished: Vec<(Vec<u8>, String)> = BY_LAYER
        .iter()
        .map(|(l, _)| {
            (
                std::fs::read(shard(l, "npy")).unwrap(),
                std::fs::read_to_string(shard(l, "txt")).unwrap(),
            )
        })
        .collect();
    for (i, (layer, keep, extra)) in [("feat", 5, &[][..]), ("head", 3, &[9u8, 9][..])]
        .into_iter()
        .enumerate()
    {
        let (npy, list) = &finished[i];
        let array = exemplar_cli::npy::parse(npy).unwrap();
        let rows: Vec<u8> = array.data[..keep * array.cols]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .chain(extra.iter().copied())
            .collect();
        std::fs::write(shard(layer, "rows"), rows).unwrap();
        let lines: Vec<&str> = list.lines().take(keep).collect();
        std::fs::write(shard(layer, "txt"), lines.join("\n") + "\n").unwrap();
        std::fs::remove_file(shard(layer, "npy")).unwrap();
    }
    let (ok, _, stderr) = run(
        &split,
        &["--units", &s(&units)],
        &["--shard", "1/2", "--threads", "1"],
    );
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("act/shard_1_of_2.npy was computed already")
            && stderr.contains("5 images were done")
            && stderr.contains("3 images were done"),
        "{stderr}"
    );
    for (i, (layer, _)) in BY_LAYER.iter().enumerate() {
        assert_eq!(
            std::fs::read(shard(layer, "npy")).unwrap(),
            finished[i].0,
            "{layer}"
        );
        assert_eq!(
            std::fs::read_to_string(shard(layer, "txt")).unwrap(),
            finished[i].1,
            "{layer}"
        );
    }

    // Activations computed elsewhere, one column per unit in the file's order, from the
    // one-layer runs' audit files: as .npy with its list, and as CSV headed `layer:channel`.
    let audit = |layer: &str, c: &str| -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> =
            std::fs::read_to_string(singles.join(format!("{layer}/channel_{c}/activations.csv")))
                .unwrap()
                .lines()
                .skip(1)
                .map(|l| {
                    let f: Vec<&str> = l.split(',').collect();
                    (f[0].to_string(), f[1].to_string())
                })
                .collect();
        rows.sort();
        rows
    };
    let order = [
        ("feat", "1"),
        ("head", "3"),
        ("feat", "0"),
        ("act", "0"),
        ("head", "0"),
    ];
    let columns: Vec<Vec<(String, String)>> = order.iter().map(|(l, c)| audit(l, c)).collect();
    let names: Vec<String> = columns[0].iter().map(|(n, _)| n.clone()).collect();
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let mut csv = "image".to_string();
    for (l, c) in order {
        csv.push_str(&format!(",{l}:{c}"));
    }
    csv.push('\n');
    let mut data = Vec::new();
    for (i, n) in names.iter().enumerate() {
        csv.push_str(n);
        for col in &columns {
            csv.push_str(&format!(",{}", col[i].1));
            data.push(col[i].1.parse::<f32>().unwrap());
        }
        csv.push('\n');
    }
    std::fs::write(outside.join("acts.csv"), &csv).unwrap();
    let mut bytes = Vec::new();
    exemplar_cli::npy::write(
        &mut bytes,
        &exemplar_cli::npy::Array {
            rows: names.len(),
            cols: order.len(),
            data,
        },
    )
    .unwrap();
    std::fs::write(outside.join("acts.npy"), bytes).unwrap();
    std::fs::write(outside.join("acts.txt"), names.join("\n") + "\n").unwrap();
    for file in ["acts.npy", "acts.csv"] {
        let out = outside.join(file.replace('.', "-"));
        let mut a = args(&[
            "exemplars",
            "--activations",
            &s(&outside.join(file)),
            "--units",
            &s(&units),
            "--model-name",
            "linear",
        ]);
        a.extend(select(&out));
        let (ok, stdout, stderr) = exemplar(&a);
        assert!(ok, "{file}: {stderr}");
        assert_eq!(
            serde_json::from_str::<Value>(&stdout).unwrap(),
            Value::Array(want_units.clone()),
            "{file}"
        );
        let got = tree(&out);
        let differ: Vec<&String> = want
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        assert!(
            got.len() == want.len() && differ.is_empty(),
            "{file}: differs from the runs: {differ:?}"
        );
    }
    // A CSV without the units' names says which column is missing.
    std::fs::write(outside.join("bare.csv"), csv.replacen("head:3", "3", 1)).unwrap();
    let mut a = args(&[
        "exemplars",
        "--activations",
        &s(&outside.join("bare.csv")),
        "--units",
        &s(&units),
    ]);
    a.extend(select(&dir.join("bare")));
    let (ok, _, stderr) = exemplar(&a);
    assert!(
        !ok && stderr.contains("no column \"head:3\" for unit head channel 3"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A units file that is not what `sample-units` prints, or that names a unit twice, is
/// refused with the line and the reason before anything is computed; so are `--units`
/// beside `--layer`, and layers that would share a folder.
#[test]
fn units_files_are_checked_before_computing() {
    let (dir, images, model) = setup("units-refused");
    let out = dir.join("out");
    let try_units = |text: &str| {
        let file = dir.join("units.jsonl");
        std::fs::write(&file, text).unwrap();
        exemplar(&args(&[
            "exemplars",
            "--model",
            &s(&model),
            "--units",
            &s(&file),
            "--images",
            &s(&images),
            "--out",
            &s(&out),
            "--backend",
            "cpu",
            "--batches",
            "3",
        ]))
    };
    for (text, says) in [
        ("", "no units"),
        ("\n\n", "no units"),
        (
            "{\"layer\":\"feat\",\"channel\":0}\n{\"layer\":\"feat\"}\n",
            "line 2: not a unit",
        ),
        ("{\"layer\":\"feat\",\"channel\":-1}\n", "line 1: not a unit"),
        (
            "{\"layer\":\"feat\",\"channel\":0,\"mode\":\"x\"}\n",
            "unknown field `mode`",
        ),
        ("layer,channel\nfeat,0\n", "line 1: not a unit"),
        (
            "{\"layer\":\"feat\",\"channel\":1}\n{\"layer\":\"act\",\"channel\":0}\n{\"layer\":\"feat\",\"channel\":1}\n",
            "unit feat channel 1 is listed twice",
        ),
        (
            "{\"layer\":\"a/b\",\"channel\":1}\n{\"layer\":\"a_b\",\"channel\":0}\n",
            "would share the folder \"a_b\"",
        ),
        (
            "{\"layer\":\"feat\",\"channel\":0}\n{\"layer\":\"nope\",\"channel\":0}\n",
            "nope",
        ),
        (
            "{\"layer\":\"feat\",\"channel\":0}\n{\"layer\":\"head\",\"channel\":5}\n",
            "channel 5 does not exist",
        ),
    ] {
        let (ok, _, stderr) = try_units(text);
        assert!(!ok && stderr.contains(says), "{text:?}: {stderr}");
    }
    let (ok, _, stderr) = exemplar(&args(&[
        "exemplars",
        "--model",
        &s(&model),
        "--units",
        &s(&dir.join("units.jsonl")),
        "--layer",
        "feat",
        "--images",
        &s(&images),
        "--out",
        &s(&out),
    ]));
    assert!(!ok && stderr.contains("cannot be used with"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
