//! `tradeoff winner ID|latest [--objective JSON] [-o winner.json]`: the config an objective
//! picks from a recorded experiment, written with its evidence.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tradeoff_core::analyze::ranking::decide;
use tradeoff_core::analyze::winner::{WinnerError, winner_export};
use tradeoff_core::spec::objective::Objective;

use super::open_store;
use super::report::experiment_id;
use crate::exit::Exit;

pub fn winner(
    experiment: &str,
    db: Option<PathBuf>,
    objective: Option<&str>,
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
    let decision = decide(&report, &objective).map_err(Exit::bad_input)?;
    let export = winner_export(&recorded, &report, &objective, &decision).map_err(|e| match e {
        WinnerError::NoWinner(_) => Exit::failure(e),
        other => Exit::failure(other),
    })?;
    let json = serde_json::to_string_pretty(&export).map_err(Exit::failure)?;
    match output {
        Some(path) => {
            std::fs::write(path, format!("{json}\n"))
                .map_err(|e| Exit::failure(format!("{}: {e}", path.display())))?;
            let s = &export.winner.summary;
            println!(
                "winner: {} · {} · {} (pass rate {}, p95 {} ms, {} per 1k requests)",
                s.variant,
                s.target,
                s.settings_label,
                s.pass_rate.map_or("—".into(), |p| format!("{:.0}%", p * 100.0)),
                s.latency_p95_ms.map_or("—".into(), |v| format!("{v:.0}")),
                s.cost_per_1k_usd.map_or("—".into(), |c| format!("${c:.4}")),
            );
            if let Some(runner_up) = &export.runner_up {
                println!(
                    "runner-up: {} (median latency difference {})",
                    runner_up.label,
                    tradeoff_core::analyze::report::interval_text(&runner_up.latency_ms)
                );
            }
            for excluded in &export.excluded {
                println!("excluded: {}: {}", excluded.label, excluded.reason);
            }
            println!("written to {}", path.display());
        }
        None => println!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}
