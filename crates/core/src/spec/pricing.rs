//! The price table: facts per hosted model (USD per million input, output and cached-input
//! tokens, context window, source, date). A committed table (`data/prices.json`) ships with the
//! binary; `<data folder>/prices.json` in the same format overrides or extends it. A target's own
//! `price` wins over both; a remote target without one takes its model's entry, and the entry
//! travels with the experiment, so a cost can always be traced to the price it used.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::{ReadError, read_text};
use crate::spec::cost::Price;

const BUILTIN: &str = include_str!("../../data/prices.json");

/// The largest override file read or saved: the built-in table of every hosted model is a few
/// kilobytes; past this, the path is more likely `/dev/zero`'s kind than a price file.
pub const MAX_OVERRIDES_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFile {
    pub schema: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub models: Vec<PriceEntry>,
}

/// One model's prices as a fact with its origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    /// `openai`, `anthropic` or `gemini`.
    pub provider: String,
    /// The model name, or its family without the date suffix (`claude-3-5-haiku` also prices
    /// `claude-3-5-haiku-20241022`).
    pub model: String,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    pub source: String,
    /// When the price was read (`2025-06`).
    pub as_of: String,
    /// Where the entry came from: the built-in table or the user's file (set when loaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl PriceEntry {
    pub fn price(&self) -> Price {
        Price {
            input_per_mtok: Some(self.input_per_mtok),
            output_per_mtok: Some(self.output_per_mtok),
            cached_input_per_mtok: self.cached_input_per_mtok,
            ..Price::default()
        }
    }

    /// The entry in words, for reports: origin, model, prices, source and date.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} {}, ${}/${} per M input/output tokens, {}, as of {}",
            self.origin.as_deref().unwrap_or("price table"),
            self.provider,
            self.model,
            self.input_per_mtok,
            self.output_per_mtok,
            self.source,
            self.as_of
        )
    }

    /// Whether this entry prices `model`: the same name, or a dated snapshot of it
    /// (`gpt-4o-mini-2024-07-18`, `claude-3-5-haiku-20241022`).
    fn prices(&self, provider: &str, model: &str) -> bool {
        if self.provider != provider {
            return false;
        }
        model == self.model
            || model
                .strip_prefix(self.model.as_str())
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| rest.starts_with("20") || rest == "latest")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("{path}: cannot read the price file: {source}")]
    Read { path: String, source: ReadError },
    #[error("{path}: cannot write the price file: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The built-in table with the user's entries applied.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    pub entries: Vec<PriceEntry>,
    /// The override file, whether or not it exists.
    pub overrides: PathBuf,
}

impl PriceTable {
    /// The built-in table and `<data folder>/prices.json` when it exists.
    pub fn load() -> Result<PriceTable, PricingError> {
        PriceTable::load_with(&PriceTable::overrides_path())
    }

    /// The user's override file: `<data folder>/prices.json`.
    pub fn overrides_path() -> PathBuf {
        crate::paths::data_dir().join("prices.json")
    }

    /// The built-in table alone, with `overrides` named but not read: what the app shows next
    /// to an override file that does not read, so the user can mend it.
    pub fn builtin(overrides: &Path) -> Result<PriceTable, PricingError> {
        let mut entries = parse(BUILTIN, "built-in prices.json")?;
        for entry in &mut entries {
            entry.origin = Some("built-in".into());
        }
        Ok(PriceTable {
            entries,
            overrides: overrides.to_path_buf(),
        })
    }

    pub fn load_with(overrides: &Path) -> Result<PriceTable, PricingError> {
        let PriceTable { mut entries, .. } = PriceTable::builtin(overrides)?;
        if let Some(text) = read_overrides(overrides)? {
            let path = overrides.display().to_string();
            for mut entry in parse(&text, &path)? {
                entry.origin = Some(path.clone());
                match entries
                    .iter_mut()
                    .find(|e| e.provider == entry.provider && e.model == entry.model)
                {
                    Some(existing) => *existing = entry,
                    None => entries.push(entry),
                }
            }
        }
        Ok(PriceTable {
            entries,
            overrides: overrides.to_path_buf(),
        })
    }

    /// The entry for a provider's model; the most specific name wins.
    /// `openai:gpt-4o-mini`, or a model name alone looked up under each provider: its name as
    /// `provider:model` and its price.
    pub fn find_named(&self, name: &str) -> Option<(String, Price)> {
        let (provider, model) = name.split_once(':').unwrap_or(("", name));
        let providers: &[&str] = if provider.is_empty() {
            &["openai", "anthropic", "gemini"]
        } else {
            std::slice::from_ref(&provider)
        };
        providers
            .iter()
            .find_map(|p| self.lookup(p, model))
            .map(|entry| (format!("{}:{model}", entry.provider), entry.price()))
    }

    pub fn lookup(&self, provider: &str, model: &str) -> Option<&PriceEntry> {
        self.entries
            .iter()
            .filter(|e| e.prices(provider, model))
            .max_by_key(|e| e.model.len())
    }
}

/// The override file's text, `None` when there is none. It is read only if it is a regular file
/// of at most [`MAX_OVERRIDES_BYTES`]: a FIFO or a link to `/dev/zero` is refused, not waited on
/// or read without end.
pub fn read_overrides(path: &Path) -> Result<Option<String>, PricingError> {
    match read_text(path, MAX_OVERRIDES_BYTES, "a price file") {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(source) => Err(PricingError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Replaces the override file with `text` once it reads as a price file (the same checks as
/// loading); an empty `text` removes the file, leaving the built-in table. The file is written
/// whole or not at all, so a refused or interrupted save keeps the previous overrides.
pub fn save_overrides(path: &Path, text: &str) -> Result<(), PricingError> {
    let shown = path.display().to_string();
    let write_error = |source: std::io::Error| PricingError::Write {
        path: shown.clone(),
        source,
    };
    if text.trim().is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(write_error(e)),
            _ => Ok(()),
        };
    }
    // What loading would refuse is not saved.
    if text.len() as u64 > MAX_OVERRIDES_BYTES {
        let too_large = ReadError::TooLarge {
            size: Some(text.len() as u64),
            limit: MAX_OVERRIDES_BYTES,
            what: "a price file",
        };
        return Err(PricingError::Invalid {
            path: shown,
            message: too_large.to_string(),
        });
    }
    parse(text, &shown)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text).map_err(write_error)?;
    std::fs::rename(&partial, path).map_err(write_error)
}

fn parse(text: &str, path: &str) -> Result<Vec<PriceEntry>, PricingError> {
    let invalid = |message: String| PricingError::Invalid {
        path: path.to_string(),
        message,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let file: PriceFile = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let inner = e.inner();
        invalid(format!(
            "line {}, column {}: {}: {inner}",
            inner.line(),
            inner.column(),
            e.path()
        ))
    })?;
    if file.schema != 1 {
        return Err(invalid(format!(
            "unsupported schema {}; this version reads schema 1",
            file.schema
        )));
    }
    for (index, entry) in file.models.iter().enumerate() {
        let bad = [
            ("input_per_mtok", Some(entry.input_per_mtok)),
            ("output_per_mtok", Some(entry.output_per_mtok)),
            ("cached_input_per_mtok", entry.cached_input_per_mtok),
        ]
        .into_iter()
        .find(|(_, v)| v.is_some_and(|v| !(v.is_finite() && v >= 0.0)));
        if let Some((field, value)) = bad {
            return Err(invalid(format!(
                "models[{index}].{field}: must be a number >= 0, found {}",
                value.unwrap_or_default()
            )));
        }
        if crate::spec::target::remote::ProviderKind::parse(&entry.provider).is_none() {
            return Err(invalid(format!(
                "models[{index}].provider: `{}` is not {}",
                entry.provider,
                crate::spec::target::remote::ProviderKind::names()
            )));
        }
    }
    Ok(file.models)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_loads_and_prices_dated_snapshots_of_a_model() {
        let table = PriceTable::load_with(Path::new("/nonexistent/prices.json")).unwrap();
        let mini = table.lookup("openai", "gpt-4o-mini-2024-07-18").unwrap();
        assert_eq!(mini.model, "gpt-4o-mini");
        assert_eq!(mini.input_per_mtok, 0.15);
        // `gpt-4o` must not price `gpt-4o-mini`, and the most specific entry wins.
        assert_eq!(
            table.lookup("openai", "gpt-4o-mini").unwrap().model,
            "gpt-4o-mini"
        );
        assert_eq!(table.lookup("openai", "gpt-4o").unwrap().model, "gpt-4o");
        assert_eq!(
            table
                .lookup("anthropic", "claude-3-5-haiku-20241022")
                .unwrap()
                .model,
            "claude-3-5-haiku"
        );
        assert!(table.lookup("openai", "my-finetune").is_none());
        assert!(table.lookup("gemini", "gpt-4o").is_none(), "providers do not mix");
    }

    #[test]
    fn the_users_file_overrides_and_extends_the_table_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prices.json");
        std::fs::write(
            &path,
            r#"{"schema": 1, "models": [
  {"provider": "openai", "model": "gpt-4o-mini", "input_per_mtok": 0.1, "output_per_mtok": 0.5, "source": "our contract", "as_of": "2026-11"},
  {"provider": "openai", "model": "qwen-farm", "input_per_mtok": 0.02, "output_per_mtok": 0.02, "source": "internal", "as_of": "2026-11"}
]}"#,
        )
        .unwrap();
        let table = PriceTable::load_with(&path).unwrap();
        let mini = table.lookup("openai", "gpt-4o-mini").unwrap();
        assert_eq!((mini.input_per_mtok, mini.source.as_str()), (0.1, "our contract"));
        assert_eq!(mini.origin.as_deref(), Some(path.display().to_string().as_str()));
        assert!(table.lookup("openai", "qwen-farm").is_some());

        std::fs::write(
            &path,
            r#"{"schema": 1, "models": [{"provider": "openai", "model": "x", "input_per_mtok": -1, "output_per_mtok": 1, "source": "s", "as_of": "d"}]}"#,
        )
        .unwrap();
        let error = PriceTable::load_with(&path).unwrap_err().to_string();
        assert!(error.contains("models[0].input_per_mtok"), "{error}");
        std::fs::write(&path, "{\"schema\": 1, \"models\": [{\"provider\": \"openai\"}]}").unwrap();
        let error = PriceTable::load_with(&path).unwrap_err().to_string();
        assert!(
            error.contains("prices.json") && error.contains("line 1"),
            "{error}"
        );
    }

    #[test]
    fn an_override_file_that_is_a_fifo_a_link_to_dev_zero_or_too_large_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::files::tests::hostile_files(dir.path(), "json", MAX_OVERRIDES_BYTES);
        let [_, _, large] = paths.clone();
        let errors = crate::files::tests::within_seconds(10, move || {
            paths.map(|path| PriceTable::load_with(&path).map(|_| ()).unwrap_err().to_string())
        });
        assert!(
            errors[0].contains("not a regular file but a FIFO (named pipe)"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].contains("not a regular file but a character device"),
            "{}",
            errors[1]
        );
        assert!(
            errors[2].contains("over 1 MiB, the limit for a price file"),
            "{}",
            errors[2]
        );
        // Saving refuses what loading would, and leaves the file as it was.
        let error = save_overrides(&large, &"x".repeat(MAX_OVERRIDES_BYTES as usize + 1)).unwrap_err();
        assert!(error.to_string().contains("over 1 MiB"), "{error}");
        assert_eq!(
            std::fs::read(&large).unwrap(),
            " ".repeat(MAX_OVERRIDES_BYTES as usize + 1).as_bytes()
        );
    }

    #[test]
    fn saving_overrides_refuses_a_bad_file_and_keeps_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("prices.json");
        let good = r#"{"schema": 1, "models": [{"provider": "openai", "model": "gpt-4o-mini", "input_per_mtok": 0.1, "output_per_mtok": 0.5, "source": "our contract", "as_of": "2026-11"}]}"#;
        save_overrides(&path, good).unwrap();
        let table = PriceTable::load_with(&path).unwrap();
        assert_eq!(table.lookup("openai", "gpt-4o-mini").unwrap().input_per_mtok, 0.1);

        let error = save_overrides(&path, r#"{"schema": 1, "models": [{"provider": "openai"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("models[0]"), "{error}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            good,
            "the refused text is not written"
        );

        save_overrides(&path, "  ").unwrap();
        assert!(!path.exists(), "empty overrides: back to the built-in table");
        let table = PriceTable::load_with(&path).unwrap();
        assert_eq!(
            table.lookup("openai", "gpt-4o-mini").unwrap().input_per_mtok,
            0.15
        );
    }
}
