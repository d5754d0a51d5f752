//! The price table parser, through the two public ways a price file comes in: loading the
//! override file (`PriceTable::load_with`) and saving one from the app (`save_overrides`).

use proptest::prelude::*;
use serde_json::Value;
use tradeoff_core::spec::pricing::{PriceTable, save_overrides};

use super::driver::fuzz;
use super::values::{apply, edit_text, edits, text_edits};

const BUILTIN: &str = include_str!("../../../core/data/prices.json");
const KEYS: &[&str] = &[
    "schema",
    "note",
    "models",
    "provider",
    "model",
    "input_per_mtok",
    "output_per_mtok",
    "cached_input_per_mtok",
    "context_window",
    "source",
    "as_of",
    "origin",
];
const WORDS: &[&str] = &[
    "openai",
    "anthropic",
    "gemini",
    "gpt-4o",
    "gpt-4o-mini",
    "-latest",
    "-2024-07-18",
    "2025-06",
];

fn texts() -> impl Strategy<Value = String> {
    let seed: Value = serde_json::from_str(BUILTIN).unwrap_or(Value::Null);
    (Just(seed), edits(KEYS, WORDS), text_edits(WORDS), any::<bool>()).prop_map(
        |(seed, edits, text, pretty)| {
            let value = apply(seed, &edits);
            let written = if pretty {
                serde_json::to_string_pretty(&value).unwrap_or_default()
            } else {
                value.to_string()
            };
            edit_text(&written, &text)
        },
    )
}

fn check(text: &str) -> Result<&'static str, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let loaded_from = dir.path().join("prices.json");
    std::fs::write(&loaded_from, text).map_err(|e| e.to_string())?;
    let loaded = PriceTable::load_with(&loaded_from);
    let saved_to = dir.path().join("saved/prices.json");
    let saved = save_overrides(&saved_to, text);
    // The app's save checks a file exactly as loading does.
    if !text.trim().is_empty() && loaded.is_ok() != saved.is_ok() {
        return Err(format!(
            "load {:?} but save {:?}",
            loaded.as_ref().err(),
            saved.as_ref().err()
        ));
    }
    let Ok(table) = loaded else {
        return Ok("refused");
    };
    let builtin = PriceTable::builtin(&loaded_from).map_err(|e| e.to_string())?;
    if table.entries.len() > builtin.entries.len() + text.len() / 16 {
        return Err(format!(
            "{} entries from {} bytes",
            table.entries.len(),
            text.len()
        ));
    }
    for entry in &table.entries {
        let _ = entry.describe();
        let price = entry.price();
        if price.input_per_mtok.is_some_and(|p| !(p.is_finite() && p >= 0.0)) {
            return Err(format!("a price table accepted {price:?}"));
        }
        for model in [
            entry.model.clone(),
            format!("{}-2024-07-18", entry.model),
            format!("{}-latest", entry.model),
        ] {
            if table.lookup(&entry.provider, &model).is_none() {
                return Err(format!(
                    "{} {model} is in the table but not found",
                    entry.provider
                ));
            }
        }
    }
    Ok("loaded")
}

#[test]
fn price_files_load_or_are_refused_and_saving_checks_them_as_loading_does() {
    fuzz("pricing", texts(), &[], |text| check(text));
}
