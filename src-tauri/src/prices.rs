//! The Settings screen's price table: the built-in facts with the user's overrides applied, and
//! the override file (`<data folder>/prices.json`) to edit. A save is checked as a price file
//! before it replaces the old one, so a typo never loses the overrides in force.

use serde::Serialize;
use specta::Type;
use tradeoff_core::spec::pricing::{PriceTable, read_overrides, save_overrides};

use crate::error::{AppCode, AppError};

#[derive(Debug, Clone, Serialize, Type)]
pub struct PricesView {
    pub overrides_path: String,
    /// The override file's text; empty when there is none.
    pub overrides_text: String,
    /// Why the override file does not read (the built-in table is shown meanwhile).
    pub problem: Option<String>,
    pub entries: Vec<PriceEntryView>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct PriceEntryView {
    pub provider: String,
    pub model: String,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub cached_input_per_mtok: Option<f64>,
    pub context_window: Option<u32>,
    pub source: String,
    pub as_of: String,
    /// `built-in` or the override file's path.
    pub origin: String,
}

fn pricing_error(error: tradeoff_core::spec::pricing::PricingError) -> AppError {
    AppError::new(AppCode::BadInput, error.to_string())
}

pub fn prices() -> Result<PricesView, AppError> {
    let overrides = PriceTable::overrides_path();
    // A broken override file must still be shown, or the screen meant to mend it could not.
    let (table, problem) = match PriceTable::load_with(&overrides) {
        Ok(table) => (table, None),
        Err(error) => (
            PriceTable::builtin(&overrides).map_err(pricing_error)?,
            Some(error.to_string()),
        ),
    };
    // Read like loading reads it (a regular file within its limit): a FIFO or a link to
    // /dev/zero is the problem shown, with no text, never waited on or read without end.
    let overrides_text = match read_overrides(&table.overrides) {
        Ok(text) => text.unwrap_or_default(),
        Err(_) if problem.is_some() => String::new(),
        Err(error) => return Err(pricing_error(error)),
    };
    Ok(PricesView {
        overrides_path: table.overrides.display().to_string(),
        overrides_text,
        problem,
        entries: table
            .entries
            .into_iter()
            .map(|e| PriceEntryView {
                provider: e.provider,
                model: e.model,
                input_per_mtok: e.input_per_mtok,
                output_per_mtok: e.output_per_mtok,
                cached_input_per_mtok: e.cached_input_per_mtok,
                context_window: e.context_window,
                source: e.source,
                as_of: e.as_of,
                origin: e.origin.unwrap_or_default(),
            })
            .collect(),
    })
}

pub fn save(text: &str) -> Result<PricesView, AppError> {
    let path = PriceTable::overrides_path();
    save_overrides(&path, text).map_err(pricing_error)?;
    prices()
}
