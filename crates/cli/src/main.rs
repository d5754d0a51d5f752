//! `tradeoff`: the headless face of the engine, for scripts and CI.

mod commands;
mod exit;
mod progress;
mod span;
mod table;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use tradeoff_core::spec::search::Strategy;

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

/// How large a plan `run` and `plan` accept; a file asking for more is refused before anything
/// is allocated for it.
#[derive(Debug, Clone, Copy, clap::Args)]
struct PlanLimitArgs {
    /// Refuse a plan with more runs (config × case × repetition) than this.
    #[arg(long, value_name = "N", default_value_t = tradeoff_core::spec::load::DEFAULT_MAX_RUNS)]
    max_runs: u64,
    /// Refuse a plan with more configs (variant × target × swept setting) than this.
    #[arg(long, value_name = "N", default_value_t = tradeoff_core::spec::load::DEFAULT_MAX_CONFIGS)]
    max_configs: u64,
}

impl From<PlanLimitArgs> for tradeoff_core::spec::load::PlanLimits {
    fn from(args: PlanLimitArgs) -> Self {
        tradeoff_core::spec::load::PlanLimits {
            max_runs: args.max_runs,
            max_configs: args.max_configs,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an experiment file and record every run.
    Run {
        /// Experiment file (.yaml, .yml or .json).
        #[arg(required_unless_present = "resume")]
        file: Option<PathBuf>,
        /// Instead of a file: run the missing runs of interrupted or cancelled experiment ID
        /// (its recorded plan, into the same experiment).
        #[arg(long, value_name = "ID", conflicts_with = "file")]
        resume: Option<i64>,
        /// Database file (default: the Tradeoff data folder, or $TRADEOFF_HOME).
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        /// Print the report as JSON on stdout instead of tables.
        #[arg(long, conflicts_with = "events")]
        json: bool,
        /// Stream progress as JSON lines on stdout (what the desktop app reads).
        #[arg(long)]
        events: bool,
        /// How to search the configs, instead of the file's `search.strategy`: `grid` (every
        /// run), `racing` (drop configs once confidently out) or `halving` (successive halving).
        #[arg(long, value_name = "STRATEGY", conflicts_with = "resume")]
        search: Option<String>,
        #[command(flatten)]
        limits: PlanLimitArgs,
    },
    /// Show what an experiment will send before running it: exact input tokens per config and
    /// case, whether each fits its context, memory per config and the token-cost bound.
    Plan {
        /// Experiment file (.yaml, .yml or .json).
        file: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        limits: PlanLimitArgs,
    },
    /// Print the report of a recorded experiment.
    Report {
        /// Experiment id, or `latest`.
        experiment: String,
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
        /// Compare every config with this one (its number in the summary, from 1): differences
        /// of median latency and TTFT with 95 % bootstrap intervals.
        #[arg(long)]
        baseline: Option<usize>,
    },
    /// Simulate routing policies (cascades, routes) on a recorded experiment's runs, beside
    /// every single config: pass rate, cost and latency with 95 % intervals, no model call.
    Route {
        /// Experiment id, or `latest`.
        experiment: String,
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        /// A YAML or JSON file with a `policies:` list (default: the experiment file's own).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Trace each cascade's confidence threshold (cost against pass rate) and pick one,
        /// reported in sample and on held-out cases (5-fold).
        #[arg(long, value_enum)]
        sweep: Option<commands::route::SweepSignal>,
        /// The pass rate a picked threshold must keep (default: the cascade's when every
        /// request escalates).
        #[arg(long)]
        min_pass_rate: Option<f64>,
        /// Run this policy for real on the experiment's cases (every stage call recorded as a
        /// run of a new experiment) and set its figures against the simulation's intervals.
        #[arg(long, value_name = "POLICY", conflicts_with = "sweep")]
        live: Option<String>,
        #[arg(long)]
        json: bool,
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
    /// The price table remote targets without a `price` use (built in, plus the data folder's prices.json).
    Prices {
        #[arg(long)]
        json: bool,
    },
    /// API keys of remote targets, kept in the OS keyring (the environment variable wins).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Measure prompt processing (pp) and generation (tg) speed as llama.cpp's llama-bench does.
    Bench {
        /// A GGUF file, or `default`.
        model: String,
        /// Threads (default: one per core).
        #[arg(long, short = 't')]
        threads: Option<u32>,
        /// Prompt tokens per pp repetition (0 skips pp).
        #[arg(short = 'p', long = "n-prompt", default_value_t = 512)]
        n_prompt: u32,
        /// Generated tokens per tg repetition (0 skips tg).
        #[arg(short = 'n', long = "n-gen", default_value_t = 128)]
        n_gen: u32,
        #[arg(short = 'r', long, default_value_t = 5)]
        reps: u32,
        /// Logical batch size for pp.
        #[arg(short = 'b', long, default_value_t = 2048)]
        batch: u32,
        /// Skip measuring memory bandwidth (the tg bound).
        #[arg(long)]
        no_bandwidth: bool,
        #[arg(long)]
        json: bool,
    },
    /// Pick the winning config or routing policy of a recorded experiment by an objective and
    /// write it as JSON.
    Winner {
        /// Experiment id, or `latest`.
        experiment: String,
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        /// The objective as JSON (default: the experiment file's `objective`, else best score,
        /// then cheapest, then fastest), e.g.
        /// '{"constraints": ["pass_rate >= 0.9", "p95_latency_ms <= 800"], "order": ["cheapest", "fastest"]}'.
        #[arg(long)]
        objective: Option<String>,
        /// Routing policies that compete beside the configs, simulated on the recorded runs: a
        /// YAML or JSON file with a `policies:` list (default: the experiment file's own).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Write the winner here (default: print it).
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Load-test a model API: closed-loop clients (--concurrency), open-loop rates (--rate) or a
    /// --sweep, each request timed from when it was due; per level TTFT, inter-token latency,
    /// TPOT, end-to-end, errors and goodput under --slo; the knee; with --traffic or --daily, the
    /// replicas and their monthly price beside a hosted API (--hosted).
    Load(Box<commands::load::LoadArgs>),
    /// Every recorded run of an experiment's file, each config's figures run after run, and the
    /// regressions against the previous run that the data establishes (95 % bootstrap intervals).
    History {
        /// Experiment id, or `latest`: its file's runs up to it.
        #[arg(default_value = "latest")]
        experiment: String,
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Serve a winner file's config behind an OpenAI-compatible endpoint (`/v1/chat/completions`,
    /// `/v1/completions`, `/v1/variants/{id}/completions`, `/v1/models`, `/health`).
    Serve {
        /// A winner file (`tradeoff winner -o`).
        winner: PathBuf,
        /// Where to listen; beyond loopback a key is required (or --insecure-no-auth).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// 0 picks a free port (printed on the first line).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Requests decoded together in one context (slots of the winner's n_ctx each).
        #[arg(long, default_value_t = 4)]
        parallel: u32,
        /// Requests that may wait for a slot; beyond them clients get 429 with Retry-After.
        #[arg(long, default_value_t = 64)]
        queue: usize,
        /// The environment variable holding the key clients must send as a bearer token.
        #[arg(long)]
        api_key_env: Option<String>,
        /// Serve beyond loopback without a key.
        #[arg(long)]
        insecure_no_auth: bool,
        /// Check the winner file and print what would be served, then exit.
        #[arg(long)]
        check: bool,
        /// The database the traffic log goes to (default: Tradeoff's own).
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        /// Delete logged requests older than this as the log goes (e.g. 30d).
        #[arg(long, value_parser = span::parse_span)]
        retain: Option<std::time::Duration>,
        /// Keep every answer's text in the log (by default only its hash).
        #[arg(long)]
        log_text: bool,
        /// Keep no traffic log.
        #[arg(long, conflicts_with_all = ["retain", "log_text"])]
        no_log: bool,
        /// Send this experiment's cases (a recorded id or an experiment file) through the served
        /// path every --every, at low priority, and flag a round unlike what was measured.
        #[arg(long)]
        canary: Option<String>,
        /// How often the canary runs.
        #[arg(long, default_value = "10m", value_parser = span::parse_span, requires = "canary")]
        every: std::time::Duration,
        /// Stop when standard input closes (the app's way to take its server with it).
        #[arg(long, hide = true)]
        exit_with_stdin: bool,
    },
    /// What a served winner's traffic adds up to: requests, errors by class, latency, TTFT,
    /// inter-token latency, tokens, cost and answer consistency.
    Traffic {
        /// Requests since this long ago (e.g. 15m, 1h, 7d).
        #[arg(long, default_value = "1h", value_parser = span::parse_span)]
        since: std::time::Duration,
        /// One deployment by id (default: all; `tradeoff traffic --json` lists them).
        #[arg(long)]
        deployment: Option<i64>,
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Every request as a CSV row.
        #[arg(long)]
        csv: bool,
    },
    /// Make quantized copies of a model with llama.cpp's quantizer and add them to the library.
    Quantize {
        /// A GGUF file, or `default`.
        source: String,
        /// Types to make, comma-separated (Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, ...).
        #[arg(long = "type", short = 't', value_delimiter = ',', required = true)]
        types: Vec<String>,
        /// Quantize an already quantized source (its loss compounds; the result is labelled).
        #[arg(long)]
        allow_requantize: bool,
        /// Where to write the files (default: the data folder's models/).
        #[arg(long)]
        out_dir: Option<PathBuf>,
        #[arg(long)]
        threads: Option<u32>,
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        /// Stream progress as JSON lines on stdout (what the desktop app reads).
        #[arg(long)]
        events: bool,
    },
    /// Prove that local inference works on this machine: the CPU self-test (a test decode with
    /// each llama.cpp CPU variant the CPU supports, best first) and what it chose.
    Doctor {
        /// The model of the test decode: a GGUF file, or `default`.
        #[arg(long, default_value = "default")]
        model: String,
        #[arg(long)]
        json: bool,
    },
    /// Serve local inference for a parent `tradeoff` over JSON lines on stdio (internal).
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Where each variable's key would come from: the environment, the OS keyring, or nowhere.
    Status {
        #[arg(required = true)]
        variables: Vec<String>,
    },
    /// Store a key (read from standard input) in the OS keyring under a variable name.
    Set { variable: String },
    /// Remove a variable's key from the OS keyring.
    Remove { variable: String },
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Show a GGUF file's metadata and memory estimate without loading its weights.
    Inspect {
        /// A GGUF file, or `default`.
        path: String,
        #[arg(long)]
        json: bool,
        /// Context length for the memory estimate.
        #[arg(long, default_value_t = 2048)]
        n_ctx: u32,
        /// KV cache type for the memory estimate: f16, q8_0 or q4_0.
        #[arg(long, default_value = "f16")]
        kv_type: String,
    },
    /// List the models of the library: the data folder's models and every registered source.
    List {
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Hash files not hashed yet (seconds per GB).
        #[arg(long)]
        hash: bool,
    },
    /// Register a GGUF file or a folder of them.
    Add {
        path: PathBuf,
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
    },
    /// Forget a registered file or folder (the files stay on disk).
    Remove {
        path: PathBuf,
        #[arg(long, env = "TRADEOFF_DB")]
        db: Option<PathBuf>,
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
            resume,
            db,
            json,
            events,
            search,
            limits,
        } => {
            let output = match (json, events) {
                (true, _) => commands::run::Output::Json,
                (_, true) => commands::run::Output::Events,
                _ => commands::run::Output::Tables,
            };
            // clap requires one of the two.
            let source = match (resume, file) {
                (Some(id), _) => Ok(commands::run::Source::Resume(id)),
                (None, Some(file)) => Ok(commands::run::Source::File(file)),
                (None, None) => Err(Exit::bad_input("run needs an experiment file or --resume ID")),
            };
            source.and_then(|source| {
                let strategy = search
                    .map(|text| {
                        Strategy::parse(&text).ok_or_else(|| {
                            Exit::bad_input(format!(
                                "--search {text}: not a strategy; use grid, racing or halving"
                            ))
                        })
                    })
                    .transpose()?;
                commands::run::run(&source, db, output, strategy, &limits.into())
            })
        }
        Command::Report {
            experiment,
            db,
            format,
            baseline,
        } => commands::report::report(&experiment, db, format, baseline),
        Command::Route {
            experiment,
            db,
            policy,
            sweep,
            min_pass_rate,
            live,
            json,
        } => commands::route::route(
            &experiment,
            db,
            policy.as_deref(),
            sweep.map(|signal| (signal, min_pass_rate)),
            live.as_deref(),
            json,
        ),
        Command::List { db, json } => commands::report::list(db, json),
        Command::Models { command } => match command {
            ModelsCommand::Inspect {
                path,
                json,
                n_ctx,
                kv_type,
            } => commands::models::inspect(&path, json, n_ctx, &kv_type),
            ModelsCommand::List { db, json, hash } => commands::models::list(db, json, hash),
            ModelsCommand::Add { path, db } => commands::models::add(db, &path),
            ModelsCommand::Remove { path, db } => commands::models::remove(db, &path),
        },
        Command::Plan { file, json, limits } => commands::plan::plan(&file, json, &limits.into()),
        Command::Prices { json } => commands::prices::prices(json),
        Command::Keys { command } => match command {
            KeysCommand::Status { variables } => commands::keys::status(&variables),
            KeysCommand::Set { variable } => commands::keys::set(&variable),
            KeysCommand::Remove { variable } => commands::keys::remove(&variable),
        },
        Command::Winner {
            experiment,
            db,
            objective,
            policy,
            output,
        } => commands::winner::winner(
            &experiment,
            db,
            objective.as_deref(),
            policy.as_deref(),
            output.as_deref(),
        ),
        Command::Serve {
            winner,
            host,
            port,
            parallel,
            queue,
            api_key_env,
            insecure_no_auth,
            check,
            db,
            retain,
            log_text,
            no_log,
            canary,
            every,
            exit_with_stdin,
        } => commands::serve::serve(
            &winner,
            commands::serve::ServeArgs {
                host,
                port,
                parallel,
                queue,
                api_key_env,
                insecure_no_auth,
                check,
                db: db.unwrap_or_else(tradeoff_core::paths::default_database),
                no_log,
                retain,
                log_text,
                canary,
                every,
                exit_with_stdin,
            },
        ),
        Command::History { experiment, db, json } => commands::history::show(&experiment, db, json),
        Command::Load(args) => commands::load::load(*args),
        Command::Traffic {
            since,
            deployment,
            db,
            json,
            csv,
        } => commands::traffic::traffic(db, since, deployment, json, csv),
        Command::Quantize {
            source,
            types,
            allow_requantize,
            out_dir,
            threads,
            db,
            events,
        } => commands::quantize::quantize(&commands::quantize::QuantizeArgs {
            source,
            types,
            allow_requantize,
            out_dir,
            threads,
            db,
            events,
        }),
        Command::Bench {
            model,
            threads,
            n_prompt,
            n_gen,
            reps,
            batch,
            no_bandwidth,
            json,
        } => commands::bench::bench(&commands::bench::BenchArgs {
            model,
            threads,
            n_prompt,
            n_gen,
            reps,
            batch,
            json,
            bandwidth: !no_bandwidth,
        }),
        Command::Doctor { model, json } => commands::doctor::doctor(&model, json),
        Command::Worker => commands::worker::worker(),
    };
    match result {
        Ok(code) => code,
        Err(Exit { code, message }) => {
            eprintln!("error: {}", terminal::safe(&message));
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
