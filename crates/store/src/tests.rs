use std::path::Path;

use tradeoff_core::execute::environment::Environment;
use tradeoff_core::execute::record::RunRecord;
use tradeoff_core::execute::resume::ExperimentStatus;
use tradeoff_core::execute::sink::{LoadEvent, RunSink};
use tradeoff_core::run::{ErrorClass, FinishReason, RunError, RunMetrics};
use tradeoff_core::spec::experiment::Experiment;
use tradeoff_core::spec::load::{FileFormat, parse_str};
use tradeoff_core::spec::matrix::Plan;

use crate::{Owner, Store, StoreError};

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

fn measured(config: usize) -> RunRecord {
    RunRecord {
        config,
        case: 0,
        repetition: 0,
        started_at: "2026-11-29T10:00:00Z".into(),
        output: "{\"city\": \"Berlin\"} ünïcode".into(),
        finish_reason: Some(FinishReason::Stop),
        metrics: Some(RunMetrics {
            latency_ms: 123.456,
            ttft_ms: Some(45.6),
            input_tokens: 95,
            output_tokens: 16,
            prompt_eval_ms: Some(40.0),
            prompt_eval_tokens: Some(95),
            gen_eval_ms: Some(70.0),
            gen_eval_tokens: Some(15),
            peak_rss_bytes: Some(400 << 20),
            kv_cache_bytes: Some(3 << 20),
            cached_tokens: None,
            decode_ms: None,
            batch_sequences: None,
            batch_wall_ms: None,
            first_reasoning_ms: None,
            tokens_estimated: None,
            new_connection: None,
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
    let experiment = experiment();
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
            .begin_experiment(
                &experiment,
                &plan,
                &Environment::detect(None),
                &[Some("abc".into())],
                &Owner::current(),
            )
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
            back.variant.as_str(),
            back.target.as_str(),
            back.settings.unwrap().n_ctx,
            back.case.as_str()
        ),
        ("a", "t", 512, "one")
    );
    assert_eq!(back.output, run.output);
    assert_eq!(back.finish_reason, run.finish_reason);
    assert_eq!(back.metrics, run.metrics);
    assert_eq!(back.warnings, run.warnings);
    assert_eq!(back.gen_tokens_per_s, Some(15.0 * 1000.0 / 70.0));
    assert_eq!(report.runs[1].error, failed.error);
    assert_eq!(report.targets[0].model_sha256.as_deref(), Some("abc"));
    assert_eq!(report.targets[0].loads[0].model_load_ms, Some(80.0));
    assert_eq!(
        Some(report.targets[0].loads[0].settings),
        plan.configs[0].settings
    );
    assert_eq!(report.targets[0].loads[0].kv_cache_bytes, Some(3 << 20));
    assert_eq!(back.settings, plan.configs[1].settings);
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
    let mut writer = store
        .begin_experiment(
            &experiment,
            &Plan::new(&experiment),
            &Environment::detect(None),
            &[],
            &Owner::current(),
        )
        .unwrap();
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
    assert_eq!(report.runs[0].output, "kept");
    let settings = report.runs[0].settings.unwrap();
    assert_eq!((settings.n_ctx, settings.threads, settings.batch), (512, 3, 1024));
    assert_eq!(settings.kv_type, tradeoff_core::spec::target::KvType::F16);
    assert_eq!(report.targets[0].loads[0].settings, settings);
    assert_eq!(report.configs[0].runs, 1);
}
