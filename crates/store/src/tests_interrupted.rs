//! Experiments whose process is gone: how they read, and resuming them.

use std::path::Path;
use std::process::Command;

use tradeoff_core::execute::environment::Environment;
use tradeoff_core::execute::record::RunRecord;
use tradeoff_core::execute::resume::{ExperimentStatus, missing_runs};
use tradeoff_core::execute::sink::RunSink;
use tradeoff_core::run::{FinishReason, RunMetrics};
use tradeoff_core::spec::experiment::{Experiment, TargetKind};
use tradeoff_core::spec::load::{FileFormat, parse_str};
use tradeoff_core::spec::matrix::{Plan, PlannedRun};

use crate::{Owner, Store, StoreError};

/// 2 variants × 2 n_ctx × 1 case × 1 repetition: 4 planned runs.
fn experiment() -> Experiment {
    parse_str(
        "schema: 1
name: four
variants: [{id: a, prompt: 'A {{ x }}'}, {id: b, prompt: 'B {{ x }}'}]
cases: [{id: one, vars: {x: '1'}}]
targets: [{id: t, model: m.gguf, n_ctx: [256, 512], threads: 2}]
",
        FileFormat::Yaml,
        "four.yaml",
        Path::new("/m"),
    )
    .unwrap()
}

/// A process that existed and has ended, as an experiment would have recorded it.
fn dead_owner() -> Owner {
    let mut child = Command::new("true").spawn().unwrap();
    let owner = Owner::of(child.id());
    child.wait().unwrap();
    owner
}

fn run(planned: PlannedRun) -> RunRecord {
    RunRecord {
        config: planned.config,
        case: planned.case,
        repetition: planned.repetition,
        started_at: "2026-11-29T10:00:00Z".into(),
        output: format!("run of config {}", planned.config),
        finish_reason: Some(FinishReason::Stop),
        metrics: Some(RunMetrics {
            ttft_ms: Some(10.0),
            ..RunMetrics::new(100.0 + planned.config as f64, 5, 3)
        }),
        error: None,
        warnings: vec![],
        checks: Vec::new(),
        cost_usd: None,
        attempts: Vec::new(),
        cache_hit: false,
        cache_saved_usd: None,
    }
}

fn all_runs(plan: &Plan) -> Vec<PlannedRun> {
    plan.groups.iter().flat_map(|g| g.runs.clone()).collect()
}

/// Begins the experiment as `owner` and records the plan's first `recorded` runs.
fn begun_by(store: &mut Store, owner: &Owner, recorded: usize) -> i64 {
    let experiment = crate::tests::with_model_hash(experiment(), "abc");
    let plan = Plan::new(&experiment);
    let mut writer = store
        .begin_experiment(&experiment, &plan, &Environment::detect(None), owner)
        .unwrap();
    for planned in all_runs(&plan).into_iter().take(recorded) {
        writer.record_run(&run(planned)).unwrap();
    }
    writer.experiment_id()
}

#[test]
fn an_experiment_whose_owner_is_dead_reads_interrupted_with_planned_and_recorded_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let id = begun_by(&mut store, &dead_owner(), 3);

    let listing = &store.list_experiments().unwrap()[0];
    assert_eq!(
        (listing.status.as_str(), listing.runs, listing.planned_runs),
        ("interrupted", 3, 4)
    );
    let report = store.report(id).unwrap();
    assert_eq!(
        (report.status.as_str(), report.runs.len(), report.planned_runs),
        ("interrupted", 3, 4)
    );
    assert!(
        report
            .to_markdown()
            .contains("Status: interrupted — 3 of 4 runs recorded."),
        "{}",
        report.to_markdown()
    );
    // Reading changed nothing: the row still holds what its owner last wrote.
    let stored: String = store
        .conn
        .query_row("SELECT status FROM experiments WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, "running");
}

#[test]
fn an_experiment_whose_owner_lives_reads_running_and_cannot_be_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let id = begun_by(&mut store, &Owner::current(), 1);
    assert_eq!(
        store.list_experiments().unwrap()[0].status,
        ExperimentStatus::Running
    );

    let experiment = experiment();
    let plan = Plan::new(&experiment);
    let pid = std::process::id();
    assert!(matches!(
        store.check_resumable(id, &[]),
        Err(StoreError::StillRunning { pid: p, .. }) if p == pid
    ));
    let refused = store.resume_experiment(id, &experiment, &plan, &[], &Owner::current());
    assert!(matches!(refused, Err(StoreError::StillRunning { .. })));
}

#[test]
fn resuming_records_only_the_missing_runs_and_never_one_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let id = begun_by(&mut store, &dead_owner(), 1);
    let experiment = store.experiment(id).unwrap();
    let plan = Plan::new(&experiment);
    let planned = all_runs(&plan);
    {
        let (mut writer, recorded) = store
            .resume_experiment(id, &experiment, &plan, &[Some("abc".into())], &Owner::current())
            .unwrap();
        assert_eq!(recorded, vec![planned[0]]);
        let missing = all_runs(&missing_runs(&plan, &recorded));
        assert_eq!(missing, planned[1..]);
        for planned in missing {
            writer.record_run(&run(planned)).unwrap();
        }
        // The database itself refuses a second record of the same run.
        assert!(writer.record_run(&run(planned[0])).is_err());
    }
    // Taken over: this process is the owner now, so a second resume is refused.
    assert_eq!(
        store.list_experiments().unwrap()[0].status,
        ExperimentStatus::Running
    );
    assert!(matches!(
        store.check_resumable(id, &[]),
        Err(StoreError::StillRunning { .. })
    ));

    store.finish_experiment(id, ExperimentStatus::Completed).unwrap();
    let report = store.report(id).unwrap();
    assert_eq!((report.status.as_str(), report.runs.len()), ("completed", 4));
    assert!(
        report.configs.iter().all(|c| c.runs == 1),
        "one summary of all runs"
    );
    assert!(matches!(
        store.check_resumable(id, &[]),
        Err(StoreError::AlreadyCompleted(i)) if i == id
    ));
}

#[test]
fn a_cancelled_experiment_can_be_resumed_but_not_with_a_different_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let id = begun_by(&mut store, &Owner::current(), 2);
    store.finish_experiment(id, ExperimentStatus::Cancelled).unwrap();
    assert!(store.check_resumable(id, &[Some("abc".into())]).is_ok());
    assert!(matches!(
        store.check_resumable(id, &[Some("changed".into())]),
        Err(StoreError::ModelChanged { target, .. }) if target == "t"
    ));
    assert!(matches!(
        store.check_resumable(99, &[]),
        Err(StoreError::NotFound(99))
    ));
}

#[test]
fn a_plan_that_does_not_match_the_recorded_configs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let id = begun_by(&mut store, &dead_owner(), 1);
    let mut experiment = store.experiment(id).unwrap();
    if let TargetKind::Local(local) = &mut experiment.targets[0].kind {
        local.n_ctx.push(1024);
    }
    let plan = Plan::new(&experiment);
    let refused = store.resume_experiment(id, &experiment, &plan, &[], &Owner::current());
    assert!(matches!(refused, Err(StoreError::PlanMismatch { .. })));
    assert_eq!(
        store.list_experiments().unwrap()[0].status,
        ExperimentStatus::Interrupted,
        "a refused resume takes nothing over"
    );
}

#[test]
fn experiments_recorded_before_owners_get_their_planned_runs_and_read_interrupted_when_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        crate::migrations::migrations().to_version(&mut conn, 8).unwrap();
        let environment = serde_json::to_string(&Environment::detect(None)).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO experiments (id, name, spec_json, environment_json, created_at, status)
                 VALUES (1, 'old', '{{\"repetitions\": 3}}', '{environment}', '2026-01-01', 'running');
             INSERT INTO variants VALUES (1, 1, 0, 'a', '{{}}');
             INSERT INTO cases VALUES (1, 1, 0, 'one', '{{}}', NULL), (2, 1, 1, 'two', '{{}}', NULL);
             INSERT INTO targets VALUES (1, 1, 0, 't', '{{}}', 'm.gguf', NULL);
             INSERT INTO configs (id, experiment_id, position, variant_id, target_id)
                 VALUES (1, 1, 0, 1, 1), (2, 1, 1, 1, 1);"
        ))
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let listing = &store.list_experiments().unwrap()[0];
    assert_eq!(
        (listing.status.as_str(), listing.runs, listing.planned_runs),
        ("interrupted", 0, 2 * 2 * 3)
    );
}
