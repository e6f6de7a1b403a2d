//! A record as the page keeps and sends it: the JSON `exemplar-core` wrote at the moment
//! it was made, never read back into the record types. The outbox only needs a record's
//! id, sequence number and session; the text goes out as it was written. (Reading whole
//! records back was the largest single function of the participant's module: serde's
//! code for the tagged `Body` enum, about 42 KB before wasm-opt.)

use exemplar_core::record::{Record, RECORD_FORMAT};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

#[derive(Clone, Debug)]
pub struct Kept {
    pub record_id: String,
    pub session_id: String,
    pub seq: u64,
    json: Box<RawValue>,
}

/// The fields of a record the outbox reads; the rest of the text is skipped.
#[derive(Deserialize)]
struct Ids {
    record_id: String,
    session_id: String,
    seq: u64,
}

impl Kept {
    /// Writes the record's JSON once, as it will be stored and sent. (A record cannot fail
    /// to serialise: every field is plain data with string keys. Were it to, the record
    /// kept says so and keeps its id, so the endpoint refuses it and it is set aside and
    /// offered in the data file, never dropped.)
    pub fn new(record: &Record) -> Kept {
        let json = serde_json::value::to_raw_value(record).unwrap_or_else(|e| {
            let failed = serde_json::json!({
                "record_id": record.record_id, "session_id": record.session_id, "seq": record.seq,
                "format": RECORD_FORMAT, "type": "unserialisable", "error": e.to_string(),
            });
            serde_json::value::to_raw_value(&failed).expect("a JSON object of strings and a number")
        });
        Kept {
            record_id: record.record_id.clone(),
            session_id: record.session_id.clone(),
            seq: record.seq,
            json,
        }
    }

    /// The record's JSON text.
    pub fn json(&self) -> &str {
        self.json.get()
    }
}

/// Stored as the record's own JSON, so saved sessions read the same before and after.
impl Serialize for Kept {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Kept {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Kept, D::Error> {
        let json = Box::<RawValue>::deserialize(d)?;
        let ids: Ids = serde_json::from_str(json.get()).map_err(serde::de::Error::custom)?;
        Ok(Kept {
            record_id: ids.record_id,
            session_id: ids.session_id,
            seq: ids.seq,
            json,
        })
    }
}

/// The `http` adapter's JSON envelope (`exemplar_core::record::Envelope`) of these records.
pub fn envelope(records: &[Kept]) -> String {
    #[derive(Serialize)]
    struct Envelope<'a> {
        format: &'static str,
        records: &'a [Kept],
    }
    serde_json::to_string(&Envelope {
        format: RECORD_FORMAT,
        records,
    })
    .unwrap_or_default()
}

/// One JSON record per line (the data file's format, and JATOS' and DataPipe's content).
pub fn jsonl(records: &[Kept]) -> String {
    records.iter().map(|r| format!("{}\n", r.json())).collect()
}
