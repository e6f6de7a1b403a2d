//! Preprocessing: sizes, crop position and normalisation of the presets.

use exemplar_engine::Preprocess;

#[test]
fn imagenet_resizes_the_shorter_side_and_crops_the_centre() {
    let (w, h) = (320u32, 256u32);
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i % w) as u8, (i / w) as u8, 200])
        .collect();
    let t = Preprocess::imagenet().apply(&rgb, w, h).unwrap();
    assert_eq!(t.shape, vec![3, 224, 224]);
    // Height is already 256 (no resize); the crop starts at x = 48, y = 16.
    let px = |c: usize, y: usize, x: usize| t.data[(c * 224 + y) * 224 + x];
    let expect =
        |v: f32, c: usize| (v / 255.0 - [0.485, 0.456, 0.406][c]) / [0.229, 0.224, 0.225][c];
    assert!((px(0, 0, 0) - expect(48.0, 0)).abs() < 1e-5);
    assert!((px(1, 0, 0) - expect(16.0, 1)).abs() < 1e-5);
    assert!((px(2, 100, 100) - expect(200.0, 2)).abs() < 1e-5);
}

#[test]
fn inception_is_pixel_times_255_minus_117_and_downscaling_averages() {
    // A 512x512 checkerboard of 0 and 255 halves to 256 (then crop 224): PIL's
    // antialiased bilinear filter averages neighbours to about 127.5.
    let n = 512u32;
    let rgb: Vec<u8> = (0..n * n)
        .flat_map(|i| {
            let v = if (i % n + i / n).is_multiple_of(2) {
                255
            } else {
                0
            };
            [v, v, v]
        })
        .collect();
    let t = Preprocess::inception().apply(&rgb, n, n).unwrap();
    assert_eq!(t.shape, vec![3, 224, 224]);
    for v in &t.data {
        assert!((v - (127.5 - 117.0)).abs() <= 1.0, "{v}");
    }
    let none = Preprocess {
        resize: None,
        crop: None,
        ..Preprocess::inception()
    };
    let t = none.apply(&[255, 0, 117], 1, 1).unwrap();
    for (got, want) in t.data.iter().zip([138.0, -117.0, 0.0]) {
        assert!((got - want).abs() <= 1e-4, "{got} vs {want}");
    }
    assert!(Preprocess::preset("vit").is_err());
    assert!(none.apply(&[1, 2], 1, 1).is_err());
}

#[test]
fn rgba_is_rgb_with_alpha_ignored() {
    let (w, h) = (300u32, 260u32);
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i % 251) as u8, (i / w) as u8, (i * 7 % 256) as u8])
        .collect();
    let rgba: Vec<u8> = rgb
        .chunks_exact(3)
        .enumerate()
        .flat_map(|(i, p)| [p[0], p[1], p[2], (i % 256) as u8])
        .collect();
    for pre in [Preprocess::imagenet(), Preprocess::inception()] {
        let a = pre.apply(&rgb, w, h).unwrap();
        let b = pre.apply_rgba(&rgba, w, h).unwrap();
        assert_eq!(a.shape, b.shape);
        assert!(a
            .data
            .iter()
            .zip(&b.data)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
    // RGB bytes given as RGBA: the error names what was expected.
    let e = Preprocess::imagenet().apply_rgba(&rgb, w, h).unwrap_err();
    assert!(
        e.to_string()
            .contains("RGBA image of 300x260 needs 312000 bytes"),
        "{e}"
    );
}

/// The command-line path: PNG files in, one JSON object per image and channel out.
#[test]
fn activations_json_reads_files() {
    use exemplar_engine::onnx::{
        GraphProto, ModelProto, NodeProto, OperatorSetIdProto, ValueInfoProto,
    };
    use prost::Message;
    let dir = std::env::temp_dir().join(format!("exemplar-engine-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = ModelProto {
        ir_version: 8,
        producer_name: "test".into(),
        graph: Some(GraphProto {
            node: vec![NodeProto {
                input: vec!["x".into()],
                output: vec!["y".into()],
                name: "relu".into(),
                op_type: "Relu".into(),
                ..Default::default()
            }],
            input: vec![ValueInfoProto {
                name: "x".into(),
                r#type: None,
            }],
            ..Default::default()
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
    };
    std::fs::write(dir.join("m.onnx"), model.encode_to_vec()).unwrap();
    let red = image::RgbImage::from_pixel(8, 6, image::Rgb([255, 0, 0]));
    red.save(dir.join("red.png")).unwrap();
    let pre = exemplar_engine::Preprocess {
        resize: None,
        crop: None,
        mean: [0.0; 3],
        std: [1.0; 3],
    };
    let out = exemplar_engine::activations_json(
        &dir.join("m.onnx"),
        "y",
        &[0, 1],
        &pre,
        exemplar_engine::Backend::Cpu,
        &[dir.join("red.png").as_path()],
    )
    .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["channel"], 0);
    assert!(
        (out[0]["activation"].as_f64().unwrap() - 1.0).abs() < 1e-6,
        "{}",
        out[0]
    );
    assert_eq!(out[1]["activation"].as_f64().unwrap(), 0.0);
    assert!(out[0]["image"].as_str().unwrap().ends_with("red.png"));
    let err = exemplar_engine::activations_json(
        &dir.join("missing.onnx"),
        "y",
        &[0],
        &pre,
        exemplar_engine::Backend::Cpu,
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot read model"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
