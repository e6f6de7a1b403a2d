//! `exemplar validate`: what `exemplar-core` checks (types, meaning, files present), and
//! what needs the files' contents: every stimulus decodes, images of a batch share one
//! size, and no image stands on both sides of a unit (or is a query and a reference);
//! each model for checks loads up to every layer its units name, and has their channels.

use std::collections::HashMap;
use std::path::Path;

use exemplar_core::validate::{Problem, Problems};
use exemplar_core::Experiment;
use sha2::{Digest, Sha256};

/// The result of a full check: the experiment, or every problem; plus notes that do not
/// stop a study (for example images that are not the paradigm's 224×224).
pub fn check(dir: &Path) -> (Result<Experiment, Problems>, Vec<String>) {
    let exp = match Experiment::load_dir(dir) {
        Ok(e) => e,
        Err(p) => return (Err(p), Vec::new()),
    };
    let root = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        dir.parent().unwrap_or(Path::new(".")).to_path_buf()
    };
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut info: HashMap<String, Option<(u32, u32, String)>> = HashMap::new();
    for (json_path, rel) in exp.stimulus_files() {
        if info.contains_key(&rel) {
            continue;
        }
        // A link out of the experiment folder is a problem: `build` would refuse it.
        let bytes = crate::safe_fs::inside(&root, &root.join(&rel))
            .map(|()| std::fs::read(root.join(&rel)).unwrap_or_default())
            .map_err(|e| e.to_string());
        // The header's size is checked before any pixel is decoded.
        let decoded = bytes.and_then(|bytes| {
            let limits = exemplar_engine::ImageLimits::default();
            exemplar_engine::decode_image_bytes(&bytes, &rel, &limits)
                .map(|(_, w, h)| (w, h, bytes))
                .map_err(|e| match e {
                    // "cannot read image REL: why" → "cannot decode REL: why"
                    exemplar_engine::EngineError::Io(m) => {
                        m.replacen("cannot read image", "cannot decode", 1)
                    }
                    e => e.to_string(),
                })
        });
        let entry = match decoded {
            Ok((w, h, bytes)) => Some((
                w,
                h,
                Sha256::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            )),
            Err(e) => {
                problems.push(Problem {
                    path: json_path,
                    message: e,
                });
                None
            }
        };
        info.insert(rel, entry);
    }
    let mut off_size = 0;
    for (name, units) in exp.unit_groups() {
        for (u, unit) in units.iter().enumerate() {
            // Per unit: content hash → where it was first seen (role, file).
            let mut seen: HashMap<String, (&str, String)> = HashMap::new();
            for (b, batch) in unit.batches.iter().enumerate() {
                let at = format!("{name}[{u}].batches[{b}]");
                let files = exp.batch_files(batch);
                let all: Vec<(&str, &String)> = files
                    .min_references
                    .iter()
                    .map(|f| ("min reference", f))
                    .chain(files.max_references.iter().map(|f| ("max reference", f)))
                    .chain([
                        ("min query", &files.min_query),
                        ("max query", &files.max_query),
                    ])
                    .collect();
                let sizes: Vec<(u32, u32)> = all
                    .iter()
                    .filter_map(|(_, f)| info.get(*f).cloned().flatten().map(|(w, h, _)| (w, h)))
                    .collect();
                if let Some(first) = sizes.first() {
                    if sizes.iter().any(|s| s != first) {
                        let mut distinct: Vec<String> =
                            sizes.iter().map(|(w, h)| format!("{w}×{h}")).collect();
                        distinct.sort();
                        distinct.dedup();
                        problems.push(Problem {
                            path: at.clone(),
                            message: format!(
                                "images of one batch differ in size: {}",
                                distinct.join(", ")
                            ),
                        });
                    } else if *first != (224, 224) {
                        off_size += 1;
                    }
                }
                for (role, file) in all {
                    let Some(Some((_, _, hash))) = info.get(file) else {
                        continue;
                    };
                    match seen.get(hash) {
                        // The same image on the other side, or as a query and a reference.
                        Some((first_role, first))
                            if first != file
                                && (first_role[..3] != role[..3]
                                    || first_role.ends_with("query")
                                        != role.ends_with("query")) =>
                        {
                            problems.push(Problem {
                                path: at.clone(),
                                message: format!(
                                    "{file} ({role}) is the same image as {first} ({first_role})"
                                ),
                            });
                        }
                        Some(_) => {}
                        None => {
                            seen.insert(hash.clone(), (role, file.clone()));
                        }
                    }
                }
            }
        }
    }
    problems.extend(check_models(&exp, &root));
    if off_size > 0 {
        notes.push(format!("{off_size} batch(es) are not 224×224, the paradigm's size (images are shown at most 224 CSS px)"));
    }
    if problems.is_empty() {
        (Ok(exp), notes)
    } else {
        (Err(Problems(problems)), notes)
    }
}

/// Every model in `checks.models` loads (CPU engine, no GPU needed) up to each layer its
/// units name, and each unit's channel exists there; the encoder's model up to its output.
fn check_models(exp: &Experiment, root: &Path) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (name, model) in &exp.checks.models {
        let at = format!("checks.models.{name}.file");
        let file = root.join(&model.file);
        let bytes = match crate::safe_fs::inside(root, &file)
            .map_err(|e| e.to_string())
            .and_then(|()| std::fs::read(&file).map_err(|e| e.to_string()))
        {
            Ok(b) => b,
            Err(e) => {
                problems.push(Problem {
                    path: at,
                    message: format!("cannot read {}: {e}", model.file),
                });
                continue;
            }
        };
        let mut engines: HashMap<&str, Result<exemplar_engine::Engine, String>> = HashMap::new();
        for (group, units) in exp.unit_groups() {
            for (u, unit) in units.iter().enumerate().filter(|(_, u)| u.model == *name) {
                let engine = engines.entry(unit.layer.as_str()).or_insert_with(|| {
                    exemplar_engine::Engine::load(&bytes, &unit.layer, None)
                        .map_err(|e| e.to_string())
                });
                let channels = engine.as_ref().map_err(Clone::clone).and_then(|e| {
                    let input: Vec<usize> = e
                        .input_shape()
                        .iter()
                        .enumerate()
                        .map(|(i, d)| d.unwrap_or(if i == 0 { 1 } else { 224 }))
                        .collect();
                    e.channels(&input).map_err(|e| e.to_string())
                });
                match channels {
                    Err(e) => problems.push(Problem {
                        path: format!("{group}[{u}].layer"),
                        message: format!("{} in {}: {e}", unit.layer, model.file),
                    }),
                    Ok(c) if unit.channel as usize >= c => problems.push(Problem {
                        path: format!("{group}[{u}].channel"),
                        message: format!(
                            "{} has {c} channels in {}; there is no channel {}",
                            unit.layer, model.file, unit.channel
                        ),
                    }),
                    Ok(_) => {}
                }
            }
        }
        // The encoder's embedding tensor, where this model is the encoder.
        if let Some(enc) = exp.checks.encoder.as_ref().filter(|e| e.model == *name) {
            if let Err(e) = exemplar_engine::Engine::load(&bytes, &enc.output, None) {
                problems.push(Problem {
                    path: "checks.encoder.output".into(),
                    message: format!("{} in {}: {e}", enc.output, model.file),
                });
            }
        }
    }
    problems
}
