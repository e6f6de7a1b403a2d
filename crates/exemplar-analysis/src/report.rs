//! The written outputs: CSV tables, a Markdown report and an HTML report with inline SVG
//! figures (plain strings, no script), and the whole analysis as JSON.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::{Analysis, ConfidenceRow};

/// Writes into `out_dir` (created if missing): `models.csv`, `units.csv`, `sessions.csv`,
/// `posthoc.csv`, `report.md`, `report.html` and `analysis.json`.
pub fn write_reports(analysis: &Analysis, out_dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(out_dir.join("models.csv"), models_csv(analysis))?;
    std::fs::write(out_dir.join("units.csv"), units_csv(analysis))?;
    std::fs::write(out_dir.join("sessions.csv"), sessions_csv(analysis))?;
    std::fs::write(out_dir.join("posthoc.csv"), posthoc_csv(analysis))?;
    std::fs::write(out_dir.join("report.md"), markdown(analysis))?;
    std::fs::write(out_dir.join("report.html"), html(analysis))?;
    let json = serde_json::to_string_pretty(analysis).map_err(io::Error::other)?;
    std::fs::write(out_dir.join("analysis.json"), json + "\n")?;
    Ok(())
}

/// A CSV cell, quoted where needed.
fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

fn csv_rows(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut out = header.join(",") + "\n";
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out += &cells.join(",");
        out.push('\n');
    }
    out
}

/// Per-model scores as CSV.
pub fn models_csv(a: &Analysis) -> String {
    csv_rows(
        &[
            "model_label",
            "model",
            "mode",
            "units",
            "trials",
            "mean",
            "ci_low",
            "ci_high",
            "sd",
            "median",
        ],
        a.models.iter().map(|m| {
            vec![
                m.label.clone(),
                m.model.clone(),
                m.mode.clone(),
                m.units.to_string(),
                m.trials.to_string(),
                m.mean.to_string(),
                m.ci_low.to_string(),
                m.ci_high.to_string(),
                opt(m.sd),
                m.median.to_string(),
            ]
        }),
    )
}

/// Per-unit scores as CSV.
pub fn units_csv(a: &Analysis) -> String {
    csv_rows(
        &[
            "model_label",
            "unit_id",
            "model",
            "layer",
            "channel",
            "mode",
            "trials",
            "correct",
            "score",
            "sessions",
        ],
        a.units.iter().map(|u| {
            vec![
                u.group.clone(),
                u.unit_id.clone(),
                u.model.clone(),
                u.layer.clone(),
                opt(u.channel),
                u.mode.clone(),
                u.trials.to_string(),
                u.correct.to_string(),
                u.score.to_string(),
                u.sessions.to_string(),
            ]
        }),
    )
}

/// Session verdicts as CSV; `failures` joins the reasons with `; `.
pub fn sessions_csv(a: &Analysis) -> String {
    csv_rows(
        &[
            "session_id",
            "participant_id",
            "passed",
            "completed",
            "main_trials",
            "catch_correct",
            "catch_trials",
            "upper_row",
            "lower_row",
            "main_phase_time_s",
            "main_phase_time_from",
            "instruction_time_s",
            "practice_rounds",
            "failures",
        ],
        a.sessions.iter().map(|s| {
            vec![
                s.session_id.clone(),
                s.participant_id.clone(),
                s.passed.to_string(),
                s.completed.to_string(),
                s.main_trials.to_string(),
                s.catch_correct.to_string(),
                s.catch_trials.to_string(),
                s.upper_row.to_string(),
                s.lower_row.to_string(),
                opt(s.main_phase_time_s),
                s.main_phase_time_from.clone().unwrap_or_default(),
                opt(s.instruction_time_s),
                opt(s.practice_rounds),
                failures(s),
            ]
        }),
    )
}

fn failures(s: &crate::SessionVerdict) -> String {
    s.failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Conover post-hoc pairs as CSV.
pub fn posthoc_csv(a: &Analysis) -> String {
    csv_rows(
        &[
            "a",
            "b",
            "mean_rank_difference",
            "t",
            "df",
            "p",
            "p_holm",
            "significant",
        ],
        a.posthoc.iter().map(|p| {
            vec![
                p.a.clone(),
                p.b.clone(),
                p.test.mean_rank_difference.to_string(),
                p.test.t.to_string(),
                p.test.df.to_string(),
                p.test.p.to_string(),
                p.test.p_holm.to_string(),
                p.significant.to_string(),
            ]
        }),
    )
}

/// A p-value for a table: 3 significant digits, `< 0.001` below.
fn p_text(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.2e}")
    } else {
        format!("{p:.3}")
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

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

/// The report's tables, shared by Markdown and HTML: (title, explanation, header, rows).
type Table = (String, String, Vec<&'static str>, Vec<Vec<String>>);

fn tables(a: &Analysis) -> Vec<Table> {
    let level = format!("{:.0} %", 100.0 * a.options.ci_level);
    let mut out = Vec::new();
    out.push((
        "Scores by model".to_string(),
        format!(
            "Mean over units of each unit's proportion correct (main, non-catch trials of \
             passing sessions); {level} percentile bootstrap CI over units \
             ({} resamples, seed {}).",
            a.options.bootstrap_resamples, a.options.seed
        ),
        vec![
            "model",
            "units",
            "trials",
            "mean %",
            "CI low %",
            "CI high %",
            "SD %",
            "median %",
        ],
        a.models
            .iter()
            .map(|m| {
                vec![
                    m.label.clone(),
                    m.units.to_string(),
                    m.trials.to_string(),
                    pct(m.mean),
                    pct(m.ci_low),
                    pct(m.ci_high),
                    m.sd.map_or("–".into(), pct),
                    pct(m.median),
                ]
            })
            .collect(),
    ));
    out.push((
        "Post-hoc comparisons (Conover, Holm)".to_string(),
        "Conover–Iman t on pooled ranks of unit scores, N − k df, as scikit-posthocs' \
         posthoc_conover; p adjusted by Holm over all pairs."
            .to_string(),
        vec![
            "a",
            "b",
            "mean rank diff.",
            "t",
            "df",
            "p",
            "p (Holm)",
            "significant",
        ],
        a.posthoc
            .iter()
            .map(|p| {
                vec![
                    p.a.clone(),
                    p.b.clone(),
                    format!("{:.2}", p.test.mean_rank_difference),
                    format!("{:.3}", p.test.t),
                    format!("{}", p.test.df),
                    p_text(p.test.p),
                    p_text(p.test.p_holm),
                    if p.significant { "yes" } else { "no" }.to_string(),
                ]
            })
            .collect(),
    ));
    out.push((
        "Accuracy by confidence".to_string(),
        "All scored trials; Wilson 95 % interval.".to_string(),
        vec![
            "confidence",
            "trials",
            "correct",
            "accuracy %",
            "CI low %",
            "CI high %",
        ],
        confidence_rows(&a.accuracy_by_confidence),
    ));
    let mut rt_rows = Vec::new();
    if let Some(r) = &a.rt {
        rt_rows.push(rt_row("all", r));
    }
    for m in &a.models {
        if let Some(r) = &m.rt {
            rt_rows.push(rt_row(&m.label, r));
        }
    }
    out.push((
        "Response times".to_string(),
        "`rt`: ms from the paint onset of the trial's images to the response; scored trials."
            .to_string(),
        vec!["model", "n", "mean s", "SD s", "Q1 s", "median s", "Q3 s"],
        rt_rows,
    ));
    out.push((
        "Scores by unit".to_string(),
        "Proportion correct over main, non-catch trials of passing sessions.".to_string(),
        vec![
            "model", "unit", "layer", "channel", "mode", "trials", "correct", "score %", "sessions",
        ],
        a.units
            .iter()
            .map(|u| {
                vec![
                    u.group.clone(),
                    u.unit_id.clone(),
                    u.layer.clone(),
                    opt(u.channel),
                    u.mode.clone(),
                    u.trials.to_string(),
                    u.correct.to_string(),
                    pct(u.score),
                    u.sessions.to_string(),
                ]
            })
            .collect(),
    ));
    let e = &a.options.exclusion;
    let rule = |v: Option<String>| v.unwrap_or_else(|| "off".into());
    out.push((
        "Sessions".to_string(),
        format!(
            "Exclusion rules: catch trials correct ≥ {}; ≥ {} main-block answers in each \
             button row (L = {}); main phase between {} and {} s; instructions ≥ {} s; \
             practice rounds ≤ {}; a rule without data {}.",
            rule(e.min_catch_accuracy.map(|x| format!("{} %", 100.0 * x))),
            rule(e.min_answers_per_row.map(|x| x.to_string())),
            a.options.confidence_levels,
            rule(e.min_main_phase_time_s.map(|x| x.to_string())),
            rule(e.max_main_phase_time_s.map(|x| x.to_string())),
            rule(e.min_instruction_time_s.map(|x| x.to_string())),
            rule(e.max_practice_rounds.map(|x| x.to_string())),
            if e.missing_data_fails {
                "fails"
            } else {
                "is not applied"
            }
        ),
        vec![
            "session",
            "participant",
            "passed",
            "catch",
            "upper",
            "lower",
            "main phase s",
            "instructions s",
            "practice rounds",
            "reasons",
        ],
        a.sessions
            .iter()
            .map(|s| {
                vec![
                    s.session_id.clone(),
                    s.participant_id.clone(),
                    if s.passed { "yes" } else { "no" }.to_string(),
                    format!("{}/{}", s.catch_correct, s.catch_trials),
                    s.upper_row.to_string(),
                    s.lower_row.to_string(),
                    s.main_phase_time_s
                        .map_or("–".into(), |t| format!("{t:.1}")),
                    s.instruction_time_s
                        .map_or("–".into(), |t| format!("{t:.1}")),
                    opt(s.practice_rounds),
                    failures(s),
                ]
            })
            .collect(),
    ));
    out
}

fn confidence_rows(rows: &[ConfidenceRow]) -> Vec<Vec<String>> {
    let dash = |v: Option<f64>| v.map_or("–".into(), pct);
    rows.iter()
        .map(|c| {
            vec![
                c.confidence.to_string(),
                c.trials.to_string(),
                c.correct.to_string(),
                dash(c.accuracy),
                dash(c.ci_low),
                dash(c.ci_high),
            ]
        })
        .collect()
}

fn rt_row(label: &str, r: &crate::RtSummary) -> Vec<String> {
    let s = |ms: f64| format!("{:.2}", ms / 1000.0);
    vec![
        label.to_string(),
        r.n.to_string(),
        s(r.mean_ms),
        r.sd_ms.map_or("–".into(), s),
        s(r.q25_ms),
        s(r.median_ms),
        s(r.q75_ms),
    ]
}

/// One paragraph on the data and the Kruskal–Wallis result.
fn summary(a: &Analysis) -> String {
    let i = &a.input;
    let mut s = format!(
        "{} records ({} repeated copies dropped), {} trial records; {} of {} sessions \
         passed the exclusion rules; {} trials scored over {} units and {} models.",
        i.records,
        i.duplicates,
        i.trials,
        i.sessions_passed,
        i.sessions,
        i.trials_scored,
        a.units.len(),
        a.models.len()
    );
    if i.unusable_trials > 0 {
        let _ = write!(
            s,
            " {} trial records lacked `correct` or `session_id` and were left out.",
            i.unusable_trials
        );
    }
    if !i.conflicts.is_empty() {
        let _ = write!(
            s,
            " {} record ids arrived twice with different content (first copy kept): {}.",
            i.conflicts.len(),
            i.conflicts.join(", ")
        );
    }
    match &a.kruskal_wallis {
        Some(k) => {
            let _ = write!(
                s,
                " Kruskal–Wallis across models on unit scores: H({}) = {:.3}, p = {} \
                 (N = {} units, k = {}, tie-corrected).",
                k.df,
                k.h,
                p_text(k.p),
                k.n,
                k.k
            );
        }
        None => s += " Kruskal–Wallis: not computed (needs two models with scores that differ).",
    }
    s
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

/// Escapes text for HTML and SVG.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            '\'' => out += "&#39;",
            _ => out.push(c),
        }
    }
    out
}

/// The report as one HTML page with inline SVG figures and no script.
pub fn html(a: &Analysis) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>exemplar analysis</title><style>\
         body{font-family:Helvetica,Arial,sans-serif;max-width:60rem;margin:2rem auto;\
         padding:0 1rem;color:#111}\
         table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.9rem}\
         th,td{border-bottom:1px solid #ccc;padding:0.2rem 0.6rem;text-align:left}\
         th{border-bottom:2px solid #333}figure{margin:1rem 0 2rem}\
         figcaption{font-size:0.9rem;color:#333}svg{max-width:100%;height:auto}\
         </style></head><body>\n<h1>exemplar analysis</h1>\n",
    );
    let _ = writeln!(out, "<p>{}</p>", esc(&summary(a)));
    let figures = [
        (
            model_plot(a),
            format!(
                "Figure 1. Proportion correct per model: mean over units with {:.0} % \
                 percentile bootstrap CI over units. Dashed: chance (50 %).",
                100.0 * a.options.ci_level
            ),
        ),
        (
            unit_plot(a),
            "Figure 2. Proportion correct per unit (dots, jittered horizontally); \
             bar: the model's mean."
                .to_string(),
        ),
        (
            confidence_plot(a),
            "Figure 3. Accuracy by confidence level over all scored trials, with Wilson \
             95 % intervals; n above each point."
                .to_string(),
        ),
        (
            rt_plot(a),
            "Figure 4. Response times of scored trials (paint onset to response); the last \
             bin holds everything beyond the 99th percentile."
                .to_string(),
        ),
    ];
    for (svg, caption) in figures {
        let _ = writeln!(
            out,
            "<figure>{svg}<figcaption>{}</figcaption></figure>",
            esc(&caption)
        );
    }
    for (title, note, header, rows) in tables(a) {
        let _ = writeln!(out, "<h2>{}</h2>\n<p>{}</p>", esc(&title), esc(&note));
        if rows.is_empty() {
            out += "<p>(none)</p>\n";
            continue;
        }
        out += "<table><thead><tr>";
        for h in header {
            let _ = write!(out, "<th>{}</th>", esc(h));
        }
        out += "</tr></thead><tbody>\n";
        for r in rows {
            out += "<tr>";
            for c in r {
                let _ = write!(out, "<td>{}</td>", esc(&c));
            }
            out += "</tr>\n";
        }
        out += "</tbody></table>\n";
    }
    out += "</body></html>\n";
    out
}

/// Plot geometry shared by the figures: a frame with a y axis from `y0` to `y1`.
struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn y(&self, v: f64) -> f64 {
        let t = (v - self.y0) / (self.y1 - self.y0);
        self.height - self.bottom - t * (self.height - self.top - self.bottom)
    }
    fn plot_width(&self) -> f64 {
        self.width - self.left - self.right
    }
    /// The x centre of slot `i` of `n` equal slots.
    fn slot(&self, i: usize, n: usize) -> f64 {
        self.left + self.plot_width() * (i as f64 + 0.5) / n as f64
    }
    /// Opening tag, gridlines, y ticks and label.
    fn open(&self, y_label: &str, ticks: &[(f64, String)]) -> String {
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"Helvetica,Arial,sans-serif\" \
             font-size=\"12\">",
            w = self.width,
            h = self.height
        );
        for (v, text) in ticks {
            let y = self.y(*v);
            let _ = write!(
                s,
                "<line x1=\"{l}\" x2=\"{r}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e3e3\"/>\
                 <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{t}</text>",
                l = self.left,
                r = self.width - self.right,
                tx = self.left - 6.0,
                ty = y + 4.0,
                t = esc(text)
            );
        }
        let (x0, yb, yt) = (self.left, self.height - self.bottom, self.top);
        let _ = write!(
            s,
            "<line x1=\"{x0}\" x2=\"{x0}\" y1=\"{yt}\" y2=\"{yb}\" stroke=\"#333\"/>\
             <line x1=\"{x0}\" x2=\"{xr}\" y1=\"{yb}\" y2=\"{yb}\" stroke=\"#333\"/>\
             <text transform=\"translate(16,{my:.1}) rotate(-90)\" text-anchor=\"middle\">{lab}</text>",
            xr = self.width - self.right,
            my = (self.top + yb) / 2.0,
            lab = esc(y_label)
        );
        s
    }
    fn x_label(&self, x: f64, text: &str, rotate: bool) -> String {
        let y = self.height - self.bottom + 16.0;
        if rotate {
            format!(
                "<text transform=\"translate({x:.1},{y:.1}) rotate(-35)\" text-anchor=\"end\">{}</text>",
                esc(text)
            )
        } else {
            format!(
                "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\">{}</text>",
                esc(text)
            )
        }
    }
}

fn proportion_frame(n_slots: usize, rotate: bool) -> Frame {
    Frame {
        width: (120.0 + 70.0 * n_slots as f64).clamp(360.0, 900.0),
        height: if rotate { 380.0 } else { 320.0 },
        left: 60.0,
        right: 20.0,
        top: 20.0,
        bottom: if rotate { 110.0 } else { 50.0 },
        y0: 0.0,
        y1: 1.0,
    }
}

fn percent_ticks() -> Vec<(f64, String)> {
    (0..=10)
        .step_by(2)
        .map(|i| (i as f64 / 10.0, format!("{} %", i * 10)))
        .collect()
}

fn empty_svg(message: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"360\" height=\"40\" \
         font-family=\"Helvetica,Arial,sans-serif\" font-size=\"12\">\
         <text x=\"10\" y=\"24\">{}</text></svg>",
        esc(message)
    )
}

fn chance_line(f: &Frame) -> String {
    let y = f.y(0.5);
    format!(
        "<line x1=\"{}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#888\" stroke-dasharray=\"5,4\"/>",
        f.left,
        f.width - f.right
    )
}

fn model_plot(a: &Analysis) -> String {
    if a.models.is_empty() {
        return empty_svg("No scored trials.");
    }
    let n = a.models.len();
    let rotate = a.models.iter().any(|m| m.label.chars().count() > 8) || n > 6;
    let f = proportion_frame(n, rotate);
    let mut s = f.open("proportion correct", &percent_ticks());
    s += &chance_line(&f);
    for (i, m) in a.models.iter().enumerate() {
        let x = f.slot(i, n);
        let (lo, hi, mid) = (f.y(m.ci_low), f.y(m.ci_high), f.y(m.mean));
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{lo:.1}\" y2=\"{hi:.1}\" stroke=\"#111\" stroke-width=\"1.5\"/>\
             <line x1=\"{a:.1}\" x2=\"{b:.1}\" y1=\"{lo:.1}\" y2=\"{lo:.1}\" stroke=\"#111\" stroke-width=\"1.5\"/>\
             <line x1=\"{a:.1}\" x2=\"{b:.1}\" y1=\"{hi:.1}\" y2=\"{hi:.1}\" stroke=\"#111\" stroke-width=\"1.5\"/>\
             <circle cx=\"{x:.1}\" cy=\"{mid:.1}\" r=\"4.5\" fill=\"#1f5fa8\"/>",
            a = x - 6.0,
            b = x + 6.0
        );
        s += &f.x_label(x, &m.label, rotate);
    }
    s + "</svg>"
}

fn unit_plot(a: &Analysis) -> String {
    if a.models.is_empty() {
        return empty_svg("No scored trials.");
    }
    let n = a.models.len();
    let rotate = a.models.iter().any(|m| m.label.chars().count() > 8) || n > 6;
    let f = proportion_frame(n, rotate);
    let spread = (f.plot_width() / n as f64 * 0.5).min(40.0);
    let mut s = f.open("proportion correct", &percent_ticks());
    s += &chance_line(&f);
    for (i, m) in a.models.iter().enumerate() {
        let x = f.slot(i, n);
        for (j, u) in a.units.iter().filter(|u| u.group == m.label).enumerate() {
            // Golden-ratio jitter: deterministic and evenly spread.
            let dx = ((j as f64 * 0.618_033_988_75).fract() - 0.5) * spread;
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1f5fa8\" fill-opacity=\"0.45\"><title>{}: {:.1} %</title></circle>",
                x + dx,
                f.y(u.score),
                esc(&u.unit_id),
                100.0 * u.score
            );
        }
        let y = f.y(m.mean);
        let _ = write!(
            s,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#111\" stroke-width=\"2\"/>",
            x - spread * 0.7,
            x + spread * 0.7
        );
        s += &f.x_label(x, &m.label, rotate);
    }
    s + "</svg>"
}

fn confidence_plot(a: &Analysis) -> String {
    let rows = &a.accuracy_by_confidence;
    if rows.iter().all(|r| r.trials == 0) {
        return empty_svg("No scored trials with a confidence level.");
    }
    let n = rows.len();
    let mut f = proportion_frame(n, false);
    f.width = f.width.min(480.0);
    let mut s = f.open("proportion correct", &percent_ticks());
    s += &chance_line(&f);
    let mut path = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let x = f.slot(i, n);
        if let (Some(acc), Some(lo), Some(hi)) = (r.accuracy, r.ci_low, r.ci_high) {
            let (ylo, yhi, y) = (f.y(lo), f.y(hi), f.y(acc));
            let _ = write!(
                s,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{ylo:.1}\" y2=\"{yhi:.1}\" stroke=\"#111\" stroke-width=\"1.5\"/>\
                 <circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4.5\" fill=\"#1f5fa8\"/>\
                 <text x=\"{x:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" font-size=\"10\">n = {}</text>",
                r.trials,
                ty = yhi - 6.0
            );
            path.push(format!("{x:.1},{y:.1}"));
        }
        s += &f.x_label(x, &r.confidence.to_string(), false);
    }
    if path.len() > 1 {
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"1\"/>",
            path.join(" ")
        );
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">confidence</text>",
        f.left + f.plot_width() / 2.0,
        f.height - 10.0
    );
    s + "</svg>"
}

/// A "nice" step (1, 2 or 5 × 10ᵏ) near `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let r = raw / mag;
    let m = if r <= 1.0 {
        1.0
    } else if r <= 2.0 {
        2.0
    } else if r <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn rt_plot(a: &Analysis) -> String {
    let mut secs: Vec<f64> = a
        .rt_ms
        .iter()
        .filter(|v| v.is_finite() && **v >= 0.0)
        .map(|v| v / 1000.0)
        .collect();
    if secs.is_empty() {
        return empty_svg("No response times.");
    }
    secs.sort_by(f64::total_cmp);
    let top = crate::stats::quantile_sorted(&secs, 0.99)
        .unwrap_or(1.0)
        .max(0.001);
    let width = nice_step(top / 30.0);
    let bins = ((top / width).ceil() as usize).max(1) + 1; // the last bin is the overflow
    let mut counts = vec![0usize; bins];
    for v in &secs {
        let b = ((v / width).floor() as usize).min(bins - 1);
        counts[b] += 1;
    }
    let max_count = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let y_step = nice_step(max_count / 5.0);
    let y1 = (max_count / y_step).ceil() * y_step;
    let f = Frame {
        width: 640.0,
        height: 320.0,
        left: 60.0,
        right: 20.0,
        top: 20.0,
        bottom: 50.0,
        y0: 0.0,
        y1,
    };
    let ticks: Vec<(f64, String)> = (0..=((y1 / y_step) as usize))
        .map(|i| (i as f64 * y_step, format!("{}", i as f64 * y_step)))
        .collect();
    let mut s = f.open("trials", &ticks);
    let bw = f.plot_width() / bins as f64;
    for (i, c) in counts.iter().enumerate() {
        let x = f.left + i as f64 * bw;
        let y = f.y(*c as f64);
        let fill = if i + 1 == bins { "#9bb3d4" } else { "#1f5fa8" };
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"/>",
            x + 0.5,
            (bw - 1.0).max(0.5),
            f.y(0.0) - y
        );
    }
    let label_every = (bins / 8).max(1);
    for i in (0..bins).step_by(label_every) {
        let x = f.left + i as f64 * bw;
        let v = i as f64 * width;
        // As many decimals as the bin width needs (0.2 → 1), so 3 × 0.2 prints as 0.6.
        let decimals = (-width.log10().floor()).max(0.0) as usize;
        let text = format!("{v:.decimals$}");
        s += &f.x_label(x, &text, false);
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">response time (s)</text>",
        f.left + f.plot_width() / 2.0,
        f.height - 10.0
    );
    s + "</svg>"
}
