//! `exemplar exemplars`: a unit's stimuli chosen from a folder of images, written as
//! batch folders; the entries for the experiment's "units" on stdout.

use super::Error;
use crate::exemplars::{self, ExemplarsOptions};

pub fn run(opts: &ExemplarsOptions) -> Result<(), Error> {
    let units = exemplars::run(opts)?;
    let batches: usize = units.iter().map(|u| u.batches.len()).sum();
    eprintln!(
        "exemplar exemplars: wrote {} units ({batches} batches) under {}; add these entries to the experiment's \"units\" (paths relative to {}):",
        units.len(),
        opts.out.display(),
        opts.experiment
            .as_deref()
            .or(opts.out.parent())
            .filter(|p| !p.as_os_str().is_empty())
            .map_or(".".into(), |p| p.display().to_string())
    );
    println!("{}", serde_json::to_string_pretty(&units)?);
    Ok(())
}
