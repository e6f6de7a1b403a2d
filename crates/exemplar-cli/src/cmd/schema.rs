//! `exemplar schema`: the JSON Schemas of the experiment and of the records.

use std::path::Path;

use super::Error;

pub fn run(out: &Path) -> Result<(), Error> {
    let write = |name: &str, text: String| std::fs::write(out.join(name), text);
    std::fs::create_dir_all(out)
        .and_then(|()| {
            write(
                "experiment.schema.json",
                exemplar_core::schema::experiment(),
            )
        })
        .and_then(|()| write("record.schema.json", exemplar_core::schema::record()))
        .map_err(|source| Error::File {
            path: out.to_path_buf(),
            source,
        })
}
