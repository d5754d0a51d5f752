//! Throughput mode (parallel sequences) and prefix caching on the real model, against plain
//! single-stream runs of the same prompts.

use crate::support::{FEWSHOT, model_turn, stderr, stdout, tradeoff, write};

fn run_json(dir: &std::path::Path, yaml: &str) -> serde_json::Value {
    let file = write(dir, "e.yaml", yaml);
    let output = tradeoff()
        .args(["run", "--json", "--db"])
        .arg(dir.join("db.sqlite3"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

/// Outputs by (case, repetition) for the configs whose settings field `key` equals `value`.
fn outputs(report: &serde_json::Value, key: &str, value: serde_json::Value) -> Vec<(String, String)> {
    let mut outputs: Vec<(String, String)> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r[key] == value)
        .map(|r| {
            (
                format!("{}/{}", r["case"], r["repetition"]),
                r["output"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    outputs.sort();
    outputs
}

#[test]
fn batched_greedy_outputs_agree_with_sequential_ones_and_are_labelled() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let cases: String = [
        (1, 30),
        (10, 40),
        (100, 130),
        (7, 37),
        (55, 85),
        (200, 230),
        (3, 33),
        (42, 72),
    ]
    .iter()
    .map(|(a, b)| format!("  - {{vars: {{a: {a}, b: {b}}}}}\n"))
    .collect();
    let report = run_json(
        dir.path(),
        &format!(
            "schema: 1
variants: [{{id: count, prompt: \"Count from 1 to 6: 1, 2, 3, 4, 5, 6\\nCount from {{{{ a }}}} to {{{{ b }}}}:\"}}]
cases:
{cases}targets: [{{id: t, model: default, n_ctx: 512, parallel: [1, 4], max_tokens: 48}}]
"
        ),
    );
    let configs = report["configs"].as_array().unwrap();
    assert_eq!(configs[0]["settings_label"], "n_ctx 512 · 1 parallel");
    assert_eq!(configs[1]["settings_label"], "n_ctx 512 · 4 parallel");
    for config in configs {
        assert_eq!(config["errors"], 0, "{config}");
        assert!(config["aggregate_tokens_per_s"].as_f64().unwrap() > 0.0);
    }
    assert!(
        configs[1]["gen_tokens_per_s_mean"].is_null(),
        "no per-run perf counters in a batch"
    );
    for run in report["runs"].as_array().unwrap() {
        let expected = if run["parallel"] == 4 {
            serde_json::json!(4)
        } else {
            serde_json::Value::Null
        };
        assert_eq!(run["batch_sequences"], expected, "{run}");
    }

    let sequential = outputs(&report, "parallel", serde_json::json!(1));
    let batched = outputs(&report, "parallel", serde_json::json!(4));
    assert_eq!(sequential.len(), 8);
    let mut identical = 0;
    for ((case, one), (_, many)) in sequential.iter().zip(&batched) {
        // Batching changes the order of float sums (on AVX2, ggml's repacked Q4_K kernels serve
        // batches and not single tokens), so a near-tie can flip: the one-shot prompt fixes the
        // format so that early tokens win by a clear margin, and an early divergence would mean
        // the sequences see each other's cache or positions.
        let early = |text: &str| text.split_whitespace().take(8).collect::<Vec<_>>().join(" ");
        assert_eq!(early(one), early(many), "case {case}: {one:?} vs {many:?}");
        identical += usize::from(one == many);
    }
    eprintln!("throughput mode: {identical}/8 outputs identical to sequential ones");
}

#[test]
fn a_prefix_cache_reuses_the_shared_prompt_without_changing_any_output() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let shared = FEWSHOT.rsplit_once("Sentence:").unwrap().0;
    let prompt = format!("{shared}Sentence: {{{{ s }}}}\nJSON:");
    let report = run_json(
        dir.path(),
        &format!(
            "schema: 1
variants: [{{id: fewshot, prompt: {prompt}}}]
cases:
  - {{vars: {{s: The Berlin Wall fell in 1989.}}}}
  - {{vars: {{s: Paris hosted the World Exposition of 1889.}}}}
  - {{vars: {{s: London held the Olympic Games in 2012.}}}}
targets: [{{id: t, model: default, n_ctx: 512, prefix_cache: [false, true], max_tokens: 24, stop: [\"\\n\"]}}]
",
            prompt = serde_json::to_string(&prompt).unwrap()
        ),
    );
    let configs = report["configs"].as_array().unwrap();
    let (cold, warm) = (&configs[0], &configs[1]);
    assert_eq!(cold["settings_label"], "n_ctx 512 · cold");
    assert_eq!(warm["settings_label"], "n_ctx 512 · prefix cache");
    assert_eq!(cold["warm_runs"], 0);
    assert_eq!(
        warm["warm_runs"], 2,
        "every run after the first reuses the shared examples"
    );
    assert!(warm["cached_tokens_mean"].as_f64().unwrap() > 20.0, "{warm}");
    assert!(warm["ttft_saved_ms_estimate"].as_f64().unwrap() > 0.0, "{warm}");
    assert!(warm["ttft_p50_saved_vs_cold_ms"].as_f64().is_some(), "{warm}");
    assert_eq!(
        outputs(&report, "prefix_cache", serde_json::json!(false)),
        outputs(&report, "prefix_cache", serde_json::json!(true)),
        "greedy outputs do not depend on the cache"
    );
}
