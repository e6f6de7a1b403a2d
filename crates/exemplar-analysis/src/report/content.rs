//! What the reports share: cell text (also the CSV tables'), the summary paragraph and
//! the tables of the Markdown and HTML reports.

use std::fmt::Write as _;

use crate::{Analysis, ConfidenceRow};

/// An optional number as a cell: empty when missing.
pub(super) fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// A session's failed rules as one cell, joined with `; `.
pub(super) fn failures(s: &crate::SessionVerdict) -> String {
    s.failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A p-value for a table: 3 significant digits, `< 0.001` below.
pub(super) fn p_text(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.2e}")
    } else {
        format!("{p:.3}")
    }
}

/// A proportion as a percentage with one decimal.
pub(super) fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

/// The report's tables, shared by Markdown and HTML: (title, explanation, header, rows).
pub(super) type Table = (String, String, Vec<&'static str>, Vec<Vec<String>>);

pub(super) fn tables(a: &Analysis) -> Vec<Table> {
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
    for (title, rows, by_block) in [
        ("Scores by condition", &a.conditions, false),
        ("Scores by block", &a.blocks, true),
    ] {
        if rows.is_empty() {
            continue;
        }
        let mut header = vec![
            "condition",
            "sessions",
            "trials",
            "mean %",
            "CI low %",
            "CI high %",
            "SD %",
        ];
        if by_block {
            header.insert(0, "block");
        }
        out.push((
            title.to_string(),
            format!(
                "Each session's proportion correct on the condition's main, non-catch \
                 trials, then the mean over sessions (as Borowski et al. 2021 report it); \
                 {level} percentile bootstrap CI over sessions.{}",
                if by_block {
                    " Blocks are numbered from 1 in the order each participant ran them."
                } else {
                    ""
                }
            ),
            header,
            rows.iter()
                .map(|c| {
                    let mut row = vec![
                        c.condition.clone(),
                        c.sessions.to_string(),
                        c.trials.to_string(),
                        pct(c.mean),
                        pct(c.ci_low),
                        pct(c.ci_high),
                        c.sd.map_or("–".into(), pct),
                    ];
                    if by_block {
                        row.insert(
                            0,
                            c.block
                                .map_or("–".into(), |b| b.saturating_add(1).to_string()),
                        );
                    }
                    row
                })
                .collect(),
        ));
    }
    if let Some(m) = &a.machine {
        let alpha = match (m.alpha, &m.alpha_note) {
            (Some(x), _) => format!("α = {x:.3}, fitted by maximum likelihood to the scored human answers given each batch's Δ"),
            (None, Some(note)) => format!("no α: {note}"),
            (None, None) => "no α".to_string(),
        };
        let rho = match (m.spearman, m.ci_low, m.ci_high) {
            (Some(r), Some(lo), Some(hi)) => format!(
                "Spearman ρ = {r:.3} over {} units, {level} percentile bootstrap CI \
                 [{lo:.3}, {hi:.3}] over units",
                m.units.len()
            ),
            (Some(r), _, _) => format!("Spearman ρ = {r:.3} over {} units", m.units.len()),
            _ => "no Spearman ρ (fewer than 3 units, or a constant side)".to_string(),
        };
        out.push((
            "Machine and humans (MIS)".to_string(),
            format!(
                "Each unit's MIS (mean over its batches in the MIS file of σ(α·Δ)) beside \
                 its human proportion correct. {alpha}; {rho}. {} scored trials matched to \
                 a batch, {} without one.",
                m.trials_matched, m.trials_unmatched
            ),
            vec!["model", "unit", "batches", "MIS %", "human %"],
            m.units
                .iter()
                .map(|u| {
                    vec![
                        u.group.clone(),
                        u.unit_id.clone(),
                        u.batches.to_string(),
                        pct(u.mis),
                        pct(u.human),
                    ]
                })
                .collect(),
        ));
    }
    for b in &a.baselines {
        out.push((
            format!("Beside {}", b.source),
            format!(
                "This study's scores by model (n: units) and by condition (n: sessions) \
                 beside those of {} ({} sessions and {} trials scored), analysed with the \
                 same rules and bootstrap; rows are matched by label. Difference: this study \
                 minus it, in percentage points.",
                b.source, b.sessions_passed, b.trials_scored
            ),
            vec![
                "kind",
                "label",
                "n",
                "mean %",
                "CI %",
                "its n",
                "its mean %",
                "its CI %",
                "difference",
            ],
            crate::beside(a, b)
                .into_iter()
                .map(|row| {
                    let cells = |s: Option<crate::Scored>| match s {
                        Some(s) => [
                            s.n.to_string(),
                            pct(s.mean),
                            format!("{}–{}", pct(s.ci_low), pct(s.ci_high)),
                        ],
                        None => ["–".into(), "–".into(), "–".into()],
                    };
                    let diff = match (row.study, row.baseline) {
                        (Some(x), Some(y)) => format!("{:+.1}", 100.0 * (x.mean - y.mean)),
                        _ => "–".into(),
                    };
                    let mut r = vec![row.kind.to_string(), row.label];
                    r.extend(cells(row.study));
                    r.extend(cells(row.baseline));
                    r.push(diff);
                    r
                })
                .collect(),
        ));
    }
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
            "simulated",
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
                    if s.simulated { "yes" } else { "no" }.to_string(),
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
pub(super) fn summary(a: &Analysis) -> String {
    let i = &a.input;
    let unscored = if a.options.score_simulated {
        0
    } else {
        i.sessions_simulated
    };
    let simulated = match (i.sessions_simulated, a.options.score_simulated) {
        (0, _) => String::new(),
        (n, false) => format!(" ({n} simulated sessions listed apart, not scored)"),
        (n, true) => format!(" ({n} of them simulated, scored as asked)"),
    };
    let mut s = format!(
        "{} records ({} repeated copies dropped), {} trial records; {} of {} sessions \
         passed the exclusion rules{simulated}; {} trials scored over {} units and {} models.",
        i.records,
        i.duplicates,
        i.trials,
        i.sessions_passed,
        i.sessions - unscored,
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
