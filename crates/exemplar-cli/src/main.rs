//! `exemplar`: the researcher's command line.
//!
//! - `exemplar serve`: the built client, an experiment and a local records endpoint on
//!   one port (the demo, pilots, and the end-to-end tests).
//! - `exemplar validate DIR`: every problem of an experiment at once.
//! - `exemplar plan DIR --participant ID`: the session plan that participant gets.
//! - `exemplar build DIR --out SITE`: the static site (client, experiment, hashed stimuli).
//! - `exemplar import-imi PATH… --out DIR`: the IMI release's stimuli as an experiment.
//! - `exemplar new DIR`: a small working experiment to start from.
//! - `exemplar analyze RESPONSES`: exclusion rules, scores and tests, with reports.
//! - `exemplar collect`: the reference collector alone (records into SQLite).
//! - `exemplar export --db FILE`: stored records as CSV (original column names) or JSONL.
//! - `exemplar activations --model M.onnx --layer T --channel C IMAGE...`: a unit's
//!   activations, computed by the same engine as the browser.
//! - `exemplar exemplars --model M.onnx --layer T --channel C --images DIR --out OUT`: a
//!   unit's stimuli chosen from a folder of images as the paradigm does (fair batches).
//! - `exemplar sample-units --model M.onnx --layers A,B --count 84`: units to study.
//! - `exemplar schema --out DIR`: writes the JSON Schemas of the experiment and records.

use exemplar_cli::{build, collector, exemplars, export, import_imi, new, serve};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use exemplar_core::{Experiment, Plan};

#[derive(Parser)]
#[command(
    name = "exemplar",
    version,
    about = "Forced-choice interpretability experiments: serve, validate, plan"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the built client, an experiment and a records endpoint on one local port.
    Serve(serve::Options),
    /// Run the reference collector: POST /records into SQLite, exactly once per record id.
    Collect {
        #[command(flatten)]
        listen: collector::Listen,
        #[command(flatten)]
        collector: collector::CollectorOptions,
    },
    /// Write the stored records as CSV (trials, original column names) or JSON Lines (all).
    Export {
        /// The collector's database: a SQLite file or a postgres:// URL (also EXEMPLAR_DB).
        #[arg(
            long,
            env = "EXEMPLAR_DB",
            hide_env_values = true,
            default_value = "responses.db"
        )]
        db: PathBuf,
        /// csv or jsonl.
        #[arg(long, default_value = "csv", value_parser = ["csv", "jsonl"])]
        format: String,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write text cells as they are, even those a spreadsheet would run as a formula
        /// (by default a cell starting with =, +, -, @, tab or CR gets a leading ').
        #[arg(long)]
        raw_cells: bool,
    },
    /// Print a unit's activation for each image: one JSON object per image and channel.
    Activations {
        /// The ONNX model.
        #[arg(long)]
        model: PathBuf,
        /// The target tensor's name in the graph.
        #[arg(long)]
        layer: String,
        /// A channel of the target (repeatable).
        #[arg(long = "channel", required = true)]
        channels: Vec<usize>,
        #[command(flatten)]
        engine: exemplars::EngineOptions,
        /// The images (PNG or JPEG).
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Choose a unit's stimuli from a folder of images as the paradigm does: activations,
    /// ranks, fair batches, written as batch folders (min_0..9, max_0..9).
    Exemplars(exemplars::ExemplarsOptions),
    /// Draw distinct units: a layer uniformly among the eligible ones, then a channel
    /// uniformly (seeded); one JSON object per line.
    SampleUnits(exemplars::SampleOptions),
    /// Build a self-contained static site: client, experiment, content-hashed stimuli and
    /// a SHA-256 manifest, with relative URLs (any path of any static host or CDN).
    Build(build::BuildOptions),
    /// Create a small working experiment to start from.
    New(new::NewOptions),
    /// Exclusion rules, per-unit and per-model scores with bootstrap CIs, Kruskal–Wallis
    /// and Conover–Holm between models; CSV, Markdown and HTML reports.
    Analyze {
        /// The responses: the collector's database (a .db file or a postgres:// URL), JSON
        /// Lines, or CSV.
        responses: PathBuf,
        /// Where the reports go.
        #[arg(long, default_value = "analysis")]
        out: PathBuf,
        /// Bootstrap seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Do not exclude sessions for a rule the data cannot check (CSV holds trials only,
        /// so instruction time and practice rounds are unknown).
        #[arg(long)]
        lenient: bool,
    },
    /// Turn the IMI study's released stimulus layouts into an experiment.
    ImportImi(import_imi::ImportOptions),
    /// Check an experiment folder and list every problem.
    Validate {
        /// The experiment folder (or its experiment.json).
        dir: PathBuf,
    },
    /// Run every batch's 20 images through its unit's model (checks.models) and judge
    /// them as the preview's "Check all" does; exits 1 if a batch fails.
    Check {
        /// The experiment folder (or its experiment.json).
        dir: PathBuf,
        /// gpu (WGSL compute shaders through wgpu) or cpu (the plain-Rust reference).
        #[arg(long, default_value = "gpu")]
        backend: String,
        /// One JSON object per batch (activations and violations) instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        limits: exemplars::LimitOptions,
    },
    /// Print the session plan of one participant as JSON.
    Plan {
        /// The experiment folder (or its experiment.json).
        dir: PathBuf,
        /// The participant id (as in the URL's PROLIFIC_PID, workerId or pid).
        #[arg(long)]
        participant: String,
    },
    /// Write experiment.schema.json and record.schema.json.
    Schema {
        /// Output folder.
        #[arg(long, default_value = "schema")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(opts) => report("exemplar serve", serve::run(opts)),
        Command::Collect {
            listen,
            collector: opts,
        } => {
            let result = opts.open_db().and_then(|db| {
                let stored = db.count();
                let path = collector::display_name(&opts.db);
                let reading = if opts.admin_token.is_some() {
                    "records are readable at /admin/records with the admin token"
                } else {
                    "no --admin-token: records are not readable over HTTP"
                };
                let app = collector::router(db, &opts, &listen.limits);
                collector::serve_forever(app, &listen, |addr| {
                    println!("exemplar: collecting at http://{addr}/records into {path} ({stored} already stored); {reading}");
                })
            });
            report("exemplar collect", result)
        }
        Command::Export {
            db,
            format,
            out,
            raw_cells,
        } => {
            let result = collector::Db::open_read_only(&db)
                .and_then(|db| db.all())
                .and_then(|records| {
                    let mut sink: Box<dyn std::io::Write> = match &out {
                        Some(path) => Box::new(std::io::BufWriter::new(
                            std::fs::File::create(path)
                                .map_err(|e| format!("{}: {e}", path.display()))?,
                        )),
                        None => Box::new(std::io::stdout().lock()),
                    };
                    let written = if format == "csv" {
                        let cells = if raw_cells {
                            export::Cells::Raw
                        } else {
                            export::Cells::Neutralised
                        };
                        export::csv(&records, &mut sink, cells)
                    } else {
                        export::jsonl(&records, &mut sink)
                    };
                    written
                        .and_then(|_| sink.flush())
                        .map_err(|e| e.to_string())
                });
            report("exemplar export", result)
        }
        Command::Activations {
            model,
            layer,
            channels,
            engine,
            images,
        } => {
            let result = (|| -> Result<(), String> {
                let pre = engine.preprocess()?;
                let paths: Vec<&std::path::Path> = images.iter().map(PathBuf::as_path).collect();
                let rows = exemplar_engine::activations_json_with(
                    &model,
                    &layer,
                    &channels,
                    &pre,
                    engine.backend()?,
                    &paths,
                    &engine.limits.load_options(),
                )
                .map_err(|e| e.to_string())?;
                for row in rows {
                    println!("{row}");
                }
                Ok(())
            })();
            report_code("exemplar activations", result, 2)
        }
        Command::Exemplars(opts) => {
            let result = exemplars::run(&opts).and_then(|units| {
                let batches: usize = units.iter().map(|u| u.batches.len()).sum();
                eprintln!(
                    "exemplar exemplars: wrote {} units ({batches} batches) under {}; add these entries to the experiment's \"units\" (paths relative to {}):",
                    units.len(),
                    opts.out.display(),
                    opts.experiment.as_deref().or(opts.out.parent()).filter(|p| !p.as_os_str().is_empty()).map_or(".".into(), |p| p.display().to_string())
                );
                println!("{}", serde_json::to_string_pretty(&units).map_err(|e| e.to_string())?);
                Ok(())
            });
            report_code("exemplar exemplars", result, 2)
        }
        Command::SampleUnits(opts) => {
            let result = exemplars::sample_units(&opts).map(|units| {
                for (layer, channel) in units {
                    println!(
                        "{}",
                        serde_json::json!({ "layer": layer, "channel": channel })
                    );
                }
            });
            report_code("exemplar sample-units", result, 2)
        }
        Command::Build(opts) => {
            let result = build::run(&opts).map(|b| {
                let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
                println!("exemplar: built {} ({:.2} MiB in all)", opts.out.display(), mib(b.total_bytes));
                println!("  client: {:.2} MiB; stimuli: {} files, {:.2} MiB", mib(b.client_bytes), b.stimuli.0, mib(b.stimuli.1));
                println!(
                    "  one participant downloads {:.2} MiB on average, {:.2} MiB at most (client, experiment, one session's images)",
                    mib(b.per_participant.0),
                    mib(b.per_participant.1)
                );
                println!("  hashed files under experiment/s/ may be cached forever; revalidate index.html, experiment.json, manifest.json");
            });
            report("exemplar build", result)
        }
        Command::New(opts) => {
            let result = new::run(&opts).map(|()| {
                println!(
                    "exemplar: wrote {} (see its GUIDE.md; check it with `exemplar validate {0}`)",
                    opts.dir.display()
                );
            });
            report("exemplar new", result)
        }
        Command::Analyze {
            responses,
            out,
            seed,
            lenient,
        } => {
            let result = (|| -> Result<(), String> {
                let is_db = collector::is_postgres(&responses)
                    || responses
                        .extension()
                        .is_some_and(|e| e == "db" || e == "sqlite");
                let records = if is_db {
                    collector::Db::open_read_only(&responses)?.all()?
                } else {
                    exemplar_analysis::read::read_path(&responses).map_err(|e| e.to_string())?
                };
                let mut options = exemplar_analysis::Options {
                    seed,
                    ..Default::default()
                };
                options.exclusion.missing_data_fails = !lenient;
                let analysis = exemplar_analysis::analyze(&records, &options);
                exemplar_analysis::write_reports(&analysis, &out)
                    .map_err(|e| format!("{}: {e}", out.display()))?;
                print!("{}", exemplar_analysis::markdown(&analysis));
                println!("\nexemplar: reports in {} (report.html, report.md, models.csv, units.csv, sessions.csv, posthoc.csv)", out.display());
                Ok(())
            })();
            report("exemplar analyze", result)
        }
        Command::ImportImi(opts) => {
            let result = import_imi::run(&opts).map(|exp| {
                println!(
                    "exemplar: wrote {} ({} units, {} practice trials); edit its pages, session and collect before use",
                    opts.out.join("experiment.json").display(),
                    exp.units.len(),
                    exp.practice.trials.len()
                );
            });
            report("exemplar import-imi", result)
        }
        Command::Check {
            dir,
            backend,
            json,
            limits,
        } => {
            let result = backend
                .parse()
                .map_err(|e: exemplar_engine::EngineError| e.to_string())
                .and_then(|backend| {
                    exemplar_cli::check::run_with(&dir, backend, &limits.load_options())
                });
            let report = match result {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("exemplar check: {e}");
                    return ExitCode::from(2);
                }
            };
            for b in &report.batches {
                if json {
                    println!("{}", serde_json::to_string(b).expect("plain data"));
                    continue;
                }
                let a = &b.activations;
                let verdict = if b.violations.is_empty() {
                    "pass"
                } else {
                    "FAIL"
                };
                println!(
                    "{verdict}  {} ({} {} channel {}, batch {}): max query {:.4}, min query {:.4}",
                    b.path, b.unit, b.layer, b.channel, b.batch, a.max_query, a.min_query
                );
                for v in &b.violations {
                    println!("      {}", v.describe());
                }
            }
            for u in &report.unchecked {
                eprintln!("note: {u} names a model that checks.models does not have; not checked");
            }
            let failures = report.failures();
            eprintln!(
                "exemplar check: {} batches checked, {failures} failing, {} units without a model",
                report.batches.len(),
                report.unchecked.len()
            );
            if failures > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Validate { dir } => {
            let (result, notes) = exemplar_cli::validate::check(&dir);
            for note in notes {
                println!("note: {note}");
            }
            match result {
                Ok(exp) => {
                    let files = exp.stimulus_files().len();
                    println!(
                        "{}: valid ({} units, {} catch units, {} stimulus files)",
                        dir.display(),
                        exp.units.len(),
                        exp.catch_units.len(),
                        files
                    );
                    ExitCode::SUCCESS
                }
                Err(problems) => {
                    eprintln!("{}: {} problem(s)", dir.display(), problems.0.len());
                    for p in &problems.0 {
                        eprintln!("  {p}");
                    }
                    ExitCode::FAILURE
                }
            }
        }
        Command::Plan { dir, participant } => match Experiment::load_dir(&dir) {
            Ok(exp) => {
                let plan = Plan::for_participant(&exp, &participant);
                println!(
                    "{}",
                    serde_json::to_string_pretty(&plan).expect("plans serialize")
                );
                ExitCode::SUCCESS
            }
            Err(problems) => {
                eprintln!("{problems}");
                ExitCode::FAILURE
            }
        },
        Command::Schema { out } => {
            let write = |name: &str, text: String| std::fs::write(out.join(name), text);
            let result = std::fs::create_dir_all(&out)
                .and_then(|_| {
                    write(
                        "experiment.schema.json",
                        exemplar_core::schema::experiment(),
                    )
                })
                .and_then(|_| write("record.schema.json", exemplar_core::schema::record()));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("exemplar schema: {}: {e}", out.display());
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Like [`report`], with exit status `code` on an error (2 for the commands that load a
/// model: a model or an image refused, named on stderr).
fn report_code(what: &str, result: Result<(), String>, code: u8) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{what}: {e}");
            ExitCode::from(code)
        }
    }
}

fn report(what: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{what}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
