//! SQLite persistence: experiments, their configs, and every run with its measurements.
//!
//! One file database in WAL mode with foreign keys on and STRICT tables. Each run is committed
//! the moment the runner hands it over, so a killed process loses at most the run in flight.
//! A [`Store`] is one connection; the process that runs experiments owns the only writer.

mod grid;
mod migrations;
mod read;
mod write;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

pub use grid::{GridCell, PREVIEW_CHARS};
pub use read::ExperimentListing;
pub use write::ExperimentWriter;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("database {path}: cannot create its folder: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("database {path}: migration failed: {source}")]
    Migration {
        path: PathBuf,
        source: rusqlite_migration::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored JSON does not match this version of Tradeoff: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no experiment with id {0}")]
    NotFound(i64),
    #[error("no run with id {0}")]
    RunNotFound(i64),
    #[error("the database holds no experiment yet")]
    Empty,
    #[error("cannot hash {path}: {source}")]
    Hash { path: PathBuf, source: std::io::Error },
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let open_error = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_error)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(open_error)?;
        // WAL lets readers (the app's lists, a `report` in another terminal) run beside the
        // writer; synchronous=NORMAL keeps every committed run across a process crash.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_error)?;
        migrations::migrations()
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migration {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sha256 of a model file, from the cache while its size and mtime are unchanged.
    pub fn file_sha256(&self, path: &Path) -> Result<String, StoreError> {
        let hash_error = |source| StoreError::Hash {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(hash_error)?;
        let size = meta.len() as i64;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let key = path.to_string_lossy();
        let cached: Option<String> = self
            .conn
            .query_row(
                "SELECT sha256 FROM file_hashes WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3",
                rusqlite::params![key, size, mtime_ns],
                |row| row.get(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(other),
            })?;
        if let Some(sha) = cached {
            return Ok(sha);
        }
        let sha = tradeoff_core::gguf::sha256_file(path).map_err(hash_error)?;
        self.conn.execute(
            "INSERT INTO file_hashes (path, size, mtime_ns, sha256) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (path) DO UPDATE SET size = ?2, mtime_ns = ?3, sha256 = ?4",
            rusqlite::params![key, size, mtime_ns, sha],
        )?;
        Ok(sha)
    }
}

#[cfg(test)]
mod tests;
