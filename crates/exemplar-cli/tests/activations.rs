//! `exemplar activations` end to end: an ONNX model written by the test, a solid-colour
//! PNG, both backends; the activations are known exactly.

use std::process::Command;

use exemplar_engine::onnx::{
    Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TypeProto,
    TypeProtoTensor, ValueInfoProto,
};
use prost::Message;
use serde_json::Value;

fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: d,
                            ..Default::default()
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// x → Relu → y → Sigmoid → z: y's channel means are the normalised pixel values.
fn model() -> Vec<u8> {
    let node = |op: &str, i: &str, o: &str| NodeProto {
        input: vec![i.into()],
        output: vec![o.into()],
        name: op.to_lowercase(),
        op_type: op.into(),
        ..Default::default()
    };
    ModelProto {
        ir_version: 8,
        producer_name: "exemplar-test".into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(GraphProto {
            name: "tiny".into(),
            node: vec![node("Relu", "x", "y"), node("Sigmoid", "y", "z")],
            input: vec![value("x", &[1, 3, 8, 8])],
            output: vec![value("z", &[1, 3, 8, 8])],
            ..Default::default()
        }),
    }
    .encode_to_vec()
}

/// An 8×8 PNG of one colour, written with the PNG encoder the engine uses to read.
fn solid_png(path: &std::path::Path, rgb: [u8; 3]) {
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb(rgb));
    img.save(path).unwrap();
}

#[test]
fn activations_of_known_images_on_both_backends() {
    let dir = std::env::temp_dir().join(format!("exemplar-act-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.onnx"), model()).unwrap();
    solid_png(&dir.join("a.png"), [255, 0, 51]);
    solid_png(&dir.join("b.png"), [0, 102, 255]);
    for backend in ["cpu", "gpu"] {
        let out = Command::new(env!("CARGO_BIN_EXE_exemplar"))
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
            eprintln!("SKIPPING the GPU backend: {stderr}");
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
    let bad = Command::new(env!("CARGO_BIN_EXE_exemplar"))
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
