//! SQLite persistence: experiments, their configs, and every run with its measurements.
//!
//! One file database in WAL mode with foreign keys on and STRICT tables. Each run is committed
//! the moment the runner hands it over, so a killed process loses at most the run in flight.
//! A [`Store`] is one connection; the process that runs experiments owns the only writer.

pub mod endpoints;
mod grid;
pub mod load_tests;
mod migrations;
mod models;
mod owner;
mod read;
mod recorded;
mod resume;
mod runs;
mod status;
pub mod traffic;
mod write;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

pub use grid::{GridCell, PREVIEW_CHARS};
pub use models::{LibraryModel, ModelOrigin};
pub use owner::Owner;
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
    #[error("no load test with id {0}")]
    NoLoadTest(i64),
    #[error("the traffic log's writer could not start: {0}")]
    Writer(String),
    #[error(
        "this experiment was read from a database older than this version and has no file to record; record it from its experiment file"
    )]
    NotWritten,
    #[error(
        "experiment {id} was recorded from a file this version of Tradeoff no longer accepts ({source}); its report and runs are still readable"
    )]
    NoLongerValid {
        id: i64,
        source: tradeoff_core::spec::experiment::ExperimentError,
    },
    #[error("experiment {id} is still running (process {pid}); resume it once that process has ended")]
    StillRunning { id: i64, pid: u32 },
    #[error("experiment {0} is completed: every planned run is recorded, nothing to resume")]
    AlreadyCompleted(i64),
    #[error(
        "experiment {id} cannot be resumed: the model of target `{target}` is not the file it began with (its sha256 differs), so new runs would not be comparable"
    )]
    ModelChanged { id: i64, target: String },
    #[error("experiment {id} cannot be resumed: its recorded plan does not match ({reason})")]
    PlanMismatch { id: i64, reason: String },
    #[error("no run with id {0}")]
    RunNotFound(i64),
    #[error("the database holds no experiment yet")]
    Empty,
    #[error("cannot add {path} to the model library: {reason}")]
    ModelSource { path: PathBuf, reason: String },
    #[error("cannot hash {path}: {source}")]
    Hash { path: PathBuf, source: std::io::Error },
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The columns of `runs` and their types, read once (the run writer fills metric columns
    /// by name).
    run_columns: std::cell::OnceCell<Vec<(String, String)>>,
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
        // Foreign keys stay off while migrations run: a migration that rebuilds a table drops
        // the old one, which with foreign keys on would cascade into every run. Migrations
        // that rebuild tables check the keys themselves (`foreign_key_check`).
        conn.pragma_update(None, "foreign_keys", "OFF")
            .map_err(open_error)?;
        migrations::migrations()
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migration {
                path: path.to_path_buf(),
                source,
            })?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_error)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            run_columns: std::cell::OnceCell::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sha256 of a model file, from the cache while its size and mtime are unchanged.
    pub fn file_sha256(&self, path: &Path) -> Result<String, StoreError> {
        if let Some(sha) = self.cached_sha256(path)? {
            return Ok(sha);
        }
        let (size, mtime_ns) = file_stamp(path)?;
        let key = path.to_string_lossy();
        let sha = tradeoff_core::models::gguf::sha256_file(path).map_err(|source| StoreError::Hash {
            path: path.to_path_buf(),
            source,
        })?;
        self.conn.execute(
            "INSERT INTO file_hashes (path, size, mtime_ns, sha256) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (path) DO UPDATE SET size = ?2, mtime_ns = ?3, sha256 = ?4",
            rusqlite::params![key, size, mtime_ns, sha],
        )?;
        Ok(sha)
    }

    /// The cached sha256 of a file whose size and mtime are unchanged since it was hashed.
    pub fn cached_sha256(&self, path: &Path) -> Result<Option<String>, StoreError> {
        let Ok((size, mtime_ns)) = file_stamp(path) else {
            return Ok(None);
        };
        Ok(self
            .conn
            .query_row(
                "SELECT sha256 FROM file_hashes WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3",
                rusqlite::params![path.to_string_lossy(), size, mtime_ns],
                |row| row.get(0),
            )
            .optional()?)
    }
}

/// Size and modification time (ns) of a file: what decides whether a cached hash still holds.
fn file_stamp(path: &Path) -> Result<(i64, i64), StoreError> {
    let meta = std::fs::metadata(path).map_err(|source| StoreError::Hash {
        path: path.to_path_buf(),
        source,
    })?;
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    Ok((meta.len() as i64, mtime_ns))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_interrupted;
#[cfg(test)]
mod tests_recorded;
