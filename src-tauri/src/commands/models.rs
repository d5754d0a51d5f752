//! The model library and quantization.

use crate::*;

/// The model library: the data folder's models and every registered file or folder.
#[tauri::command]
#[specta::specta]
pub async fn list_models(state: State<'_, AppState>) -> Result<Vec<ModelView>, AppError> {
    state
        .with_store(|store| Ok(store.model_library(false)?.iter().map(ModelView::new).collect()))
        .await
}

/// Registers a GGUF file or a folder of them; returns the library.
#[tauri::command]
#[specta::specta]
pub async fn add_model_source(state: State<'_, AppState>, path: String) -> Result<Vec<ModelView>, AppError> {
    state
        .with_store(move |store| {
            store.add_model_source(&file_access::readable_file_or_folder(path.trim())?)?;
            Ok(store.model_library(false)?.iter().map(ModelView::new).collect())
        })
        .await
}

/// Quantizes `source` into each of `types` in a `tradeoff` child process; returns the files
/// written, which are in the library from then on.
#[tauri::command]
#[specta::specta]
pub async fn quantize_model(
    state: State<'_, AppState>,
    source: String,
    types: Vec<String>,
    allow_requantize: bool,
    on_event: Channel<QuantizeProgress>,
) -> Result<Vec<String>, AppError> {
    let db = state.db.clone();
    blocking(move || {
        let emit = |event: QuantizeProgress| {
            let _ = on_event.send(event);
        };
        quantizer::quantize(
            &executor::tradeoff_binary(),
            &db,
            &source,
            &types,
            allow_requantize,
            &emit,
        )
    })
    .await
}
