//! A routing policy that won, served live: each request goes through the cascade's stages as the
//! simulation walked the recorded runs (a rule first, then a cheap API, then a dear one when the
//! cheap answer is not JSON), and the traffic log names the stages each request went through,
//! with the tokens and cost of all of them.

use serde_json::Value;

use super::{Server, curl, record_and_pick};
use crate::support::sse_server::{FakeProvider, Reply, openai_chat_events};
use crate::support::{stderr, stdout, tradeoff, write};

#[test]
fn a_cascade_winner_is_served_live_and_the_log_names_every_stage_a_request_went_through() {
    // The small model answers JSON only when the question says it is easy; the big one always.
    let provider = FakeProvider::start(|_, seen| {
        let body = seen.json();
        let question = body["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let text = if body["model"] == "big" || question.contains("easy") {
            r#"{"ok": true}"#
        } else {
            "Let me think about it."
        };
        Reply::stream(openai_chat_events(text, 12, 6), 20, 2)
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let cases: String = (0..6)
        .map(|i| {
            format!(
                "  - {{vars: {{q: '{} question {i}'}}, expected: '{{\"ok\": true}}'}}\n",
                if i % 2 == 0 { "easy" } else { "hard" }
            )
        })
        .collect();
    let file = write(
        dir.path(),
        "cascade.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, user: '{{{{ q }}}}'}}]
cases:
{cases}targets:
  - {{id: small, provider: openai, model: small, base_url: '{url}', price: {{input_per_mtok: 0.1, output_per_mtok: 0.4}}}}
  - {{id: big, provider: openai, model: big, base_url: '{url}', price: {{input_per_mtok: 2.5, output_per_mtok: 10}}}}
checks: [{{type: json_valid}}, {{type: equals}}]
policies:
  - id: rule-small-big
    cascade:
      - rule: {{var: q, regex: '^easy question \\d+$', output: '{{\"ok\": true}}'}}
      - {{variant: v, target: small, escalate_when: [error, {{check: json_valid}}]}}
      - {{variant: v, target: big}}
",
            url = provider.base_url()
        ),
    );
    let (winner, said) = record_and_pick(
        dir.path(),
        &file,
        &db,
        &[
            "--objective",
            r#"{"constraints": ["pass_rate >= 0.99"], "order": ["cheapest"]}"#,
        ],
        &[],
    );
    assert!(said.contains("winner: cascade rule-small-big"), "{said}");

    let check = tradeoff()
        .arg("serve")
        .arg(&winner)
        .arg("--check")
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
    let described = stdout(&check);
    assert!(
        described.starts_with("serves policy rule-small-big (rule on q → v · small"),
        "{described}"
    );
    assert!(described.contains("decides by the variable `q`"), "{described}");

    let measured_calls = provider.requests().len();
    let server = Server::start(&winner, &["--db", db.to_str().unwrap()], &[]);
    let ask = |q: &str, stream: bool| {
        curl(
            &format!("{}/variants/rule-small-big/completions", server.url),
            Some(&serde_json::json!({"vars": {"q": q}, "stream": stream})),
            &[],
        )
    };
    // The rule answers a structured request without calling a model.
    let (status, _, body) = ask("easy question 7", false);
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["model"], "rule-small-big");
    assert_eq!(answer["choices"][0]["text"], r#"{"ok": true}"#);
    assert_eq!(provider.requests().len(), measured_calls);
    // The small model's JSON is kept.
    let (status, _, body) = ask("an easy one, in other words", false);
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["text"], r#"{"ok": true}"#);
    assert_eq!(answer["usage"]["completion_tokens"], 6);
    // Its prose is not: the big model answers, streamed to the client.
    let (status, _, body) = ask("hard question 9", true);
    assert_eq!(status, 200, "{body}");
    let text: String = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| c["choices"][0]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, r#"{"ok": true}"#, "{body}");
    // A prompt of the client's own carries no `q` for the rule to read: refused, saying where to go.
    let (status, _, body) = curl(
        &format!("{}/chat/completions", server.url),
        Some(&serde_json::json!({"messages": [{"role": "user", "content": "easy question 1"}]})),
        &[],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("/v1/variants/rule-small-big/completions"), "{body}");
    let stopped = server.stop();
    assert!(stopped.status.success(), "{}", stderr(&stopped));

    let models: Vec<String> = provider.requests()[measured_calls..]
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(models, ["small", "small", "big"]);

    // One row per request: the stages it went through, the answering one last; tokens and cost
    // add up every call it made (12 in and 6 out each; the small model's, then the big one's).
    let csv = tradeoff()
        .args(["traffic", "--csv", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(csv.status.success(), "{}", stderr(&csv));
    let mut reader = csv::Reader::from_reader(csv.stdout.as_slice());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    let stage = |row: &csv::StringRecord| row[column("stage")].to_string();
    let cost = |row: &csv::StringRecord| row[column("cost_usd")].parse::<f64>().unwrap();
    assert_eq!(stage(&rows[0]), "rule on q");
    assert_eq!(cost(&rows[0]), 0.0);
    assert_eq!(&rows[0][column("output_tokens")], "0");
    let small_cost = (12.0 * 0.1 + 6.0 * 0.4) / 1e6;
    let big_cost = (12.0 * 2.5 + 6.0 * 10.0) / 1e6;
    assert!(
        stage(&rows[1]).starts_with("rule on q → v · small"),
        "{}",
        stage(&rows[1])
    );
    assert!((cost(&rows[1]) - small_cost).abs() < 1e-9, "{}", cost(&rows[1]));
    let path: Vec<String> = stage(&rows[2]).split(" → ").map(str::to_string).collect();
    assert_eq!(path.len(), 3, "{path:?}");
    assert!(
        path[1].starts_with("v · small") && path[2].starts_with("v · big"),
        "{path:?}"
    );
    assert!(
        (cost(&rows[2]) - (small_cost + big_cost)).abs() < 1e-9,
        "{}",
        cost(&rows[2])
    );
    assert_eq!(&rows[2][column("input_tokens")], "24");
    assert_eq!(&rows[2][column("output_tokens")], "12");
    assert_eq!(&rows[3][column("status")], "400");
    assert_eq!(&rows[3][column("error_class")], "bad_request");

    // `tradeoff traffic` counts the requests by the stages that answered them.
    let summary = tradeoff()
        .args(["traffic", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(&summary.stdout).unwrap();
    let by_stage = &summary["deployments"][0]["summary"]["stages"];
    assert_eq!(by_stage["rule on q"], 1, "{summary}");
    assert_eq!(by_stage.as_object().unwrap().len(), 3, "{summary}");
}
