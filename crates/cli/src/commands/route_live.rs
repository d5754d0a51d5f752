//! `tradeoff route ID --live POLICY`: a policy run for real on the experiment's cases, every
//! stage call recorded as a run of a new experiment, and its figures set against the simulation
//! on the recorded runs (does live land inside the simulated intervals?).

use std::path::Path;
use std::process::ExitCode;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use serde::Serialize;
use tradeoff_core::analyze::report::RunRow;
use tradeoff_core::analyze::routing::{Estimate, Outcome, simulate};
use tradeoff_core::execute::backends::Backends;
use tradeoff_core::execute::policy_run::{cannot_run_live, run_policy};
use tradeoff_core::execute::resume::ExperimentStatus;
use tradeoff_core::execute::sink::{RunObserver, RunOutcome};
use tradeoff_core::spec::experiment::Experiment;
use tradeoff_core::spec::matrix::Plan;
use tradeoff_core::spec::policy::Policy;
use tradeoff_store::{Owner, Store};

use super::run::{Engines, check_models, start_engines};
use crate::exit::Exit;
use crate::terminal::safe;

/// Simulated and live figures of one policy.
#[derive(Debug, Serialize)]
struct LiveComparison {
    policy: String,
    simulated_experiment: i64,
    live_experiment: i64,
    /// Calls each stage (or route) made live.
    calls: Vec<usize>,
    simulated: Outcome,
    live: Outcome,
    /// Per figure: whether the live value lies inside the simulation's 95 % interval.
    inside: Vec<(String, Option<bool>)>,
}

/// A figure of an outcome, named as the comparison table names it.
type Figure = (&'static str, fn(&Outcome) -> Option<Estimate>);

const FIGURES: [Figure; 5] = [
    ("pass rate", |o| o.pass_rate),
    ("$/1k req", |o| o.cost_per_1k_usd),
    ("p50 ms", |o| o.latency_p50_ms),
    ("p95 ms", |o| o.latency_p95_ms),
    ("TTFT p50 ms", |o| o.ttft_p50_ms),
];

/// The run prints nothing per call: the stages' call counts and the comparison say what matters.
struct Quiet;
impl RunObserver for Quiet {}

pub fn live(
    store: &mut Store,
    source: (i64, &Experiment, &[RunRow]),
    policy: &Policy,
    json: bool,
) -> Result<ExitCode, Exit> {
    let (source_id, experiment, source_runs) = source;
    if let Some(reason) = cannot_run_live(experiment, policy) {
        return Err(Exit::bad_input(format!(
            "policy `{}` cannot run live: {reason}",
            policy.id
        )));
    }
    check_models(Path::new(&format!("experiment {source_id}")), experiment)?;
    let Engines {
        mut engine,
        mut remote,
        cancel,
        environment,
    } = start_engines(experiment)?;
    let plan = Plan::new(experiment);
    // Listed apart from the experiment it comes from.
    let mut named = experiment.clone();
    named.name = format!("{} — policy {} live", experiment.name, policy.id);
    let (live_id, run) = {
        let mut writer = store.begin_experiment(&named, &plan, &environment, &Owner::current())?;
        let id = writer.experiment_id();
        eprintln!("running policy `{}` live as experiment {id}…", policy.id);
        let run = run_policy(
            experiment,
            policy,
            Backends {
                local: &mut engine,
                remote: &mut remote,
                sink: &mut writer,
                observer: &mut Quiet,
                cancel: &cancel,
            },
        );
        (id, run)
    };
    let run = match run {
        Ok(run) => run,
        Err(error) => {
            let _ = store.finish_experiment(live_id, ExperimentStatus::Interrupted);
            return Err(Exit::failure(format!("experiment {live_id} stopped: {error}")));
        }
    };
    let status = match run.outcome {
        RunOutcome::Completed => ExperimentStatus::Completed,
        RunOutcome::Cancelled => ExperimentStatus::Cancelled,
    };
    store.finish_experiment(live_id, status)?;
    let live_runs = store.report(live_id)?.runs;
    let policies = std::slice::from_ref(policy);
    let simulated = simulate(experiment, source_id, source_runs, policies)
        .policies
        .remove(0);
    let live = simulate(experiment, live_id, &live_runs, policies)
        .policies
        .remove(0);
    let inside: Vec<(String, Option<bool>)> = FIGURES
        .iter()
        .map(|(name, figure)| {
            let within = match (figure(&simulated), figure(&live)) {
                (Some(s), Some(l)) => Some(s.low <= l.value && l.value <= s.high),
                _ => None,
            };
            (name.to_string(), within)
        })
        .collect();
    let comparison = LiveComparison {
        policy: policy.id.clone(),
        simulated_experiment: source_id,
        live_experiment: live_id,
        calls: run.calls,
        simulated,
        live,
        inside,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&comparison).map_err(Exit::failure)?
        );
    } else {
        print_comparison(&comparison);
    }
    Ok(if status == ExperimentStatus::Cancelled {
        ExitCode::from(super::run::INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_comparison(c: &LiveComparison) {
    let calls: Vec<String> = c
        .calls
        .iter()
        .enumerate()
        .map(|(i, n)| format!("stage {} {n}", i + 1))
        .collect();
    println!(
        "policy {}: live as experiment {} ({} calls: {}), against its simulation on experiment {}",
        safe(&c.policy),
        c.live_experiment,
        c.calls.iter().sum::<usize>(),
        calls.join(", "),
        c.simulated_experiment
    );
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["figure", "simulated [95 %]", "live", "live inside?"]);
    for ((name, figure), (_, inside)) in FIGURES.iter().zip(&c.inside) {
        let show = |v: f64| -> String {
            match *name {
                "pass rate" => format!("{:.0}%", v * 100.0),
                "$/1k req" => format!("${v:.5}"),
                _ => format!("{v:.0}"),
            }
        };
        let simulated = figure(&c.simulated).map_or("—".into(), |e| {
            format!("{} [{}–{}]", show(e.value), show(e.low), show(e.high))
        });
        let live = figure(&c.live).map_or("—".into(), |e| show(e.value));
        let inside = inside.map_or("—", |i| if i { "yes" } else { "no" });
        table.add_row([name.to_string(), simulated, live, inside.to_string()]);
    }
    for column in 1..3 {
        if let Some(column) = table.column_mut(column) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    println!("{table}");
    for outcome in [&c.simulated, &c.live] {
        if let Some(reason) = &outcome.incomplete {
            println!("{}: {}", safe(&outcome.id), safe(reason));
        }
    }
}
