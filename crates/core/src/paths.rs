//! Where Tradeoff keeps its files on the user's machine.
//!
//! One data folder holds the database and the default model: `$TRADEOFF_HOME` when set, else the
//! XDG data folder (`~/.local/share/tradeoff` on Linux). `scripts/fetch-model.sh` uses the same rule.

use std::path::PathBuf;

/// File name of the default model inside `<data dir>/models`.
pub const DEFAULT_MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";
/// sha256 of the default model file (Gemma 3 270M, Q4_K_M, base model).
pub const DEFAULT_MODEL_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";

/// The data folder, created on demand by the callers that write into it.
pub fn data_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("TRADEOFF_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("tradeoff");
    }
    directories::BaseDirs::new()
        .map(|dirs| dirs.data_dir().join("tradeoff"))
        .unwrap_or_else(|| PathBuf::from(".tradeoff"))
}

/// The database used when no `--db` is given.
pub fn default_database() -> PathBuf {
    data_dir().join("tradeoff.sqlite3")
}

/// The folder of the default model and of models Tradeoff makes (quantizations); always part
/// of the model library.
pub fn models_dir() -> PathBuf {
    data_dir().join("models")
}

/// Where `make model` puts the default model.
pub fn default_model() -> PathBuf {
    models_dir().join(DEFAULT_MODEL_FILE)
}
