//! Reading the two internally tagged enums the participant's page deserializes
//! ([`Collect`](crate::experiment::Collect), `{"kind": …}`, and
//! [`Stage`](crate::score::Stage), `{"stage": …}`) in one pass over the object.
//!
//! serde's derive reads an internally tagged enum by buffering the whole object into its
//! private `Content` tree and then deserializing the variant again from that tree, which
//! instantiates every field's deserializer a second time: about 24 KB of the participant's
//! wasm for these two enums. Here every field of every variant is read once into an
//! `Option`, and the tag then says which are required and which are not allowed. The JSON
//! written is unchanged (the enums keep serde's derived `Serialize`), and so are the
//! errors' texts: serde's own `missing_field`, `unknown_field`, `duplicate_field` and
//! `unknown_variant` messages.

use serde::de::{Error, IgnoredAny, MapAccess};
use serde::Deserialize;

/// One field of the object: set once.
pub(crate) fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(A::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// Skips the value of a key none of the variants has, noting the first such key.
pub(crate) fn skip<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: String,
    first_unknown: &mut Option<String>,
) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>()?;
    first_unknown.get_or_insert(key);
    Ok(())
}

/// The value of a field the variant requires.
pub(crate) fn required<T, E: Error>(value: Option<T>, name: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(name))
}

/// An error for the first field present that the variant does not have (`fields`).
pub(crate) fn only<E: Error>(
    present: &[(&str, bool)],
    unknown: Option<&str>,
    fields: &'static [&'static str],
) -> Result<(), E> {
    let extra = present
        .iter()
        .find(|(name, is)| *is && !fields.contains(name))
        .map(|(name, _)| *name)
        .or(unknown);
    match extra {
        Some(name) => Err(E::unknown_field(name, fields)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::experiment::Collect;
    use crate::score::Stage;

    fn err<T: serde::de::DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
        serde_json::from_str::<T>(json).unwrap_err().to_string()
    }

    #[test]
    fn every_collect_kind_reads_back_what_it_writes() {
        let headers = BTreeMap::from([("Authorization".to_string(), "Bearer x".to_string())]);
        for c in [
            Collect::Http {
                url: "https://a.example/r".into(),
                headers: headers.clone(),
            },
            Collect::Http {
                url: "records".into(),
                headers: BTreeMap::new(),
            },
            Collect::Mturk {
                url: "https://a.example/r".into(),
                headers: headers.clone(),
            },
            Collect::Prolific {
                url: "https://a.example/r".into(),
                headers,
            },
            Collect::Datapipe {
                experiment_id: "abc".into(),
                url: "https://d.example/".into(),
            },
            Collect::Jatos {},
            Collect::Download {},
            Collect::None,
        ] {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Collect>(&json).unwrap(), c, "{json}");
        }
        // Defaults of the fields a kind may leave out.
        assert_eq!(
            serde_json::from_str::<Collect>(r#"{"experiment_id": "e", "kind": "datapipe"}"#)
                .unwrap(),
            Collect::Datapipe {
                experiment_id: "e".into(),
                url: "https://pipe.jspsych.org/api/data/".into()
            }
        );
        assert_eq!(
            serde_json::from_str::<Collect>(r#"{"kind": "http", "url": "r"}"#).unwrap(),
            Collect::Http {
                url: "r".into(),
                headers: BTreeMap::new()
            }
        );
    }

    #[test]
    fn collect_errors_are_serdes_own() {
        assert!(err::<Collect>(r#"{"url": "r"}"#).starts_with("missing field `kind`"));
        assert!(err::<Collect>(r#"{"kind": "http"}"#).starts_with("missing field `url`"));
        assert!(
            err::<Collect>(r#"{"kind": "datapipe"}"#).starts_with("missing field `experiment_id`")
        );
        assert!(err::<Collect>(r#"{"kind": "ftp"}"#).starts_with(
            "unknown variant `ftp`, expected one of `http`, `jatos`, `datapipe`, `mturk`, `prolific`, `download`, `none`"
        ));
        assert!(err::<Collect>(r#"{"kind": "download", "url": "r"}"#)
            .starts_with("unknown field `url`, there are no fields"));
        assert!(
            err::<Collect>(r#"{"kind": "http", "url": "r", "experiment_id": "e"}"#)
                .starts_with("unknown field `experiment_id`, expected `url` or `headers`")
        );
        assert!(
            err::<Collect>(r#"{"kind": "http", "url": "r", "colour": 1}"#)
                .starts_with("unknown field `colour`, expected `url` or `headers`")
        );
        assert!(
            err::<Collect>(r#"{"kind": "http", "url": "r", "url": "s"}"#)
                .starts_with("duplicate field `url`")
        );
        assert!(err::<Collect>(r#"{"kind": "http", "url": null}"#)
            .starts_with("invalid type: null, expected a string"));
        assert!(
            err::<Collect>(r#"{"kind": "http", "url": "r", "headers": {"a": 1}}"#)
                .starts_with("invalid type: integer `1`, expected a string")
        );
        assert!(err::<Collect>(r#""http""#)
            .starts_with("invalid type: string \"http\", expected an object with a \"kind\""));
    }

    #[test]
    fn every_stage_reads_back_what_it_writes() {
        for s in [
            Stage::Welcome,
            Stage::Consent,
            Stage::Instructions { page: 2 },
            Stage::Fullscreen,
            Stage::PracticeIntro {
                block: 0,
                attempt: 1,
            },
            Stage::Practice {
                block: 0,
                attempt: 1,
                index: 4,
            },
            Stage::MainIntro { block: 0 },
            Stage::Main {
                block: 0,
                index: 44,
            },
            Stage::Feedback,
            Stage::End,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<Stage>(&json).unwrap(), s, "{json}");
        }
        // Fields a page does not have are ignored, as serde's derive ignores them.
        assert_eq!(
            serde_json::from_str::<Stage>(r#"{"index": 3, "stage": "consent", "x": [1]}"#).unwrap(),
            Stage::Consent
        );
        assert!(err::<Stage>(r#"{"stage": "main"}"#).starts_with("missing field `index`"));
        assert!(err::<Stage>(r#"{"stage": "practice", "index": 1}"#)
            .starts_with("missing field `attempt`"));
        assert!(err::<Stage>(r#"{"stage": "lobby"}"#).starts_with("unknown variant `lobby`"));
        assert!(err::<Stage>(r#"{"index": 1}"#).starts_with("missing field `stage`"));
        assert!(err::<Stage>(r#"{"stage": "main", "index": -1}"#)
            .starts_with("invalid value: integer `-1`, expected u32"));
    }
}
