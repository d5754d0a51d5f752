//! The Monitor's trends on a month of a busy deployment: 1,000,000 logged requests over 30 days,
//! read as 720 hourly points from the per-minute aggregates, against the reference a naive
//! Monitor would use in the same run: every request read back and summed up exactly.
//! Target: the trend under 300 ms (issue: serving and monitoring).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tradeoff_core::analyze::traffic::{TrafficRecord, summarize};
use tradeoff_core::run::ErrorClass;
use tradeoff_store::Store;
use tradeoff_store::traffic::{DeploymentRow, TrafficLog, now_ms};

const REQUESTS: i64 = 1_000_000;
const MONTH_MS: i64 = 30 * 86_400_000;

fn record(i: i64, at_ms: i64) -> TrafficRecord {
    let failed = i % 97 == 0;
    let latency_ms = 150.0 + (i % 400) as f64 * 3.0;
    TrafficRecord {
        at_ms,
        route: "chat".into(),
        stage: None,
        status: if failed { 500 } else { 200 },
        error_class: failed.then_some(ErrorClass::WorkerCrashed),
        input_tokens: Some(50 + (i % 200) as u32),
        output_tokens: Some(10 + (i % 90) as u32),
        queue_ms: 0.0,
        ttft_ms: Some(latency_ms / 5.0),
        itl_p50_ms: Some(14.0 + (i % 7) as f64),
        itl_p95_ms: Some(22.0),
        latency_ms,
        cost_usd: Some(2e-6),
        output_hash: Some(format!("{:x}", i % 5)),
        output_text: None,
        canary: i % 1000 == 0,
        passed: (i % 1000 == 0).then_some(i % 3000 != 0),
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("traffic.sqlite3");
    let now = now_ms();
    let from = now - MONTH_MS;
    let started = std::time::Instant::now();
    let log = TrafficLog::start(
        &path,
        &DeploymentRow {
            id: 0,
            started_ms: from,
            winner_path: "bench.json".into(),
            model_name: "bench".into(),
            label: "bench".into(),
            winner_json: "{}".into(),
        },
        None,
    )
    .expect("log");
    let id = log.deployment_id();
    for i in 0..REQUESTS {
        log.log_waiting(record(i, from + i * (MONTH_MS / REQUESTS)));
    }
    drop(log);
    eprintln!(
        "logged {REQUESTS} requests in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let store = Store::open(&path).expect("store");

    let mut group = c.benchmark_group("a month of 1,000,000 requests");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("reference: every request read and summed up exactly", |b| {
        b.iter(|| summarize(&store.traffic_since(Some(id), from).expect("read")));
    });
    group.bench_function("trend: 720 hourly points from minute aggregates", |b| {
        b.iter(|| {
            let points = store.traffic_trend(id, from, now, 3_600_000).expect("trend");
            assert_eq!(points.iter().map(|p| p.requests).sum::<u64>(), 999_000);
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
