//! `exemplar activations` end to end: an ONNX model written by the test, a solid-colour
//! PNG, both backends; the activations are known exactly.

mod common;

use common::{onnx, png};
use serde_json::Value;

/// x → Relu → y → Sigmoid → z: y's channel means are the normalised pixel values.
fn model() -> Vec<u8> {
    onnx::model(
        "tiny",
        vec![
            onnx::node("Relu", "relu", &["x"], "y", &[]),
            onnx::node("Sigmoid", "sigmoid", &["y"], "z", &[]),
        ],
        vec![],
        vec![onnx::value("x", &[1, 3, 8, 8])],
        vec![onnx::value("z", &[1, 3, 8, 8])],
    )
}

#[test]
fn activations_of_known_images_on_both_backends() {
    let dir = std::env::temp_dir().join(format!("exemplar-act-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.onnx"), model()).unwrap();
    png(&dir.join("a.png"), 8, 8, [255, 0, 51]);
    png(&dir.join("b.png"), 8, 8, [0, 102, 255]);
    for backend in ["cpu", "gpu"] {
        let out = common::command()
            .args(["activations", "--model"])
            .arg(dir.join("m.onnx"))
            .args([
                "--layer",
                "y",
                "--channel",
                "0",
                "--channel",
                "2",
                "--resize",
                "0",
                "--crop",
                "0",
            ])
            .args([
                "--mean",
                "0.5,0.5,0.5",
                "--std",
                "0.5,0.5,0.5",
                "--backend",
                backend,
            ])
            .arg(dir.join("a.png"))
            .arg(dir.join("b.png"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if backend == "gpu" && !out.status.success() && stderr.contains("adapter") {
            common::missing(&format!("a GPU adapter for the gpu backend ({stderr})"));
            continue;
        }
        assert!(out.status.success(), "{backend}: {stderr}");
        let rows: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // relu((v/255 - 0.5) / 0.5) for a: r=255 → 1, b=51 → 0 (negative); for b: r=0 → 0, b=255 → 1.
        let want = [
            ("a.png", 0, 1.0),
            ("a.png", 2, 0.0),
            ("b.png", 0, 0.0),
            ("b.png", 2, 1.0),
        ];
        assert_eq!(rows.len(), want.len(), "{backend}: {rows:?}");
        for (row, (image, channel, activation)) in rows.iter().zip(want) {
            assert!(row["image"].as_str().unwrap().ends_with(image), "{row}");
            assert_eq!(row["channel"], channel, "{row}");
            let got = row["activation"].as_f64().unwrap();
            assert!(
                (got - activation).abs() < 1e-5,
                "{backend} {row}: want {activation}"
            );
        }
    }
    let bad = common::command()
        .args(["activations", "--model"])
        .arg(dir.join("m.onnx"))
        .args(["--layer", "nowhere", "--channel", "0", "--backend", "cpu"])
        .arg(dir.join("a.png"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("nowhere"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
