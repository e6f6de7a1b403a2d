//! The library behind the `exemplar` command line: the reference collector
//! ([`collector`]), the local server ([`serve`]), the static site ([`build`]), data export
//! ([`export`]) stimulus selection ([`exemplars`]) and stimulus checks ([`check`]). The binary (`src/main.rs`) parses
//! arguments and calls into these.

pub mod build;
pub mod check;
pub mod collector;
pub mod exemplars;
pub mod export;
pub mod import_imi;
pub mod new;
pub mod safe_fs;
pub mod serve;
pub mod validate;
