//! Running an experiment in a `tradeoff` child process, and cancelling it.

use crate::*;

#[tauri::command]
#[specta::specta]
pub async fn run_experiment(
    state: State<'_, AppState>,
    path: String,
    on_event: Channel<ProgressEvent>,
) -> Result<RunOutcomeView, AppError> {
    let db = state.db.clone();
    let running = Arc::clone(&state.running);
    let check = Arc::clone(&state.local_inference);
    blocking(move || {
        let file = file_access::readable_file(&path)?;
        // The start-up self-test must not share the CPU with measured runs.
        check.wait_while_checking(local_inference::CHECK_TIMEOUT);
        let emit = |event: ProgressEvent| {
            let _ = on_event.send(event);
        };
        executor::run_experiment(&executor::tradeoff_binary(), &db, &file, &running, &emit)
    })
    .await
}

/// Returns whether an experiment was running.
#[tauri::command]
#[specta::specta]
pub async fn cancel_run(state: State<'_, AppState>) -> Result<bool, AppError> {
    state.running.cancel()
}
