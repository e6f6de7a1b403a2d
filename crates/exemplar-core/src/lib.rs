//! exemplar-core: the experiment model of exemplar, with no web or GPU dependency.
//!
//! It owns everything that must be the same in the participant's browser (wasm32), in the
//! researcher's command line and in tests:
//!
//! - [`experiment`]: the `experiment.json` types (serde + JSON Schema), and loading with
//!   every problem reported at once, each with its JSON path ([`validate`]).
//! - [`plan`]: the whole plan of one session (which trials, their order, the reference
//!   shuffles, which query is on top), computed up front from a seed by [`rng`], a
//!   generator whose output is fixed by this crate, not by a dependency.
//! - [`record`]: the typed records a session produces (one per trial, plus session events).
//! - [`score`]: answer scoring and the practice loop's rule.
//! - [`selection`]: the paradigm's stimulus selection (ranks, percentiles, fair batches)
//!   and the seeded unit sampler, on numbers; the command line does the files.
//! - [`simulate`]: a participant who is right with a given probability, for pipeline tests.
//! - [`checks`]: whether a trial's activations agree with its answer key.
//! - [`mis`]: the Machine Interpretability Score: a trial answered by an image encoder's
//!   similarities, and α fitted to human answers.
//! - [`markdown`]: safe Markdown for the participant pages (no raw HTML reaches the page).
//! - [`untrusted`]: checks on URL parameters and endpoint answers before the app acts on them.
//!
//! ```
//! use exemplar_core::{experiment::Experiment, plan::Plan};
//! let json = include_str!("../../../demo/experiment.json");
//! let exp = Experiment::from_json(json).expect("the demo is valid");
//! let plan = Plan::for_participant(&exp, "participant-42");
//! assert_eq!(plan.blocks[0].main.len(), (exp.session.main_trials + exp.session.catch_trials) as usize);
//! // Same id, same plan: a reload or another machine rebuilds it exactly.
//! assert_eq!(plan, Plan::for_participant(&exp, "participant-42"));
//! ```

pub mod checks;
pub mod design;
pub mod experiment;
pub mod manifest;
pub mod markdown;
pub mod mis;
pub mod plan;
pub mod record;
pub mod rng;
pub mod schema;
pub mod score;
pub mod selection;
pub mod simulate;
mod tagged;
pub mod texts;
pub mod untrusted;
pub mod validate;

pub use experiment::Experiment;
pub use plan::{Phase, Plan, PlannedTrial};
pub use record::Record;
pub use score::{Progress, Stage};
pub use validate::{Problem, Problems};
