//! `tradeoff plan`: token counts and fits before running, equal to what the run records.

use crate::support::{FEWSHOT, model_turn, stderr, stdout, tradeoff, write};

#[test]
fn the_plan_counts_the_tokens_the_run_then_sends_and_flags_what_cannot_fit() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "e.yaml",
        &format!(
            "schema: 1
variants: [{{id: fewshot, prompt: {}}}]
cases: [{{id: berlin, vars: {{}}}}]
targets: [{{id: t, model: default, n_ctx: [128, 512], max_tokens: 64, stop: [\"\\n\"], price: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}}}]
",
            serde_json::to_string(FEWSHOT).unwrap()
        ),
    );
    let plan = tradeoff().args(["plan", "--json"]).arg(&file).output().unwrap();
    assert!(plan.status.success(), "{}", stderr(&plan));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let cells = plan["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    let planned = cells[0]["input_tokens"].as_u64().unwrap();
    assert_eq!(
        cells[0]["fits_context"], false,
        "{planned} + 64 tokens do not fit n_ctx 128"
    );
    assert_eq!(cells[1]["fits_context"], true);
    let bound = cells[1]["max_token_cost_usd"].as_f64().unwrap();
    let expected = planned as f64 * 1.0 / 1e6 + 64.0 * 2.0 / 1e6;
    assert!((bound - expected).abs() < 1e-12, "{bound} vs {expected}");
    assert_eq!(plan["configs"][1]["fits_memory"], true);

    let run = tradeoff()
        .args(["run", "--json", "--db"])
        .arg(dir.path().join("db.sqlite3"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let report: serde_json::Value = serde_json::from_str(&stdout(&run)).unwrap();
    for run in report["runs"].as_array().unwrap() {
        assert_eq!(
            run["input_tokens"].as_u64(),
            Some(planned),
            "the plan counted what was sent: {run}"
        );
        let cost = run["cost_usd"].as_f64().unwrap();
        let output = run["output_tokens"].as_f64().unwrap();
        assert!(
            (cost - (planned as f64 / 1e6 + output * 2.0 / 1e6)).abs() < 1e-12,
            "{run}"
        );
    }
}

#[test]
fn hosted_models_are_planned_with_tiktoken_or_a_marked_estimate_their_context_window_and_table_prices() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "hosted.yaml",
        "schema: 1
variants: [{id: v, system: 'Answer with JSON.', user: '{{ text }}'}]
cases: [{id: short, vars: {text: 'The Berlin Wall fell in 1989.'}}]
targets:
  - {id: openai, provider: openai, model: gpt-4o-mini, max_tokens: 100}
  - {id: claude, provider: anthropic, model: claude-3-5-haiku-latest, max_tokens: 100}
repetitions: 2
",
    );
    let out = tradeoff()
        .env("TRADEOFF_HOME", dir.path())
        .args(["plan", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let openai = &plan["cells"][0];
    // o200k_base (Python tiktoken): "Answer with JSON." 4 tokens, "The Berlin Wall fell in
    // 1989." 9, each role 1; OpenAI's chat framing 3 per message + 3: (3+1+4) + (3+1+9) + 3.
    assert_eq!(openai["input_tokens"], 24, "{openai}");
    assert_eq!(openai["tokens_estimated"], false);
    assert_eq!(openai["counted_by"], "tiktoken o200k_base");
    assert_eq!(openai["n_ctx"], 128000, "the context window from the price table");
    assert_eq!(openai["fits_context"], true);
    let openai_bound = (24.0 * 0.15 + 100.0 * 0.60) / 1e6;
    assert!(
        (openai["max_token_cost_usd"].as_f64().unwrap() - openai_bound).abs() < 1e-12,
        "{openai}"
    );
    // No public tokenizer: "Answer with JSON.\n\nThe Berlin Wall fell in 1989." is 48
    // characters, about 12 tokens, marked as an estimate.
    let claude = &plan["cells"][1];
    assert_eq!(claude["input_tokens"], 12, "{claude}");
    assert_eq!(claude["tokens_estimated"], true);
    assert_eq!(claude["n_ctx"], 200000);
    let claude_bound = (12.0 * 0.80 + 100.0 * 4.00) / 1e6;
    let total = plan["max_token_cost_usd"].as_f64().unwrap();
    assert!(
        (total - 2.0 * (openai_bound + claude_bound)).abs() < 1e-12,
        "{total}"
    );
    let table = tradeoff()
        .env("TRADEOFF_HOME", dir.path())
        .arg("plan")
        .arg(&file)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("~12") && table.contains("24"), "{table}");
}
