//! The price table and the user's overrides.

use crate::*;

/// The price table in force: built-in facts with the user's overrides, and the override file.
#[tauri::command]
#[specta::specta]
pub async fn prices() -> Result<prices::PricesView, AppError> {
    blocking(prices::prices).await
}

/// Replaces the user's price overrides with `text` (a price file; empty removes them) once it
/// reads as one.
#[tauri::command]
#[specta::specta]
pub async fn save_price_overrides(text: String) -> Result<prices::PricesView, AppError> {
    blocking(move || prices::save(&text)).await
}
