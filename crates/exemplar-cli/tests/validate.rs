//! `exemplar validate` catches one planted error of each kind, all at once.

use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            copy_dir(&p, &to.join(p.file_name().unwrap()));
        } else {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

fn validate(dir: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_exemplar"))
        .arg("validate")
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
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
    let s = dir.join("stimuli/units");
    // Undecodable: a PNG with its data cut off.
    let bytes = std::fs::read(s.join("redness/batch_0/min_3.png")).unwrap();
    std::fs::write(s.join("redness/batch_0/min_3.png"), &bytes[..60]).unwrap();
    // Another size: a 100x100 image in a 224x224 batch.
    image::RgbImage::from_pixel(100, 100, image::Rgb([9, 9, 9]))
        .save(s.join("dots/batch_1/max_2.png"))
        .unwrap();
    // The same image on both sides.
    std::fs::copy(
        s.join("rings/batch_0/max_5.png"),
        s.join("rings/batch_0/min_6.png"),
    )
    .unwrap();
    // A query that is also a reference of another batch.
    std::fs::copy(
        s.join("checker/batch_1/max_0.png"),
        s.join("checker/batch_0/max_9.png"),
    )
    .unwrap();
    // A missing file.
    std::fs::remove_file(s.join("diagonal/batch_1/min_7.png")).unwrap();
    let (ok, _, stderr) = validate(&dir);
    assert!(!ok);
    // A missing file stops the content checks (they need every file): fix it and look again.
    assert!(stderr.contains("units[5].batches[1].references: file not found: stimuli/units/diagonal/batch_1/min_7.png"), "{stderr}");
    std::fs::copy(
        s.join("diagonal/batch_1/min_6.png"),
        s.join("diagonal/batch_1/min_7.png"),
    )
    .unwrap();
    let (ok, _, stderr) = validate(&dir);
    assert!(!ok);
    for want in [
        "units[1].batches[0].references: cannot decode stimuli/units/redness/batch_0/min_3.png",
        "units[2].batches[1]: images of one batch differ in size: 100×100, 224×224",
        "units[4].batches[0]: stimuli/units/rings/batch_0/max_5.png (max reference) is the same image as stimuli/units/rings/batch_0/min_6.png (min reference)",
        "units[3].batches[1]: stimuli/units/checker/batch_1/max_0.png (max reference) is the same image as stimuli/units/checker/batch_0/max_9.png (max query)",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
    }
    assert!(stderr.contains("4 problem(s)"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
