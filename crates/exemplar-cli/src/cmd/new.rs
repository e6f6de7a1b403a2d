//! `exemplar new`: a small working experiment to start from.

use super::Error;
use crate::new::{self, NewOptions};

pub fn run(opts: &NewOptions) -> Result<(), Error> {
    new::run(opts)?;
    println!(
        "exemplar: wrote {} (see its GUIDE.md; check it with `exemplar validate {0}`)",
        opts.dir.display()
    );
    Ok(())
}
