//! The one error shape the UI sees: a stable `code` to switch on, a message for people, and
//! optional details. Library errors are converted here and nowhere else.

use serde::Serialize;
use specta::Type;

#[derive(Debug, Clone, Serialize, Type, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// `bad_input`, `not_found`, `busy`, `database`, `executor`, `io`, `superseded`,
    /// `not_allowed` (a path the UI may not write: see `file_access`), `unavailable`.
    pub code: String,
    pub message: String,
    pub details: Option<String>,
}

impl AppError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        AppError {
            code: code.to_string(),
            message: message.into(),
            details: None,
        }
    }
}

impl From<tradeoff_store::StoreError> for AppError {
    fn from(error: tradeoff_store::StoreError) -> Self {
        use tradeoff_store::StoreError;
        let code = match error {
            StoreError::NotFound(_) | StoreError::RunNotFound(_) | StoreError::Empty => "not_found",
            StoreError::ModelSource { .. }
            | StoreError::AlreadyCompleted(_)
            | StoreError::ModelChanged { .. }
            | StoreError::PlanMismatch { .. } => "bad_input",
            StoreError::StillRunning { .. } => "busy",
            _ => "database",
        };
        AppError::new(code, error.to_string())
    }
}

impl From<tradeoff_core::spec::experiment::ExperimentError> for AppError {
    fn from(error: tradeoff_core::spec::experiment::ExperimentError) -> Self {
        AppError::new("bad_input", error.to_string())
    }
}

impl From<tradeoff_core::analyze::export::ExportError> for AppError {
    fn from(error: tradeoff_core::analyze::export::ExportError) -> Self {
        AppError::new("not_found", error.to_string())
    }
}

impl From<std::io::Error> for AppError {
    fn from(error: std::io::Error) -> Self {
        AppError::new("io", error.to_string())
    }
}
