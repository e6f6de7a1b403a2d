//! One module per subcommand of the `exemplar` binary, each with a `run` that does the
//! work, prints what the command prints on success, and returns a typed [`Error`]. The
//! binary (`src/main.rs`) parses the arguments, dispatches here, and maps an error to
//! its message on stderr and the exit status.

pub mod activations;
pub mod analyze;
pub mod build;
pub mod check;
pub mod collect;
pub mod exemplars;
pub mod export;
pub mod import_imi;
pub mod mis;
pub mod new;
pub mod plan;
pub mod sample_units;
pub mod schema;
pub mod serve;
pub mod texts;
pub mod validate;

use std::path::PathBuf;

use exemplar_core::validate::Problems;

/// Why a command failed. Each variant's message is what the command prints after its
/// name (`exemplar NAME: message`), except [`Error::Invalid`] and [`Error::Problems`],
/// which are printed as they are (see [`Error::stands_alone`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure of a module that still reports its errors as messages: the collector's
    /// store and server, and `exemplars`' options, image walk and selection.
    #[error("{0}")]
    Message(String),
    /// A file or folder that could not be created or written.
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing the output failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The engine refused a model, an image or an option.
    #[error(transparent)]
    Engine(#[from] exemplar_engine::EngineError),
    /// Records that could not be read (`exemplar analyze`).
    #[error("{0}")]
    Read(exemplar_analysis::read::ReadError),
    /// The batches could not be checked (`exemplar check`).
    #[error(transparent)]
    Check(#[from] crate::check::CheckError),
    /// The site was not built (`exemplar build`).
    #[error(transparent)]
    Build(#[from] crate::build::BuildError),
    /// The release was not imported (`exemplar import-imi`).
    #[error(transparent)]
    ImportImi(#[from] crate::import_imi::ImportError),
    /// The server did not start or stopped (`exemplar serve`).
    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),
    /// `exemplar new` refused the folder or could not write into it.
    #[error(transparent)]
    New(#[from] crate::new::NewError),
    /// An output that could not be serialized.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// An experiment that does not load (`exemplar plan`): its problems, one a line.
    #[error("{0}")]
    Problems(Problems),
    /// Every problem of an experiment (`exemplar validate`): a count, then one a line.
    #[error("{}: {} problem(s){}", dir.display(), problems.0.len(), problems.0.iter().map(|p| format!("\n  {p}")).collect::<String>())]
    Invalid { dir: PathBuf, problems: Problems },
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Message(message)
    }
}

impl Error {
    /// Whether the message is printed alone, without the command's name before it.
    pub fn stands_alone(&self) -> bool {
        matches!(self, Error::Invalid { .. } | Error::Problems(_))
    }
}
