//! `exemplar plan`: the session plan of one participant, as JSON.

use std::path::Path;

use exemplar_core::{Experiment, Plan};

use super::Error;

pub fn run(dir: &Path, participant: &str) -> Result<(), Error> {
    let exp = Experiment::load_dir(dir).map_err(Error::Problems)?;
    let plan = Plan::for_participant(&exp, participant);
    println!("{}", serde_json::to_string_pretty(&plan)?);
    Ok(())
}
