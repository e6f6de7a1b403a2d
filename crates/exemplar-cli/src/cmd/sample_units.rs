//! `exemplar sample-units`: distinct units to study, one JSON object a line.

use super::Error;
use crate::exemplars::{self, SampleOptions};

pub fn run(opts: &SampleOptions) -> Result<(), Error> {
    for (layer, channel) in exemplars::sample_units(opts)? {
        println!(
            "{}",
            serde_json::json!({ "layer": layer, "channel": channel })
        );
    }
    Ok(())
}
