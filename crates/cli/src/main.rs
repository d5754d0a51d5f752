//! `tradeoff`: the headless face of the engine, for scripts and CI.

mod commands;
mod exit;
mod progress;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::exit::Exit;

#[derive(Debug, Parser)]
#[command(
    name = "tradeoff",
    version,
    about = "Measure which prompt, model, quantization and context length gives the quality you need at the lowest latency and cost."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an experiment file and record every run.
    Run {
        /// Experiment file (.yaml, .yml or .json).
        file: PathBuf,
        /// Database file (default: the Tradeoff data folder, or $TRADEOFF_HOME).
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        /// Print the report as JSON on stdout instead of tables.
        #[arg(long, conflicts_with = "events")]
        json: bool,
        /// Stream progress as JSON lines on stdout (what the desktop app reads).
        #[arg(long)]
        events: bool,
    },
    /// Print the report of a recorded experiment.
    Report {
        /// Experiment id, or `latest`.
        experiment: String,
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
    },
    /// List recorded experiments.
    List {
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Model files.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Serve local inference for a parent `tradeoff` over JSON lines on stdio (internal).
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Show a GGUF file's metadata without loading its weights.
    Inspect {
        /// A GGUF file, or `default`.
        path: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReportFormat {
    Json,
    Csv,
    Md,
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            file,
            db,
            json,
            events,
        } => {
            let output = match (json, events) {
                (true, _) => commands::run::Output::Json,
                (_, true) => commands::run::Output::Events,
                _ => commands::run::Output::Tables,
            };
            commands::run::run(&file, db, output)
        }
        Command::Report {
            experiment,
            db,
            format,
        } => commands::report::report(&experiment, db, format),
        Command::List { db, json } => commands::report::list(db, json),
        Command::Models {
            command: ModelsCommand::Inspect { path, json },
        } => commands::models::inspect(&path, json),
        Command::Worker => commands::worker::worker(),
    };
    match result {
        Ok(code) => code,
        Err(Exit { code, message }) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

/// llama.cpp's own messages arrive through `tracing`; only warnings and errors are shown
/// unless RUST_LOG asks for more.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
