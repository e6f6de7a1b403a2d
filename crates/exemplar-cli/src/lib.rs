//! The library behind the `exemplar` command line: the reference collector
//! ([`collector`]), the local server ([`serve`]), the static site ([`build`]), data export
//! ([`export`]) stimulus selection ([`exemplars`]) and stimulus checks ([`check`]); one
//! `run` per subcommand, with its typed error ([`cmd`]). The binary (`src/main.rs`) parses
//! arguments, dispatches to [`cmd`] and maps an error to its exit status.

pub mod build;
pub mod check;
pub mod cmd;
pub mod collector;
pub mod engine_options;
pub mod exemplars;
pub mod export;
pub mod import_imi;
pub mod mis;
pub mod new;
pub mod npy;
pub mod partial;
mod progress;
pub mod safe_fs;
pub mod sample_units;
pub mod serve;
pub mod validate;
