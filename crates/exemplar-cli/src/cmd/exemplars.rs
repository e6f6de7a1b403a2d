//! `exemplar exemplars`: a unit's stimuli chosen from a folder of images, written as
//! batch folders; the entries for the experiment's "units" on stdout. With `--shard`, one
//! slice of the activations; `exemplar exemplars merge` selects from all of them.

use super::Error;
use crate::exemplars::{self, ExemplarsCommand, ExemplarsOptions, Outcome};

pub fn run(opts: &ExemplarsOptions) -> Result<(), Error> {
    match exemplars::run(opts)? {
        Outcome::Units(units) => {
            let select = match (&opts.command, &opts.select) {
                (Some(ExemplarsCommand::Merge(m)), _) => &m.select,
                (None, Some(select)) => select,
                (None, None) => {
                    return Err(Error::Message("--images and --out are required".into()))
                }
            };
            let batches: usize = units.iter().map(|u| u.batches.len()).sum();
            eprintln!(
                "exemplar exemplars: wrote {} units ({batches} batches) under {}; add these entries to the experiment's \"units\" (paths relative to {}):",
                units.len(),
                select.out.display(),
                select
                    .experiment
                    .as_deref()
                    .or(select.out.parent())
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or(".".into(), |p| p.display().to_string())
            );
            println!("{}", serde_json::to_string_pretty(&units)?);
        }
        Outcome::Shard {
            shard,
            shards,
            dirs,
        } => {
            let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            eprintln!(
                "exemplar exemplars: shard {shard} of {shards} is in {}; once every shard is, run \
                 `exemplar exemplars merge {}` with the same --images, --out and selection options",
                dirs.join(", "),
                dirs.join(" ")
            )
        }
    }
    Ok(())
}
