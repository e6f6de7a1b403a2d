//! `exemplar plan`: the session plan of one participant, as JSON.

use std::io::Write;
use std::path::Path;

use exemplar_core::{Experiment, Plan};

use super::Error;

pub fn run(dir: &Path, participant: &str, condition: Option<&str>) -> Result<(), Error> {
    let exp = Experiment::load_dir(dir).map_err(Error::Problems)?;
    let plan =
        Plan::for_link(&exp, participant, condition).map_err(|e| Error::Message(e.to_string()))?;
    // A closed pipe (`| head`) is an error to report, not a panic.
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(&plan)?
    )?;
    Ok(())
}
