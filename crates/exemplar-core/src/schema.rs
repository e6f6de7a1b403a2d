//! The JSON Schemas of the experiment file and of the records, generated from the types.
//! They are committed under `schema/`; a test fails when they are stale
//! (`cargo run -p exemplar-cli -- schema` regenerates them).
//!
//! The record schema is also read back here: [`fields`] lists the record fields with their
//! JSON types and CSV columns, for `exemplar export`'s columns, the analysis reader's
//! typing of CSV cells and the field tables of `docs/data.md` ([`data_md`]).

use serde_json::{Map, Value};

/// The schema of `experiment.json`.
pub fn experiment() -> String {
    pretty(schemars::schema_for!(crate::experiment::Experiment))
}

/// The schema of one record, as posted inside an [`crate::record::Envelope`].
pub fn record() -> String {
    pretty(record_schema())
}

fn record_schema() -> schemars::Schema {
    schemars::schema_for!(crate::record::Record)
}

fn pretty(schema: schemars::Schema) -> String {
    serde_json::to_string_pretty(&schema).expect("schemas serialize") + "\n"
}

/// A field's JSON type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonType {
    /// Text, or one of a fixed set of words ([`Field::values`]).
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A list.
    Array,
    /// An object.
    Object,
}

impl JsonType {
    /// The JSON Schema name.
    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }
}

/// One field of a record, as the record schema describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The JSON name.
    pub name: String,
    /// Its JSON type.
    pub json_type: JsonType,
    /// The words it takes, when it takes a fixed set (in declaration order), each with its
    /// documentation.
    pub values: Vec<(String, String)>,
    /// Whether it may be absent or `null`.
    pub optional: bool,
    /// Its 1-based column in `exemplar export`'s CSV, if it is one.
    pub csv_column: Option<usize>,
    /// Its documentation.
    pub description: String,
}

/// The record fields: those of every record, then each `type`'s, in declaration order
/// (optional fields after required ones, as the schema keeps no other order for them).
#[derive(Clone, Debug, PartialEq)]
pub struct Fields {
    /// Every record's fields (without `type`).
    pub common: Vec<Field>,
    /// Each record `type` (`trial`, `session_started`, …) with its documentation and
    /// fields (without `type`).
    pub types: Vec<(String, String, Vec<Field>)>,
}

impl Fields {
    /// The fields of a `type`.
    pub fn of_type(&self, name: &str) -> &[Field] {
        self.types
            .iter()
            .find(|(t, _, _)| t == name)
            .map_or(&[], |(_, _, f)| f.as_slice())
    }

    /// The CSV columns of `exemplar export` (every record's and the trial's fields that
    /// have one), in column order.
    pub fn csv_columns(&self) -> Vec<&Field> {
        let mut columns: Vec<&Field> = self
            .common
            .iter()
            .chain(self.of_type("trial"))
            .filter(|f| f.csv_column.is_some())
            .collect();
        columns.sort_by_key(|f| f.csv_column);
        columns
    }
}

/// The record fields, read from the record schema (so from the types).
pub fn fields() -> Fields {
    let schema = record_schema();
    let root = schema.as_value();
    let defs = root["$defs"].as_object().cloned().unwrap_or_default();
    let common = object_fields(root, &defs);
    let types = root["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|variant| {
            let name = variant["properties"]["type"]["const"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let description = text(&variant["description"]);
            let fields = object_fields(variant, &defs)
                .into_iter()
                .filter(|f| f.name != "type")
                .collect();
            (name, description, fields)
        })
        .collect();
    Fields { common, types }
}

/// The fields of an object schema, following a `$ref` to the struct it flattens.
fn object_fields(schema: &Value, defs: &Map<String, Value>) -> Vec<Field> {
    let mut out = Vec::new();
    if let Some(target) = reference(schema, defs) {
        out = object_fields(target, defs);
    }
    let empty = Map::new();
    let properties = schema["properties"].as_object().unwrap_or(&empty);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut names: Vec<&str> = required
        .iter()
        .copied()
        .filter(|n| properties.contains_key(*n))
        .collect();
    names.extend(
        properties
            .keys()
            .map(String::as_str)
            .filter(|n| !required.contains(n)),
    );
    for name in names {
        let property = &properties[name];
        let (json_type, values, nullable) = type_of(property, defs);
        out.push(Field {
            name: name.to_string(),
            json_type,
            values,
            optional: nullable || !required.contains(&name),
            csv_column: property["x-csv-column"].as_u64().map(|c| c as usize),
            description: text(&property["description"]),
        });
    }
    out
}

fn reference<'a>(schema: &Value, defs: &'a Map<String, Value>) -> Option<&'a Value> {
    let name = schema["$ref"].as_str()?.strip_prefix("#/$defs/")?;
    defs.get(name)
}

/// A property's type, its fixed words and whether it may be `null`.
fn type_of(schema: &Value, defs: &Map<String, Value>) -> (JsonType, Vec<(String, String)>, bool) {
    if let Some(target) = reference(schema, defs) {
        return type_of(target, defs);
    }
    if let Some(any) = schema["anyOf"].as_array() {
        let nullable = any.iter().any(|s| s["type"] == "null");
        let mut inner = any
            .iter()
            .filter(|s| s["type"] != "null")
            .map(|s| type_of(s, defs));
        if let Some((t, values, n)) = inner.next() {
            return (t, values, nullable || n);
        }
    }
    if let Some(one) = schema["oneOf"].as_array() {
        let values: Vec<(String, String)> = one
            .iter()
            .filter_map(|s| Some((s["const"].as_str()?.to_string(), text(&s["description"]))))
            .collect();
        if values.len() == one.len() {
            return (JsonType::String, values, false);
        }
    }
    let values: Vec<(String, String)> = schema["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v.as_str()?.to_string(), String::new())))
        .collect();
    let (name, nullable) = match &schema["type"] {
        Value::String(t) => (t.as_str(), false),
        Value::Array(ts) => (
            ts.iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            ts.iter().any(|t| t == "null"),
        ),
        _ => ("object", false),
    };
    let json_type = match name {
        "string" => JsonType::String,
        "integer" => JsonType::Integer,
        "number" => JsonType::Number,
        "boolean" => JsonType::Boolean,
        "array" => JsonType::Array,
        _ => JsonType::Object,
    };
    (json_type, values, nullable)
}

/// A description on one line.
fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `docs/data.md` with its generated field tables (between `<!-- generated:NAME -->` and
/// `<!-- end generated:NAME -->`) made from [`fields`]; the rest of the text is kept.
pub fn data_md(current: &str) -> String {
    let fields = fields();
    let event_rows: String = fields
        .types
        .iter()
        .filter(|(name, _, _)| name != "trial")
        .map(|(name, description, fs)| {
            let list: Vec<String> = fs
                .iter()
                .map(|f| format!("`{}` ({}): {}", f.name, kind(f), meaning(f)))
                .collect();
            let list = if list.is_empty() {
                "—".to_string()
            } else {
                list.join(" ")
            };
            format!("| `{name}` | {} | {} |\n", cell(&list), cell(description))
        })
        .collect();
    let mut out = current.to_string();
    for (name, table) in [
        ("common", field_table(&fields.common)),
        ("trial", field_table(fields.of_type("trial"))),
        (
            "events",
            format!("| `type` | fields | when |\n|---|---|---|\n{event_rows}"),
        ),
    ] {
        let (begin, end) = (
            format!("<!-- generated:{name} -->\n"),
            format!("<!-- end generated:{name} -->"),
        );
        let (Some(b), Some(e)) = (out.find(&begin), out.find(&end)) else {
            continue;
        };
        if e > b {
            out.replace_range(b + begin.len()..e, &table);
        }
    }
    out
}

fn field_table(fields: &[Field]) -> String {
    let mut out = String::from("| field | type | CSV column | meaning |\n|---|---|---|---|\n");
    for f in fields {
        out += &format!(
            "| `{}` | {} | {} | {} |\n",
            f.name,
            kind(f),
            f.csv_column.map_or(String::new(), |c| c.to_string()),
            cell(&meaning(f))
        );
    }
    out
}

/// A field's type for a reader: its words, or its JSON type; "or null" when optional.
fn kind(f: &Field) -> String {
    let base = if f.values.is_empty() {
        f.json_type.as_str().to_string()
    } else {
        f.values
            .iter()
            .map(|(v, _)| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if f.optional {
        format!("{base}, optional")
    } else {
        base
    }
}

/// A field's documentation, and its words' (`word`: documentation).
fn meaning(f: &Field) -> String {
    let mut out = f.description.clone();
    for (word, description) in &f.values {
        if !description.is_empty() {
            out += &format!(" `{word}`: {description}");
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}
