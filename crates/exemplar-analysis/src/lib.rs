//! Analyses the response records of an exemplar study the way the paradigm scores them
//! (`exemplar analyze`): the exclusion rules per session, each unit's proportion correct,
//! each model's mean over units with a seeded bootstrap CI, Kruskal–Wallis and Conover
//! post-hoc tests (Holm) between models, accuracy by confidence and response times; then
//! CSV, Markdown and an HTML report with SVG plots.
//!
//! Input is the records as JSON values, read from JSON Lines or from CSV
//! ([`read`]), or as the collector's database hands them over. Every number is
//! reproducible: the statistics are written out in [`stats`] (no numerical dependency
//! whose results could drift between versions) and the bootstrap draws from
//! exemplar-core's seeded generator.
//!
//! ```no_run
//! use exemplar_analysis::{analyze, read, write_reports, Options};
//!
//! let records = read::read_path("responses.jsonl".as_ref())?;
//! let analysis = analyze(&records, &Options::default());
//! for m in &analysis.models {
//!     println!("{}: {:.3} [{:.3}, {:.3}]", m.label, m.mean, m.ci_low, m.ci_high);
//! }
//! write_reports(&analysis, "analysis".as_ref())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Only main, non-catch trials of sessions that pass every exclusion rule are scored.
//! Units are grouped by model and reference mode (`natural`, `optimized`): a model
//! whose units all have one mode is one group, labelled by the model alone.

pub mod machine;
pub mod published;
pub mod read;
pub mod report;
pub mod session;
pub mod stats;

use std::collections::BTreeMap;

use exemplar_core::rng::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use exemplar_core::plan::Phase;
pub use report::{html, markdown, write_reports};
pub use session::{Exclusion, Failure, Rule, SessionVerdict, Trial};
pub use stats::{ConoverPair, KruskalWallis};

/// What to compute and with which thresholds. `Default` is the paradigm's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// The exclusion rules.
    pub exclusion: Exclusion,
    /// L, the number of confidence levels: buttons 0..L−1 are the upper row (3).
    pub confidence_levels: u64,
    /// Bootstrap resamples per model (10,000).
    pub bootstrap_resamples: usize,
    /// Coverage of the bootstrap interval (0.95).
    pub ci_level: f64,
    /// Seed of the bootstrap (0). Each model draws from its own generator derived from
    /// this seed and the model's label, so adding a model does not change another's CI.
    pub seed: u64,
    /// Significance level for marking post-hoc pairs (0.05, on Holm-adjusted p-values).
    pub alpha: f64,
    /// Whether sessions of a `?simulate=` participant are scored (false: they are listed
    /// with their verdicts, apart, and left out of every score).
    pub score_simulated: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            exclusion: Exclusion::default(),
            confidence_levels: 3,
            bootstrap_resamples: 10_000,
            ci_level: 0.95,
            seed: 0,
            alpha: 0.05,
            score_simulated: false,
        }
    }
}

impl Options {
    /// The options an experiment sets (`analysis` in `experiment.json`, and its number of
    /// confidence levels); the rest as [`Options::default`].
    pub fn for_experiment(exp: &exemplar_core::experiment::Experiment) -> Options {
        Options {
            exclusion: exp.analysis.exclusion.clone(),
            confidence_levels: u64::from(exp.confidence_levels),
            ..Options::default()
        }
    }
}

/// One unit's score: proportion correct over the main, non-catch trials of passing
/// sessions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitScore {
    /// `unit_id`, or `layer/channel` (with the mode) where the records have no unit id.
    pub unit_id: String,
    /// The group's label ([`ModelScore::label`]).
    pub group: String,
    /// `model`.
    pub model: String,
    /// `layer`.
    pub layer: String,
    /// `channel`.
    pub channel: Option<u64>,
    /// `mode`.
    pub mode: String,
    /// Trials scored.
    pub trials: usize,
    /// Of which correct.
    pub correct: usize,
    /// correct / trials.
    pub score: f64,
    /// Sessions that contributed trials.
    pub sessions: usize,
}

/// One model's (group's) score: the mean of its units' scores.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelScore {
    /// The model, with the mode in parentheses if the model has units of several modes.
    pub label: String,
    /// `model`.
    pub model: String,
    /// `mode`.
    pub mode: String,
    /// Units with at least one scored trial.
    pub units: usize,
    /// Trials scored over all its units.
    pub trials: usize,
    /// Mean of the unit scores.
    pub mean: f64,
    /// Lower bound of the percentile bootstrap CI over units.
    pub ci_low: f64,
    /// Upper bound.
    pub ci_high: f64,
    /// Sample SD of the unit scores (`None` for one unit).
    pub sd: Option<f64>,
    /// Median of the unit scores.
    pub median: f64,
    /// Accuracy by confidence level over its scored trials.
    pub accuracy_by_confidence: Vec<ConfidenceRow>,
    /// Response times of its scored trials.
    pub rt: Option<RtSummary>,
}

/// Accuracy of the scored trials answered with one confidence level.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfidenceRow {
    /// 1 (low) … L (high).
    pub confidence: u64,
    /// Trials.
    pub trials: usize,
    /// Of which correct.
    pub correct: usize,
    /// correct / trials (`None` without trials).
    pub accuracy: Option<f64>,
    /// Wilson 95 % interval of the accuracy, lower bound.
    pub ci_low: Option<f64>,
    /// Upper bound.
    pub ci_high: Option<f64>,
}

/// A summary of response times (`rt`, ms from paint onset to response).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RtSummary {
    /// Trials with an RT.
    pub n: usize,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Sample SD, ms.
    pub sd_ms: Option<f64>,
    /// First quartile, ms.
    pub q25_ms: f64,
    /// Median, ms.
    pub median_ms: f64,
    /// Third quartile, ms.
    pub q75_ms: f64,
}

/// One pair of models compared by Conover's test.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairwiseComparison {
    /// First model's label.
    pub a: String,
    /// Second model's label.
    pub b: String,
    /// The test: statistic, df, p and Holm-adjusted p.
    #[serde(flatten)]
    pub test: ConoverPair,
    /// Holm-adjusted p < `alpha`.
    pub significant: bool,
}

/// One condition's score as Borowski et al. (2021) report it: each session's proportion
/// correct over its main, non-catch trials of the condition, then the mean over sessions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConditionScore {
    /// The condition (a key of the experiment's `conditions`).
    pub condition: String,
    /// The block position, for the by-block table (`None` in the by-condition table).
    pub block: Option<u64>,
    /// Sessions with scored trials in it.
    pub sessions: usize,
    /// Trials scored.
    pub trials: usize,
    /// Of which correct.
    pub correct: usize,
    /// Mean over sessions of the per-session proportion correct.
    pub mean: f64,
    /// Lower bound of the percentile bootstrap CI over sessions.
    pub ci_low: f64,
    /// Upper bound.
    pub ci_high: f64,
    /// Sample SD over sessions (`None` for one session).
    pub sd: Option<f64>,
}

/// What was read, and what was set aside before scoring.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InputSummary {
    /// Records after dropping repeated `record_id`s.
    pub records: usize,
    /// Repeated copies dropped.
    pub duplicates: usize,
    /// `record_id`s that arrived twice with different content (the first was kept).
    pub conflicts: Vec<String>,
    /// Trial records.
    pub trials: usize,
    /// Trial records left out for lacking `correct` or `session_id`.
    pub unusable_trials: usize,
    /// Sessions found.
    pub sessions: usize,
    /// Sessions that passed and are scored (a simulated one only with
    /// [`Options::score_simulated`]).
    pub sessions_passed: usize,
    /// Sessions answered by a `?simulate=` participant (scored only with
    /// [`Options::score_simulated`]).
    pub sessions_simulated: usize,
    /// Trials scored (main, non-catch, passing sessions).
    pub trials_scored: usize,
}

/// Everything `exemplar analyze` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    /// The options used.
    pub options: Options,
    /// Counts of the input.
    pub input: InputSummary,
    /// Every session's verdict, sorted by `session_id`.
    pub sessions: Vec<SessionVerdict>,
    /// Per-unit scores, sorted by group label then unit id.
    pub units: Vec<UnitScore>,
    /// Per-model scores, sorted by label (with a design, one per model and condition).
    pub models: Vec<ModelScore>,
    /// With a design: per-condition scores over sessions, sorted by condition.
    pub conditions: Vec<ConditionScore>,
    /// With a design: per block position and condition (order effects), sorted by block.
    pub blocks: Vec<ConditionScore>,
    /// Kruskal–Wallis across models on per-unit scores (`None` with fewer than two
    /// models, or all scores equal).
    pub kruskal_wallis: Option<KruskalWallis>,
    /// Conover post-hoc pairs, Holm-adjusted (empty where Kruskal–Wallis is `None`).
    pub posthoc: Vec<PairwiseComparison>,
    /// Accuracy by confidence level over all scored trials.
    pub accuracy_by_confidence: Vec<ConfidenceRow>,
    /// Response times over all scored trials.
    pub rt: Option<RtSummary>,
    /// The scored trials' RTs in ms (for the histogram).
    #[serde(skip)]
    pub rt_ms: Vec<f64>,
    /// Other datasets' scores shown beside these ([`Baseline`], `analyze --baseline`).
    pub baselines: Vec<Baseline>,
    /// The machine's scores beside the humans' ([`analyze_with_machine`]).
    pub machine: Option<machine::MachineComparison>,
}

/// Another dataset's scores (a published one, or an earlier study), analysed with the same
/// options and shown beside a study's in its report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Baseline {
    /// What the report calls it (its file's name).
    pub source: String,
    /// Its sessions scored.
    pub sessions_passed: usize,
    /// Its trials scored.
    pub trials_scored: usize,
    /// Its per-model scores.
    pub models: Vec<ModelScore>,
    /// Its per-condition scores.
    pub conditions: Vec<ConditionScore>,
}

impl Baseline {
    /// The parts of `analysis` a report puts beside another study's.
    pub fn from_analysis(source: &str, analysis: &Analysis) -> Baseline {
        Baseline {
            source: source.to_string(),
            sessions_passed: analysis.input.sessions_passed,
            trials_scored: analysis.input.trials_scored,
            models: analysis.models.clone(),
            conditions: analysis.conditions.clone(),
        }
    }
}

/// A score with its interval and what it is over (units for a model, sessions for a
/// condition).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Scored {
    /// Units (a model) or sessions (a condition).
    pub n: usize,
    /// The mean.
    pub mean: f64,
    /// Lower bound of its bootstrap CI.
    pub ci_low: f64,
    /// Upper bound.
    pub ci_high: f64,
}

/// One row of a study beside a baseline: a model (or condition) label and its score in
/// each, where it has one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Beside {
    /// `model` or `condition`.
    pub kind: &'static str,
    /// The model's label or the condition.
    pub label: String,
    /// In the study.
    pub study: Option<Scored>,
    /// In the baseline.
    pub baseline: Option<Scored>,
}

/// The study's models and conditions beside `baseline`'s, matched by label: models first,
/// then conditions, each sorted by label.
pub fn beside(analysis: &Analysis, baseline: &Baseline) -> Vec<Beside> {
    fn model(m: &ModelScore) -> (String, Scored) {
        let s = Scored {
            n: m.units,
            mean: m.mean,
            ci_low: m.ci_low,
            ci_high: m.ci_high,
        };
        (m.label.clone(), s)
    }
    fn condition(c: &ConditionScore) -> (String, Scored) {
        let s = Scored {
            n: c.sessions,
            mean: c.mean,
            ci_low: c.ci_low,
            ci_high: c.ci_high,
        };
        (c.condition.clone(), s)
    }
    let mut out = Vec::new();
    let pairs = [
        (
            "model",
            analysis
                .models
                .iter()
                .map(model)
                .collect::<BTreeMap<_, _>>(),
            baseline
                .models
                .iter()
                .map(model)
                .collect::<BTreeMap<_, _>>(),
        ),
        (
            "condition",
            analysis.conditions.iter().map(condition).collect(),
            baseline.conditions.iter().map(condition).collect(),
        ),
    ];
    for (kind, study, base) in pairs {
        let labels: std::collections::BTreeSet<&String> = study.keys().chain(base.keys()).collect();
        for label in labels {
            out.push(Beside {
                kind,
                label: label.clone(),
                study: study.get(label).copied(),
                baseline: base.get(label).copied(),
            });
        }
    }
    out
}

/// Analyses `records` (any mix of trial records and session events, possibly repeated):
/// deduplicates by `record_id`, applies the exclusion rules, and scores the passing
/// sessions' main, non-catch trials.
pub fn analyze(records: &[Value], options: &Options) -> Analysis {
    analyze_with_machine(records, options, None)
}

/// [`analyze`], and with `batches` (each batch's Δ from `exemplar mis --per batch`) the
/// machine's scores beside the humans' ([`machine`]): α fitted to the scored trials, each
/// unit's MIS beside its proportion correct, and their Spearman correlation.
pub fn analyze_with_machine(
    records: &[Value],
    options: &Options,
    batches: Option<&[machine::BatchDelta]>,
) -> Analysis {
    let deduped = read::dedup(records.to_vec());
    let records = deduped.records;
    let mut input = InputSummary {
        records: records.len(),
        duplicates: deduped.duplicates,
        conflicts: deduped.conflicts,
        ..InputSummary::default()
    };
    let mut trials = Vec::new();
    for r in &records {
        if r.get("type").and_then(Value::as_str) != Some("trial") {
            continue;
        }
        input.trials += 1;
        match Trial::from_record(r) {
            Some(t) if !t.session_id.is_empty() => trials.push(t),
            _ => input.unusable_trials += 1,
        }
    }
    let levels = options.confidence_levels;
    let sessions = session::verdicts(&records, &trials, &options.exclusion, levels);
    input.sessions = sessions.len();
    input.sessions_simulated = sessions.iter().filter(|s| s.simulated).count();
    let scored_session =
        |s: &&SessionVerdict| s.passed && (options.score_simulated || !s.simulated);
    input.sessions_passed = sessions.iter().filter(scored_session).count();
    let passed: std::collections::HashSet<&str> = sessions
        .iter()
        .filter(scored_session)
        .map(|s| s.session_id.as_str())
        .collect();
    let scored: Vec<&Trial> = trials
        .iter()
        .filter(|t| t.phase == Phase::Main && passed.contains(t.session_id.as_str()))
        .collect();
    input.trials_scored = scored.len();

    let units = unit_scores(&scored);
    let models = model_scores(&units, &scored, options);
    let groups: Vec<Vec<f64>> = models
        .iter()
        .map(|m| {
            units
                .iter()
                .filter(|u| u.group == m.label)
                .map(|u| u.score)
                .collect()
        })
        .collect();
    let kruskal_wallis = stats::kruskal_wallis(&groups);
    let posthoc = match &kruskal_wallis {
        Some(_) => stats::conover(&groups)
            .unwrap_or_default()
            .into_iter()
            .map(|test| PairwiseComparison {
                a: models[test.i].label.clone(),
                b: models[test.j].label.clone(),
                significant: test.p_holm < options.alpha,
                test,
            })
            .collect(),
        None => Vec::new(),
    };
    let rt_ms: Vec<f64> = scored.iter().filter_map(|t| t.rt).collect();
    let machine = batches.map(|batches| {
        let labels = group_labels(&scored);
        let keyed: Vec<(&Trial, String, String)> = scored
            .iter()
            .map(|t| (*t, labels[&group_key(t)].clone(), unit_key(t)))
            .collect();
        machine::compare(&keyed, &units, batches, options)
    });
    let conditions = condition_scores(&scored, options, false);
    let blocks = condition_scores(&scored, options, true);
    Analysis {
        conditions,
        blocks,
        options: options.clone(),
        input,
        sessions,
        accuracy_by_confidence: by_confidence(&scored, levels),
        rt: rt_summary(&rt_ms),
        rt_ms,
        units,
        models,
        kruskal_wallis,
        posthoc,
        baselines: Vec::new(),
        machine,
    }
}

/// The key a trial's unit is scored under.
fn unit_key(t: &Trial) -> String {
    match &t.unit_id {
        Some(id) => id.clone(),
        None => {
            let channel = t.channel.map_or(String::new(), |c| c.to_string());
            if t.mode.is_empty() {
                format!("{}/{channel}", t.layer)
            } else {
                format!("{}/{channel} ({})", t.layer, t.mode)
            }
        }
    }
}

/// The group a trial is scored in: its model and mode, and its condition in a design.
fn group_key(t: &Trial) -> (String, String) {
    if t.condition.is_empty() {
        (t.model.clone(), t.mode.clone())
    } else {
        (t.model.clone(), format!("{}\u{1f}{}", t.mode, t.condition))
    }
}

/// Labels of the groups ([`group_key`]): the model alone unless it has several modes, and
/// its condition in brackets in a design.
fn group_labels(scored: &[&Trial]) -> BTreeMap<(String, String), String> {
    let mut modes: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for t in scored {
        modes.entry(&t.model).or_default().insert(&t.mode);
    }
    let mut labels = BTreeMap::new();
    for t in scored {
        let ms = &modes[t.model.as_str()];
        let mut label = if ms.len() == 1 || t.mode.is_empty() {
            t.model.clone()
        } else {
            format!("{} ({})", t.model, t.mode)
        };
        if !t.condition.is_empty() {
            label = format!("{label} [{}]", t.condition);
        }
        labels.insert(group_key(t), label);
    }
    labels
}

/// Scores per condition (or per block position and condition): each session's
/// proportion correct, then the mean over sessions with a bootstrap CI over sessions.
/// Empty without conditions in the records.
fn condition_scores(scored: &[&Trial], options: &Options, by_block: bool) -> Vec<ConditionScore> {
    // (block, condition) → session → (trials, correct)
    type Cell = BTreeMap<String, (usize, usize)>;
    let mut cells: BTreeMap<(Option<u64>, String), Cell> = BTreeMap::new();
    for t in scored.iter().filter(|t| !t.condition.is_empty()) {
        let block = if by_block { t.block } else { None };
        let e = cells
            .entry((block, t.condition.clone()))
            .or_default()
            .entry(t.session_id.clone())
            .or_default();
        e.0 += 1;
        e.1 += usize::from(t.correct);
    }
    cells
        .into_iter()
        .filter_map(|((block, condition), sessions)| {
            let means: Vec<f64> = sessions
                .values()
                .map(|&(n, k)| k as f64 / n as f64)
                .collect();
            let mean = stats::mean(&means)?;
            let purpose = format!("bootstrap condition {condition} {block:?}");
            let mut rng = Rng::derive(options.seed, &purpose);
            let ci = stats::bootstrap_mean_ci(
                &means,
                options.bootstrap_resamples,
                options.ci_level,
                &mut rng,
            );
            Some(ConditionScore {
                condition,
                block,
                sessions: sessions.len(),
                trials: sessions.values().map(|c| c.0).sum(),
                correct: sessions.values().map(|c| c.1).sum(),
                mean,
                ci_low: ci.as_ref().map_or(mean, |c| c.low),
                ci_high: ci.as_ref().map_or(mean, |c| c.high),
                sd: stats::sd(&means),
            })
        })
        .collect()
}

fn unit_scores(scored: &[&Trial]) -> Vec<UnitScore> {
    let labels = group_labels(scored);
    // (group label, unit key) → the score so far and the sessions seen.
    let mut by_unit: BTreeMap<(String, String), (UnitScore, Vec<&str>)> = BTreeMap::new();
    for t in scored {
        let key = unit_key(t);
        let group = labels[&group_key(t)].clone();
        let entry = by_unit
            .entry((group.clone(), key.clone()))
            .or_insert_with(|| {
                (
                    UnitScore {
                        unit_id: key,
                        group,
                        model: t.model.clone(),
                        layer: t.layer.clone(),
                        channel: t.channel,
                        mode: t.mode.clone(),
                        trials: 0,
                        correct: 0,
                        score: 0.0,
                        sessions: 0,
                    },
                    Vec::new(),
                )
            });
        entry.0.trials += 1;
        entry.0.correct += usize::from(t.correct);
        if !entry.1.contains(&t.session_id.as_str()) {
            entry.1.push(&t.session_id);
        }
    }
    by_unit
        .into_values()
        .map(|(mut u, sessions)| {
            u.score = u.correct as f64 / u.trials as f64;
            u.sessions = sessions.len();
            u
        })
        .collect()
}

fn model_scores(units: &[UnitScore], scored: &[&Trial], options: &Options) -> Vec<ModelScore> {
    let labels = group_labels(scored);
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for ((model, mode), label) in &labels {
        if !seen.insert(label.clone()) {
            continue;
        }
        let scores: Vec<f64> = units
            .iter()
            .filter(|u| &u.group == label)
            .map(|u| u.score)
            .collect();
        let Some(mean) = stats::mean(&scores) else {
            continue;
        };
        let mut rng = Rng::derive(options.seed, &format!("bootstrap {label}"));
        let ci = stats::bootstrap_mean_ci(
            &scores,
            options.bootstrap_resamples,
            options.ci_level,
            &mut rng,
        );
        let mut sorted = scores.clone();
        sorted.sort_by(f64::total_cmp);
        let mine: Vec<&Trial> = scored
            .iter()
            .copied()
            .filter(|t| labels[&group_key(t)] == *label)
            .collect();
        let rts: Vec<f64> = mine.iter().filter_map(|t| t.rt).collect();
        out.push(ModelScore {
            label: label.clone(),
            model: model.clone(),
            // Without the condition `group_key` adds.
            mode: mode.split('\u{1f}').next().unwrap_or_default().to_string(),
            units: scores.len(),
            trials: mine.len(),
            mean,
            ci_low: ci.as_ref().map_or(mean, |c| c.low),
            ci_high: ci.as_ref().map_or(mean, |c| c.high),
            sd: stats::sd(&scores),
            median: stats::quantile_sorted(&sorted, 0.5).unwrap_or(mean),
            accuracy_by_confidence: by_confidence(&mine, options.confidence_levels),
            rt: rt_summary(&rts),
        });
    }
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out
}

/// Accuracy per confidence level 1..=L (and any other level seen), with Wilson intervals.
fn by_confidence(trials: &[&Trial], levels: u64) -> Vec<ConfidenceRow> {
    let mut counts: BTreeMap<u64, (usize, usize)> = (1..=levels).map(|c| (c, (0, 0))).collect();
    for t in trials {
        if let Some(c) = t.confidence {
            let e = counts.entry(c).or_default();
            e.0 += 1;
            e.1 += usize::from(t.correct);
        }
    }
    counts
        .into_iter()
        .map(|(confidence, (n, k))| {
            let (low, high) = wilson(k, n).map_or((None, None), |(l, h)| (Some(l), Some(h)));
            ConfidenceRow {
                confidence,
                trials: n,
                correct: k,
                accuracy: (n > 0).then(|| k as f64 / n as f64),
                ci_low: low,
                ci_high: high,
            }
        })
        .collect()
}

/// Wilson score interval (95 %) of k successes in n trials.
fn wilson(k: usize, n: usize) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    const Z: f64 = 1.959_963_984_540_054;
    let n = n as f64;
    let p = k as f64 / n;
    let denom = 1.0 + Z * Z / n;
    let centre = (p + Z * Z / (2.0 * n)) / denom;
    let half = Z * (p * (1.0 - p) / n + Z * Z / (4.0 * n * n)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

fn rt_summary(rts: &[f64]) -> Option<RtSummary> {
    let mut sorted: Vec<f64> = rts.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    Some(RtSummary {
        n: sorted.len(),
        mean_ms: stats::mean(&sorted)?,
        sd_ms: stats::sd(&sorted),
        q25_ms: stats::quantile_sorted(&sorted, 0.25)?,
        median_ms: stats::quantile_sorted(&sorted, 0.5)?,
        q75_ms: stats::quantile_sorted(&sorted, 0.75)?,
    })
}
