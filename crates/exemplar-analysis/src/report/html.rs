//! The report as one HTML page (`report.html`) with inline SVG figures and no script.

use std::fmt::Write as _;

use super::content::{summary, tables};
use crate::Analysis;

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
    let mut figures = Vec::from(figures);
    if let Some(m) = &a.machine {
        figures.push((
            machine_plot(m),
            format!(
                "Figure 5. Each unit's MIS (the machine: mean of σ(α·Δ) over its batches, \
                 {}) against its human proportion correct; Spearman ρ = {}. Dashed: chance.",
                m.alpha.map_or(
                    "no α: share of batches with Δ > 0".to_string(),
                    |a| format!("α = {a:.2} fitted to the humans' answers")
                ),
                m.spearman.map_or(
                    "– (fewer than 3 units, or a constant side)".to_string(),
                    |r| format!("{r:.3}")
                )
            ),
        ));
    }
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

/// A scatter of unit MIS (x) against human proportion correct (y), both 0–1.
fn machine_plot(m: &crate::machine::MachineComparison) -> String {
    if m.units.is_empty() {
        return empty_svg("No unit has both human answers and batches in the MIS file.");
    }
    let f = Frame {
        width: 420.0,
        height: 380.0,
        left: 60.0,
        right: 20.0,
        top: 20.0,
        bottom: 50.0,
        y0: 0.0,
        y1: 1.0,
    };
    let x = |v: f64| f.left + f.plot_width() * v.clamp(0.0, 1.0);
    let mut s = f.open("human proportion correct", &percent_ticks());
    s += &chance_line(&f);
    for i in (0..=10).step_by(2) {
        let v = i as f64 / 10.0;
        s += &f.x_label(x(v), &format!("{} %", i * 10), false);
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">MIS</text>",
        f.left + f.plot_width() / 2.0,
        f.height - 8.0
    );
    for u in &m.units {
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"#1f5fa8\" fill-opacity=\"0.7\"><title>{}</title></circle>",
            x(u.mis),
            f.y(u.human),
            esc(&format!("{} {}", u.group, u.unit_id))
        );
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
