//! `exemplar export`: the stored records as CSV (trials) or JSON Lines (all).

use std::io::Write;
use std::path::Path;

use super::Error;
use crate::collector::Db;
use crate::export;

/// Writes the records of `db` to `out` (standard output when `None`); `format` is `csv`
/// or `jsonl` (clap allows no other).
pub fn run(db: &Path, format: &str, out: Option<&Path>, raw_cells: bool) -> Result<(), Error> {
    let records = Db::open_read_only(db)?.all()?;
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|source| Error::File {
                path: path.to_path_buf(),
                source,
            })?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    if format == "csv" {
        let cells = if raw_cells {
            export::Cells::Raw
        } else {
            export::Cells::Neutralised
        };
        export::csv(&records, &mut sink, cells)?;
    } else {
        export::jsonl(&records, &mut sink)?;
    }
    sink.flush()?;
    Ok(())
}
