//! `tradeoff history [ID|latest] [--json]`: every recorded run of an experiment's file, each
//! config's figures run after run, and the regressions and improvements the data establishes
//! against the previous run.

use std::path::PathBuf;
use std::process::ExitCode;

use tradeoff_core::analyze::history::{ExperimentHistory, MAX_HISTORY_ENTRIES, MIN_RELATIVE_CHANGE, history};

use super::open_store;
use super::report::experiment_id;
use crate::exit::Exit;
use crate::terminal::safe;

pub fn show(experiment: &str, db: Option<PathBuf>, json: bool) -> Result<ExitCode, Exit> {
    let store = open_store(db)?;
    let id = experiment_id(&store, experiment)?;
    let reports = store.history_reports(id, MAX_HISTORY_ENTRIES)?;
    let history = history(&reports);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&history).map_err(Exit::failure)?
        );
    } else {
        // Names, labels and paths come from experiment files: data, shown, never obeyed.
        print!("{}", safe(&describe(&history)));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(history: &ExperimentHistory) -> String {
    let mut out = String::new();
    let ids: Vec<String> = history
        .entries
        .iter()
        .map(|e| e.experiment_id.to_string())
        .collect();
    out.push_str(&format!(
        "history of {}: {} recorded runs (experiments {})\n",
        history.source.as_deref().unwrap_or(&history.name),
        history.entries.len(),
        ids.join(", ")
    ));
    if history.entries.len() < 2 {
        out.push_str("run the same file again (`tradeoff run FILE`) to see what changes\n");
    }
    for entry in &history.entries {
        out.push_str(&format!(
            "  #{} {} {}{}\n",
            entry.experiment_id,
            // Seconds are enough to tell runs apart.
            entry
                .created_at
                .get(..19)
                .unwrap_or(&entry.created_at)
                .replace('T', " "),
            entry.status,
            if entry.changed.is_empty() {
                String::new()
            } else {
                format!(": {}", entry.changed.join("; "))
            }
        ));
    }
    let percent = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.0} %", v * 100.0));
    let ms = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.0} ms"));
    let mut regressions = 0;
    for config in &history.configs {
        out.push_str(&format!("\n{}\n", config.label));
        for point in &config.points {
            out.push_str(&format!(
                "  #{:<5} {:>4} runs  pass {:>5}  p50 {:>8}  p95 {:>8}  {}\n",
                point.experiment_id,
                point.runs,
                percent(point.pass_rate),
                ms(point.latency_p50_ms),
                ms(point.latency_p95_ms),
                point
                    .cost_per_run_usd
                    .map_or(String::new(), |c| format!("${c:.6}/run"))
            ));
            if let Some(change) = &point.change {
                for regression in &change.regressions {
                    regressions += 1;
                    out.push_str(&format!(
                        "         REGRESSION since #{}: {regression}\n",
                        change.since_experiment_id
                    ));
                }
                for improvement in &change.improvements {
                    out.push_str(&format!(
                        "         better since #{}: {improvement}\n",
                        change.since_experiment_id
                    ));
                }
            }
        }
    }
    out.push_str(&format!(
        "\n{regressions} regressions established (95 % bootstrap intervals against each config's previous run; latency and cost moves under {:.0} % are not called)\n",
        MIN_RELATIVE_CHANGE * 100.0
    ));
    out
}
