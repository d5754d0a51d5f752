//! Routing policies on a recorded experiment: simulated on its runs (the CLI's `tradeoff route`)
//! and written as a policy file `tradeoff route --policy` reads.

use std::sync::Arc;

use tradeoff_core::analyze::routing::{RoutingReport, Signal, simulate, sweep_thresholds};
use tradeoff_core::spec::file::policies::{PolicyFile, PolicySpec};
use tradeoff_core::spec::load::write_policy_file;
use tradeoff_core::spec::matrix::Plan;
use tradeoff_core::spec::policy::validate_policies;

use crate::*;

/// The experiment file's policies and `extra` ones (a JSON list as the file writes them, from the
/// routing view's builder), with every config alone and each confidence threshold traced.
#[tauri::command]
#[specta::specta]
pub async fn simulate_routing(
    state: State<'_, AppState>,
    experiment_id: u32,
    extra: String,
) -> Result<RoutingReport, AppError> {
    state
        .with_store(move |store| {
            let id = i64::from(experiment_id);
            let experiment = store.experiment(id)?;
            let mut specs: Vec<PolicySpec> = experiment
                .written
                .as_ref()
                .map(|w| w.file.policies.clone())
                .unwrap_or_default();
            specs.extend(built_policies(&extra)?);
            let policies =
                validate_policies(&specs, &experiment, &Plan::new(&experiment), "the routing view")?;
            let report = store.report(id)?;
            let mut routing = simulate(&experiment, id, &report.runs, &policies);
            routing.sweeps = sweep_thresholds(&experiment, &report.runs, &policies, Signal::Confidence, None);
            Ok(routing)
        })
        .await
}

/// Writes `policies` (a JSON list) as a policy file (YAML or JSON by the extension) for `tradeoff route --policy`, after
/// checking them against the experiment.
#[tauri::command]
#[specta::specta]
pub async fn export_policies(
    state: State<'_, AppState>,
    experiment_id: u32,
    policies: String,
    path: String,
) -> Result<String, AppError> {
    let files = Arc::clone(&state.files);
    state
        .with_store(move |store| {
            let target = files.writable(&path)?;
            let experiment = store.experiment(i64::from(experiment_id))?;
            let specs = built_policies(&policies)?;
            validate_policies(&specs, &experiment, &Plan::new(&experiment), "the routing view")?;
            write_policy_file(&target, &PolicyFile { policies: specs })?;
            Ok(target.to_string_lossy().into_owned())
        })
        .await
}

/// Where a policy file goes by default: the data folder's exports.
#[tauri::command]
#[specta::specta]
pub async fn default_policy_path(experiment_id: u32) -> Result<String, AppError> {
    let dir = tradeoff_core::paths::data_dir().join("exports");
    Ok(dir
        .join(format!("experiment-{experiment_id}-policies.yaml"))
        .to_string_lossy()
        .into_owned())
}

fn built_policies(text: &str) -> Result<Vec<PolicySpec>, AppError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|e| AppError::new(AppCode::BadInput, format!("policies: {e}")))
}
