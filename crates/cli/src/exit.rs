//! The one place where errors become exit codes and messages.

/// Bad input from the user: a malformed file, a missing model, an unknown experiment.
pub const BAD_INPUT: u8 = 2;
/// Anything else that stopped the command (database, I/O).
pub const FAILURE: u8 = 1;

#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    pub fn bad_input(message: impl std::fmt::Display) -> Exit {
        Exit {
            code: BAD_INPUT,
            message: message.to_string(),
        }
    }

    pub fn failure(message: impl std::fmt::Display) -> Exit {
        Exit {
            code: FAILURE,
            message: message.to_string(),
        }
    }
}

impl From<tradeoff_store::StoreError> for Exit {
    fn from(error: tradeoff_store::StoreError) -> Exit {
        match error {
            tradeoff_store::StoreError::NotFound(_)
            | tradeoff_store::StoreError::Empty
            | tradeoff_store::StoreError::ModelSource { .. }
            | tradeoff_store::StoreError::StillRunning { .. }
            | tradeoff_store::StoreError::AlreadyCompleted(_)
            | tradeoff_store::StoreError::ModelChanged { .. }
            | tradeoff_store::StoreError::PlanMismatch { .. } => Exit::bad_input(error),
            other => Exit::failure(other),
        }
    }
}
