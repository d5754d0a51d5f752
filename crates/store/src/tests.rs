use std::path::Path;

use tradeoff_core::execute::environment::Environment;
use tradeoff_core::execute::record::RunRecord;
use tradeoff_core::execute::resume::ExperimentStatus;
use tradeoff_core::execute::sink::{LoadEvent, RunSink};
use tradeoff_core::run::{ErrorClass, FinishReason, RunError, RunMetrics};
use tradeoff_core::spec::experiment::Experiment;
use tradeoff_core::spec::load::{FileFormat, parse_str};
use tradeoff_core::spec::matrix::Plan;
use tradeoff_core::spec::pricing::PriceTable;
use tradeoff_core::spec::resolve::{Facts, resolve};

use crate::{Owner, Store, StoreError};

/// `experiment` resolved with `sha256` as its first target's model hash.
pub(crate) fn with_model_hash(experiment: Experiment, sha256: &str) -> Experiment {
    let prices = PriceTable::builtin(Path::new("/nowhere/prices.json")).unwrap();
    let hashes = [Some(sha256.to_string())];
    resolve(
        experiment,
        &Facts {
            prices: &prices,
            model_sha256: &hashes,
        },
    )
}

fn experiment() -> Experiment {
    parse_str(
        "schema: 1
name: roundtrip
variants: [{id: a, prompt: 'A {{ x }}'}, {id: b, system: s, user: 'B {{ x }}'}]
cases: [{id: one, vars: {x: '1'}, expected: 'yes'}]
targets: [{id: t, model: m.gguf, n_ctx: [256, 512], threads: 2}]
",
        FileFormat::Yaml,
        "r.yaml",
        Path::new("/m"),
    )
    .unwrap()
}

/// The experiment begun in `store` by this process, with no model hashes.
fn begun<'a>(store: &'a mut Store, experiment: &Experiment) -> crate::ExperimentWriter<'a> {
    store
        .begin_experiment(
            experiment,
            &Plan::new(experiment),
            &Environment::detect(None),
            &Owner::current(),
        )
        .unwrap()
}

fn measured(config: usize) -> RunRecord {
    RunRecord {
        config,
        case: 0,
        repetition: 0,
        started_at: "2026-11-29T10:00:00Z".into(),
        output: "{\"city\": \"Berlin\"} ünïcode".into(),
        finish_reason: Some(FinishReason::Stop),
        metrics: Some(RunMetrics {
            ttft_ms: Some(45.6),
            prompt_eval_ms: Some(40.0),
            prompt_eval_tokens: Some(95),
            gen_eval_ms: Some(70.0),
            gen_eval_tokens: Some(15),
            peak_rss_bytes: Some(400 << 20),
            kv_cache_bytes: Some(3 << 20),
            ..RunMetrics::new(123.456, 95, 16)
        }),
        error: None,
        warnings: vec!["a warning".into()],
        checks: Vec::new(),
        cost_usd: None,
        attempts: Vec::new(),
        cache_hit: false,
        cache_saved_usd: None,
    }
}

#[test]
fn a_run_written_is_read_back_identical() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let experiment = with_model_hash(experiment(), "abc");
    let plan = Plan::new(&experiment);
    let run = measured(1);
    let failed = RunRecord {
        config: 2,
        metrics: None,
        finish_reason: None,
        output: String::new(),
        error: Some(RunError::new(ErrorClass::ContextOverflow, "prompt is 600 tokens")),
        ..measured(2)
    };
    let id = {
        let mut writer = store
            .begin_experiment(&experiment, &plan, &Environment::detect(None), &Owner::current())
            .unwrap();
        writer
            .record_load(&LoadEvent {
                target: 0,
                settings: plan.configs[0].settings.unwrap(),
                model_load_ms: Some(80.0),
                context_create_ms: Some(9.0),
                kv_cache_bytes: Some(3 << 20),
                error: None,
                warnings: vec![],
            })
            .unwrap();
        writer.record_run(&run).unwrap();
        writer.record_run(&failed).unwrap();
        writer.experiment_id()
    };
    store.finish_experiment(id, ExperimentStatus::Completed).unwrap();

    let report = store.report(id).unwrap();
    assert_eq!(report.status, ExperimentStatus::Completed);
    assert_eq!(report.runs.len(), 2);
    let back = &report.runs[0];
    assert_eq!(
        (
            back.labels.variant.as_str(),
            back.labels.target.as_str(),
            back.labels.settings.unwrap().n_ctx,
            back.labels.case.as_str()
        ),
        ("a", "t", 512, "one")
    );
    // The report holds the very run the runner recorded, config and case positions included.
    assert_eq!(back.run, run);
    assert_eq!(back.gen_tokens_per_s(), Some(15.0 * 1000.0 / 70.0));
    assert_eq!(report.runs[1].run, failed);
    assert_eq!(report.targets[0].model_sha256.as_deref(), Some("abc"));
    assert_eq!(report.targets[0].loads[0].model_load_ms, Some(80.0));
    assert_eq!(
        Some(report.targets[0].loads[0].settings),
        plan.configs[0].settings
    );
    assert_eq!(report.targets[0].loads[0].kv_cache_bytes, Some(3 << 20));
    assert_eq!(back.labels.settings, plan.configs[1].settings);
    assert_eq!(report.configs[1].peak_rss_bytes_max, Some(400 << 20));
    assert_eq!(report.configs.len(), 4);
    assert_eq!(report.configs[1].runs, 1);
    assert_eq!(report.configs[2].errors, 1);
    assert_eq!(store.latest_experiment_id().unwrap(), id);
    assert_eq!(store.list_experiments().unwrap()[0].errors, 1);
}

#[test]
fn a_run_for_a_config_the_experiment_does_not_have_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let experiment = experiment();
    let mut writer = begun(&mut store, &experiment);
    assert!(writer.record_run(&measured(99)).is_err());
}

#[test]
fn an_empty_database_has_no_latest_experiment_and_unknown_ids_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("nested/folder/db.sqlite3")).unwrap();
    assert!(matches!(store.latest_experiment_id(), Err(StoreError::Empty)));
    assert!(matches!(store.report(7), Err(StoreError::NotFound(7))));
}

#[test]
fn file_hashes_are_cached_until_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let model = dir.path().join("m.gguf");
    std::fs::write(&model, b"abc").unwrap();
    let first = store.file_sha256(&model).unwrap();
    assert_eq!(
        first,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    std::fs::write(&model, b"abcd").unwrap();
    assert_ne!(store.file_sha256(&model).unwrap(), first);
}

#[test]
fn the_database_is_in_wal_mode_with_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let mode: String = store
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let fk: i64 = store
        .conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!((mode.as_str(), fk), ("wal", 1));
}

#[test]
fn a_database_from_before_settings_sweeps_keeps_every_run_when_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        crate::migrations::migrations().to_version(&mut conn, 2).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        // A target as version 2 stored it: single threads and batch, no KV type.
        let mut target = serde_json::to_value(&experiment().targets[0]).unwrap();
        target["threads"] = serde_json::json!(3);
        target["batch"] = serde_json::json!(1024);
        let object = target.as_object_mut().unwrap();
        object.remove("kv_type");
        object.remove("n_gpu_layers");
        let environment = serde_json::to_string(&Environment::detect(None)).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO experiments VALUES (1, 'old', NULL, '{{}}', '{environment}', '2026-01-01', NULL, 'completed');
             INSERT INTO variants VALUES (1, 1, 0, 'a', '{{}}');
             INSERT INTO cases VALUES (1, 1, 0, 'one', '{{}}', NULL);
             INSERT INTO targets VALUES (1, 1, 0, 't', '{target}', 'm.gguf', NULL);
             INSERT INTO configs VALUES (1, 1, 0, 1, 1, 512);
             INSERT INTO loads (target_id, n_ctx, model_load_ms, recorded_at) VALUES (1, 512, 50.0, 'x');
             INSERT INTO runs (config_id, case_id, repetition, started_at, latency_ms, output)
                 VALUES (1, 1, 0, 'x', 10.0, 'kept');"
        ))
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let report = store.report(1).unwrap();
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.runs[0].run.output, "kept");
    let settings = report.runs[0].labels.settings.unwrap();
    assert_eq!((settings.n_ctx, settings.threads, settings.batch), (512, 3, 1024));
    assert_eq!(settings.kv_type, tradeoff_core::spec::target::KvType::F16);
    assert_eq!(report.targets[0].loads[0].settings, settings);
    assert_eq!(report.configs[0].runs, 1);
}

#[test]
fn the_measurements_of_runs_recorded_before_metrics_json_read_back_whole_after_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v9.sqlite3");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        crate::migrations::migrations().to_version(&mut conn, 9).unwrap();
        let target = serde_json::to_string(&experiment().targets[0]).unwrap();
        let environment = serde_json::to_string(&Environment::detect(None)).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO experiments (id, name, spec_json, environment_json, created_at, status)
                 VALUES (1, 'old', '{{}}', '{environment}', '2026-01-01', 'completed');
             INSERT INTO variants VALUES (1, 1, 0, 'a', '{{}}');
             INSERT INTO cases VALUES (1, 1, 0, 'one', '{{}}', NULL);
             INSERT INTO targets VALUES (1, 1, 0, 't', '{target}', 'm.gguf', NULL);
             INSERT INTO configs (id, experiment_id, position, variant_id, target_id)
                 VALUES (1, 1, 0, 1, 1);
             INSERT INTO runs (config_id, case_id, repetition, started_at, latency_ms, ttft_ms,
                 input_tokens, output_tokens, prompt_eval_ms, prompt_eval_tokens, gen_eval_ms,
                 gen_eval_tokens, output, peak_rss_bytes, kv_cache_bytes, cached_tokens,
                 batch_sequences, batch_wall_ms, decode_ms, first_reasoning_ms, tokens_estimated,
                 new_connection)
                 VALUES (1, 1, 0, 'x', 120.5, 30.25, 12, 7, 9.5, 11, 80.0, 6, 'kept', 3000000000,
                         4096, 5, 2, 240.0, 100.0, 12.0, 1, 0);
             INSERT INTO runs (config_id, case_id, repetition, started_at, output, error_class,
                 error_message)
                 VALUES (1, 1, 1, 'x', '', 'decode', 'failed');"
        ))
        .unwrap();
    }
    let report = Store::open(&path).unwrap().report(1).unwrap();
    let expected = RunMetrics {
        ttft_ms: Some(30.25),
        prompt_eval_ms: Some(9.5),
        prompt_eval_tokens: Some(11),
        gen_eval_ms: Some(80.0),
        gen_eval_tokens: Some(6),
        peak_rss_bytes: Some(3_000_000_000),
        kv_cache_bytes: Some(4096),
        decode_ms: Some(100.0),
        cached_tokens: Some(5),
        batch_sequences: Some(2),
        batch_wall_ms: Some(240.0),
        first_reasoning_ms: Some(12.0),
        tokens_estimated: Some(true),
        new_connection: Some(false),
        ..RunMetrics::new(120.5, 12, 7)
    };
    assert_eq!(report.runs[0].run.metrics, Some(expected));
    assert_eq!(report.runs[1].run.metrics, None);
    assert_eq!(
        report.runs[1].run.error.as_ref().map(|e| e.class),
        Some(ErrorClass::Decode)
    );
}

#[test]
fn every_measurement_of_a_run_is_kept_and_the_older_metric_columns_are_still_filled() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let experiment = experiment();
    let mut writer = begun(&mut store, &experiment);
    let metrics = RunMetrics {
        ttft_ms: Some(3.5),
        peak_rss_bytes: Some(u64::from(u32::MAX) + 1),
        tokens_estimated: Some(true),
        ..RunMetrics::new(42.0, 3, 2)
    };
    let run = RunRecord {
        metrics: Some(metrics.clone()),
        ..measured(0)
    };
    writer.record_run(&run).unwrap();
    let id = writer.experiment_id();
    let report = store.report(id).unwrap();
    assert_eq!(report.runs[0].run.metrics, Some(metrics));
    let columns: (f64, f64, i64, i64) = store
        .conn
        .query_row(
            "SELECT latency_ms, ttft_ms, peak_rss_bytes, tokens_estimated FROM runs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(columns, (42.0, 3.5, 4_294_967_296, 1));
}
