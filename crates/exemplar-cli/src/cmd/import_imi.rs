//! `exemplar import-imi`: the IMI release's stimuli as an experiment.

use super::Error;
use crate::import_imi::{self, ImportOptions};

pub fn run(opts: &ImportOptions) -> Result<(), Error> {
    let exp = import_imi::run(opts)?;
    println!(
        "exemplar: wrote {} ({} units, {} practice trials); edit its pages, session and collect before use",
        opts.out.join("experiment.json").display(),
        exp.units.len(),
        exp.practice.trials.len()
    );
    Ok(())
}
