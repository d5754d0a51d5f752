//! Sweeps of local settings (threads, KV cache type, ...) end to end on the real model.

use crate::support::{model_turn, stderr, stdout, tradeoff, write};

#[test]
fn a_sweep_makes_a_config_per_combination_and_recreates_only_the_context() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "sweep.yaml",
        "schema: 1
variants: [{id: v, prompt: 'The capital of France is'}]
cases: [{vars: {}}]
targets:
  - {id: t, model: default, n_ctx: 512, threads: [1, 2], kv_type: [f16, q8_0], max_tokens: 6}
",
    );
    let output = tradeoff()
        .args(["run", "--json", "--db"])
        .arg(dir.path().join("db.sqlite3"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();

    let configs = report["configs"].as_array().unwrap();
    let labels: Vec<&str> = configs
        .iter()
        .map(|c| c["settings_label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "n_ctx 512 · 1 thread · kv f16",
            "n_ctx 512 · 2 threads · kv f16",
            "n_ctx 512 · 1 thread · kv q8_0",
            "n_ctx 512 · 2 threads · kv q8_0",
        ]
    );
    for config in configs {
        assert_eq!(config["errors"], 0, "{config}");
        assert!(config["peak_rss_bytes_max"].as_u64().unwrap() > 200 << 20);
    }
    assert!(
        configs[0]["model_load_ms"].as_f64().unwrap() > 0.0,
        "the first config loaded the model"
    );
    for config in &configs[1..] {
        assert!(config["model_load_ms"].is_null(), "{config}");
        assert!(config["context_create_ms"].as_f64().unwrap() > 0.0, "{config}");
    }
    let kv = |i: usize| configs[i]["kv_cache_bytes"].as_u64().unwrap();
    assert_eq!(kv(0), kv(1), "threads do not change the KV cache");
    assert!(kv(2) < kv(0), "a q8_0 cache is smaller than f16");

    let loads = report["targets"][0]["loads"].as_array().unwrap();
    assert_eq!(loads.len(), 4);
    assert!(loads[0]["model_load_ms"].as_f64().is_some());
    for load in &loads[1..] {
        assert!(load["model_load_ms"].is_null(), "the model stays loaded: {load}");
        assert!(load["context_create_ms"].as_f64().unwrap() > 0.0);
    }

    let csv = tradeoff()
        .args(["report", "latest", "--format", "csv", "--db"])
        .arg(dir.path().join("db.sqlite3"))
        .output()
        .unwrap();
    let csv = stdout(&csv);
    let header = csv.lines().next().unwrap();
    assert!(header.contains("threads,batch,kv_type,n_gpu_layers"), "{header}");
    assert!(header.contains("peak_rss_bytes,kv_cache_bytes"), "{header}");
}
