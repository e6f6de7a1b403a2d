//! The report as Markdown (`report.md`, and what `exemplar analyze` prints).

use std::fmt::Write as _;

use super::content::{summary, tables};
use crate::Analysis;

/// A Markdown table; cells have `|` escaped.
fn md_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("| {} |\n", header.join(" | "));
    out += &format!("|{}\n", "---|".repeat(header.len()));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| esc(c)).collect();
        out += &format!("| {} |\n", cells.join(" | "));
    }
    out
}

/// The report as Markdown.
pub fn markdown(a: &Analysis) -> String {
    let mut out = String::from("# exemplar analysis\n\n");
    out += &summary(a);
    out += "\n";
    for (title, note, header, rows) in tables(a) {
        let _ = write!(out, "\n## {title}\n\n{note}\n\n");
        if rows.is_empty() {
            out += "(none)\n";
        } else {
            out += &md_table(&header, &rows);
        }
    }
    out
}
