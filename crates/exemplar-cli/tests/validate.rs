//! `exemplar validate` catches one planted error of each kind, all at once.

mod common;

use std::path::Path;

use common::{copy_dir, exemplar};

fn validate(dir: &Path) -> (bool, String, String) {
    exemplar(&["validate".as_ref(), dir.as_os_str()])
}

#[test]
fn the_demo_is_valid() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo");
    let (ok, stdout, stderr) = validate(&demo);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("valid (6 units, 2 catch units, 380 stimulus files)"),
        "{stdout}"
    );
}

#[test]
fn planted_errors_are_all_reported() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo");
    let dir = std::env::temp_dir().join(format!("exemplar-validate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&demo, &dir);
    // A batch's folder: the demo's units[k].batches[b].references.
    let experiment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(demo.join("experiment.json")).unwrap())
            .unwrap();
    let ext = experiment["loading"]["extension"]
        .as_str()
        .unwrap_or("png")
        .to_string();
    let file = |k: usize, b: usize, name: &str| -> String {
        let folder = experiment["units"][k]["batches"][b]["references"]
            .as_str()
            .unwrap();
        format!("{folder}/{name}.{ext}")
    };
    let at = |rel: &str| dir.join(rel);
    // Undecodable: an image with its data cut off.
    let cut = file(1, 0, "min_3");
    let bytes = std::fs::read(at(&cut)).unwrap();
    std::fs::write(at(&cut), &bytes[..60]).unwrap();
    // Another size: a 100x100 image in a 224x224 batch.
    image::RgbImage::from_pixel(100, 100, image::Rgb([9, 9, 9]))
        .save(at(&file(2, 1, "max_2")))
        .unwrap();
    // The same image on both sides.
    let (max5, min6) = (file(4, 0, "max_5"), file(4, 0, "min_6"));
    std::fs::copy(at(&max5), at(&min6)).unwrap();
    // A query that is also a reference of another batch.
    let (max0, max9) = (file(3, 1, "max_0"), file(3, 0, "max_9"));
    std::fs::copy(at(&max0), at(&max9)).unwrap();
    // A missing file.
    let missing = file(5, 1, "min_7");
    std::fs::remove_file(at(&missing)).unwrap();
    let (ok, _, stderr) = validate(&dir);
    assert!(!ok);
    // A missing file stops the content checks (they need every file): fix it and look again.
    let want = format!("units[5].batches[1].references: file not found: {missing}");
    assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    std::fs::copy(at(&file(5, 1, "min_6")), at(&missing)).unwrap();
    let (ok, _, stderr) = validate(&dir);
    assert!(!ok);
    for want in [
        format!("units[1].batches[0].references: cannot decode {cut}"),
        "units[2].batches[1]: images of one batch differ in size: 100×100, 224×224".to_string(),
        format!("units[4].batches[0]: {max5} (max reference) is the same image as {min6} (min reference)"),
        format!("units[3].batches[1]: {max0} (max reference) is the same image as {max9} (max query)"),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    }
    assert!(stderr.contains("4 problem(s)"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
