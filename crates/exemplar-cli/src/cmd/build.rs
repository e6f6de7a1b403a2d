//! `exemplar build`: the static site, and a summary of its sizes.

use super::Error;
use crate::build::{self, BuildOptions};

pub fn run(opts: &BuildOptions) -> Result<(), Error> {
    let b = build::run(opts)?;
    let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
    println!(
        "exemplar: built {} ({:.2} MiB in all)",
        opts.out.display(),
        mib(b.total_bytes)
    );
    println!(
        "  client: {:.2} MiB; stimuli: {} files, {:.2} MiB",
        mib(b.client_bytes),
        b.stimuli.0,
        mib(b.stimuli.1)
    );
    println!(
        "  one participant downloads {:.2} MiB on average, {:.2} MiB at most (client, experiment, one session's images)",
        mib(b.per_participant.0),
        mib(b.per_participant.1)
    );
    println!("  hashed files under experiment/s/ may be cached forever; revalidate index.html, experiment.json, manifest.json");
    Ok(())
}
