//! The model library: GGUF files found in the folders and files a user registered, described
//! from their headers alone (no weights are loaded).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::models::gguf::{self, ModelSummary};

/// One file of the library: its header summary, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibraryFile {
    pub path: PathBuf,
    pub summary: Option<ModelSummary>,
    pub error: Option<String>,
}

/// Every `.gguf` file in `sources` (files as they are, folders one level deep), each once, in
/// path order. Files being written (`*.partial`) are skipped; unreadable ones are listed with
/// their error, so a broken download shows up instead of silently missing.
pub fn scan(sources: &[PathBuf]) -> Vec<LibraryFile> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for source in sources {
        if source.is_dir() {
            let Ok(entries) = std::fs::read_dir(source) else {
                continue;
            };
            paths.extend(
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_file() && is_gguf(p)),
            );
        } else if source.is_file() {
            paths.push(source.clone());
        }
    }
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|path| match gguf::read(&path) {
            Ok(info) => LibraryFile {
                summary: Some(info.summary()),
                error: None,
                path,
            },
            Err(e) => LibraryFile {
                summary: None,
                error: Some(e.to_string()),
                path,
            },
        })
        .collect()
}

fn is_gguf(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}
