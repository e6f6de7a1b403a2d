//! The written outputs: CSV tables ([`csv`]), a Markdown report ([`markdown`](mod@markdown))
//! and an HTML report with inline SVG figures ([`html`](mod@html); plain strings, no
//! script), and the whole analysis as JSON ([`write_reports`]). The summary and the tables
//! the two reports share come from `content`.

pub mod csv;
pub mod html;
pub mod markdown;

mod content;

use std::io;
use std::path::Path;

use crate::Analysis;

pub use self::csv::{
    baselines_csv, conditions_csv, machine_csv, models_csv, posthoc_csv, sessions_csv, units_csv,
};
pub use self::html::html;
pub use self::markdown::markdown;

/// Writes into `out_dir` (created if missing): `models.csv`, `units.csv`, `sessions.csv`,
/// `posthoc.csv`, `conditions.csv`, `baselines.csv`, `machine.csv`, `report.md`,
/// `report.html` and `analysis.json`.
pub fn write_reports(analysis: &Analysis, out_dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(out_dir.join("models.csv"), models_csv(analysis))?;
    std::fs::write(out_dir.join("units.csv"), units_csv(analysis))?;
    std::fs::write(out_dir.join("sessions.csv"), sessions_csv(analysis))?;
    std::fs::write(out_dir.join("posthoc.csv"), posthoc_csv(analysis))?;
    std::fs::write(out_dir.join("conditions.csv"), conditions_csv(analysis))?;
    std::fs::write(out_dir.join("baselines.csv"), baselines_csv(analysis))?;
    std::fs::write(out_dir.join("machine.csv"), machine_csv(analysis))?;
    std::fs::write(out_dir.join("report.md"), markdown(analysis))?;
    std::fs::write(out_dir.join("report.html"), html(analysis))?;
    let json = serde_json::to_string_pretty(analysis).map_err(io::Error::other)?;
    std::fs::write(out_dir.join("analysis.json"), json + "\n")?;
    Ok(())
}
