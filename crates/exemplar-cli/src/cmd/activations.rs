//! `exemplar activations`: a unit's activation for each image, one JSON object a line.

use std::path::{Path, PathBuf};

use super::Error;
use crate::exemplars::EngineOptions;

pub fn run(
    model: &Path,
    layer: &str,
    channels: &[usize],
    engine: &EngineOptions,
    images: &[PathBuf],
) -> Result<(), Error> {
    let pre = engine.preprocess()?;
    let paths: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
    let rows = exemplar_engine::activations_json_with(
        model,
        layer,
        channels,
        &pre,
        engine.backend()?,
        &paths,
        &engine.limits.load_options(),
    )?;
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
