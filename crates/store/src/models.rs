//! The model library's records: registered sources, and the origin of models Tradeoff made.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tradeoff_core::format::now_rfc3339;
use tradeoff_core::models::library::{LibraryFile, scan};

use crate::{Store, StoreError};

/// Where a model Tradeoff made came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelOrigin {
    pub path: PathBuf,
    pub source_path: PathBuf,
    pub source_sha256: Option<String>,
    pub source_quantization: Option<String>,
    pub quantization: String,
    /// The source was itself quantized, so this model carries both losses.
    pub requantized: bool,
    pub created_at: String,
}

/// A library file with what the database knows about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibraryModel {
    #[serde(flatten)]
    pub file: LibraryFile,
    /// From the hash cache; `None` until the file was hashed (by a run, `inspect`, or
    /// `models list --hash`).
    pub sha256: Option<String>,
    pub origin: Option<ModelOrigin>,
}

impl Store {
    /// Registers a GGUF file or a folder of them. Paths are stored absolute.
    pub fn add_model_source(&self, path: &Path) -> Result<PathBuf, StoreError> {
        let refuse = |reason: String| StoreError::ModelSource {
            path: path.to_path_buf(),
            reason,
        };
        let absolute = std::fs::canonicalize(path).map_err(|e| refuse(e.to_string()))?;
        let is_gguf = absolute
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
        if !(absolute.is_dir() || (absolute.is_file() && is_gguf)) {
            return Err(refuse("not a .gguf file or a folder".into()));
        }
        self.conn.execute(
            "INSERT INTO model_sources (path, added_at) VALUES (?1, ?2) ON CONFLICT (path) DO NOTHING",
            params![absolute.to_string_lossy(), now_rfc3339()],
        )?;
        Ok(absolute)
    }

    /// Forgets a registered source (the files stay on disk). Returns whether it was registered.
    pub fn remove_model_source(&self, path: &Path) -> Result<bool, StoreError> {
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let removed = self.conn.execute(
            "DELETE FROM model_sources WHERE path = ?1",
            [absolute.to_string_lossy()],
        )?;
        Ok(removed > 0)
    }

    pub fn model_sources(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT path FROM model_sources ORDER BY path")?;
        let paths = statement.query_map([], |r| r.get::<_, String>(0))?;
        Ok(paths.map(|p| p.map(PathBuf::from)).collect::<Result<_, _>>()?)
    }

    pub fn record_model_origin(&self, origin: &ModelOrigin) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO model_origins (path, source_path, source_sha256, source_quantization,
                 quantization, requantized, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (path) DO UPDATE SET source_path = ?2, source_sha256 = ?3,
                 source_quantization = ?4, quantization = ?5, requantized = ?6, created_at = ?7",
            params![
                origin.path.to_string_lossy(),
                origin.source_path.to_string_lossy(),
                origin.source_sha256,
                origin.source_quantization,
                origin.quantization,
                origin.requantized,
                origin.created_at,
            ],
        )?;
        Ok(())
    }

    pub fn model_origin(&self, path: &Path) -> Result<Option<ModelOrigin>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT path, source_path, source_sha256, source_quantization, quantization,
                        requantized, created_at
                 FROM model_origins WHERE path = ?1",
                [path.to_string_lossy()],
                |r| {
                    Ok(ModelOrigin {
                        path: PathBuf::from(r.get::<_, String>(0)?),
                        source_path: PathBuf::from(r.get::<_, String>(1)?),
                        source_sha256: r.get(2)?,
                        source_quantization: r.get(3)?,
                        quantization: r.get(4)?,
                        requantized: r.get(5)?,
                        created_at: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    /// Every model of the library: the data folder's `models/` and the registered sources.
    /// With `hash`, files not yet hashed are hashed now (seconds per GB); otherwise only
    /// cached hashes are shown.
    pub fn model_library(&self, hash: bool) -> Result<Vec<LibraryModel>, StoreError> {
        let mut sources = vec![tradeoff_core::paths::models_dir()];
        sources.extend(self.model_sources()?);
        let mut models = Vec::new();
        for file in scan(&sources) {
            let sha256 = if hash && file.error.is_none() {
                Some(self.file_sha256(&file.path)?)
            } else {
                self.cached_sha256(&file.path)?
            };
            let origin = self.model_origin(&file.path)?;
            models.push(LibraryModel { file, sha256, origin });
        }
        Ok(models)
    }
}
