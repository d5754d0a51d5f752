//! Picking and exporting the winner of a recorded experiment.

use crate::support::{FEWSHOT, model_turn, stderr, stdout, tradeoff, winner_schema_errors, write};

#[test]
fn the_winner_file_validates_against_its_schema_and_names_the_runner_up() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = write(
        dir.path(),
        "e.yaml",
        &format!(
            "schema: 1
variants:
  - {{id: fewshot, prompt: {fewshot}}}
  - {{id: bare, prompt: 'The Berlin Wall fell in 1989. As JSON with city and year:'}}
cases: [{{vars: {{}}, expected: '{{\"city\": \"Berlin\", \"year\": 1989}}'}}]
targets: [{{id: t, model: default, n_ctx: 512, max_tokens: 24, stop: [\"\\n\"], price: {{per_hour: 0.08}}}}]
repetitions: 3
checks: [{{type: json_valid}}, {{type: equals}}]
objective: {{constraints: ['pass_rate >= 0.9'], order: [cheapest, fastest]}}
",
            fewshot = serde_json::to_string(FEWSHOT).unwrap()
        ),
    );
    let run = tradeoff()
        .args(["run", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));

    let out = dir.path().join("winner.json");
    let winner = tradeoff()
        .args(["winner", "latest", "--db"])
        .arg(&db)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(winner.status.success(), "{}", stderr(&winner));
    assert!(stdout(&winner).contains("excluded: bare"), "{}", stdout(&winner));
    let text = std::fs::read_to_string(&out).unwrap();
    let exported: serde_json::Value = serde_json::from_str(&text).unwrap();
    let errors = winner_schema_errors(&exported);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(exported["winner"]["kind"], "config");
    assert_eq!(exported["winner"]["variant"]["id"], "fewshot");
    assert_eq!(
        exported["objective"]["order"][0], "cheapest",
        "the file's objective was used"
    );
    assert!(
        exported["runner_up"].is_null(),
        "the only other config was excluded"
    );
    assert_eq!(
        exported["excluded"][0]["reason"],
        "pass_rate >= 0.9 fails: pass_rate is 0.0000"
    );

    // Another objective from the command line: both configs qualify, the runner-up and its
    // margin (with an interval) are named.
    let loose = tradeoff()
        .args([
            "winner",
            "latest",
            "--objective",
            r#"{"constraints": [], "order": ["fastest"]}"#,
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(loose.status.success(), "{}", stderr(&loose));
    let loose: serde_json::Value = serde_json::from_str(&stdout(&loose)).unwrap();
    assert!(
        loose["runner_up"]["latency_ms"]["median"]["low"].is_number(),
        "{loose}"
    );

    let impossible = tradeoff()
        .args([
            "winner",
            "latest",
            "--objective",
            r#"{"constraints": ["p95_latency_ms <= 1"]}"#,
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(impossible.status.code(), Some(1));
    assert!(
        stderr(&impossible).contains("no config or policy meets"),
        "{}",
        stderr(&impossible)
    );
    let malformed = tradeoff()
        .args([
            "winner",
            "latest",
            "--objective",
            r#"{"constraints": ["speed < 3"]}"#,
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(malformed.status.code(), Some(2));
}
