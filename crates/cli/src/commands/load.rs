//! `tradeoff load`: a load test of a model API (`--base-url URL --model NAME`), of an experiment
//! file's remote target with its real prompts (`EXPERIMENT --target ID`), or of a winner file (a
//! remote winner's API, or a local winner served here by `tradeoff serve`'s own server). Levels of
//! clients (`--concurrency`), of rates (`--rate`), or a `--sweep`; per level the figures of
//! `analyze::load_test`, then the knee and, with `--traffic` or `--daily`, a capacity plan.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tradeoff_core::analyze::load_test::{
    LevelSummary, Load, LoadSample, LoadTest, Traffic, knee, mark_plateaus, plan_capacity, summarize_level,
};
use tradeoff_core::execute::arrivals::{Arrivals, LevelLimit};
use tradeoff_core::spec::pricing::PriceTable;
use tradeoff_core::spec::slo::Slo;
use tradeoff_load::{LevelPlan, Workload, run_level};
use tradeoff_remote::RemoteCaller;

use crate::exit::Exit;
use crate::terminal::safe;

mod output;
mod sources;

/// Levels a test may have: each is a full measurement, so more is a mistake, not a plan.
const MAX_LEVELS: usize = 32;
/// Clients of a closed-loop level at most: the generator shares this machine.
const MAX_CONCURRENCY: u32 = 1024;

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// A winner file (a local winner is served here for the test), or an experiment file
    /// with --target.
    pub source: Option<PathBuf>,
    /// The experiment's (remote) target to load; its cases, rendered, are the prompts.
    #[arg(long)]
    pub target: Option<String>,
    /// The variant that renders the cases (default: the experiment's first).
    #[arg(long)]
    pub variant: Option<String>,
    /// Any OpenAI-compatible endpoint (llama-server, vLLM, `tradeoff serve`), or an Anthropic or Gemini one with --provider.
    #[arg(long)]
    pub base_url: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, default_value = "openai")]
    pub provider: String,
    /// The environment variable holding the API's key.
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// Closed-loop levels: clients each (default 1,2,4,8).
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<u32>,
    /// Open-loop levels: requests per second each.
    #[arg(long, value_delimiter = ',')]
    pub rate: Vec<f64>,
    #[arg(long, default_value = "poisson")]
    pub arrivals: String,
    /// One client, then --max-concurrency clients, then --sweep-levels rates between what they achieved.
    #[arg(long)]
    pub sweep: bool,
    #[arg(long, default_value_t = 5)]
    pub sweep_levels: usize,
    #[arg(long, default_value_t = 16)]
    pub max_concurrency: u32,
    /// How long each level lasts (default 30s)…
    #[arg(long, value_parser = crate::span::parse_span)]
    pub duration: Option<std::time::Duration>,
    /// …or how many requests it counts.
    #[arg(long)]
    pub requests: Option<usize>,
    /// Sent first at each level, recorded, not counted.
    #[arg(long, value_parser = crate::span::parse_span)]
    pub warmup: Option<std::time::Duration>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Synthetic prompts of this many input tokens (the target's tokenizer where it has one).
    #[arg(long)]
    pub input_tokens: Option<u32>,
    /// max_tokens of every request.
    #[arg(long)]
    pub output_tokens: Option<u32>,
    /// Ask the server to generate all --output-tokens (llama-server, vLLM: `ignore_eos`).
    #[arg(long)]
    pub ignore_eos: bool,
    /// e.g. ttft=500ms,tpot=80ms,e2e=4s: goodput counts the requests within every bound.
    #[arg(long)]
    pub slo: Option<String>,
    /// A level whose generator sent later than this at p99 is not valid.
    #[arg(long, default_value_t = 10.0)]
    pub max_lag_ms: f64,
    /// Plan capacity for a steady rate (requests per second)…
    #[arg(long)]
    pub traffic: Option<f64>,
    /// …or for requests a day with a peak this many times the mean.
    #[arg(long)]
    pub daily: Option<f64>,
    #[arg(long, default_value_t = 3.0)]
    pub peak_factor: f64,
    /// The machine's price per hour (default: the target's `price.per_hour`).
    #[arg(long)]
    pub price_per_hour: Option<f64>,
    /// A hosted model to price the same traffic with (`openai:gpt-4o-mini`).
    #[arg(long)]
    pub hosted: Option<String>,
    #[arg(long, env = "TRADEOFF_DB")]
    pub db: Option<PathBuf>,
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Every request as a CSV row.
    #[arg(long)]
    pub csv: bool,
}

pub fn load(args: LoadArgs) -> Result<ExitCode, Exit> {
    let slo = args
        .slo
        .as_deref()
        .map(Slo::parse)
        .transpose()
        .map_err(|e| Exit::bad_input(format!("--slo: {e}")))?;
    let arrivals =
        Arrivals::parse(&args.arrivals).map_err(|e| Exit::bad_input(format!("--arrivals: {e}")))?;
    let limit = match (args.duration, args.requests) {
        (Some(_), Some(_)) => return Err(Exit::bad_input("--duration and --requests: give one of them")),
        (_, Some(0)) => return Err(Exit::bad_input("--requests: at least 1")),
        (_, Some(n)) => LevelLimit::Requests(n),
        (Some(d), None) => LevelLimit::DurationMs(d.as_secs_f64() * 1000.0),
        (None, None) => LevelLimit::DurationMs(30_000.0),
    };
    let warmup = LevelLimit::DurationMs(args.warmup.map_or(0.0, |w| w.as_secs_f64() * 1000.0));
    let profile = profile(&args)?;
    let traffic = match (args.traffic, args.daily) {
        (Some(_), Some(_)) => return Err(Exit::bad_input("--traffic and --daily: give one of them")),
        (Some(rps), None) if rps > 0.0 => Some(Traffic::steady(rps)),
        (None, Some(daily)) if daily > 0.0 && args.peak_factor >= 1.0 => {
            Some(Traffic::daily(daily, args.peak_factor))
        }
        (None, None) => None,
        _ => {
            return Err(Exit::bad_input(
                "--traffic and --daily are positive, --peak-factor at least 1",
            ));
        }
    };
    let db = args
        .db
        .clone()
        .unwrap_or_else(tradeoff_core::paths::default_database);
    let hosted = match &args.hosted {
        Some(name) => Some(hosted_price(name)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Exit::failure)?;
    let mut subject = runtime.block_on(sources::subject(&args))?;
    // The generator, not the client, decides how many requests are in flight.
    subject.target.max_concurrency = MAX_CONCURRENCY;
    let caller = RemoteCaller::new(&subject.target).map_err(|e| Exit::bad_input(e.to_string()))?;
    let workload = Workload {
        caller: Arc::new(caller),
        prompts: Arc::new(subject.prompts.clone()),
        sampling: subject.sampling.clone(),
    };
    eprintln!(
        "load test of {} ({} prompts: {})",
        safe(&subject.label),
        subject.prompts.len(),
        safe(&subject.prompts_from)
    );
    let mut levels = Vec::new();
    let mut samples = Vec::new();
    let mut run = |load: Load, index: usize| -> LevelSummary {
        let plan = LevelPlan {
            load,
            limit,
            warmup,
            arrivals,
            seed: args.seed.wrapping_add(index as u64 * 1_000),
        };
        let on_done: Arc<dyn Fn(&LoadSample) + Send + Sync> = Arc::new(|_| {});
        let level_samples = runtime.block_on(run_level(&workload, plan, on_done));
        let summary = summarize_level(load, &level_samples, slo.as_ref(), args.max_lag_ms);
        eprintln!("{}", output::progress_line(&summary));
        levels.push(summary.clone());
        samples.push(level_samples);
        summary
    };
    match profile {
        Profile::Levels(loads) => {
            for (index, load) in loads.into_iter().enumerate() {
                run(load, index);
            }
        }
        Profile::Sweep {
            max_concurrency,
            steps,
        } => {
            // The synchronous rate (one client), the most the server answers (many clients),
            // then open-loop rates between them: the curve's knee lies in that span.
            let synchronous = run(Load::Concurrency(1), 0).achieved_rps;
            let most = run(Load::Concurrency(max_concurrency), 1).achieved_rps;
            if synchronous > 0.0 && most > 0.0 {
                let (low, high) = (synchronous.min(most), synchronous.max(most));
                for step in 0..steps {
                    let rate = low + (high - low) * (step + 1) as f64 / (steps + 1) as f64;
                    run(Load::Rate(rate), step + 2);
                }
                run(Load::Rate(high * 1.1), steps + 2);
            }
        }
    }
    mark_plateaus(&mut levels);
    // The knee along the curve: levels in the order of the load they put on (a closed loop's
    // answered rate, an open loop's offered one), so a sweep's one client is its lightest point
    // and its many clients sit where they landed.
    let at_rps = |l: &LevelSummary| {
        if l.rate.is_some() {
            l.offered_rps
        } else {
            l.achieved_rps
        }
    };
    let mut considered: Vec<usize> = (0..levels.len()).collect();
    considered.sort_by(|&a, &b| at_rps(&levels[a]).total_cmp(&at_rps(&levels[b])));
    let curve: Vec<LevelSummary> = considered.iter().map(|&i| levels[i].clone()).collect();
    let knee = knee(&curve).map(|mut k| {
        k.level = considered[k.level];
        k
    });
    let price_per_hour = args.price_per_hour.or(subject.price_per_hour);
    let mut report = LoadTest {
        label: subject.label.clone(),
        prompts_from: subject.prompts_from.clone(),
        slo,
        levels,
        samples,
        knee,
        capacity: None,
    };
    report.capacity = traffic.and_then(|traffic| {
        plan_capacity(
            &report,
            traffic,
            price_per_hour,
            hosted.as_ref().map(|(name, price)| (name.as_str(), price)),
        )
    });
    drop(subject);
    let stored = tradeoff_store::Store::open(&db)
        .and_then(|mut store| store.record_load_test(&report))
        .map_err(Exit::failure)?;
    if args.json {
        println!("{}", output::json(&report, stored).map_err(Exit::failure)?);
    } else if args.csv {
        print!("{}", output::csv(&report).map_err(Exit::failure)?);
    } else {
        print!("{}", safe(&output::table(&report, stored)));
    }
    Ok(ExitCode::SUCCESS)
}

enum Profile {
    Levels(Vec<Load>),
    Sweep { max_concurrency: u32, steps: usize },
}

fn profile(args: &LoadArgs) -> Result<Profile, Exit> {
    let given = [!args.concurrency.is_empty(), !args.rate.is_empty(), args.sweep]
        .iter()
        .filter(|g| **g)
        .count();
    if given > 1 {
        return Err(Exit::bad_input(
            "--concurrency, --rate and --sweep: give one of them",
        ));
    }
    if args.sweep {
        if args.sweep_levels == 0 || args.sweep_levels + 3 > MAX_LEVELS {
            return Err(Exit::bad_input(format!(
                "--sweep-levels: between 1 and {}",
                MAX_LEVELS - 3
            )));
        }
        if args.max_concurrency == 0 || args.max_concurrency > MAX_CONCURRENCY {
            return Err(Exit::bad_input(format!(
                "--max-concurrency: between 1 and {MAX_CONCURRENCY}"
            )));
        }
        return Ok(Profile::Sweep {
            max_concurrency: args.max_concurrency,
            steps: args.sweep_levels,
        });
    }
    let loads: Vec<Load> = if !args.rate.is_empty() {
        if let Some(bad) = args
            .rate
            .iter()
            .find(|r| !(r.is_finite() && **r > 0.0 && **r <= 100_000.0))
        {
            return Err(Exit::bad_input(format!(
                "--rate {bad}: between 0 and 100000 requests/s"
            )));
        }
        args.rate.iter().map(|&r| Load::Rate(r)).collect()
    } else {
        let clients = if args.concurrency.is_empty() {
            vec![1, 2, 4, 8]
        } else {
            args.concurrency.clone()
        };
        if let Some(bad) = clients.iter().find(|c| **c == 0 || **c > MAX_CONCURRENCY) {
            return Err(Exit::bad_input(format!(
                "--concurrency {bad}: between 1 and {MAX_CONCURRENCY}"
            )));
        }
        clients.into_iter().map(Load::Concurrency).collect()
    };
    if loads.len() > MAX_LEVELS {
        return Err(Exit::bad_input(format!(
            "{} levels: at most {MAX_LEVELS}",
            loads.len()
        )));
    }
    Ok(Profile::Levels(loads))
}

/// `openai:gpt-4o-mini` (or a model name alone) in the price table.
fn hosted_price(name: &str) -> Result<(String, tradeoff_core::spec::cost::Price), Exit> {
    let table = PriceTable::load().map_err(Exit::bad_input)?;
    table.find_named(name).ok_or_else(|| {
        Exit::bad_input(format!(
            "--hosted {name}: not in the price table (`tradeoff prices` lists it; write provider:model)"
        ))
    })
}
