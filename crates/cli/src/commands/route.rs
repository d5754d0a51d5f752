//! `tradeoff route ID|latest [--policy FILE] [--json]`: routing policies simulated on an
//! experiment's recorded runs, beside every single config, without a model call.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use tradeoff_core::analyze::routing::{
    Estimate, Figures, Outcome, RESAMPLES, Signal, Sweep, simulate, sweep_thresholds,
};
use tradeoff_core::spec::load::read_policy_file;
use tradeoff_core::spec::policy::policies_of;

use super::open_store;
use super::report::experiment_id;
use crate::exit::Exit;
use crate::terminal::safe;

/// The signal `--sweep` moves.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SweepSignal {
    /// `confidence_below`: the mean log-probability of the answer's tokens.
    Confidence,
    /// `min_confidence_below`: the lowest one.
    MinConfidence,
}

pub fn route(
    experiment: &str,
    db: Option<PathBuf>,
    policy: Option<&Path>,
    sweep: Option<(SweepSignal, Option<f64>)>,
    live: Option<&str>,
    json: bool,
) -> Result<ExitCode, Exit> {
    if let Some((_, Some(rate))) = sweep
        && !(0.0..=1.0).contains(&rate)
    {
        return Err(Exit::bad_input(format!(
            "--min-pass-rate {rate}: a pass rate is between 0 and 1"
        )));
    }
    let mut store = open_store(db)?;
    let id = experiment_id(&store, experiment)?;
    let recorded = store.experiment(id)?;
    let report = store.report(id)?;
    let policies = match policy {
        Some(path) => read_policy_file(path, &recorded).map_err(Exit::bad_input)?,
        None => policies_of(&recorded).map_err(Exit::bad_input)?,
    };
    if let Some(wanted) = live {
        let Some(policy) = policies.iter().find(|p| p.id == wanted) else {
            let ids: Vec<&str> = policies.iter().map(|p| p.id.as_str()).collect();
            return Err(Exit::bad_input(format!(
                "--live {wanted}: no such policy; the policies are {}",
                if ids.is_empty() {
                    "none".to_string()
                } else {
                    ids.join(", ")
                }
            )));
        };
        return super::route_live::live(&mut store, (id, &recorded, &report.runs), policy, json);
    }
    let started = Instant::now();
    let mut routing = simulate(&recorded, id, &report.runs, &policies);
    if let Some((signal, min_pass_rate)) = sweep {
        let signal = match signal {
            SweepSignal::Confidence => Signal::Confidence,
            SweepSignal::MinConfidence => Signal::MinConfidence,
        };
        routing.sweeps = sweep_thresholds(&recorded, &report.runs, &policies, signal, min_pass_rate);
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&routing).map_err(Exit::failure)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} — experiment {id}: {} requests ({} cases × {} repetitions), simulated on {} recorded runs in {elapsed_ms:.0} ms",
        safe(&report.name),
        routing.requests,
        recorded.cases.len(),
        recorded.repetitions,
        report.runs.len()
    );
    if policies.is_empty() {
        println!(
            "no policies: write `policies:` in the experiment file or pass --policy FILE (README, \"Routing\"); every config alone:"
        );
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "policy / config",
        "kind",
        "pass rate",
        "$/1k req",
        "p50 ms",
        "p95 ms",
        "TTFT p50 ms",
        "answered by",
    ]);
    for outcome in routing.policies.iter().chain(&routing.configs) {
        table.add_row(row(outcome).iter().map(|c| safe(c)));
    }
    for column in 2..7 {
        if let Some(column) = table.column_mut(column) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    println!("{table}");
    for outcome in routing.policies.iter().chain(&routing.configs) {
        if let Some(reason) = &outcome.incomplete {
            println!("{}: not simulated: {}", safe(&outcome.id), safe(reason));
        }
    }
    println!("[low–high]: 95 % percentile-bootstrap intervals over cases ({RESAMPLES} resamples).");
    if sweep.is_some() && routing.sweeps.is_empty() {
        println!(
            "--sweep: no cascade escalates on that signal (write {{confidence_below: x}} in a stage's escalate_when)"
        );
    }
    for sweep in &routing.sweeps {
        print_sweep(sweep);
    }
    Ok(ExitCode::SUCCESS)
}

fn row(outcome: &Outcome) -> [String; 8] {
    let percent = |e: &Estimate| {
        format!(
            "{:.0}% [{:.0}–{:.0}]",
            e.value * 100.0,
            e.low * 100.0,
            e.high * 100.0
        )
    };
    let money = |e: &Estimate| format!("{} [{}–{}]", usd(e.value), usd(e.low), usd(e.high));
    let ms = |e: &Estimate| format!("{:.0} [{:.0}–{:.0}]", e.value, e.low, e.high);
    let shown =
        |value: &Option<Estimate>, f: &dyn Fn(&Estimate) -> String| value.as_ref().map_or("—".to_string(), f);
    let answered = if outcome.stages.len() > 1 {
        outcome
            .stages
            .iter()
            .map(|s| format!("{} {:.0}%", s.stage, s.share * 100.0))
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        String::new()
    };
    [
        outcome.id.clone(),
        outcome.kind.name().to_string(),
        shown(&outcome.pass_rate, &percent),
        shown(&outcome.cost_per_1k_usd, &money),
        shown(&outcome.latency_p50_ms, &ms),
        shown(&outcome.latency_p95_ms, &ms),
        shown(&outcome.ttft_p50_ms, &ms),
        answered,
    ]
}

/// Dollars with the digits their size needs: $12.40, $0.0031, never "$-0.0000".
fn usd(value: f64) -> String {
    let magnitude = value.abs();
    let digits = if magnitude >= 1.0 || magnitude == 0.0 {
        2
    } else {
        (2 - magnitude.log10().floor() as i32).clamp(2, 8) as usize
    };
    let text = format!("{value:.digits$}");
    // −0.00 is zero.
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        format!("${}", text.trim_start_matches('-'))
    } else {
        format!("${text}")
    }
}

fn print_sweep(sweep: &Sweep) {
    let figures = |f: &Figures| {
        [
            f.pass_rate.map_or("—".into(), |p| format!("{:.0}%", p * 100.0)),
            f.cost_per_1k_usd.map_or("—".into(), usd),
            f.latency_p50_ms.map_or("—".into(), |ms| format!("{ms:.0}")),
            format!("{:.0}%", f.escalated * 100.0),
        ]
    };
    println!(
        "\n{}: stage {} escalates when {} < threshold",
        safe(&sweep.policy),
        sweep.stage + 1,
        match sweep.signal {
            Signal::Confidence => "the mean token log-probability",
            Signal::MinConfidence => "the lowest token log-probability",
        }
    );
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "threshold",
        "pass rate",
        "$/1k req",
        "p50 ms",
        "escalated",
    ]);
    for point in &sweep.points {
        let [pass, cost, p50, escalated] = figures(&point.figures);
        table.add_row([format!("{:.3}", point.threshold), pass, cost, p50, escalated]);
    }
    println!("{table}");
    match &sweep.picked {
        Some(picked) => {
            let [pass, cost, p50, escalated] = figures(&picked.in_sample.figures);
            println!(
                "picked {:.3}, the cheapest keeping a pass rate of {}: in sample {pass}, {cost}/1k, p50 {p50} ms, {escalated} escalated",
                picked.in_sample.threshold,
                sweep
                    .min_pass_rate
                    .map_or("—".into(), |p| format!("{:.0}%", p * 100.0)),
            );
            let [pass, cost, p50, escalated] = figures(&picked.held_out);
            let thresholds: Vec<String> = picked.fold_thresholds.iter().map(|t| format!("{t:.3}")).collect();
            println!(
                "held out ({}-fold over cases, each fold scored with the threshold picked without it: {}): {pass}, {cost}/1k, p50 {p50} ms, {escalated} escalated",
                picked.folds,
                thresholds.join(", ")
            );
        }
        None => println!("no threshold keeps that pass rate"),
    }
}
