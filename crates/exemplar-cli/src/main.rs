//! `exemplar`: the researcher's command line.
//!
//! - `exemplar serve`: the built client, an experiment and a local records endpoint on
//!   one port (the demo, pilots, and the end-to-end tests).
//! - `exemplar validate DIR`: every problem of an experiment at once.
//! - `exemplar plan DIR --participant ID`: the session plan that participant gets.
//! - `exemplar schema --out DIR`: writes the JSON Schemas of the experiment and records.

mod serve;

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
    /// Check an experiment folder and list every problem.
    Validate {
        /// The experiment folder (or its experiment.json).
        dir: PathBuf,
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
        Command::Serve(opts) => match serve::run(opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("exemplar serve: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Validate { dir } => match Experiment::load_dir(&dir) {
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
        },
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
