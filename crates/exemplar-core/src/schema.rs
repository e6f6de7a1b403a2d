//! The JSON Schemas of the experiment file and of the records, generated from the types.
//! They are committed under `schema/`; a test fails when they are stale
//! (`cargo run -p exemplar-cli -- schema` regenerates them).

/// The schema of `experiment.json`.
pub fn experiment() -> String {
    pretty(schemars::schema_for!(crate::experiment::Experiment))
}

/// The schema of one record, as posted inside an [`crate::record::Envelope`].
pub fn record() -> String {
    pretty(schemars::schema_for!(crate::record::Record))
}

fn pretty(schema: schemars::Schema) -> String {
    serde_json::to_string_pretty(&schema).expect("schemas serialize") + "\n"
}
