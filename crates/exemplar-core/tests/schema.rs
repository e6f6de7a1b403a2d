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
    // `texts`: every key, with what it is and its English default, and no other key.
    let texts = &s["properties"]["texts"];
    assert!(texts["description"]
        .as_str()
        .unwrap()
        .contains("Replacements of the page's texts"));
    assert_eq!(texts["additionalProperties"], false);
    let keys = texts["properties"].as_object().unwrap();
    assert_eq!(keys.len(), exemplar_core::texts::T::ALL.len());
    assert_eq!(
        keys["prompt"]["default"],
        "Which image at the center matches the Right Examples better?"
    );
    assert_eq!(
        keys["correct"]["description"],
        "The verdict on a correct answer."
    );
    assert!(s["required"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "units"));
}

fn data_md_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/data.md")
}

#[test]
fn data_md_field_tables_are_current() {
    let committed = std::fs::read_to_string(data_md_path()).unwrap();
    for name in ["common", "trial", "events"] {
        assert!(
            committed.contains(&format!("<!-- generated:{name} -->\n"))
                && committed.contains(&format!("<!-- end generated:{name} -->")),
            "docs/data.md lost its generated:{name} markers"
        );
    }
    assert!(
        exemplar_core::schema::data_md(&committed) == committed,
        "the field tables of docs/data.md are stale: run \
         `cargo test -p exemplar-core --test schema -- --ignored write_data_md`"
    );
}

/// Rewrites the generated tables of `docs/data.md` from the types.
#[test]
#[ignore = "writes docs/data.md"]
fn write_data_md() {
    let committed = std::fs::read_to_string(data_md_path()).unwrap();
    std::fs::write(data_md_path(), exemplar_core::schema::data_md(&committed)).unwrap();
}

#[test]
fn csv_columns_are_numbered_without_gaps_and_are_scalars() {
    let fields = exemplar_core::schema::fields();
    let columns = fields.csv_columns();
    for (i, f) in columns.iter().enumerate() {
        assert_eq!(f.csv_column, Some(i + 1), "{}", f.name);
        // An optional column (a field only some experiments write) is an empty cell
        // where the record has no value, and the CSV reader leaves empty cells out.
        assert!(
            !matches!(
                f.json_type,
                exemplar_core::schema::JsonType::Array | exemplar_core::schema::JsonType::Object
            ),
            "{} cannot be a CSV column",
            f.name
        );
    }
    let names: Vec<&str> = columns.iter().map(|f| f.name.as_str()).collect();
    // The original study's columns come first, in its order.
    assert_eq!(
        names[..15],
        [
            "rt",
            "button_pressed",
            "switched_queries",
            "confidence",
            "choice",
            "correct",
            "catch_trial",
            "is_demo",
            "trial_index",
            "time_elapsed",
            "model",
            "layer",
            "channel",
            "batch",
            "mode"
        ]
    );
    // Every trial field of the schema is in docs/data.md's trial table, and so are the
    // CSV's columns.
    let docs = std::fs::read_to_string(data_md_path()).unwrap();
    let between = |name: &str| {
        let b = docs.find(&format!("<!-- generated:{name} -->")).unwrap();
        let e = docs
            .find(&format!("<!-- end generated:{name} -->"))
            .unwrap();
        docs[b..e].to_string()
    };
    let tables = between("common") + &between("trial");
    let documented: Vec<&str> = tables
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    let schema: Vec<&str> = fields
        .common
        .iter()
        .chain(fields.of_type("trial"))
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(documented, schema);
    assert!(names.iter().all(|n| documented.contains(n)));
}

/// Records as the app wrote them before the record types had enums (one of each `type`,
/// every word of every fixed-vocabulary field): they read into the types and are written
/// back byte for byte.
#[test]
fn recorded_samples_round_trip_byte_for_byte() {
    let samples = include_str!("data/records.jsonl");
    let mut types = std::collections::BTreeSet::new();
    for line in samples.lines() {
        let record: exemplar_core::Record = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_string(&record).unwrap(), line);
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        types.insert(v["type"].as_str().unwrap().to_string());
    }
    let all: std::collections::BTreeSet<String> = exemplar_core::schema::fields()
        .types
        .into_iter()
        .map(|(t, _, _)| t)
        .collect();
    assert_eq!(types, all, "a sample of every record type");
}

#[test]
fn words_outside_a_fixed_vocabulary_are_refused() {
    let line = include_str!("data/records.jsonl")
        .lines()
        .find(|l| l.contains("\"input\":\"key\""))
        .unwrap();
    for (from, to) in [
        ("\"input\":\"key\"", "\"input\":\"tap\""),
        ("\"choice\":\"b\"", "\"choice\":\"B\""),
        ("\"mode\":\"optimized\"", "\"mode\":\"catch\""),
    ] {
        let bad = line.replacen(from, to, 1);
        assert!(
            serde_json::from_str::<exemplar_core::Record>(&bad).is_err(),
            "{to}"
        );
    }
}

/// Trial records of clients from before `onset_source` (a tab left open across a deploy)
/// are still accepted: their onset was the animation frame's.
#[test]
fn a_trial_record_without_onset_source_took_the_animation_frame() {
    let line = include_str!("data/records.jsonl")
        .lines()
        .find(|l| l.contains("\"onset_source\":\"animation_frame\""))
        .unwrap();
    let old = line.replacen(",\"onset_source\":\"animation_frame\"", "", 1);
    assert_ne!(old, line);
    let record: exemplar_core::Record = serde_json::from_str(&old).unwrap();
    let v = serde_json::to_value(&record).unwrap();
    assert_eq!(v["onset_source"], "animation_frame");
    let element = line.replacen("\"animation_frame\"", "\"element_timing\"", 1);
    let v = serde_json::to_value(serde_json::from_str::<exemplar_core::Record>(&element).unwrap())
        .unwrap();
    assert_eq!(v["onset_source"], "element_timing");
}
