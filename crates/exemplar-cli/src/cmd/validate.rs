//! `exemplar validate`: every problem of an experiment at once.

use std::path::Path;

use super::Error;

/// Prints the notes and, for a valid experiment, a summary; every problem is the error.
pub fn run(dir: &Path) -> Result<(), Error> {
    let (result, notes) = crate::validate::check(dir);
    for note in notes {
        println!("note: {note}");
    }
    let exp = result.map_err(|problems| Error::Invalid {
        dir: dir.to_path_buf(),
        problems,
    })?;
    println!(
        "{}: valid ({} units, {} catch units, {} stimulus files)",
        dir.display(),
        exp.units.len(),
        exp.catch_units.len(),
        exp.stimulus_files().len()
    );
    Ok(())
}
