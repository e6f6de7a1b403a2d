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
    write("experiment.json", EXPERIMENT)?;
    write("GUIDE.md", GUIDE)?;
    // Placeholders: a unit "likes" one colour; strength grows with the index, *_8 extreme.
    for (folder, hue) in [
        ("practice_1", [220, 60, 40]),
        ("unit_a", [40, 170, 70]),
        ("unit_b", [60, 90, 220]),
    ] {
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
