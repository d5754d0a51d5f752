//! Remote endpoints of the Targets screen, their connection test, and API keys in the OS keyring.

use crate::*;

/// The remote endpoints the user keeps, by name.
#[tauri::command]
#[specta::specta]
pub async fn list_endpoints(state: State<'_, AppState>) -> Result<Vec<Endpoint>, AppError> {
    state.with_store(|store| Ok(store.endpoints()?)).await
}

/// Adds or replaces an endpoint (checked as experiment files check targets); returns the list.
#[tauri::command]
#[specta::specta]
pub async fn save_endpoint(
    state: State<'_, AppState>,
    endpoint: Endpoint,
) -> Result<Vec<Endpoint>, AppError> {
    let (endpoint, _) = endpoints::validated(endpoint)?;
    state
        .with_store(move |store| {
            store.save_endpoint(&endpoint)?;
            Ok(store.endpoints()?)
        })
        .await
}

#[tauri::command]
#[specta::specta]
pub async fn delete_endpoint(state: State<'_, AppState>, name: String) -> Result<Vec<Endpoint>, AppError> {
    state
        .with_store(move |store| {
            if !store.delete_endpoint(&name)? {
                return Err(AppError::new(
                    AppCode::NotFound,
                    format!("no endpoint named {name}"),
                ));
            }
            Ok(store.endpoints()?)
        })
        .await
}

/// Asks the endpoint's server for its models: proves URL, key and API shape in one request.
#[tauri::command]
#[specta::specta]
pub async fn test_endpoint(endpoint: Endpoint) -> Result<ProbeView, AppError> {
    let (_, target) = endpoints::validated(endpoint)?;
    endpoints::probe(target).await
}

/// Where each variable's key would come from (environment, keyring, missing); never the key.
#[tauri::command]
#[specta::specta]
pub async fn key_status(variables: Vec<String>) -> Result<Vec<KeyStatus>, AppError> {
    blocking(move || Ok(variables.iter().map(|v| endpoints::key_status(v)).collect())).await
}

/// Stores a key in the OS keyring under a variable name.
#[tauri::command]
#[specta::specta]
pub async fn set_api_key(variable: String, key: String) -> Result<KeyStatus, AppError> {
    blocking(move || endpoints::set_key(&variable, &key)).await
}

#[tauri::command]
#[specta::specta]
pub async fn delete_api_key(variable: String) -> Result<KeyStatus, AppError> {
    blocking(move || endpoints::delete_key(&variable)).await
}
