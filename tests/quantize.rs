//! Quantization through the worker, and the model library that records it.

use crate::support::{FEWSHOT, model_turn, stderr, stdout, tradeoff, write};

#[test]
fn quantizing_an_already_quantized_model_needs_an_explicit_flag() {
    let dir = tempfile::tempdir().unwrap();
    let output = tradeoff()
        .args(["quantize", "default", "--type", "Q8_0", "--out-dir"])
        .arg(dir.path())
        .arg("--db")
        .arg(dir.path().join("db.sqlite3"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("already quantized (Q4_K_M)"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("--allow-requantize"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "gguf"))
            .count(),
        0
    );

    let unknown = tradeoff()
        .args([
            "quantize",
            "default",
            "--type",
            "Q9_9",
            "--allow-requantize",
            "--out-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("`Q9_9` is not a type"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn a_q8_0_made_from_the_default_model_loads_runs_and_is_labelled_requantized() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let models = dir.path().join("models");
    let output = tradeoff()
        .args([
            "quantize",
            "default",
            "--type",
            "q8_0",
            "--allow-requantize",
            "--events",
            "--out-dir",
        ])
        .arg(&models)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let events: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = events.last().unwrap();
    assert_eq!(last["event"], "quantized", "{last}");
    assert_eq!(last["requantized"], true);
    let progress: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "progress").collect();
    assert!(progress.len() > 100, "progress per tensor");
    assert_eq!(
        progress.last().unwrap()["done"],
        progress.last().unwrap()["total"]
    );
    let q8 = std::path::PathBuf::from(last["path"].as_str().unwrap());
    assert_eq!(q8, models.join("gemma-3-270m-q4_k_m-requant-q8_0.gguf"));

    let inspect = tradeoff()
        .args(["models", "inspect", "--json"])
        .arg(&q8)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&stdout(&inspect)).unwrap();
    assert_eq!(info["quantization"], "Q8_0");

    let add = tradeoff()
        .args(["models", "add"])
        .arg(&models)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(add.status.success(), "{}", stderr(&add));
    let list = tradeoff()
        .args(["models", "list", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == q8.to_string_lossy().as_ref())
        .expect("the quantized model is in the library");
    assert_eq!(entry["origin"]["requantized"], true);
    assert_eq!(entry["origin"]["source_quantization"], "Q4_K_M");

    let file = write(
        dir.path(),
        "ab.yaml",
        &format!(
            "schema: 1
variants: [{{id: fewshot, prompt: {prompt}}}]
cases: [{{vars: {{}}}}]
targets:
  - {{id: q4_k_m, model: default, n_ctx: 512, max_tokens: 24, stop: [\"\\n\"]}}
  - {{id: q8_0, model: {q8}, n_ctx: 512, max_tokens: 24, stop: [\"\\n\"]}}
",
            prompt = serde_json::to_string(FEWSHOT).unwrap(),
            q8 = q8.display()
        ),
    );
    let run = tradeoff()
        .args(["run", "--json", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let report: serde_json::Value = serde_json::from_str(&stdout(&run)).unwrap();
    for run in report["runs"].as_array().unwrap() {
        assert!(run["error"].is_null(), "{run}");
        assert!(run["output"].as_str().unwrap().contains("Berlin"), "{run}");
    }
}
