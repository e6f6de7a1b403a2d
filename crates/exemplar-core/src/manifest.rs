//! The manifest of a built experiment (`exemplar build`): for each stimulus path of the
//! experiment file, the content-hashed file that holds it and its SHA-256.
//!
//! A built site keeps `experiment.json` unchanged (its paths are the researcher's logical
//! names) and puts `manifest.json` beside it. The client fetches each stimulus from its
//! hashed URL (which a CDN may cache forever, and which does not name the answer) and
//! checks its SHA-256 before showing it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The manifest format this crate writes.
pub const MANIFEST_FORMAT: &str = "exemplar.manifest/1";

/// `manifest.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// Logical path (as in `experiment.json`) → where it is and what it must hash to.
    pub files: BTreeMap<String, ManifestEntry>,
}

/// One stimulus of a built experiment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The hashed file, relative to the experiment folder.
    pub url: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}
