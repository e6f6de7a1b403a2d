//! Untrusted files at the command line: hostile ONNX models (absurd shapes, overflowing
//! arithmetic, a missing initializer), an image whose header declares 1×100,000 pixels,
//! symbolic-link loops and links out of a folder. Each is refused or skipped with a
//! message naming the file, tensor or node; commands that load a model exit with status
//! 2; nothing panics.

mod common;

use std::path::{Path, PathBuf};

use common::onnx::{node, value};
use common::{copy_dir, exemplar_code as exemplar, png};
use exemplar_engine::onnx::{NodeProto, TensorProto};

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("exemplar-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A model with input x [1, 3, 8, 8] (or `dims`), these nodes and initializers.
fn model(dims: &[i64], nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> Vec<u8> {
    common::onnx::model(
        "hostile",
        nodes,
        initializers,
        vec![value("x", dims)],
        vec![],
    )
}

const X: &[i64] = &[1, 3, 8, 8];

/// `layer` = x + ConstantOfShape([2^40]): refused while folding constants, at load.
fn huge_constant(layers: &[&str]) -> Vec<u8> {
    let mut nodes = vec![node("ConstantOfShape", "fill", &["big"], "c", &[])];
    for l in layers {
        nodes.push(node("Add", &format!("add_{l}"), &["x", "c"], l, &[]));
    }
    model(
        X,
        nodes,
        vec![TensorProto::from_i64("big", &[1], &[1 << 40])],
    )
}

fn activations(
    dir: &Path,
    model_bytes: &[u8],
    extra: &[&str],
    image: &Path,
) -> (Option<i32>, String) {
    let m = dir.join("m.onnx");
    std::fs::write(&m, model_bytes).unwrap();
    let mut args: Vec<&std::ffi::OsStr> = args!["activations", "--model"].to_vec();
    args.push(m.as_os_str());
    args.extend(args![
        "--layer",
        "y",
        "--channel",
        "0",
        "--backend",
        "cpu",
        "--resize",
        "0",
        "--crop",
        "0"
    ]);
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.push(image.as_os_str());
    let (code, _, stderr) = exemplar(&args);
    (code, stderr)
}

#[test]
fn activations_refuses_hostile_models_with_status_2() {
    let dir = tmp("act");
    let img = dir.join("a.png");
    png(&img, 8, 8, [10, 20, 30]);
    // The well-formed model works (so each refusal below is the model's doing).
    let relu = model(X, vec![node("Relu", "relu", &["x"], "y", &[])], vec![]);
    let (code, stderr) = activations(&dir, &relu, &[], &img);
    assert_eq!(code, Some(0), "{stderr}");
    let raw_short = TensorProto {
        dims: vec![3, 8, 8],
        data_type: 1,
        name: "w".into(),
        raw_data: vec![0; 100],
        ..Default::default()
    };
    // (what, model, extra arguments, words stderr must have)
    type Case<'a> = (&'a str, Vec<u8>, Vec<&'a str>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "ConstantOfShape of 2^40 (at load)",
            huge_constant(&["y"]),
            vec![],
            vec!["tensor 'c'", "node 'fill'", "max_tensor_elements"],
        ),
        (
            "Expand of the input to 2^48 images (at run)",
            model(
                X,
                vec![node("Expand", "expand", &["x", "to"], "y", &[])],
                vec![TensorProto::from_i64(
                    "to",
                    &[5],
                    &[1 << 24, 1 << 24, 3, 8, 8],
                )],
            ),
            vec![],
            vec!["tensor 'y'", "node 'expand'", "max_tensor_elements"],
        ),
        (
            "Reshape whose product overflows",
            model(
                X,
                vec![node("Reshape", "reshape", &["x", "shape"], "y", &[])],
                vec![TensorProto::from_i64(
                    "shape",
                    &[3],
                    &[1 << 33, 1 << 33, -1],
                )],
            ),
            vec![],
            vec!["node 'reshape'", "overflows"],
        ),
        (
            "Conv dilated by 2^62",
            model(
                X,
                vec![node(
                    "Conv",
                    "conv",
                    &["x", "w"],
                    "y",
                    &[("dilations", vec![1 << 62, 1 << 62])],
                )],
                vec![TensorProto::from_f32("w", &[1, 3, 5, 5], &[0.5; 75])],
            ),
            vec![],
            vec!["node 'conv'", "dilations", "overflows"],
        ),
        (
            "a missing initializer",
            model(
                X,
                vec![node("Conv", "conv", &["x", "w_missing"], "y", &[])],
                vec![],
            ),
            vec![],
            vec!["'w_missing'", "no node, input or initializer provides it"],
        ),
        (
            "raw_data shorter than the dims",
            model(
                X,
                vec![node("Add", "add", &["x", "w"], "y", &[])],
                vec![raw_short],
            ),
            vec![],
            vec!["tensor 'w'", "100 bytes of raw_data", "768"],
        ),
        (
            "an input declared 2^31 × 2^31",
            model(
                &[1, 3, 1 << 31, 1 << 31],
                vec![node("Relu", "relu", &["x"], "y", &[])],
                vec![],
            ),
            vec![],
            vec!["input 'x'", "max_tensor_elements"],
        ),
        (
            "a well-formed model over a lowered cap",
            relu.clone(),
            vec!["--max-tensor-elements", "100"],
            vec!["input 'x'", "over the limit of 100 elements"],
        ),
    ];
    for (what, bytes, extra, words) in cases {
        let (code, stderr) = activations(&dir, &bytes, &extra, &img);
        assert_eq!(code, Some(2), "{what}: {stderr}");
        for w in words {
            assert!(stderr.contains(w), "{what}: '{w}' missing in: {stderr}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_image_of_1_by_100000_pixels_is_refused_before_decoding() {
    let dir = tmp("tall");
    let tall = dir.join("tall.png");
    png(&tall, 1, 100_000, [1, 2, 3]);
    let relu = model(X, vec![node("Relu", "relu", &["x"], "y", &[])], vec![]);
    // With the default resize (shorter side to 256) this image would be 256 × 25.6 M.
    let m = dir.join("m.onnx");
    std::fs::write(&m, &relu).unwrap();
    let (code, _, stderr) = exemplar(&[
        "activations".as_ref(),
        "--model".as_ref(),
        m.as_os_str(),
        "--layer".as_ref(),
        "y".as_ref(),
        "--channel".as_ref(),
        "0".as_ref(),
        "--backend".as_ref(),
        "cpu".as_ref(),
        tall.as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    for w in ["tall.png", "1x100000", "aspect ratio"] {
        assert!(stderr.contains(w), "'{w}' missing in: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Twenty distinct 8×8 images, a symbolic-link loop and links leaving the folder.
fn hostile_image_folder(dir: &Path) -> PathBuf {
    let images = dir.join("images");
    std::fs::create_dir_all(images.join("sub")).unwrap();
    for k in 0..20u8 {
        png(
            &images.join(format!("sub/{k:02}.png")),
            8,
            8,
            [k * 10, 255 - k * 10, k],
        );
    }
    let outside = dir.join("outside.png");
    png(&outside, 8, 8, [200, 0, 200]);
    std::os::unix::fs::symlink(&images, images.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink(&outside, images.join("elsewhere.png")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", images.join("passwd.png")).unwrap();
    images
}

#[test]
fn exemplars_and_sample_units_refuse_hostile_models_and_walk_folders_safely() {
    let dir = tmp("exemplars");
    let images = hostile_image_folder(&dir);
    let m = dir.join("m.onnx");
    // Well-formed: the walk skips the loop and both links, and the 20 images suffice.
    std::fs::write(
        &m,
        model(X, vec![node("Relu", "relu", &["x"], "y", &[])], vec![]),
    )
    .unwrap();
    let out = dir.join("out");
    let base: Vec<&std::ffi::OsStr> = vec![
        "exemplars".as_ref(),
        "--model".as_ref(),
        m.as_os_str(),
        "--layer".as_ref(),
        "y".as_ref(),
        "--channel".as_ref(),
        "0".as_ref(),
        "--images".as_ref(),
        images.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--batches".as_ref(),
        "1".as_ref(),
        "--backend".as_ref(),
        "cpu".as_ref(),
        "--resize".as_ref(),
        "0".as_ref(),
        "--crop".as_ref(),
        "0".as_ref(),
    ];
    let (code, _, stderr) = exemplar(&base);
    assert_eq!(code, Some(0), "{stderr}");
    for w in [
        "sub/loop",
        "(a loop)",
        "elsewhere.png",
        "passwd.png",
        "outside",
    ] {
        assert!(stderr.contains(w), "'{w}' missing in: {stderr}");
    }
    let csv = std::fs::read_to_string(out.join("y/channel_0/activations.csv")).unwrap();
    assert_eq!(csv.lines().count(), 21, "{csv}");
    assert!(
        !csv.contains("passwd") && !csv.contains("elsewhere") && !csv.contains("loop"),
        "{csv}"
    );

    // Hostile: status 2, the node named.
    std::fs::write(&m, huge_constant(&["y"])).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    let (code, _, stderr) = exemplar(&base);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("node 'fill'") && stderr.contains("max_tensor_elements"),
        "{stderr}"
    );

    let (code, _, stderr) = exemplar(&[
        "sample-units".as_ref(),
        "--model".as_ref(),
        m.as_os_str(),
        "--layers".as_ref(),
        "y".as_ref(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("node 'fill'"), "{stderr}");
    std::fs::write(
        &m,
        model(
            &[1, 3, 1 << 31, 1 << 31],
            vec![node("Relu", "relu", &["x"], "y", &[])],
            vec![],
        ),
    )
    .unwrap();
    let (code, _, stderr) = exemplar(&[
        "sample-units".as_ref(),
        "--model".as_ref(),
        m.as_os_str(),
        "--layers".as_ref(),
        "y".as_ref(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("input 'x'"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The demo experiment, copied; its JSON.
fn demo_copy(dir: &Path) -> (PathBuf, serde_json::Value) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo");
    let exp = dir.join("exp");
    copy_dir(&demo, &exp);
    let json = serde_json::from_str(&std::fs::read_to_string(exp.join("experiment.json")).unwrap())
        .unwrap();
    (exp, json)
}

#[test]
fn check_and_validate_name_a_hostile_check_model() {
    let dir = tmp("check");
    let (exp, json) = demo_copy(&dir);
    let file = json["checks"]["models"]["efficientnet-lite0"]["file"]
        .as_str()
        .unwrap();
    let mut layers: Vec<&str> = json["units"]
        .as_array()
        .unwrap()
        .iter()
        .chain(json["catch_units"].as_array().unwrap())
        .map(|u| u["layer"].as_str().unwrap())
        .collect();
    layers.sort();
    layers.dedup();
    std::fs::write(exp.join(file), huge_constant(&layers)).unwrap();
    let (code, _, stderr) = exemplar(args!["check", exp.as_os_str(), "--backend", "cpu"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("node 'fill'") && stderr.contains("max_tensor_elements"),
        "{stderr}"
    );
    // validate lists it as a problem of the experiment (status 1, as for any problem).
    let (code, _, stderr) = exemplar(args!["validate", exp.as_os_str()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("node 'fill'") && stderr.contains("max_tensor_elements"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn build_never_copies_a_file_from_outside_the_experiment() {
    let dir = tmp("build");
    let (exp, json) = demo_copy(&dir);
    let client = dir.join("dist");
    std::fs::create_dir_all(&client).unwrap();
    std::fs::write(client.join("index.html"), "<!doctype html>").unwrap();
    let ext = json["loading"]["extension"].as_str().unwrap_or("png");
    let folder = json["units"][0]["batches"][0]["references"]
        .as_str()
        .unwrap();
    let rel = format!("{folder}/min_3.{ext}");
    let site = dir.join("site");
    // First a clean build works.
    let build = |site: &Path| {
        exemplar(&[
            "build".as_ref(),
            exp.as_os_str(),
            "--out".as_ref(),
            site.as_os_str(),
            "--client".as_ref(),
            client.as_os_str(),
        ])
    };
    let (code, _, stderr) = build(&site);
    assert_eq!(code, Some(0), "{stderr}");

    // A stimulus that is a link to a (valid) image outside the experiment.
    let outside = dir.join("outside.png");
    std::fs::copy(exp.join(&rel), &outside).unwrap();
    std::fs::remove_file(exp.join(&rel)).unwrap();
    std::os::unix::fs::symlink(&outside, exp.join(&rel)).unwrap();
    let site2 = dir.join("site2");
    let (code, _, stderr) = build(&site2);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&rel) && stderr.contains("outside"),
        "{stderr}"
    );
    let (code, _, stderr) = exemplar(args!["validate", exp.as_os_str()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&rel) && stderr.contains("outside"),
        "{stderr}"
    );

    // A link to /etc/passwd: never in the site.
    std::fs::remove_file(exp.join(&rel)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", exp.join(&rel)).unwrap();
    let site3 = dir.join("site3");
    let (code, _, stderr) = build(&site3);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("/etc/passwd") && stderr.contains("outside"),
        "{stderr}"
    );
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let mut stack = vec![site3.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                assert_ne!(
                    std::fs::read(&p).unwrap(),
                    passwd,
                    "{} is /etc/passwd",
                    p.display()
                );
            }
        }
    }
    // The check model linked from outside: refused too.
    std::fs::remove_file(exp.join(&rel)).unwrap();
    std::fs::copy(&outside, exp.join(&rel)).unwrap();
    let model = json["checks"]["models"]["efficientnet-lite0"]["file"]
        .as_str()
        .unwrap();
    let moved = dir.join("model.onnx");
    std::fs::rename(exp.join(model), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, exp.join(model)).unwrap();
    let (code, _, stderr) = build(&dir.join("site4"));
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(model) && stderr.contains("outside"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn validate_refuses_an_image_of_1_by_100000_pixels() {
    let dir = tmp("validate-tall");
    let (exp, json) = demo_copy(&dir);
    let ext = json["loading"]["extension"].as_str().unwrap_or("png");
    let folder = json["units"][1]["batches"][0]["references"]
        .as_str()
        .unwrap();
    let rel = format!("{folder}/max_4.{ext}");
    // Written as PNG whatever the extension (decoders guess the format from the bytes).
    image::RgbImage::from_pixel(1, 100_000, image::Rgb([5, 5, 5]))
        .save_with_format(exp.join(&rel), image::ImageFormat::Png)
        .unwrap();
    let (code, _, stderr) = exemplar(args!["validate", exp.as_os_str()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&rel) && stderr.contains("1x100000") && stderr.contains("aspect ratio"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn import_imi_skips_symlink_loops_and_refuses_files_linked_from_outside() {
    let dir = tmp("imi");
    let release = dir.join("release");
    let natural = release.join("layer_a/channel_3/natural_images");
    std::fs::create_dir_all(&natural).unwrap();
    for (s, side) in ["min", "max"].iter().enumerate() {
        for i in 0..10u8 {
            png(
                &natural.join(format!("{side}_{i}.png")),
                8,
                8,
                [i * 20, s as u8 * 200, 7],
            );
        }
    }
    std::os::unix::fs::symlink(&release, release.join("layer_a/loop")).unwrap();
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, release.join("away")).unwrap();
    let out = dir.join("out");
    let (code, _, stderr) = exemplar(args![
        "import-imi",
        release.as_os_str(),
        "--out",
        out.as_os_str()
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("layer_a/loop") && stderr.contains("(a loop)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("away") && stderr.contains("outside"),
        "{stderr}"
    );
    // A released file that is a link to /etc/passwd is not copied.
    std::fs::remove_file(natural.join("max_2.png")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", natural.join("max_2.png")).unwrap();
    let out2 = dir.join("out2");
    let (code, _, stderr) = exemplar(args![
        "import-imi",
        release.as_os_str(),
        "--out",
        out2.as_os_str()
    ]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("max_2.png") && stderr.contains("outside"),
        "{stderr}"
    );
    assert!(!out2
        .join("stimuli/layer_a/channel_3/natural/max_2.png")
        .exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
