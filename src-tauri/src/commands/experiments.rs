//! Experiment files: the list, the quickstart, opening, the editor's read and save, and the plan view.

use crate::*;

#[tauri::command]
#[specta::specta]
pub async fn list_experiments(state: State<'_, AppState>) -> Result<Vec<ExperimentItem>, AppError> {
    state
        .with_store(|store| {
            store
                .list_experiments()?
                .iter()
                .map(ExperimentItem::from_listing)
                .collect()
        })
        .await
}

/// Writes the quickstart experiment into the data folder (if it is not there yet) and returns its path.
#[tauri::command]
#[specta::specta]
pub async fn quickstart_file() -> Result<String, AppError> {
    let dir = tradeoff_core::paths::data_dir().join("experiments");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("quickstart.yaml");
    if !path.exists() {
        std::fs::write(&path, QUICKSTART)?;
    }
    Ok(path.to_string_lossy().into_owned())
}

#[tauri::command]
#[specta::specta]
pub async fn open_experiment(path: String) -> Result<ExperimentView, AppError> {
    blocking(move || {
        let experiment = tradeoff_core::spec::load::load_file(&file_access::readable_file(&path)?)?;
        Ok(ExperimentView::new(path, &experiment))
    })
    .await
}

/// An experiment file as written, for the editor.
#[tauri::command]
#[specta::specta]
pub async fn read_experiment(path: String) -> Result<ExperimentDraft, AppError> {
    blocking(move || Ok(tradeoff_core::spec::load::read_spec(&file_access::readable_file(&path)?)?.into()))
        .await
}

/// Validates the edited experiment and, when valid, writes it to `path` (YAML or JSON by extension).
#[tauri::command]
#[specta::specta]
pub async fn save_experiment(
    state: State<'_, AppState>,
    path: String,
    draft: ExperimentDraft,
) -> Result<ExperimentView, AppError> {
    let files = Arc::clone(&state.files);
    blocking(move || {
        let target = files.writable(&path)?;
        let file = ExperimentFile::try_from(draft)?;
        let experiment = tradeoff_core::spec::load::write_spec(&target, &file)?;
        Ok(ExperimentView::new(path, &experiment))
    })
    .await
}

/// What the edited experiment will send and cost before it runs: input tokens per config ×
/// case (llama.cpp for local models, tiktoken for OpenAI, marked estimates otherwise), context
/// fit, memory and the token-cost bound.
#[tauri::command]
#[specta::specta]
pub async fn plan_experiment(
    state: State<'_, AppState>,
    path: String,
    draft: ExperimentDraft,
) -> Result<Preflight, AppError> {
    let planner = Arc::clone(&state.planner);
    blocking(move || planner.plan(&executor::tradeoff_binary(), Path::new(&path), draft)).await
}
