//! Resume from the app: the missing runs of an interrupted experiment, run by the same child
//! process as a new experiment (`tradeoff run --resume ID --events`).

use std::sync::Arc;

use tauri::State;
use tauri::ipc::Channel;

use crate::dto::{ProgressEvent, RunOutcomeView};
use crate::error::AppError;
use crate::{AppState, blocking, executor, local_inference};

/// Runs the runs an interrupted or cancelled experiment is missing, into the same experiment,
/// so its results stay one report. The child refuses, with its reason, an experiment whose
/// process still runs or that is completed.
#[tauri::command]
#[specta::specta]
pub async fn resume_experiment(
    state: State<'_, AppState>,
    experiment_id: u32,
    on_event: Channel<ProgressEvent>,
) -> Result<RunOutcomeView, AppError> {
    let db = state.db.clone();
    let running = Arc::clone(&state.running);
    let check = Arc::clone(&state.local_inference);
    blocking(move || {
        // The start-up self-test must not share the CPU with measured runs.
        check.wait_while_checking(local_inference::CHECK_TIMEOUT);
        let emit = |event: ProgressEvent| {
            let _ = on_event.send(event);
        };
        let id = i64::from(experiment_id);
        executor::resume_experiment(&executor::tradeoff_binary(), &db, id, &running, &emit)
    })
    .await
}
