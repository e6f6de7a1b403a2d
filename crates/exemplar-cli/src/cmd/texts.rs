//! `exemplar texts`: every text of the participant's page and every page, with its
//! default in a language, as the `language`, `texts` and `pages` fields of an
//! `experiment.json`: the starting point of a translation.

use exemplar_core::experiment::Pages;
use exemplar_core::texts::{Shipped, T};
use serde_json::{json, Map, Value};

use super::Error;

pub fn run(language: &str) -> Result<(), Error> {
    if !exemplar_core::texts::is_language_tag(language) {
        return Err(Error::Message(format!(
            "--language must be a language tag such as en, de or de-AT, got {language:?}"
        )));
    }
    let shipped = Shipped::of(language);
    let texts: Map<String, Value> = T::ALL
        .iter()
        .map(|t| (t.key().to_string(), Value::from(t.default_in(shipped))))
        .collect();
    let out = json!({
        "language": language,
        "texts": texts,
        "pages": Pages::defaults_in(shipped),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
