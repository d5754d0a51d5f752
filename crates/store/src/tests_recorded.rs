//! How an experiment is kept: its file and resolved facts, read back by validating the file
//! again; and experiments recorded before that (migration 011), read by the legacy reader.

use std::path::Path;

use rusqlite::params;
use tradeoff_core::execute::environment::Environment;
use tradeoff_core::spec::experiment::{Experiment, TargetKind};
use tradeoff_core::spec::load::{FileFormat, parse_str};
use tradeoff_core::spec::matrix::Plan;

use crate::tests::with_model_hash;
use crate::{Owner, Store, StoreError};

fn local_and_hosted() -> Experiment {
    let experiment = parse_str(
        "schema: 1
name: kept
variants: [{id: a, prompt: 'A {{ x }}'}]
cases: [{id: one, vars: {x: '1'}}]
targets:
  - {id: local, model: m.gguf, n_ctx: [256, 512]}
  - {id: hosted, provider: openai, model: gpt-4o-mini}
",
        FileFormat::Yaml,
        "kept.yaml",
        Path::new("/m"),
    )
    .unwrap();
    with_model_hash(experiment, "abc")
}

fn begin(store: &mut Store, experiment: &Experiment) -> i64 {
    let writer = store
        .begin_experiment(
            experiment,
            &Plan::new(experiment),
            &Environment::detect(None),
            &Owner::current(),
        )
        .unwrap();
    writer.experiment_id()
}

#[test]
fn an_experiment_is_kept_as_its_file_and_facts_and_reads_back_as_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let experiment = local_and_hosted();
    let id = begin(&mut store, &experiment);

    let (file, facts, spec): (Option<String>, Option<String>, Option<String>) = store
        .conn
        .query_row(
            "SELECT file_json, facts_json, spec_json FROM experiments WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(file.unwrap().contains("gpt-4o-mini"), "the file as written");
    assert!(
        facts.unwrap().contains("price_source"),
        "the table's price is a fact"
    );
    assert_eq!(spec, None, "the domain type is not stored");
    let remote: Vec<(Option<String>, Option<String>)> = store
        .conn
        .prepare("SELECT provider, remote_model FROM targets ORDER BY position")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        remote,
        [(None, None), (Some("openai".into()), Some("gpt-4o-mini".into()))]
    );

    assert_eq!(store.experiment(id).unwrap(), experiment);
    let report = store.report(id).unwrap();
    let [local, hosted] = &report.targets[..] else {
        panic!("two targets");
    };
    assert_eq!(
        (local.model_path.as_str(), local.model_sha256.as_deref()),
        ("/m/m.gguf", Some("abc"))
    );
    assert_eq!(
        hosted.model_path, "https://api.openai.com/v1",
        "a remote target's place is its API"
    );
    assert!(hosted.threads.is_empty() && hosted.price.is_some());
    assert_eq!(report.configs[2].settings_label, "openai gpt-4o-mini");
}

#[test]
fn a_recorded_file_this_version_refuses_says_so_and_its_report_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let id = begin(&mut store, &local_and_hosted());
    store
        .conn
        .execute(
            "UPDATE experiments SET file_json = json_set(file_json, '$.schema', 2) WHERE id = ?1",
            [id],
        )
        .unwrap();
    let error = store.experiment(id).unwrap_err();
    assert!(matches!(error, StoreError::NoLongerValid { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("unsupported schema 2") && message.contains("still readable"),
        "{message}"
    );
    assert_eq!(store.report(id).unwrap().configs.len(), 3);
}

#[test]
fn an_experiment_recorded_before_files_were_kept_reads_back_after_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v10.sqlite3");
    let experiment = local_and_hosted();
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        crate::migrations::migrations().to_version(&mut conn, 10).unwrap();
        // The validated experiment as version 10 stored it.
        let spec = serde_json::json!({
            "name": "kept", "description": null, "source": null,
            "variants": experiment.variants, "cases": experiment.cases,
            "targets": experiment.targets, "repetitions": 1, "checks": [],
            "objective": null, "cache": "off", "graders": [],
        });
        conn.execute(
            "INSERT INTO experiments (id, name, spec_json, environment_json, created_at, status)
             VALUES (1, 'kept', ?1, ?2, '2026-01-01', 'completed')",
            params![
                spec.to_string(),
                serde_json::to_string(&Environment::detect(None)).unwrap()
            ],
        )
        .unwrap();
        conn.execute_batch("INSERT INTO variants VALUES (1, 1, 0, 'a', '{}');")
            .unwrap();
        for (position, target) in experiment.targets.iter().enumerate() {
            let place = match &target.kind {
                TargetKind::Local(local) => local.model.path.display().to_string(),
                TargetKind::Remote(remote) => remote.base_url.clone(),
            };
            conn.execute(
                "INSERT INTO targets (id, experiment_id, position, key, spec_json, model_path, model_sha256)
                 VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    position as i64 + 1,
                    position as i64,
                    target.id,
                    serde_json::to_string(target).unwrap(),
                    place,
                    target.local().and_then(|l| l.model_sha256.clone()),
                ],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO configs (experiment_id, position, variant_id, target_id, n_ctx, threads,
                 batch, kv_type, n_gpu_layers, parallel, prefix_cache)
             VALUES (1, 0, 1, 1, 256, 2, 2048, 'f16', 0, 1, 0), (1, 1, 1, 1, 512, 2, 2048, 'f16', 0, 1, 0),
                    (1, 2, 1, 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let mut read = store.experiment(1).unwrap();
    assert_eq!(read.written, None, "no file was kept then");
    read.written = experiment.written.clone();
    assert_eq!(read, experiment);
    let report = store.report(1).unwrap();
    assert_eq!(report.targets[0].model_sha256.as_deref(), Some("abc"));
    assert_eq!(
        report.targets[1].remote.as_ref().map(|r| r.model.as_str()),
        Some("gpt-4o-mini")
    );
    assert_eq!(report.configs[2].settings_label, "openai gpt-4o-mini");
}
