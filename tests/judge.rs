//! Judge checks: graded after the runs by a grader (remote here against a real HTTP server, and
//! local on the real default model), whose calls are recorded apart from the runs they grade.

use crate::support::sse_server::{FakeProvider, Reply, fixture_events, openai_chat_events};
use crate::support::{model_turn, stderr, tradeoff, write};

/// A grader that reads the rubric and the answer from the grading prompt and says PASS when the
/// answer mentions what the rubric asks for; it fails with a 500 when asked about "Error".
fn grading_server() -> FakeProvider {
    FakeProvider::start(|_, seen| {
        let request = seen.json();
        let prompt = request["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let last = prompt.rsplit("Rubric: mentions ").next().unwrap_or_default();
        let (wanted, answer) = last.split_once("\nAnswer: ").unwrap_or_default();
        if wanted == "Error" {
            return Reply::status(500, r#"{"error": {"message": "grader overloaded"}}"#);
        }
        let verdict = if answer.contains(wanted) {
            format!("PASS ({wanted} is mentioned)")
        } else {
            format!("FAIL ({wanted} is missing)")
        };
        Reply::stream(openai_chat_events(&verdict, 100, 6), 5, 2)
    })
}

fn run_json(db: &std::path::Path, file: &std::path::Path) -> serde_json::Value {
    let out = tradeoff()
        .args(["run", "--json", "--db"])
        .arg(db)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_remote_grader_grades_every_run_and_its_calls_are_recorded_apart_from_the_runs() {
    let _turn = model_turn();
    let runs = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 5, 2));
    let grader = grading_server();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = write(
        dir.path(),
        "judged.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, user: 'Where did the wall fall? ({{{{ city }}}})'}}]
cases: [{{id: berlin, vars: {{city: Berlin}}}}, {{id: paris, vars: {{city: Paris}}}}, {{id: broken, vars: {{city: Error}}}}]
targets: [{{id: api, provider: openai, model: m, base_url: '{}', price: {{input_per_mtok: 1, output_per_mtok: 2}}}}]
graders: [{{id: g, provider: openai, model: judge-model, base_url: '{}', max_attempts: 1, max_tokens: 16,
            price: {{input_per_mtok: 10, output_per_mtok: 20}}}}]
checks: [{{type: judge, rubric: 'mentions {{{{ city }}}}'}}]
",
            runs.base_url(),
            grader.base_url()
        ),
    );
    let report = run_json(&db, &file);
    assert_eq!(grader.requests().len(), 3, "one grading call per run");

    let verdicts: Vec<(bool, String)> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["checks"][0]["passed"].as_bool().unwrap(),
                r["checks"][0]["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(verdicts[0], (true, "Berlin is mentioned".to_string()));
    assert_eq!(verdicts[1], (false, "Paris is missing".to_string()));
    assert!(!verdicts[2].0);
    assert!(
        verdicts[2].1.contains("grader g") && verdicts[2].1.contains("server_error"),
        "{}",
        verdicts[2].1
    );

    // The runs' cost is their own: 61 input + 12 output tokens at $1/$2 per M.
    let run_cost = (61.0 + 24.0) / 1e6;
    for run in report["runs"].as_array().unwrap() {
        assert!(
            (run["cost_usd"].as_f64().unwrap() - run_cost).abs() < 1e-12,
            "{run}"
        );
    }
    let config = &report["configs"][0];
    assert!(
        (config["pass_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9,
        "{config}"
    );
    assert!((config["cost_per_run_usd"].as_f64().unwrap() - run_cost).abs() < 1e-12);

    // The grader's: 100 input + 6 output tokens at $10/$20 per M, twice (the 500 cost nothing).
    let judgements = report["judgements"].as_array().unwrap();
    assert_eq!(judgements.len(), 3);
    let call_cost = (100.0 * 10.0 + 6.0 * 20.0) / 1e6;
    assert!((judgements[0]["cost_usd"].as_f64().unwrap() - call_cost).abs() < 1e-12);
    assert_eq!(judgements[0]["answer"], "PASS (Berlin is mentioned)");
    assert_eq!(judgements[2]["error"]["class"], "server_error");
    let grading = &report["grading"][0];
    assert_eq!(grading["grader"], "g");
    assert_eq!(grading["calls"], 3);
    assert_eq!(grading["errors"], 1);
    assert_eq!(grading["passed"], 1);
    assert_eq!(grading["input_tokens"], 200);
    assert!((grading["cost_usd"].as_f64().unwrap() - 2.0 * call_cost).abs() < 1e-12);
    assert!(grading["latency_p50_ms"].as_f64().unwrap() > 0.0);

    let md = tradeoff()
        .args(["report", "latest", "--format", "md", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("## Grading"), "{md}");
    assert!(
        md.contains("grader g: 3 calls (1 without a verdict), 1 passed"),
        "{md}"
    );
}

#[test]
fn the_default_model_can_grade_as_a_local_grader() {
    let _turn = model_turn();
    let runs = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 5, 2));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = write(
        dir.path(),
        "local-grader.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, user: 'Where did the wall fall?'}}]
cases: [{{vars: {{}}}}]
targets: [{{id: api, provider: openai, model: m, base_url: '{}'}}]
graders: [{{id: local, model: default, n_ctx: 512, max_tokens: 12, stop: [\"\\n\"], price: {{per_hour: 0.36}}}}]
checks: [{{type: judge, rubric: 'The answer names a city.'}}]
",
            runs.base_url()
        ),
    );
    let report = run_json(&db, &file);
    let judgement = &report["judgements"][0];
    assert_eq!(judgement["grader"], "local");
    assert!(judgement["latency_ms"].as_f64().unwrap() > 0.0, "{judgement}");
    assert!(judgement["input_tokens"].as_u64().unwrap() > 50, "{judgement}");
    // Machine time at $0.36/h: the grader's own milliseconds, not the run's.
    let expected = judgement["latency_ms"].as_f64().unwrap() / 3.6e6 * 0.36;
    assert!(
        (judgement["cost_usd"].as_f64().unwrap() - expected).abs() < 1e-12,
        "{judgement}"
    );
    // The base model answers the few-shot grading prompt in its shape.
    assert!(judgement["error"].is_null(), "{judgement}");
    let answer = judgement["answer"].as_str().unwrap().trim().to_uppercase();
    assert!(
        answer.starts_with("PASS") || answer.starts_with("FAIL"),
        "{answer}"
    );
    assert!(
        report["runs"][0]["cost_usd"].is_null(),
        "the run has no price of its own"
    );
}
