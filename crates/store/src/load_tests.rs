//! Load tests as `tradeoff load` records them: one transaction per finished test, so a test
//! stopped part-way leaves nothing half-written.

use rusqlite::{OptionalExtension, params};
use tradeoff_core::analyze::load_test::{LevelSummary, LoadSample, LoadTest};
use tradeoff_core::run::ErrorClass;

use crate::traffic::now_ms;
use crate::{Store, StoreError};

/// A recorded load test as lists show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoadTestListing {
    pub id: i64,
    pub created_ms: i64,
    pub label: String,
    pub levels: i64,
}

impl Store {
    /// Records `test` whole; returns its id.
    pub fn record_load_test(&mut self, test: &LoadTest) -> Result<i64, StoreError> {
        let transaction = self.conn.transaction()?;
        transaction.execute(
            "INSERT INTO load_tests (created_ms, label, prompts_from, slo_json, knee_json, capacity_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                now_ms(),
                test.label,
                test.prompts_from,
                to_json(&test.slo)?,
                to_json(&test.knee)?,
                to_json(&test.capacity)?,
            ],
        )?;
        let test_id = transaction.last_insert_rowid();
        for (position, level) in test.levels.iter().enumerate() {
            transaction.execute(
                "INSERT INTO load_levels (load_test_id, position, concurrency, rate, summary_json)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    test_id,
                    position as i64,
                    level.concurrency,
                    level.rate,
                    serde_json::to_string(level)?
                ],
            )?;
            let level_id = transaction.last_insert_rowid();
            let mut insert = transaction.prepare_cached(
                "INSERT INTO load_requests (level_id, scheduled_ms, lag_ms, ttft_ms, e2e_ms, itl_json,
                    input_tokens, output_tokens, tokens_estimated, error_class, warmup)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for sample in test.samples.get(position).into_iter().flatten() {
                insert.execute(params![
                    level_id,
                    sample.scheduled_ms,
                    sample.lag_ms,
                    sample.ttft_ms,
                    sample.e2e_ms,
                    serde_json::to_string(&sample.itl_ms)?,
                    sample.input_tokens,
                    sample.output_tokens,
                    sample.tokens_estimated,
                    sample.error_class.map(ErrorClass::as_str),
                    sample.warmup,
                ])?;
            }
        }
        transaction.commit()?;
        Ok(test_id)
    }

    /// Recorded load tests, newest first.
    pub fn load_tests(&self) -> Result<Vec<LoadTestListing>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT t.id, t.created_ms, t.label, (SELECT count(*) FROM load_levels l WHERE l.load_test_id = t.id)
             FROM load_tests t ORDER BY t.id DESC",
        )?;
        let rows = statement.query_map([], |r| {
            Ok(LoadTestListing {
                id: r.get(0)?,
                created_ms: r.get(1)?,
                label: r.get(2)?,
                levels: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One recorded test: its levels, knee and plan; each level's requests when `with_requests`.
    pub fn load_test(&self, id: i64, with_requests: bool) -> Result<LoadTest, StoreError> {
        type Head = (String, String, Option<String>, Option<String>, Option<String>);
        let head: Option<Head> = self
            .conn
            .query_row(
                "SELECT label, prompts_from, slo_json, knee_json, capacity_json FROM load_tests WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((label, prompts_from, slo, knee, capacity)) = head else {
            return Err(StoreError::NoLoadTest(id));
        };
        let parse = |text: Option<String>| -> Result<Option<serde_json::Value>, StoreError> {
            Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
        };
        let mut statement = self
            .conn
            .prepare("SELECT id, summary_json FROM load_levels WHERE load_test_id = ?1 ORDER BY position")?;
        let rows: Vec<(i64, String)> = statement
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut levels = Vec::with_capacity(rows.len());
        let mut samples = Vec::with_capacity(rows.len());
        for (level_id, summary) in rows {
            levels.push(serde_json::from_str::<LevelSummary>(&summary)?);
            samples.push(if with_requests {
                self.load_requests(level_id)?
            } else {
                Vec::new()
            });
        }
        Ok(LoadTest {
            label,
            prompts_from,
            slo: parse(slo)?.map(serde_json::from_value).transpose()?,
            levels,
            samples,
            knee: parse(knee)?.map(serde_json::from_value).transpose()?,
            capacity: parse(capacity)?.map(serde_json::from_value).transpose()?,
        })
    }

    fn load_requests(&self, level_id: i64) -> Result<Vec<LoadSample>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT scheduled_ms, lag_ms, ttft_ms, e2e_ms, itl_json, input_tokens, output_tokens,
                    tokens_estimated, error_class, warmup
             FROM load_requests WHERE level_id = ?1 ORDER BY scheduled_ms",
        )?;
        let rows = statement.query_map([level_id], |r| {
            Ok((
                r.get::<_, f64>(0)?,
                r.get::<_, f64>(1)?,
                r.get::<_, Option<f64>>(2)?,
                r.get::<_, f64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<u32>>(5)?,
                r.get::<_, Option<u32>>(6)?,
                r.get::<_, bool>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, bool>(9)?,
            ))
        })?;
        let mut samples = Vec::new();
        for row in rows {
            let (
                scheduled_ms,
                lag_ms,
                ttft_ms,
                e2e_ms,
                itl,
                input_tokens,
                output_tokens,
                tokens_estimated,
                class,
                warmup,
            ) = row?;
            samples.push(LoadSample {
                scheduled_ms,
                lag_ms,
                ttft_ms,
                itl_ms: serde_json::from_str(&itl)?,
                e2e_ms,
                input_tokens,
                output_tokens,
                tokens_estimated,
                error_class: class.as_deref().and_then(ErrorClass::parse),
                warmup,
            });
        }
        Ok(samples)
    }
}

fn to_json<T: serde::Serialize>(value: &Option<T>) -> Result<Option<String>, StoreError> {
    Ok(value.as_ref().map(serde_json::to_string).transpose()?)
}
