//! `exemplar serve`: the built client, an experiment and a records endpoint on one port.

use super::Error;
use crate::serve::Options;

pub fn run(opts: Options) -> Result<(), Error> {
    Ok(crate::serve::run(opts)?)
}
