//! Exports the UI asks for: one config with its evidence, and the winner file. They are written
//! only where `file_access` allows (the data folder's `exports/`, or a path the user chose in
//! the save dialog), checked on the blocking thread before anything is read.

use std::path::Path;
use std::sync::Arc;

use tauri::State;
use tradeoff_core::analyze::export::export_config as export_config_of;

use crate::AppState;
use crate::decision;
use crate::error::{AppCode, AppError};

/// Writes one config (variant templates, target and settings, measured summary) as JSON.
#[tauri::command]
#[specta::specta]
pub async fn export_config(
    state: State<'_, AppState>,
    experiment_id: u32,
    config: u32,
    path: String,
) -> Result<String, AppError> {
    let files = Arc::clone(&state.files);
    state
        .with_store(move |store| {
            let target = files.writable(&path)?;
            let id = i64::from(experiment_id);
            let export = export_config_of(&store.experiment(id)?, &store.report(id)?, config as usize)?;
            write_json(&target, &export)
        })
        .await
}

/// Writes the winner file (`schemas/winner.schema.json`, as `tradeoff winner -o` writes it).
#[tauri::command]
#[specta::specta]
pub async fn export_winner(
    state: State<'_, AppState>,
    experiment_id: u32,
    objective: String,
    path: String,
) -> Result<String, AppError> {
    let files = Arc::clone(&state.files);
    state
        .with_store(move |store| {
            let target = files.writable(&path)?;
            let export = decision::winner_of(store, i64::from(experiment_id), &objective)?;
            write_json(&target, &export)
        })
        .await
}

/// Writes `value` as pretty JSON to `target` (creating its folder); returns the path written.
/// The caller checked that the UI may write there (`file_access`).
pub(crate) fn write_json(target: &Path, value: &impl serde::Serialize) -> Result<String, AppError> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|e| AppError::new(AppCode::Io, format!("cannot encode {}: {e}", target.display())))?;
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(target, format!("{json}\n"))?;
    Ok(target.to_string_lossy().into_owned())
}

/// Where exports go by default: a config's file, or with no config the winner file.
#[tauri::command]
#[specta::specta]
pub async fn default_export_path(experiment_id: u32, config: Option<u32>) -> Result<String, AppError> {
    let dir = tradeoff_core::paths::data_dir().join("exports");
    let name = match config {
        Some(config) => format!("experiment-{experiment_id}-config-{config}.json"),
        None => format!("experiment-{experiment_id}-winner.json"),
    };
    Ok(dir.join(name).to_string_lossy().into_owned())
}
