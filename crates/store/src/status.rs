//! How an experiment's status reads: the one place where a `running` experiment whose owner is
//! gone becomes `interrupted`. Every reader (list, report, the app) goes through it.
//!
//! Reads do not write the new status back: a reader may be another process than the writer
//! (the app, a `report` in another terminal), classification is a `/proc` lookup per running
//! experiment, and the row keeps what its owner last said until `--resume` takes it over.

use rusqlite::Row;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use tradeoff_core::execute::resume::ExperimentStatus;

use crate::Owner;

/// The columns [`status_at`] reads, from `experiments e`.
pub(crate) const STATUS_COLUMNS: &str = "e.status, e.owner_pid, e.owner_start_time, e.owner_boot_id";

/// The recorded owner, from the four [`STATUS_COLUMNS`] starting at `first`.
pub(crate) fn owner_at(row: &Row<'_>, first: usize) -> rusqlite::Result<Option<Owner>> {
    let pid: Option<i64> = row.get(first + 1)?;
    let start_time: Option<i64> = row.get(first + 2)?;
    let boot_id: Option<String> = row.get(first + 3)?;
    Ok(pid.and_then(|pid| u32::try_from(pid).ok()).map(|pid| Owner {
        pid,
        start_time: start_time.and_then(|t| u64::try_from(t).ok()),
        boot_id,
    }))
}

/// The status as it should be shown, from the four [`STATUS_COLUMNS`] starting at `first`.
pub(crate) fn status_at(row: &Row<'_>, first: usize) -> rusqlite::Result<ExperimentStatus> {
    let stored: StoredStatus = row.get(first)?;
    Ok(shown_status(
        stored.0,
        owner_at(row, first)?.as_ref(),
        Owner::is_alive,
    ))
}

/// `running` stays `running` only while its owner is alive. An experiment without a recorded
/// owner was begun by a version that did not record one; after an upgrade nothing still writes it.
pub(crate) fn shown_status(
    stored: ExperimentStatus,
    owner: Option<&Owner>,
    alive: impl Fn(&Owner) -> bool,
) -> ExperimentStatus {
    if stored == ExperimentStatus::Running && !owner.is_some_and(alive) {
        return ExperimentStatus::Interrupted;
    }
    stored
}

/// A status column's value; a name this version does not know is a corrupt row, said as such.
pub(crate) struct StoredStatus(pub(crate) ExperimentStatus);

impl FromSql for StoredStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        ExperimentStatus::parse(text)
            .map(StoredStatus)
            .ok_or_else(|| FromSqlError::Other(format!("unknown experiment status `{text}`").into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExperimentStatus::*;

    #[test]
    fn running_reads_running_only_while_its_owner_lives() {
        let owner = Owner {
            pid: 7,
            start_time: Some(1),
            boot_id: None,
        };
        assert_eq!(shown_status(Running, Some(&owner), |_| true), Running);
        assert_eq!(shown_status(Running, Some(&owner), |_| false), Interrupted);
        assert_eq!(shown_status(Running, None, |_| true), Interrupted);
        assert_eq!(shown_status(Completed, Some(&owner), |_| false), Completed);
        assert_eq!(shown_status(Cancelled, None, |_| false), Cancelled);
    }
}
