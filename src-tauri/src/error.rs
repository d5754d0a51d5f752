//! The one error shape the UI sees: a stable `code` to switch on, a message for people, and
//! optional details. Library errors are converted here and nowhere else.

use serde::Serialize;
use specta::Type;
use tradeoff_core::run::ErrorClass;

#[derive(Debug, Clone, Serialize, Type, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<String>,
    /// The experiment file's field a refused experiment is about, for the editor to point at.
    pub field: Option<FieldProblem>,
}

/// A field of an experiment file (`variants[0].prompt`, `targets[1].n_ctx[0]`) and what is wrong
/// with it, without the file's name.
#[derive(Debug, Clone, Serialize, Type)]
pub struct FieldProblem {
    pub path: String,
    pub message: String,
}

/// What the UI switches on: one of the app's own codes, or, for a failed call to a model (the
/// Targets screen's connection test), the run's error class (`auth`, `connect`, `timeout_connect`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(untagged)]
pub enum ErrorCode {
    App(AppCode),
    Run(ErrorClass),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum AppCode {
    /// The input is wrong (a file, a field, a name); the message says what and where.
    BadInput,
    NotFound,
    /// Something else is running (an experiment, a quantization).
    Busy,
    Database,
    /// A child process or a background task failed.
    Executor,
    Io,
    /// A newer request replaced this one (the plan view counts only the latest draft).
    Superseded,
    /// A path the UI may not write or read (see `file_access`).
    NotAllowed,
    /// A part of the machine the app needs is not there (a display, the CPU self-test).
    Unavailable,
    /// The OS keyring refused.
    Keyring,
    /// No config or routing policy meets the objective's constraints.
    NoWinner,
    /// The HTTP client could not be built for an endpoint.
    Remote,
}

impl From<AppCode> for ErrorCode {
    fn from(code: AppCode) -> Self {
        ErrorCode::App(code)
    }
}

impl From<ErrorClass> for ErrorCode {
    fn from(class: ErrorClass) -> Self {
        ErrorCode::Run(class)
    }
}

impl AppError {
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> Self {
        AppError {
            code: code.into(),
            message: message.into(),
            details: None,
            field: None,
        }
    }
}

impl From<tradeoff_store::StoreError> for AppError {
    fn from(error: tradeoff_store::StoreError) -> Self {
        use tradeoff_store::StoreError;
        let code = match error {
            StoreError::NotFound(_)
            | StoreError::RunNotFound(_)
            | StoreError::NoLoadTest(_)
            | StoreError::Empty => AppCode::NotFound,
            StoreError::ModelSource { .. }
            | StoreError::AlreadyCompleted(_)
            | StoreError::ModelChanged { .. }
            | StoreError::PlanMismatch { .. } => AppCode::BadInput,
            StoreError::StillRunning { .. } => AppCode::Busy,
            _ => AppCode::Database,
        };
        AppError::new(code, error.to_string())
    }
}

impl From<tradeoff_core::spec::experiment::ExperimentError> for AppError {
    fn from(error: tradeoff_core::spec::experiment::ExperimentError) -> Self {
        let field = error.problem().and_then(|problem| {
            Some(FieldProblem {
                path: problem.field.clone()?,
                message: problem.message.clone(),
            })
        });
        AppError {
            field,
            ..AppError::new(AppCode::BadInput, error.to_string())
        }
    }
}

impl From<tradeoff_core::analyze::export::ExportError> for AppError {
    fn from(error: tradeoff_core::analyze::export::ExportError) -> Self {
        AppError::new(AppCode::NotFound, error.to_string())
    }
}

impl From<tradeoff_core::analyze::winner::WinnerError> for AppError {
    fn from(error: tradeoff_core::analyze::winner::WinnerError) -> Self {
        use tradeoff_core::analyze::winner::WinnerError;
        let code = match error {
            WinnerError::Export(e) => return AppError::from(e),
            WinnerError::NoWinner(_) => AppCode::NoWinner,
            WinnerError::Objective(_) | WinnerError::Read(_) => AppCode::BadInput,
        };
        AppError::new(code, error.to_string())
    }
}

impl From<std::io::Error> for AppError {
    fn from(error: std::io::Error) -> Self {
        AppError::new(AppCode::Io, error.to_string())
    }
}
