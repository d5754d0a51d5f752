//! The traffic log of served deployments: one writer thread with a connection of its own takes
//! finished requests from a bounded channel and commits them in small transactions, off every
//! request's path; a full channel drops the record and counts it rather than slow a request.
//! The same transaction folds them into per-minute aggregates (`analyze::trend`) for the
//! Monitor. Reads (`tradeoff traffic`, the Monitor) go through a [`Store`].

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use tradeoff_core::analyze::traffic::TrafficRecord;
use tradeoff_core::analyze::trend::{Aggregate, TrendPoint, minute_of, trend};
use tradeoff_core::run::ErrorClass;

use crate::{Store, StoreError};

/// Records waiting for the writer; beyond them new ones are dropped (and counted).
const BACKLOG: usize = 16_384;
/// The writer commits at least this often, or when this many records wait.
const COMMIT_EVERY: Duration = Duration::from_millis(200);
const COMMIT_BATCH: usize = 512;
/// Retention is applied this often (and when the writer starts).
const RETENTION_EVERY: Duration = Duration::from_secs(600);

/// A deployment as the log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRow {
    pub id: i64,
    pub started_ms: i64,
    pub winner_path: String,
    pub model_name: String,
    pub label: String,
    pub winner_json: String,
}

/// The writing side of the traffic log of one deployment.
#[derive(Debug)]
pub struct TrafficLog {
    sender: Option<SyncSender<TrafficRecord>>,
    writer: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
    deployment_id: i64,
}

impl TrafficLog {
    /// Records a new deployment in the database at `path` and starts its writer. With
    /// `retain`, records older than that are deleted as the log goes.
    pub fn start(
        path: &Path,
        deployment: &DeploymentRow,
        retain: Option<Duration>,
    ) -> Result<TrafficLog, StoreError> {
        // Migrations and the pragmas are `Store::open`'s; the writer then uses its own handle.
        let store = Store::open(path)?;
        store.conn.execute(
            "INSERT INTO deployments (started_ms, winner_path, model_name, label, winner_json)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                deployment.started_ms,
                deployment.winner_path,
                deployment.model_name,
                deployment.label,
                deployment.winner_json
            ],
        )?;
        let deployment_id = store.conn.last_insert_rowid();
        let conn = store.conn;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let (sender, records) = sync_channel(BACKLOG);
        let writer = std::thread::Builder::new()
            .name("traffic-log".into())
            .spawn(move || write_loop(conn, deployment_id, &records, retain))
            .map_err(|e| StoreError::Writer(e.to_string()))?;
        Ok(TrafficLog {
            sender: Some(sender),
            writer: Some(writer),
            dropped: Arc::default(),
            deployment_id,
        })
    }

    pub fn deployment_id(&self) -> i64 {
        self.deployment_id
    }

    /// Hands a finished request to the writer without waiting.
    pub fn log(&self, record: TrafficRecord) {
        let Some(sender) = &self.sender else { return };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = sender.try_send(record) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hands a request to the writer, waiting while its backlog is full: for a caller that may
    /// wait (a bulk load, a benchmark), never for a request being answered.
    pub fn log_waiting(&self, record: TrafficRecord) {
        let Some(sender) = &self.sender else { return };
        if sender.send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records the writer could not take (its backlog was full).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for TrafficLog {
    /// Everything handed over is committed before the log closes.
    fn drop(&mut self) {
        self.sender = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn write_loop(
    mut conn: Connection,
    deployment_id: i64,
    records: &Receiver<TrafficRecord>,
    retain: Option<Duration>,
) {
    let mut batch = Vec::with_capacity(COMMIT_BATCH);
    let mut last_retention: Option<Instant> = None;
    loop {
        let open = match records.recv_timeout(COMMIT_EVERY) {
            Ok(record) => {
                batch.push(record);
                while batch.len() < COMMIT_BATCH {
                    match records.try_recv() {
                        Ok(record) => batch.push(record),
                        Err(_) => break,
                    }
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        };
        if !batch.is_empty() {
            if let Err(error) = insert(&mut conn, deployment_id, &batch) {
                eprintln!("traffic log: {} requests not recorded: {error}", batch.len());
            }
            batch.clear();
        }
        if let Some(retain) = retain
            && last_retention.is_none_or(|at| at.elapsed() >= RETENTION_EVERY)
        {
            last_retention = Some(Instant::now());
            let cutoff = now_ms() - i64::try_from(retain.as_millis()).unwrap_or(i64::MAX);
            let pruned = conn
                .execute("DELETE FROM traffic WHERE at_ms < ?1", [cutoff])
                .and_then(|_| {
                    conn.execute(
                        "DELETE FROM traffic_minutes WHERE minute_ms < ?1",
                        [minute_of(cutoff)],
                    )
                });
            if let Err(error) = pruned {
                eprintln!("traffic log: retention failed: {error}");
            }
        }
        if !open {
            return;
        }
    }
}

fn insert(conn: &mut Connection, deployment_id: i64, batch: &[TrafficRecord]) -> Result<(), StoreError> {
    let transaction = conn.transaction()?;
    let mut minutes: BTreeMap<(i64, bool), Aggregate> = BTreeMap::new();
    for record in batch {
        minutes
            .entry((minute_of(record.at_ms), record.canary))
            .or_default()
            .add(record);
    }
    for ((minute, canary), aggregate) in &mut minutes {
        let stored: Option<String> = transaction
            .query_row(
                "SELECT aggregate_json FROM traffic_minutes
                 WHERE deployment_id = ?1 AND minute_ms = ?2 AND canary = ?3",
                params![deployment_id, minute, canary],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(stored) = stored {
            aggregate.merge(&serde_json::from_str(&stored)?);
        }
        transaction.execute(
            "INSERT INTO traffic_minutes (deployment_id, minute_ms, canary, aggregate_json)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (deployment_id, minute_ms, canary) DO UPDATE SET aggregate_json = ?4",
            params![deployment_id, minute, canary, serde_json::to_string(aggregate)?],
        )?;
    }
    {
        let mut statement = transaction.prepare_cached(
            "INSERT INTO traffic (deployment_id, at_ms, route, stage, status, error_class,
                input_tokens, output_tokens, queue_ms, ttft_ms, itl_p50_ms, itl_p95_ms,
                latency_ms, cost_usd, output_hash, output_text, canary, passed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )?;
        for r in batch {
            statement.execute(params![
                deployment_id,
                r.at_ms,
                r.route,
                r.stage,
                r.status,
                r.error_class.map(ErrorClass::as_str),
                r.input_tokens,
                r.output_tokens,
                r.queue_ms,
                r.ttft_ms,
                r.itl_p50_ms,
                r.itl_p95_ms,
                r.latency_ms,
                r.cost_usd,
                r.output_hash,
                r.output_text,
                r.canary,
                r.passed,
            ])?;
        }
    }
    transaction.commit()?;
    Ok(())
}

/// Now in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// Every deployment the log knows, newest first.
    pub fn deployments(&self) -> Result<Vec<DeploymentRow>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT id, started_ms, winner_path, model_name, label, winner_json
             FROM deployments ORDER BY id DESC",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(DeploymentRow {
                id: row.get(0)?,
                started_ms: row.get(1)?,
                winner_path: row.get(2)?,
                model_name: row.get(3)?,
                label: row.get(4)?,
                winner_json: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The requests since `since_ms` (Unix ms), of one deployment or all, oldest first.
    pub fn traffic_since(
        &self,
        deployment: Option<i64>,
        since_ms: i64,
    ) -> Result<Vec<TrafficRecord>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT at_ms, route, stage, status, error_class, input_tokens, output_tokens, queue_ms,
                    ttft_ms, itl_p50_ms, itl_p95_ms, latency_ms, cost_usd, output_hash, output_text, canary,
                    passed
             FROM traffic WHERE at_ms >= ?1 AND (?2 IS NULL OR deployment_id = ?2)
             ORDER BY at_ms, id",
        )?;
        let rows = statement.query_map(params![since_ms, deployment], |row| {
            let class: Option<String> = row.get(4)?;
            Ok(TrafficRecord {
                at_ms: row.get(0)?,
                route: row.get(1)?,
                stage: row.get(2)?,
                status: row.get(3)?,
                error_class: class.as_deref().and_then(ErrorClass::parse),
                input_tokens: row.get(5)?,
                output_tokens: row.get(6)?,
                queue_ms: row.get(7)?,
                ttft_ms: row.get(8)?,
                itl_p50_ms: row.get(9)?,
                itl_p95_ms: row.get(10)?,
                latency_ms: row.get(11)?,
                cost_usd: row.get(12)?,
                output_hash: row.get(13)?,
                output_text: row.get(14)?,
                canary: row.get(15)?,
                passed: row.get(16)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deployment `deployment`'s traffic from `from_ms` to `to_ms` in buckets of `bucket_ms` (at
    /// least a minute), read from the per-minute aggregates.
    pub fn traffic_trend(
        &self,
        deployment: i64,
        from_ms: i64,
        to_ms: i64,
        bucket_ms: i64,
    ) -> Result<Vec<TrendPoint>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT minute_ms, canary, aggregate_json FROM traffic_minutes
             WHERE deployment_id = ?1 AND minute_ms >= ?2 AND minute_ms <= ?3",
        )?;
        let minutes = statement
            .query_map(params![deployment, minute_of(from_ms), to_ms], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, bool>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })?
            .map(|row| {
                let (minute, canary, json) = row?;
                Ok((minute, canary, serde_json::from_str::<Aggregate>(&json)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(trend(&minutes, from_ms, to_ms, bucket_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at_ms: i64) -> TrafficRecord {
        TrafficRecord {
            at_ms,
            route: "chat".into(),
            stage: None,
            status: 200,
            error_class: None,
            input_tokens: Some(12),
            output_tokens: Some(5),
            queue_ms: 0.5,
            ttft_ms: Some(40.0),
            itl_p50_ms: Some(14.0),
            itl_p95_ms: Some(18.0),
            latency_ms: 110.0,
            cost_usd: Some(2e-6),
            output_hash: Some("ab".into()),
            output_text: None,
            canary: false,
            passed: None,
        }
    }

    fn deployment() -> DeploymentRow {
        DeploymentRow {
            id: 0,
            started_ms: now_ms(),
            winner_path: "/w.json".into(),
            model_name: "fewshot@q4".into(),
            label: "fewshot · q4".into(),
            winner_json: "{}".into(),
        }
    }

    #[test]
    fn logged_requests_are_committed_when_the_log_closes_and_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let log = TrafficLog::start(&path, &deployment(), None).unwrap();
        let now = now_ms();
        let mut failed = record(now);
        failed.status = 500;
        failed.error_class = Some(ErrorClass::WorkerCrashed);
        for r in [record(now - 10), failed.clone()] {
            log.log(r);
        }
        let id = log.deployment_id();
        drop(log);
        let store = Store::open(&path).unwrap();
        let read = store.traffic_since(Some(id), now - 60_000).unwrap();
        assert_eq!(read, vec![record(now - 10), failed]);
        assert_eq!(store.deployments().unwrap()[0].model_name, "fewshot@q4");
        assert!(store.traffic_since(Some(id + 1), 0).unwrap().is_empty());
        // The same requests, folded per minute for the trends.
        let points = store.traffic_trend(id, now - 60_000, now, 60_000).unwrap();
        assert_eq!(points.iter().map(|p| p.requests).sum::<u64>(), 2);
        let failed_minute = points.iter().find(|p| p.error_rate.is_some_and(|r| r > 0.0));
        assert!(failed_minute.is_some(), "{points:?}");
    }

    #[test]
    fn records_older_than_the_retention_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let old = TrafficLog::start(&path, &deployment(), None).unwrap();
        let day = 86_400_000;
        old.log(record(now_ms() - 40 * day));
        old.log(record(now_ms() - day));
        drop(old);
        // A new deployment with 30 days of retention prunes the log as it starts.
        drop(TrafficLog::start(&path, &deployment(), Some(Duration::from_secs(30 * 86_400))).unwrap());
        let store = Store::open(&path).unwrap();
        assert_eq!(store.traffic_since(None, 0).unwrap().len(), 1);
    }
}
