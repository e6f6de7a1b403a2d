//! Fuzz targets for exemplar's untrusted inputs, and the means to run them.
//!
//! Four targets ([`targets::TARGETS`]), each a function of arbitrary bytes that must never
//! panic, abort, hang or allocate without bound:
//! - `experiment`: `Experiment::from_json` (parsing and every check of `validate.rs`),
//!   then, for an accepted experiment, a participant's plan and a simulated session;
//! - `onnx`: an ONNX model loaded up to a target tensor under small [`LoadOptions`]
//!   (exemplar_engine::LoadOptions), planned and run on the CPU with a tiny input;
//! - `envelope`: the collector's `parse_envelope`;
//! - `analysis`: the CSV and JSON Lines readers, deduplication and the whole analysis.
//!
//! Two ways to run them: coverage-guided with AFL++ (`cargo afl`, feature `afl`), and a
//! built-in mutation loop ([`mutate::fuzz`]) that needs nothing but stable Rust (the
//! brief run of the test command). Both run every input under [`guard`]: an allocation
//! cap per input (the allocator aborts past it, so a blow-up is a crash) and, in the
//! built-in loop, a watchdog for inputs that hang. `scripts/fuzz.sh` drives both.

pub mod guard;
pub mod mutate;
pub mod seeds;
pub mod targets;

#[global_allocator]
static ALLOC: guard::Capped = guard::Capped;
