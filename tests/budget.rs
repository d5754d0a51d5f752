//! Context budgets on the real default model: a case variable cut to each budget with the
//! model's own tokenizer, exactly; the plan shows what each budget leaves; and on the retrieval
//! fixture the budgets make the difference, and racing finds the grid's winner with fewer runs.

use std::collections::BTreeMap;

use crate::support::{json, model_turn, stderr, tradeoff, tradeoff_json, write};

#[test]
fn every_budget_cuts_the_variable_to_at_most_its_tokens_by_the_models_tokenizer_and_the_plan_agrees() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    // The prompt is the variable alone, so a run's input tokens are the cut text's and the BOS.
    let file = write(
        dir.path(),
        "cut.yaml",
        "schema: 1
variants: [{id: v, prompt: '{{ doc }}'}]
cases:
  - id: prose
    vars:
      question: Where does the ferry go?
      doc: >-
        Port Alder is a small fishing town on the north coast. The harbour was rebuilt after the storm of 1952.
        Most boats leave before dawn and return by noon. A ferry crosses to the islands twice a day in summer.
        Ünïcödé names like Zürich, Kraków and São Paulo appear on the old harbour sign — next to émigré notes.
targets: [{id: gemma, model: default, n_ctx: 512, max_tokens: 1, temperature: 0}]
budget: {var: doc, tokens: [5, 17, 40], strategy: [head, tail, middle, relevant], query: question}
",
    );
    let plan = json(&tradeoff().args(["plan", "--json"]).arg(&file).output().unwrap());
    let planned: BTreeMap<String, u64> = plan["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let variant = c["config"]
                .as_str()
                .unwrap()
                .split(" · ")
                .next()
                .unwrap()
                .to_string();
            (variant, c["input_tokens"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(planned.len(), 12, "{planned:?}");

    let run = tradeoff()
        .args(["run", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let report = tradeoff_json(&["report", "latest", "--format", "json"], &db);
    for row in report["runs"].as_array().unwrap() {
        let variant = row["variant"].as_str().unwrap();
        let budget: u64 = variant
            .split('≤')
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        let input = row["input_tokens"].as_u64().unwrap();
        // One BOS token besides the cut text.
        assert!(input - 1 <= budget, "{variant}: {input} input tokens");
        if variant.ends_with(&format!("≤{budget}")) || variant.ends_with("tail") {
            // Head and tail keep as much as fits: at most one token short of the budget at the
            // cut's edge, which the BOS makes up.
            assert!(input >= budget, "{variant}: only {input} input tokens");
        }
        assert_eq!(
            planned[variant], input,
            "{variant}: the plan and the run count alike"
        );
    }
}

#[test]
fn on_the_retrieval_fixture_relevant_keeps_the_answer_where_head_loses_it_and_racing_finds_the_grids_winner_with_half_its_runs()
 {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/experiments/retrieval.yaml"
    );
    for strategy in ["grid", "racing"] {
        let out = tradeoff()
            .args(["run", "--search", strategy, "--db"])
            .arg(&db)
            .arg(fixture)
            .output()
            .unwrap();
        assert!(out.status.success(), "{strategy}: {}", stderr(&out));
    }
    let report = |id: &str| tradeoff_json(&["report", id, "--format", "json"], &db);
    let grid = report("1");
    let pass = |variant: &str| {
        grid["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["variant"] == variant)
            .and_then(|c| c["pass_rate"].as_f64())
            .unwrap()
    };
    // The answer sits in the passage's second half: its head at 32 tokens never holds it; the
    // sentences that rank best against the question do, within 16 tokens.
    assert_eq!(pass("fewshot passage≤32"), 0.0);
    assert!(pass("fewshot passage≤16 relevant") >= 0.9);
    assert!(pass("fewshot passage≤128") >= 0.9, "the whole passage answers");

    let winner = |id: &str| {
        let export = tradeoff_json(&["winner", id], &db);
        export["winner"]["variant"]["id"].as_str().unwrap().to_string()
    };
    assert_eq!(winner("1"), "fewshot passage≤16 relevant");
    assert_eq!(winner("2"), winner("1"));
    let search = &report("2")["search"];
    let used = search["runs_used"].as_f64().unwrap();
    let all = search["runs_grid"].as_f64().unwrap();
    assert_eq!(all, 240.0);
    assert!(used <= 0.5 * all, "racing used {used} of {all} runs");
}
