//! Loading an experiment with every problem reported at once.
//!
//! Serde stops at the first error, so the file is first parsed as plain JSON and each
//! field (and each element of the unit lists) is deserialized on its own; the problems of
//! all of them are collected. When the types are right, the meaning is checked (counts,
//! unique ids, paths) and, natively, every stimulus file is looked for on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::experiment::*;

/// One problem in an experiment file: where it is and what is wrong, in plain words.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// JSON path of the offending value, e.g. `units[3].batches[0].references`
    /// (empty for the whole file).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// All the problems found in one experiment file (never empty when returned as an error).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

const REQUIRED: [&str; 6] = ["id", "version", "title", "practice", "units", "session"];
const KNOWN: [&str; 22] = [
    "$schema",
    "id",
    "version",
    "title",
    "language",
    "texts",
    "pages",
    "practice",
    "units",
    "catch_units",
    "session",
    "conditions",
    "design",
    "timing",
    "confidence_levels",
    "display",
    "loading",
    "collect",
    "completion",
    "delivery",
    "checks",
    "analysis",
];

impl Experiment {
    /// Parses and checks an `experiment.json` text. Stimulus files are not looked for
    /// (see [`Experiment::load_dir`]).
    pub fn from_json(text: &str) -> Result<Experiment, Problems> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Problems(vec![Problem::new("", format!("not valid JSON: {e}"))]))?;
        let mut problems = Vec::new();
        check_types(&value, &mut problems);
        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        let mut exp: Experiment = match part(&value, "", &mut problems) {
            Some(e) => e,
            None => return Err(Problems(problems)),
        };
        exp.localise_pages();
        problems.extend(exp.check_meaning());
        if problems.is_empty() {
            Ok(exp)
        } else {
            Err(Problems(problems))
        }
    }

    /// Parses and checks an `experiment.json` text as the participant's page does: the
    /// types by serde alone (the first error only, with its line and column; unknown
    /// fields are ignored), then the same meaning checks as [`Experiment::from_json`].
    /// Its files come from `exemplar build` or `exemplar serve`, which checked them with
    /// `from_json`; this keeps the per-field machinery out of the participant's wasm.
    pub fn from_json_lean(text: &str) -> Result<Experiment, Problems> {
        let mut exp: Experiment = serde_json::from_str(text).map_err(|e| {
            Problems(vec![Problem::new(
                "",
                format!("{e} (run `exemplar validate` for every problem with its JSON path)"),
            )])
        })?;
        exp.localise_pages();
        let problems = exp.check_meaning();
        if problems.is_empty() {
            Ok(exp)
        } else {
            Err(Problems(problems))
        }
    }

    /// Loads `DIR/experiment.json` (or the file itself) and checks, besides the file,
    /// that every stimulus it names exists and is a non-empty file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_dir(path: &std::path::Path) -> Result<Experiment, Problems> {
        let file = if path.is_dir() {
            path.join("experiment.json")
        } else {
            path.to_path_buf()
        };
        let dir = file.parent().unwrap_or(std::path::Path::new("."));
        let text = std::fs::read_to_string(&file).map_err(|e| {
            Problems(vec![Problem::new(
                "",
                format!("cannot read {}: {e}", file.display()),
            )])
        })?;
        let exp = Experiment::from_json(&text)?;
        let mut problems = Vec::new();
        for (json_path, rel) in exp.stimulus_files() {
            match std::fs::metadata(dir.join(&rel)) {
                Ok(m) if m.is_file() && m.len() > 0 => {}
                Ok(_) => problems.push(Problem::new(
                    json_path,
                    format!("not a non-empty file: {rel}"),
                )),
                Err(_) => problems.push(Problem::new(json_path, format!("file not found: {rel}"))),
            }
        }
        if problems.is_empty() {
            Ok(exp)
        } else {
            Err(Problems(problems))
        }
    }

    /// Checks what types cannot: counts, unique ids, safe relative paths, URLs.
    pub fn check_meaning(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.id.trim().is_empty() {
            p.push(Problem::new("id", "must not be empty"));
        }
        if self.version.trim().is_empty() {
            p.push(Problem::new("version", "must not be empty"));
        }
        if self.units.is_empty() {
            p.push(Problem::new("units", "needs at least one unit"));
        }
        if self.practice.max_attempts == 0 {
            p.push(Problem::new("practice.max_attempts", "must be at least 1"));
        } else if self.practice.max_attempts > MAX_ATTEMPTS {
            p.push(Problem::new(
                "practice.max_attempts",
                format!("must be at most {MAX_ATTEMPTS}"),
            ));
        }
        if !(1..=4).contains(&self.confidence_levels) {
            p.push(Problem::new(
                "confidence_levels",
                format!(
                    "must be between 1 and 4 (the number keys 1 to 8 answer), got {}",
                    self.confidence_levels
                ),
            ));
        }
        if self.loading.attempts == 0 {
            p.push(Problem::new("loading.attempts", "must be at least 1"));
        }
        if self.loading.extension.is_empty()
            || !self
                .loading
                .extension
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        {
            p.push(Problem::new(
                "loading.extension",
                format!(
                    "must be letters and digits, like \"png\", got {:?}",
                    self.loading.extension
                ),
            ));
        }

        let mut ids = BTreeSet::new();
        for (name, units) in self.unit_groups() {
            for (u, unit) in units.iter().enumerate() {
                let at = format!("{name}[{u}]");
                if unit.id.trim().is_empty() {
                    p.push(Problem::new(format!("{at}.id"), "must not be empty"));
                } else if !ids.insert(unit.id.as_str()) {
                    p.push(Problem::new(
                        format!("{at}.id"),
                        format!("duplicate unit id {:?}", unit.id),
                    ));
                }
                if unit.batches.is_empty() {
                    p.push(Problem::new(
                        format!("{at}.batches"),
                        "needs at least one batch",
                    ));
                }
                let mut numbers = BTreeSet::new();
                for (b, batch) in unit.batches.iter().enumerate() {
                    let at = format!("{at}.batches[{b}]");
                    if !numbers.insert(batch.batch) {
                        p.push(Problem::new(
                            format!("{at}.batch"),
                            format!("duplicate batch number {}", batch.batch),
                        ));
                    }
                    if let Some(why) = unsafe_path(&batch.references) {
                        p.push(Problem::new(format!("{at}.references"), why));
                    }
                    if let Some(why) = batch.queries.as_deref().and_then(unsafe_path) {
                        p.push(Problem::new(format!("{at}.queries"), why));
                    }
                }
            }
        }

        let pairs = |units: &[Unit]| units.iter().map(|u| u.batches.len() as u64).sum::<u64>();
        let s = &self.session;
        if self.design.is_some() {
            // The session's counts are only the conditions' defaults.
            p.extend(self.design_problems());
        } else if s.main_trials as u64 > pairs(&self.units) {
            p.push(Problem::new(
                "session.main_trials",
                format!(
                    "{} trials asked for, but the units have only {} batches in all",
                    s.main_trials,
                    pairs(&self.units)
                ),
            ));
        }
        if self.design.is_none() && s.catch_trials as u64 > pairs(&self.catch_units) {
            p.push(Problem::new(
                "session.catch_trials",
                format!(
                    "{} catch trials asked for, but catch_units have only {} batches in all",
                    s.catch_trials,
                    pairs(&self.catch_units)
                ),
            ));
        }
        if self.design.is_none() && s.main_trials + s.catch_trials == 0 {
            p.push(Problem::new(
                "session.main_trials",
                "a session needs at least one trial",
            ));
        }

        if let Some((url, headers)) = self.collect.endpoint() {
            if url.trim().is_empty() {
                p.push(Problem::new("collect.url", "must not be empty"));
            }
            for name in headers.keys() {
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
                {
                    p.push(Problem::new(
                        format!("collect.headers.{name}"),
                        "is not a valid HTTP header name",
                    ));
                }
            }
        }
        match &self.collect {
            Collect::Prolific { .. } if self.completion.code.is_none() => {
                p.push(Problem::new(
                    "completion.code",
                    "is required with collect.kind \"prolific\" (Prolific's completion code)",
                ));
            }
            Collect::Datapipe { experiment_id, .. } if experiment_id.trim().is_empty() => {
                p.push(Problem::new(
                    "collect.experiment_id",
                    "must not be empty (the id DataPipe shows for the experiment)",
                ));
            }
            _ => {}
        }
        if self.delivery.timeout_ms < 500 {
            p.push(Problem::new(
                "delivery.timeout_ms",
                format!("must be at least 500, got {}", self.delivery.timeout_ms),
            ));
        }
        if self.delivery.batch_size == 0 {
            p.push(Problem::new("delivery.batch_size", "must be at least 1"));
        }
        for (name, model) in &self.checks.models {
            let at = format!("checks.models.{name}");
            if let Some(why) = unsafe_path(&model.file) {
                p.push(Problem::new(format!("{at}.file"), why));
            }
            if !["imagenet", "inception"].contains(&model.preset.as_str()) {
                p.push(Problem::new(
                    format!("{at}.preset"),
                    format!(
                        "unknown preset \"{}\" (known: imagenet, inception)",
                        model.preset
                    ),
                ));
            }
            for (field, v) in [("std", model.std)] {
                if v.is_some_and(|v| v.iter().any(|x| *x == 0.0 || !x.is_finite())) {
                    p.push(Problem::new(
                        format!("{at}.{field}"),
                        "must be finite and non-zero",
                    ));
                }
            }
        }
        if let Some(e) = &self.checks.encoder {
            if !self.checks.models.contains_key(&e.model) {
                p.push(Problem::new(
                    "checks.encoder.model",
                    format!("\"{}\" is not a key of checks.models", e.model),
                ));
            }
            if e.output.trim().is_empty() {
                p.push(Problem::new(
                    "checks.encoder.output",
                    "must name a tensor of the model",
                ));
            }
            if e.alpha.is_some_and(|a| !a.is_finite() || a < 0.0) {
                p.push(Problem::new(
                    "checks.encoder.alpha",
                    "must be a finite number ≥ 0",
                ));
            }
            for (field, v) in [
                ("min_predicted", e.min_predicted),
                ("max_predicted", e.max_predicted),
            ] {
                if v.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                    p.push(Problem::new(
                        format!("checks.encoder.{field}"),
                        "must lie between 0 and 1",
                    ));
                }
            }
            if let (Some(lo), Some(hi)) = (e.min_predicted, e.max_predicted) {
                if lo > hi {
                    p.push(Problem::new(
                        "checks.encoder.max_predicted",
                        format!("must not be below min_predicted ({lo})"),
                    ));
                }
            }
        }
        p.extend(self.analysis.exclusion.problems());
        if !crate::texts::is_language_tag(&self.language) {
            p.push(Problem::new(
                "language",
                format!(
                    "must be a language tag such as en, de or de-AT, got {:?}",
                    self.language
                ),
            ));
        }
        for (key, text) in &self.texts {
            let at = format!("texts.{key}");
            let Some(t) = crate::texts::by_key(key) else {
                let known: Vec<&str> = crate::texts::T::ALL.iter().map(|t| t.key()).collect();
                p.push(Problem::new(
                    at,
                    format!("unknown text; known: {}", known.join(", ")),
                ));
                continue;
            };
            let allowed = crate::texts::placeholders(t.default_in(crate::texts::Shipped::En));
            for name in crate::texts::placeholders(text) {
                if !allowed.contains(&name) {
                    let allowed = if allowed.is_empty() {
                        "this text has none".to_string()
                    } else {
                        format!(
                            "it has {}",
                            allowed
                                .iter()
                                .map(|a| format!("{{{a}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    p.push(Problem::new(
                        at.clone(),
                        format!("unknown placeholder {{{name}}}: {allowed}"),
                    ));
                }
            }
        }
        if let Some(url) = &self.completion.redirect_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                p.push(Problem::new(
                    "completion.redirect_url",
                    format!("must start with https:// or http://, got {url:?}"),
                ));
            }
        }
        p
    }
}

impl Experiment {
    /// The problems of `conditions` and `design`: names that resolve, counts the units can
    /// fill, layouts the paradigm's folders can show.
    fn design_problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let Some(design) = &self.design else {
            return p;
        };
        let batches = |units: &[&Unit]| units.iter().map(|u| u.batches.len() as u64).sum::<u64>();
        for (name, c) in &self.conditions {
            let at = format!("conditions.{name}");
            if c.references != References::None && ![1, 4, 9].contains(&c.per_side) {
                p.push(Problem::new(
                    format!("{at}.per_side"),
                    format!(
                        "must be 1, 4 or 9 (a square grid of a batch's 9 references), got {}",
                        c.per_side
                    ),
                ));
            }
            let mut unknown = false;
            for id in c.units.iter().flatten() {
                if !self.units.iter().any(|u| &u.id == id) {
                    unknown = true;
                    p.push(Problem::new(
                        format!("{at}.units"),
                        format!("no unit with id {id:?} in units"),
                    ));
                }
            }
            let units = self.condition_units(c);
            let (main, catch) = (
                c.main_trials.unwrap_or(self.session.main_trials),
                c.catch_trials
                    .unwrap_or(if c.references == References::None {
                        0
                    } else {
                        self.session.catch_trials
                    }),
            );
            if unknown {
                // Said above.
            } else if units.is_empty() && main > 0 {
                let kind = match c.references {
                    References::Optimized => "optimized",
                    _ => "natural",
                };
                p.push(Problem::new(
                    at.clone(),
                    format!("draws from no unit: set `units`, or add units of mode {kind}"),
                ));
            } else if main as u64 > batches(&units) {
                p.push(Problem::new(
                    format!("{at}.main_trials"),
                    format!(
                        "{main} trials per block, but its units have only {} batches in all",
                        batches(&units)
                    ),
                ));
            }
            if catch > 0 && c.references == References::None {
                p.push(Problem::new(
                    format!("{at}.catch_trials"),
                    "must be 0 without references (a catch trial's answer is among them)",
                ));
            } else if catch as u64 > pairs(&self.catch_units) {
                p.push(Problem::new(
                    format!("{at}.catch_trials"),
                    format!(
                        "{catch} catch trials per block, but catch_units have only {} batches",
                        pairs(&self.catch_units)
                    ),
                ));
            }
            if u64::from(main) + u64::from(catch) == 0 {
                p.push(Problem::new(
                    format!("{at}.main_trials"),
                    "a block needs at least one trial",
                ));
            }
            if name.trim().is_empty() || name.trim() != name {
                p.push(Problem::new(
                    at.clone(),
                    format!("a condition's name must be a name without surrounding spaces, got {name:?}"),
                ));
            }
            if let Some(practice) = &c.practice {
                if practice.max_attempts > MAX_ATTEMPTS {
                    p.push(Problem::new(
                        format!("{at}.practice.max_attempts"),
                        format!("must be at most {MAX_ATTEMPTS}"),
                    ));
                }
            }
            // A listed unit must be of the kind the condition says it shows.
            for unit in self
                .units
                .iter()
                .filter(|u| c.units.as_ref().is_some_and(|ids| ids.contains(&u.id)))
            {
                let fits = match c.references {
                    References::Natural => unit.mode == Mode::Natural,
                    References::Optimized => unit.mode == Mode::Optimized,
                    References::None => true,
                };
                if !fits {
                    p.push(Problem::new(
                        format!("{at}.units"),
                        format!(
                            "unit {:?} is of mode {}, but the condition shows {} references",
                            unit.id,
                            if unit.mode == Mode::Natural {
                                "natural"
                            } else {
                                "optimized"
                            },
                            if c.references == References::Natural {
                                "natural"
                            } else {
                                "optimized"
                            }
                        ),
                    ));
                }
            }
            if c.practice.as_ref().is_some_and(|pr| pr.max_attempts == 0) {
                p.push(Problem::new(
                    format!("{at}.practice.max_attempts"),
                    "must be at least 1",
                ));
            }
            if !design.groups.iter().any(|g| g.blocks.contains(name)) {
                p.push(Problem::new(at, "is not a block of any design.groups"));
            }
        }
        if design.groups.is_empty() {
            p.push(Problem::new("design.groups", "needs at least one group"));
        }
        let mut names = BTreeSet::new();
        for (g, group) in design.groups.iter().enumerate() {
            let at = format!("design.groups[{g}]");
            if group.name.trim().is_empty() || group.name.trim() != group.name {
                p.push(Problem::new(
                    format!("{at}.name"),
                    format!(
                        "must be a name without surrounding spaces, got {:?}",
                        group.name
                    ),
                ));
            } else if !names.insert(group.name.as_str()) {
                p.push(Problem::new(
                    format!("{at}.name"),
                    format!("duplicate group name {:?}", group.name),
                ));
            }
            if group.blocks.is_empty() {
                p.push(Problem::new(
                    format!("{at}.blocks"),
                    "needs at least one block",
                ));
            }
            for (b, block) in group.blocks.iter().enumerate() {
                if !self.conditions.contains_key(block) {
                    let known: Vec<&str> = self.conditions.keys().map(String::as_str).collect();
                    p.push(Problem::new(
                        format!("{at}.blocks[{b}]"),
                        format!("no condition {block:?}; conditions: {}", known.join(", ")),
                    ));
                }
            }
            let fixed = u64::from(group.fixed_first) + u64::from(group.fixed_last);
            if fixed > group.blocks.len() as u64 {
                p.push(Problem::new(
                    format!("{at}.fixed_last"),
                    format!(
                        "fixed_first + fixed_last is {fixed}, but the group has {} blocks",
                        group.blocks.len()
                    ),
                ));
            }
            if group.blocks.len() > MAX_BLOCKS {
                p.push(Problem::new(
                    format!("{at}.blocks"),
                    format!(
                        "{} blocks; a session has at most {MAX_BLOCKS}",
                        group.blocks.len()
                    ),
                ));
            }
        }
        p
    }
}

/// The most blocks of one session.
const MAX_BLOCKS: usize = 100;
/// The most practice rounds of one practice.
const MAX_ATTEMPTS: u32 = 100;

fn pairs(units: &[Unit]) -> u64 {
    units.iter().map(|u| u.batches.len() as u64).sum()
}

/// Why a stimulus folder path is unsafe, if it is: paths stay inside the experiment folder.
fn unsafe_path(path: &str) -> Option<String> {
    if path.starts_with('/') || path.contains('\\') || path.contains("://") {
        Some(format!(
            "must be a relative path inside the experiment folder, got {path:?}"
        ))
    } else if path.split('/').any(|seg| seg == "..") {
        Some(format!(
            "must not leave the experiment folder (\"..\"), got {path:?}"
        ))
    } else {
        None
    }
}

/// Deserializes one part, recording a type problem under `path` on failure.
fn part<T: DeserializeOwned>(value: &Value, path: &str, problems: &mut Vec<Problem>) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let full = match (path.is_empty(), inner == ".") {
                (_, true) => path.to_string(),
                (true, false) => inner,
                (false, false) if inner.starts_with('[') => format!("{path}{inner}"),
                (false, false) => format!("{path}.{inner}"),
            };
            problems.push(Problem::new(full, e.into_inner().to_string()));
            None
        }
    }
}

/// Checks each top-level field, and each element of the unit lists, on its own.
fn check_types(value: &Value, problems: &mut Vec<Problem>) {
    let Some(obj) = value.as_object() else {
        problems.push(Problem::new("", "the experiment must be a JSON object"));
        return;
    };
    for key in REQUIRED {
        if !obj.contains_key(key) {
            problems.push(Problem::new(key, "missing (required)"));
        }
    }
    for (key, v) in obj {
        match key.as_str() {
            "$schema" | "id" | "version" | "title" => {
                part::<String>(v, key, problems);
            }
            "pages" => {
                part::<Pages>(v, key, problems);
            }
            "units" | "catch_units" => units(v, key, problems),
            "practice" => match v.as_object() {
                Some(o) => {
                    let mut rest: Map<String, Value> = o.clone();
                    match rest.insert("trials".into(), Value::Array(vec![])) {
                        Some(trials) => units(&trials, "practice.trials", problems),
                        None => {
                            problems.push(Problem::new("practice.trials", "missing (required)"))
                        }
                    }
                    part::<Practice>(&Value::Object(rest), key, problems);
                }
                None => problems.push(Problem::new(key, "must be an object with `trials`")),
            },
            "session" => {
                part::<SessionDesign>(v, key, problems);
            }
            "timing" => {
                part::<Timing>(v, key, problems);
            }
            "confidence_levels" => {
                part::<u8>(v, key, problems);
            }
            "display" => {
                part::<Display>(v, key, problems);
            }
            "loading" => {
                part::<Loading>(v, key, problems);
            }
            "collect" => {
                part::<Collect>(v, key, problems);
            }
            "completion" => {
                part::<Completion>(v, key, problems);
            }
            "delivery" => {
                part::<Delivery>(v, key, problems);
            }
            "checks" => {
                part::<Checks>(v, key, problems);
            }
            "language" => {
                part::<String>(v, key, problems);
            }
            "texts" => {
                part::<BTreeMap<String, String>>(v, key, problems);
            }
            "analysis" => {
                part::<crate::experiment::Analysis>(v, key, problems);
            }
            "conditions" => match v.as_object() {
                Some(o) => {
                    for (name, c) in o {
                        part::<Condition>(c, &format!("conditions.{name}"), problems);
                    }
                }
                None => problems.push(Problem::new(key, "must be an object of conditions by name")),
            },
            "design" => {
                part::<Design>(v, key, problems);
            }
            other => problems.push(Problem::new(
                other,
                format!("unknown field; expected one of: {}", KNOWN.join(", ")),
            )),
        }
    }
}

fn units(v: &Value, path: &str, problems: &mut Vec<Problem>) {
    match v.as_array() {
        Some(items) => {
            for (i, item) in items.iter().enumerate() {
                part::<Unit>(item, &format!("{path}[{i}]"), problems);
            }
        }
        None => problems.push(Problem::new(path, "must be a list of units")),
    }
}

impl crate::experiment::Exclusion {
    /// Thresholds that no session could meet or that are not numbers of their kind.
    fn problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let at = |field: &str| format!("analysis.exclusion.{field}");
        if let Some(a) = self.min_catch_accuracy {
            if !(0.0..=1.0).contains(&a) {
                p.push(Problem::new(
                    at("min_catch_accuracy"),
                    "must be a share between 0 and 1",
                ));
            }
        }
        for (field, value) in [
            ("min_main_phase_time_s", self.min_main_phase_time_s),
            ("max_main_phase_time_s", self.max_main_phase_time_s),
            ("min_instruction_time_s", self.min_instruction_time_s),
        ] {
            if value.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                p.push(Problem::new(
                    at(field),
                    "must be a number of seconds, at least 0",
                ));
            }
        }
        if let (Some(min), Some(max)) = (self.min_main_phase_time_s, self.max_main_phase_time_s) {
            if min > max {
                p.push(Problem::new(
                    at("max_main_phase_time_s"),
                    "must not be below min_main_phase_time_s",
                ));
            }
        }
        p
    }
}
