//! Running an experiment in a `tradeoff` child process, resuming one, and cancelling it.

use crate::*;

#[tauri::command]
#[specta::specta]
pub async fn run_experiment(
    state: State<'_, AppState>,
    path: String,
    on_event: Channel<ProgressEvent>,
) -> Result<RunOutcomeView, AppError> {
    in_child(&state, on_event, move |db, running, emit| {
        let file = file_access::readable_file(&path)?;
        executor::run_experiment(&executor::tradeoff_binary(), db, &file, running, emit)
    })
    .await
}

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
    in_child(&state, on_event, move |db, running, emit| {
        let id = i64::from(experiment_id);
        executor::resume_experiment(&executor::tradeoff_binary(), db, id, running, emit)
    })
    .await
}

/// Returns whether an experiment was running.
#[tauri::command]
#[specta::specta]
pub async fn cancel_run(state: State<'_, AppState>) -> Result<bool, AppError> {
    state.running.cancel()
}

/// Starts a child with `start` off the async runtime, once the start-up self-test no longer
/// shares the CPU with measured runs, and streams its progress to the UI.
async fn in_child(
    state: &AppState,
    on_event: Channel<ProgressEvent>,
    start: impl FnOnce(&Path, &Running, &dyn Fn(ProgressEvent)) -> Result<RunOutcomeView, AppError>
    + Send
    + 'static,
) -> Result<RunOutcomeView, AppError> {
    let db = state.db.clone();
    let running = Arc::clone(&state.running);
    let check = Arc::clone(&state.local_inference);
    blocking(move || {
        check.wait_while_checking(local_inference::CHECK_TIMEOUT);
        let emit = |event: ProgressEvent| {
            let _ = on_event.send(event);
        };
        start(&db, &running, &emit)
    })
    .await
}
