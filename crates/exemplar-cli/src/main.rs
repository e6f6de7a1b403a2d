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
//! - `exemplar mis DIR --encoder E.onnx`: the Machine Interpretability Score of every batch.
//! - `exemplar schema --out DIR`: writes the JSON Schemas of the experiment and records.
//! - `exemplar texts --language de`: the participant page's texts and pages in a language.
//!
//! Each command's work is `exemplar_cli::cmd::NAME::run`; this file parses the arguments,
//! dispatches, and turns an error into its line on stderr and the exit status.

use exemplar_cli::{build, cmd, collector, exemplars, import_imi, new, serve};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Exemplars(Box<exemplars::ExemplarsOptions>),
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
        /// The experiment folder (or its experiment.json): its `analysis.exclusion` rules
        /// and `confidence_levels` are applied. Without it, the original study's
        /// thresholds (made for 45 main trials) and 3 levels.
        #[arg(long)]
        experiment: Option<PathBuf>,
        /// Score the sessions of `?simulate=` participants too (by default they are listed
        /// apart and left out of every score).
        #[arg(long)]
        score_simulated: bool,
        /// Another dataset to show beside this one: a published one (the IMI release's
        /// responses CSV, Borowski et al. 2021's CSVs) or an earlier study's records,
        /// analysed with the same options; its per-model and per-condition scores go
        /// beside this study's in the reports. May be given more than once.
        #[arg(long, value_name = "FILE")]
        baseline: Vec<PathBuf>,
        /// The CSV of `exemplar mis --per batch` for this study's units: α is fitted to the
        /// human answers, and each unit's MIS goes beside its proportion correct, with
        /// their Spearman correlation and a scatter plot.
        #[arg(long, value_name = "FILE")]
        mis: Option<PathBuf>,
    },
    /// Turn the IMI study's released stimulus layouts into an experiment.
    ImportImi(import_imi::ImportOptions),
    /// Check an experiment folder and list every problem.
    Validate {
        /// The experiment folder (or its experiment.json).
        dir: PathBuf,
    },
    /// The Machine Interpretability Score of every batch of every unit: each trial solved
    /// by an image encoder's cosine similarities (Zimmermann, Klindt & Brendel, 2024).
    Mis(Box<exemplar_cli::mis::MisOptions>),
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
        /// Also flag batches whose predicted accuracy (the MIS of `checks.encoder`) is
        /// below P: too hard for the machine (default: `checks.encoder.min_predicted`).
        #[arg(long, value_name = "P")]
        min_predicted: Option<f64>,
        /// Also flag batches whose predicted accuracy is above P: trivially easy
        /// (default: `checks.encoder.max_predicted`).
        #[arg(long, value_name = "P")]
        max_predicted: Option<f64>,
    },
    /// Print the session plan of one participant as JSON.
    Plan {
        /// The experiment folder (or its experiment.json).
        dir: PathBuf,
        /// The participant id (as in the URL's PROLIFIC_PID, workerId or pid).
        #[arg(long)]
        participant: String,
        /// The group a link's `?condition=` names (a design's group); without it the
        /// group is balanced by the participant id, as on the page.
        #[arg(long)]
        condition: Option<String>,
    },
    /// Print every text of the participant's page and every page with its default in a
    /// language (English or German; other languages get English to translate), as the
    /// `language`, `texts` and `pages` fields of an experiment.json.
    Texts {
        /// A language tag: `en`, `de`, or the tag of the language you translate into.
        #[arg(long, default_value = "en")]
        language: String,
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
    // The commands that load a model exit with status 2 on any error (a model, an image
    // or an option refused, named on stderr); the others with 1.
    let (what, code, result) = match cli.command {
        Command::Serve(opts) => ("exemplar serve", 1, cmd::serve::run(opts)),
        Command::Collect {
            listen,
            collector: opts,
        } => ("exemplar collect", 1, cmd::collect::run(&listen, &opts)),
        Command::Export {
            db,
            format,
            out,
            raw_cells,
        } => (
            "exemplar export",
            1,
            cmd::export::run(&db, &format, out.as_deref(), raw_cells),
        ),
        Command::Activations {
            model,
            layer,
            channels,
            engine,
            images,
        } => (
            "exemplar activations",
            2,
            cmd::activations::run(&model, &layer, &channels, &engine, &images),
        ),
        Command::Exemplars(opts) => ("exemplar exemplars", 2, cmd::exemplars::run(&opts)),
        Command::SampleUnits(opts) => ("exemplar sample-units", 2, cmd::sample_units::run(&opts)),
        Command::Build(opts) => ("exemplar build", 1, cmd::build::run(&opts)),
        Command::New(opts) => ("exemplar new", 1, cmd::new::run(&opts)),
        Command::Analyze {
            responses,
            out,
            seed,
            lenient,
            experiment,
            score_simulated,
            baseline,
            mis,
        } => (
            "exemplar analyze",
            1,
            cmd::analyze::run(
                &responses,
                &out,
                &cmd::analyze::Settings {
                    seed,
                    lenient,
                    experiment,
                    score_simulated,
                    baselines: baseline,
                    mis,
                },
            ),
        ),
        Command::ImportImi(opts) => ("exemplar import-imi", 1, cmd::import_imi::run(&opts)),
        Command::Mis(opts) => ("exemplar mis", 2, cmd::mis::run(&opts)),
        Command::Check {
            dir,
            backend,
            json,
            limits,
            min_predicted,
            max_predicted,
        } => match cmd::check::run(
            &dir,
            &backend,
            json,
            &limits,
            cmd::check::Predicted {
                min: min_predicted,
                max: max_predicted,
            },
        ) {
            // Failing batches are an outcome, not an error: status 1.
            Ok(failures) if failures > 0 => return ExitCode::FAILURE,
            result => ("exemplar check", 2, result.map(|_| ())),
        },
        Command::Validate { dir } => ("exemplar validate", 1, cmd::validate::run(&dir)),
        Command::Plan {
            dir,
            participant,
            condition,
        } => (
            "exemplar plan",
            1,
            cmd::plan::run(&dir, &participant, condition.as_deref()),
        ),
        Command::Texts { language } => ("exemplar texts", 1, cmd::texts::run(&language)),
        Command::Schema { out } => ("exemplar schema", 1, cmd::schema::run(&out)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.stands_alone() {
                eprintln!("{e}");
            } else {
                eprintln!("{what}: {e}");
            }
            ExitCode::from(code)
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
