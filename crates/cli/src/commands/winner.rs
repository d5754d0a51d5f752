//! `tradeoff winner ID|latest [--objective JSON] [--policy FILE] [-o winner.json]`: the config or
//! routing policy an objective picks from a recorded experiment, written with its evidence.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tradeoff_core::analyze::winner::{Winner, WinnerError, pick_winner};
use tradeoff_core::spec::load::read_policy_file;
use tradeoff_core::spec::objective::Objective;
use tradeoff_core::spec::policy::policies_of;

use super::open_store;
use super::report::experiment_id;
use crate::exit::Exit;
use crate::terminal::safe;

pub fn winner(
    experiment: &str,
    db: Option<PathBuf>,
    objective: Option<&str>,
    policy: Option<&Path>,
    output: Option<&Path>,
) -> Result<ExitCode, Exit> {
    let store = open_store(db)?;
    let id = experiment_id(&store, experiment)?;
    let recorded = store.experiment(id)?;
    let report = store.report(id)?;
    let objective: Objective = match objective {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            Exit::bad_input(format!(
                "--objective: {e}; write it as JSON, e.g. '{{\"constraints\": [\"pass_rate >= 0.9\"], \"order\": [\"cheapest\", \"fastest\"]}}'"
            ))
        })?,
        None => recorded.objective.clone().unwrap_or_default(),
    };
    let policies = match policy {
        Some(path) => read_policy_file(path, &recorded).map_err(Exit::bad_input)?,
        None => policies_of(&recorded).map_err(Exit::bad_input)?,
    };
    let (export, _) = pick_winner(&recorded, &report, &policies, &objective).map_err(|e| match e {
        WinnerError::Objective(_) => Exit::bad_input(e),
        other => Exit::failure(other),
    })?;
    let json = serde_json::to_string_pretty(&export).map_err(Exit::failure)?;
    match output {
        Some(path) => {
            std::fs::write(path, format!("{json}\n"))
                .map_err(|e| Exit::failure(format!("{}: {e}", path.display())))?;
            let (label, pass_rate, p95, cost) = match &export.winner {
                Winner::Config(config) => {
                    let s = &config.summary;
                    (
                        format!("{} · {} · {}", s.variant, s.target, s.settings_label),
                        s.pass_rate,
                        s.latency_p95_ms,
                        s.cost_per_1k_usd,
                    )
                }
                Winner::Policy(policy) => {
                    let s = &policy.simulated;
                    (
                        format!("{} {}, simulated on the recorded runs", s.kind.name(), s.id),
                        s.pass_rate.map(|e| e.value),
                        s.latency_p95_ms.map(|e| e.value),
                        s.cost_per_1k_usd.map(|e| e.value),
                    )
                }
            };
            println!(
                "winner: {} (pass rate {}, p95 {} ms, {} per 1k requests)",
                safe(&label),
                pass_rate.map_or("—".into(), |p| format!("{:.0}%", p * 100.0)),
                p95.map_or("—".into(), |v| format!("{v:.0}")),
                cost.map_or("—".into(), |c| format!("${c:.4}")),
            );
            if let Winner::Policy(policy) = &export.winner {
                for stage in &policy.simulated.stages {
                    println!("  {} answered {:.0}%", safe(&stage.stage), stage.share * 100.0);
                }
            }
            if let Some(runner_up) = &export.runner_up {
                println!(
                    "runner-up: {} (median latency difference {})",
                    safe(&runner_up.label),
                    tradeoff_core::analyze::report::interval_text(&runner_up.latency_ms)
                );
            }
            for excluded in &export.excluded {
                println!("excluded: {}: {}", safe(&excluded.label), safe(&excluded.reason));
            }
            println!("written to {}", path.display());
        }
        None => println!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}
