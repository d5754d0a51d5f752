//! A run row and SQL, in one place: the columns of `runs` a run is written to and read from are
//! listed once ([`Col`]), and its measurements travel whole as `metrics_json` (core's
//! `RunMetrics`), so a new metric needs no column, no binding and no reader here.
//!
//! The metric columns from before migration 010 (`latency_ms`, `ttft_ms`, …) are still filled,
//! from the same serialized metrics by column name, so the database stays queryable with plain
//! SQL; `latency_ms` is also what the table's CHECK reads to tell a measured run from a failed one.

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Row, params_from_iter};
use tradeoff_core::analyze::report::{RunLabels, RunRow};
use tradeoff_core::execute::record::RunRecord;
use tradeoff_core::run::{ErrorClass, FinishReason, RunError};

use crate::{Store, StoreError};

macro_rules! columns {
    ($($column:ident = $name:literal,)*) => {
        /// The columns of `runs` every run has, in the order they are written and selected.
        #[derive(Debug, Clone, Copy)]
        pub(crate) enum Col {
            $($column,)*
        }

        const NAMES: &[&str] = &[$($name,)*];
    };
}

columns! {
    ConfigId = "config_id",
    CaseId = "case_id",
    Repetition = "repetition",
    StartedAt = "started_at",
    Output = "output",
    FinishReason = "finish_reason",
    ErrorClass = "error_class",
    ErrorMessage = "error_message",
    WarningsJson = "warnings_json",
    Passed = "passed",
    Score = "score",
    ChecksJson = "checks_json",
    CostUsd = "cost_usd",
    Attempts = "attempts",
    AttemptsJson = "attempts_json",
    CacheHit = "cache_hit",
    CacheSavedUsd = "cache_saved_usd",
    MetricsJson = "metrics_json",
}

impl Col {
    fn at(self, first: usize) -> usize {
        first + self as usize
    }
}

/// `r.config_id, r.case_id, …`: the run columns of a SELECT, read back by [`run_row`].
/// `output` is the SQL the output column is read with (a report without outputs reads `''`).
pub(crate) fn select_list(alias: &str, output: &str) -> String {
    NAMES
        .iter()
        .map(|n| match *n {
            "output" => output.to_string(),
            n => format!("{alias}.{n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a run goes: its config and case rows, and whether its case has checks (a run without
/// check results then reads as unchecked rather than passed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunPlace {
    pub config_id: i64,
    pub case_id: i64,
    pub has_checks: bool,
}

/// Inserts one run.
pub(crate) fn insert_run(store: &Store, run: &RunRecord, place: RunPlace) -> Result<(), StoreError> {
    let conn = &store.conn;
    let mut values = vec![Value::Null; NAMES.len()];
    let mut set = |column: Col, value: Value| values[column as usize] = value;
    set(Col::ConfigId, Value::Integer(place.config_id));
    set(Col::CaseId, Value::Integer(place.case_id));
    set(Col::Repetition, Value::Integer(i64::from(run.repetition)));
    set(Col::StartedAt, Value::Text(run.started_at.clone()));
    set(Col::Output, Value::Text(run.output.clone()));
    set(Col::FinishReason, text(run.finish_reason.map(|f| f.as_str())));
    set(
        Col::ErrorClass,
        text(run.error.as_ref().map(|e| e.class.as_str())),
    );
    set(
        Col::ErrorMessage,
        text(run.error.as_ref().map(|e| e.message.as_str())),
    );
    set(
        Col::WarningsJson,
        Value::Text(serde_json::to_string(&run.warnings)?),
    );
    set(Col::Passed, flag(run.passed(place.has_checks)));
    set(Col::Score, real(run.score(place.has_checks)));
    set(Col::ChecksJson, Value::Text(serde_json::to_string(&run.checks)?));
    set(Col::CostUsd, real(run.cost_usd));
    if !run.attempts.is_empty() {
        set(Col::Attempts, Value::Integer(run.attempts.len() as i64));
    }
    set(
        Col::AttemptsJson,
        Value::Text(serde_json::to_string(&run.attempts)?),
    );
    set(Col::CacheHit, Value::Integer(i64::from(run.cache_hit)));
    set(Col::CacheSavedUsd, real(run.cache_saved_usd));
    // Absent measurements are left out of the JSON (they read back as `None`): a report reads
    // 100,000 of these, and half a run's metrics are absent.
    let fields = match &run.metrics {
        Some(metrics) => match serde_json::to_value(metrics)? {
            serde_json::Value::Object(mut fields) => {
                fields.retain(|_, value| !value.is_null());
                Some(fields)
            }
            _ => None,
        },
        None => None,
    };
    if let Some(fields) = &fields {
        set(Col::MetricsJson, Value::Text(serde_json::to_string(fields)?));
    }
    let mut names: Vec<String> = NAMES.iter().map(|n| (*n).to_string()).collect();
    if let Some(fields) = &fields {
        for (name, value) in metric_columns(store, fields)? {
            names.push(name);
            values.push(value);
        }
    }
    let marks = (1..=names.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    conn.prepare_cached(&format!(
        "INSERT INTO runs ({}) VALUES ({marks})",
        names.join(", ")
    ))?
    .execute(params_from_iter(values))?;
    Ok(())
}

/// The metrics that have a column of their own in `runs`, by name, as that column's type.
fn metric_columns(
    store: &Store,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<(String, Value)>, StoreError> {
    let columns = match store.run_columns.get() {
        Some(columns) => columns,
        None => {
            let mut statement = store
                .conn
                .prepare("SELECT name, type FROM pragma_table_info('runs')")?;
            let read = statement
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            store.run_columns.get_or_init(|| read)
        }
    };
    Ok(columns
        .iter()
        .filter(|(name, _)| !NAMES.contains(&name.as_str()))
        .filter_map(|(name, kind)| {
            fields
                .get(name)
                .map(|value| (name.clone(), sql_value(value, kind)))
        })
        .collect())
}

/// A JSON field as an SQLite value of the column's declared type (the tables are STRICT).
fn sql_value(value: &serde_json::Value, column_type: &str) -> Value {
    match (value, column_type) {
        (serde_json::Value::Bool(b), _) => Value::Integer(i64::from(*b)),
        (serde_json::Value::Number(n), "INTEGER") => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
            .map_or(Value::Null, Value::Integer),
        (serde_json::Value::Number(n), _) => n.as_f64().map_or(Value::Null, Value::Real),
        (serde_json::Value::String(s), _) => Value::Text(s.clone()),
        _ => Value::Null,
    }
}

fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |v| Value::Text(v.to_string()))
}

fn real(value: Option<f64>) -> Value {
    value.map_or(Value::Null, Value::Real)
}

fn flag(value: Option<bool>) -> Value {
    value.map_or(Value::Null, |v| Value::Integer(i64::from(v)))
}

/// A run from the [`select_list`] columns starting at `first`: the run of the config and case at
/// positions `config` and `case`, named by `labels`.
pub(crate) fn run_row(
    r: &Row<'_>,
    first: usize,
    labels: RunLabels,
    config: usize,
    case: usize,
) -> rusqlite::Result<RunRow> {
    let run = RunRecord {
        config,
        case,
        repetition: r.get::<_, i64>(Col::Repetition.at(first))? as u32,
        started_at: r.get(Col::StartedAt.at(first))?,
        output: r.get(Col::Output.at(first))?,
        finish_reason: r
            .get::<_, Option<String>>(Col::FinishReason.at(first))?
            .and_then(|f| FinishReason::parse(&f)),
        metrics: json(r, first, Col::MetricsJson)?,
        error: run_error(
            r.get(Col::ErrorClass.at(first))?,
            r.get(Col::ErrorMessage.at(first))?,
        ),
        warnings: json(r, first, Col::WarningsJson)?.unwrap_or_default(),
        checks: json(r, first, Col::ChecksJson)?.unwrap_or_default(),
        cost_usd: r.get(Col::CostUsd.at(first))?,
        attempts: json(r, first, Col::AttemptsJson)?.unwrap_or_default(),
        cache_hit: r.get(Col::CacheHit.at(first))?,
        cache_saved_usd: r.get(Col::CacheSavedUsd.at(first))?,
    };
    let mut row = RunRow::new(labels, run);
    row.passed = r.get(Col::Passed.at(first))?;
    row.score = r.get(Col::Score.at(first))?;
    Ok(row)
}

/// A JSON column parsed where SQLite holds it (a report reads 100,000 of them: no copy first);
/// NULL is `None`.
fn json<T: serde::de::DeserializeOwned>(
    r: &Row<'_>,
    first: usize,
    column: Col,
) -> rusqlite::Result<Option<T>> {
    let index = column.at(first);
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, e)
    };
    match r.get_ref(index)? {
        ValueRef::Null => Ok(None),
        value => {
            let text = value.as_str().map_err(|e| failed(e.into()))?;
            serde_json::from_str(text).map(Some).map_err(|e| failed(e.into()))
        }
    }
}

/// A recorded error; a class this version does not know reads as `internal`, its message kept.
pub(crate) fn run_error(class: Option<String>, message: Option<String>) -> Option<RunError> {
    let class = class?;
    Some(RunError {
        class: ErrorClass::parse(&class).unwrap_or(ErrorClass::Internal),
        message: message.unwrap_or_default(),
    })
}
