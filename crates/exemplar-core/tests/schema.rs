//! The committed JSON Schemas are the ones the types generate.

#[test]
fn committed_schemas_are_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema");
    for (name, text) in [
        (
            "experiment.schema.json",
            exemplar_core::schema::experiment(),
        ),
        ("record.schema.json", exemplar_core::schema::record()),
    ] {
        let committed = std::fs::read_to_string(root.join(name)).unwrap_or_default();
        assert!(
            committed == text,
            "schema/{name} is stale: run `cargo run -p exemplar-cli -- schema`"
        );
    }
}

#[test]
fn experiment_schema_describes_fields() {
    let s: serde_json::Value = serde_json::from_str(&exemplar_core::schema::experiment()).unwrap();
    let text = s.to_string();
    assert!(text.contains("Buttons are disabled this long after the trial is painted"));
    assert!(s["required"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "units"));
}
