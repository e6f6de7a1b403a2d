//! `exemplar new DIR`: a small working experiment to start from: `experiment.json`, a guide
//! to every field (`GUIDE.md`, since JSON has no comments; the `$schema` link gives an
//! editor the same descriptions), and generated placeholder stimuli in the paradigm's
//! layout, so `exemplar validate DIR` passes and `exemplar serve --experiment DIR` runs.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};

/// Options of `exemplar new`.
#[derive(clap::Args)]
pub struct NewOptions {
    /// The folder to create (must not exist, or be empty).
    pub dir: PathBuf,
    /// The study design to start from: `paradigm` (one block: 9 natural references per
    /// side), `borowski-exp1` (none / natural / synthetic blocks, counterbalanced, with a
    /// none baseline before and after), `borowski-exp2` (1 or 9 references, max-only or
    /// min+max, natural and synthetic) or `imi` (natural or synthetic references, one
    /// condition per participant).
    #[arg(long, value_enum, default_value_t = StartDesign::Paradigm)]
    pub design: StartDesign,
}

/// The designs `exemplar new --design` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StartDesign {
    /// One block of the paradigm's condition.
    Paradigm,
    /// Borowski et al. (ICLR 2021), experiment I.
    BorowskiExp1,
    /// Borowski et al. (ICLR 2021), experiment II.
    BorowskiExp2,
    /// Zimmermann, Klein & Brendel (2023), IMI.
    Imi,
}

const EXPERIMENT: &str = r###"{
  "$schema": "https://exemplar.invalid/schema/experiment.schema.json",
  "id": "my-study",
  "version": "1",
  "title": "Which image fits the examples better?",
  "pages": {
    "welcome": "# Welcome\n\nThank you for taking part. This study takes about 15 minutes.",
    "consent": "## Consent\n\nDescribe the study, the data you keep and how to withdraw. By clicking **I agree** the participant agrees.",
    "instructions": [
      "## The task\n\nEach task shows 9 **Left Examples** and 9 **Right Examples**. Pick the center image that matches the **Right Examples** better.",
      "## How to answer\n\nClick **1**, **2** or **3** under the upper image or above the lower image: **3** when you are sure, **1** when you guess."
    ],
    "end": "# Thank you!\n\nYour responses have been saved."
  },
  "practice": {
    "max_attempts": 3,
    "trials": [
      { "id": "practice_1", "model": "placeholder", "layer": "practice", "channel": 0,
        "batches": [{ "batch": 0, "references": "stimuli/practice_1/batch_0" }] }
    ]
  },
  "units": [
    { "id": "unit_a", "model": "placeholder", "layer": "layer1", "channel": 0, "mode": "natural",
      "batches": [{ "batch": 0, "references": "stimuli/unit_a/batch_0" }] },
    { "id": "unit_b", "model": "placeholder", "layer": "layer1", "channel": 1, "mode": "natural",
      "batches": [{ "batch": 0, "references": "stimuli/unit_b/batch_0" }] }
  ],
  "catch_units": [],
  "session": { "main_trials": 2, "catch_trials": 0, "draw": "random" },
  "timing": { "initial_wait_ms": 1500, "feedback_delay_ms": 350, "feedback_duration_ms": 1150, "feedback": true },
  "confidence_levels": 3,
  "display": { "min_width": 940, "min_height": 600, "fullscreen": true },
  "collect": { "kind": "http", "url": "records" },
  "delivery": { "timeout_ms": 10000, "batch_size": 50, "download_after_ms": 60000 },
  "completion": { "code": "REPLACE-ME" },
  "analysis": { "exclusion": { "min_catch_accuracy": null, "min_answers_per_row": null,
    "min_main_phase_time_s": 5.4, "max_main_phase_time_s": 100, "min_instruction_time_s": 15, "max_practice_rounds": 3 } }
}
"###;

const GUIDE: &str = r###"# Your experiment

`experiment.json` describes the study; the images live under `stimuli/`. Check it with
`exemplar validate .`, try it with `exemplar serve --experiment .` (after `trunk build`),
and deploy it with `exemplar build . --out site/`.

- `id`, `version`: part of every record. Change `version` whenever trials change.
- `pages`: Markdown for `welcome`, `consent`, `instructions` (a list; participants may go
  back), and optionally `practice_intro`, `practice_retry`, `main_intro`,
  `feedback_prompt`, `end`. Raw HTML is shown as text; images (`![alt](stimuli/x.png)`) work.
- `practice`: units whose batches are practice trials, repeated until all are correct, at
  most `max_attempts` rounds.
- `units`: the units you measure. Each batch is a folder with `min_0.png … min_8.png` and
  `max_0.png … max_8.png` (references; `*_8` is the most extreme and is shown first) and
  `min_9.png`, `max_9.png` (the queries). `mode` is `natural` (dataset exemplars) or
  `optimized` (feature visualisations; then set the batch's `queries` to a folder with
  natural `min_9`/`max_9`).
- `catch_units`: very obvious units, shown as `session.catch_trials` catch trials.
- `session`: `main_trials` and `catch_trials` per session; `draw` is `random` or `first`.
- `timing`, `confidence_levels`, `display`: the paradigm's defaults; change with care.
- `collect`: where records go (`http`, `prolific`, `mturk`, `jatos`, `datapipe`,
  `download`, `none`); see the exemplar README. `records` is the local `exemplar serve`.
- `completion`: the `code` shown at the end (and `redirect_url`, `{code}` replaced).
- `analysis.exclusion`: which sessions `exemplar analyze --experiment .` scores. The
  original study's thresholds are for 45 main and 5 catch trials; these are scaled to this
  experiment's 2 trials (2.7 s to 50 s per trial). `null` switches a rule off. Scale them
  again when you change `session`.

The placeholder images here are flat colours: replace them with your stimuli
(`exemplar exemplars` or `exemplar import-imi` make them from a model or a release).
"###;

/// Why `exemplar new` wrote nothing, or stopped part way.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// The folder holds something already (nothing is overwritten).
    #[error("{} exists and is not empty", .0.display())]
    NotEmpty(PathBuf),
    /// A folder or file that could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A placeholder image that could not be written.
    #[error("{}: {source}", path.display())]
    Image {
        path: PathBuf,
        source: image::ImageError,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> NewError + '_ {
    move |source| NewError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the skeleton.
pub fn run(opts: &NewOptions) -> Result<(), NewError> {
    let dir = &opts.dir;
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(io_error(dir))?
            .next()
            .is_some()
    {
        return Err(NewError::NotEmpty(dir.clone()));
    }
    let write = |rel: &str, text: &str| -> Result<(), NewError> {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap_or(dir)).map_err(io_error(&path))?;
        std::fs::write(&path, text).map_err(io_error(&path))
    };
    let (experiment, guide) = match opts.design {
        StartDesign::Paradigm => (EXPERIMENT.to_string(), GUIDE.to_string()),
        design => (
            with_design(design),
            format!("{GUIDE}\n{}\n{DESIGN_GUIDE}", design_guide(design)),
        ),
    };
    write("experiment.json", &experiment)?;
    write("GUIDE.md", &guide)?;
    // Placeholders: a unit "likes" one colour; strength grows with the index, *_8 extreme.
    let mut folders = vec![
        ("practice_1", [220, 60, 40]),
        ("unit_a", [40, 170, 70]),
        ("unit_b", [60, 90, 220]),
    ];
    if opts.design != StartDesign::Paradigm {
        // The synthetic references of the same units (their queries stay natural).
        folders.extend([("unit_a_opt", [20, 120, 40]), ("unit_b_opt", [30, 50, 160])]);
    }
    for (folder, hue) in folders {
        let batch = dir.join("stimuli").join(folder).join("batch_0");
        std::fs::create_dir_all(&batch).map_err(io_error(&batch))?;
        for i in 0..10u32 {
            // References 0..8 grow more extreme; the query (9) is milder than all of them.
            let strength = if i == 9 { 0.45 } else { 0.55 + 0.05 * i as f32 };
            placeholder(&batch.join(format!("max_{i}.png")), hue, strength, i)?;
            placeholder(
                &batch.join(format!("min_{i}.png")),
                [128, 128, 128],
                strength,
                i + 10,
            )?;
        }
    }
    Ok(())
}

/// The starting experiment of a design: the paradigm's template with optimized twins of its
/// units, the design's conditions and groups, one trial per unit per block, and exclusion
/// thresholds scaled to the session's main trials.
fn with_design(design: StartDesign) -> String {
    use serde_json::{json, Value};
    let mut exp: Value = serde_json::from_str(EXPERIMENT).expect("the template is JSON");
    let twins: Vec<Value> = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(channel, u)| {
            json!({
                "id": format!("unit_{u}_opt"), "model": "placeholder", "layer": "layer1",
                "channel": channel, "mode": "optimized",
                "batches": [{ "batch": 0, "references": format!("stimuli/unit_{u}_opt/batch_0"),
                              "queries": format!("stimuli/unit_{u}/batch_0") }]
            })
        })
        .collect();
    exp["units"].as_array_mut().expect("units").extend(twins);
    let page = |title: &str, text: &str| json!([format!("## {title}\n\n{text}")]);
    let natural = "The examples are photographs from a dataset.";
    let synthetic = "The examples are synthetic images a computer made to show what the \
        feature responds to. The two images in the center are ordinary photographs.";
    let (conditions, groups) = match design {
        StartDesign::BorowskiExp1 => {
            let none = "This part has no examples. Pick the center image you think the \
                feature responds to more strongly; guess if you must.";
            (
                json!({
                    "none_pre": { "references": "none", "instructions": page("Without examples", none) },
                    "natural": { "references": "natural", "instructions": page("Natural examples", natural) },
                    "optimized": { "references": "optimized", "instructions": page("Synthetic examples", synthetic) },
                    "none_post": { "references": "none", "instructions": page("Without examples", none) }
                }),
                json!([{ "name": "exp1", "blocks": ["none_pre", "natural", "optimized", "none_post"],
                         "order": "latin_square", "fixed_first": 1, "fixed_last": 1 }]),
            )
        }
        StartDesign::BorowskiExp2 => (
            json!({
                "natural_9": { "references": "natural", "per_side": 9, "sides": "min_max",
                               "instructions": page("Natural examples", natural) },
                "natural_max_1": { "references": "natural", "per_side": 1, "sides": "max_only",
                                   "instructions": page("One natural example", "Each task shows a single example on the right: the photograph that activates the feature most. Pick the center image that matches it better.") },
                "optimized_9": { "references": "optimized", "per_side": 9, "sides": "min_max",
                                 "instructions": page("Synthetic examples", synthetic) },
                "optimized_max_1": { "references": "optimized", "per_side": 1, "sides": "max_only",
                                     "instructions": page("One synthetic example", "Each task shows a single synthetic example on the right. Pick the center image that matches it better.") }
            }),
            json!([{ "name": "exp2", "blocks": ["natural_9", "natural_max_1", "optimized_9", "optimized_max_1"],
                     "order": "latin_square" }]),
        ),
        StartDesign::Imi | StartDesign::Paradigm => (
            json!({
                "natural": { "references": "natural" },
                "optimized": { "references": "optimized",
                               "instructions": page("The example images", "In this study the examples are synthetic: a computer made them to show what the feature looks like. In each group the **first image (top left) is special**: it shows the feature most strongly. The two images in the center are ordinary photographs.") }
            }),
            json!([{ "name": "natural", "blocks": ["natural"] },
                   { "name": "optimized", "blocks": ["optimized"] }]),
        ),
    };
    exp["conditions"] = conditions;
    exp["design"] = json!({ "groups": groups });
    // Each block: one trial of each of the two units of its kind.
    let blocks = exp["design"]["groups"][0]["blocks"]
        .as_array()
        .map_or(1, Vec::len) as u32;
    // Practice rounds count over every block (each block practises, up to 3 rounds).
    let exclusion = exemplar_core::experiment::Exclusion::scaled(2 * blocks, 0, 3 * blocks);
    exp["analysis"] = json!({ "exclusion": exclusion });
    serde_json::to_string_pretty(&exp).expect("JSON") + "\n"
}

/// The GUIDE.md section of a design.
fn design_guide(design: StartDesign) -> &'static str {
    match design {
        StartDesign::BorowskiExp1 => BOROWSKI_EXP1_GUIDE,
        StartDesign::BorowskiExp2 => BOROWSKI_EXP2_GUIDE,
        StartDesign::Imi | StartDesign::Paradigm => IMI_GUIDE,
    }
}

const DESIGN_GUIDE: &str =
    "- `conditions`: what each block shows: `references` (`natural`, `optimized` or
  `none`), `per_side` (1, 4 or 9), `sides` (`min_max` or `max_only`), its own
  `instructions` pages, `practice`, `main_trials` and `catch_trials` (else `practice` and
  `session`'s), and `units` (ids) to draw from instead of every unit of its kind.
- `design.groups`: the blocks each participant runs, in `order` `fixed`, `latin_square`
  (counterbalanced by participant id) or `random`; `fixed_first`/`fixed_last` blocks keep
  their place. Several groups split participants between them, balanced by participant id,
  or as a link's `?condition=NAME` says. Every trial record names its `group`,
  `condition` and `block`; `exemplar analyze` scores each condition apart.
";

const BOROWSKI_EXP1_GUIDE: &str = "## Design: Borowski et al. (ICLR 2021), experiment I

Every participant runs a baseline without references (`none_pre`), natural and synthetic
(`optimized`) blocks in counterbalanced order, and the baseline again (`none_post`); each
block has its own instruction page and practice. The study used 9 references per side,
more trials per block and catch trials in the blocks with references: raise `main_trials`
and add `catch_units` once your stimuli are in.
";

const BOROWSKI_EXP2_GUIDE: &str = "## Design: Borowski et al. (ICLR 2021), experiment II

Four blocks, counterbalanced by a balanced Latin square: natural and synthetic references,
each as 9 min and 9 max references and as a single max reference (`per_side` 1, `sides`
`max_only`: the left side stays empty). The study compared experts and lay participants:
recruit them as separate studies (or separate links) and tell them apart in the analysis.
";

const IMI_GUIDE: &str = "## Design: Zimmermann, Klein & Brendel (2023), IMI

Between participants: each gets natural or synthetic references (balanced by participant
id; a link's `?condition=natural` or `?condition=optimized` fixes it), with the study's
extra instruction page in the synthetic condition. The study also used harder query
percentiles: make those stimuli with `exemplar exemplars --query-percentile`, and one group
per model and condition (a condition's `units` picks a model's units).
";

/// A flat field mixing grey with `hue`, with a darker square whose place varies.
fn placeholder(path: &Path, hue: [u8; 3], strength: f32, seed: u32) -> Result<(), NewError> {
    let mix = |c: u8| (128.0 * (1.0 - strength) + c as f32 * strength) as u8;
    let colour = Rgb([mix(hue[0]), mix(hue[1]), mix(hue[2])]);
    let (x0, y0) = (20 + (seed * 37) % 120, 20 + (seed * 53) % 120);
    let img = RgbImage::from_fn(224, 224, |x, y| {
        if (x0..x0 + 60).contains(&x) && (y0..y0 + 60).contains(&y) {
            Rgb([colour.0[0] / 2, colour.0[1] / 2, colour.0[2] / 2])
        } else {
            colour
        }
    });
    img.save(path).map_err(|source| NewError::Image {
        path: path.to_path_buf(),
        source,
    })
}
