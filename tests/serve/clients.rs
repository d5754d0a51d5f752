//! Real clients: curl, the official openai package, Tradeoff's own OpenAI client, a Prometheus
//! parser.

use std::process::{Command, Stdio};

use serde_json::Value;

use super::{CASES, Server, cases_yaml, completion, curl, prompt, winner};
use crate::support::{model_turn, python_clients, stderr, stdout, tradeoff, write};

#[test]
fn the_served_winner_answers_as_measured_to_curl_and_to_an_openai_client_streaming_or_not() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let winner = winner(dir.path());

    let check = tradeoff()
        .arg("serve")
        .arg(&winner)
        .arg("--check")
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stdout(&check).contains("as model `fewshot@q4`"),
        "{}",
        stdout(&check)
    );
    assert!(stdout(&check).contains("the measured file"), "{}", stdout(&check));

    let log = dir.path().join("traffic.sqlite3");
    let server = Server::start(
        &winner,
        &[
            "--api-key-env",
            "SERVE_TEST_KEY",
            "--log-text",
            "--db",
            log.to_str().unwrap(),
        ],
        &[("SERVE_TEST_KEY", "k-123")],
    );
    let url = server.url.clone();
    let key = ["-H", "authorization: Bearer k-123"];

    // The key is required; /health is open.
    let (status, _, body) = curl(
        &format!("{url}/completions"),
        Some(&completion(CASES[0].0, None)),
        &[],
    );
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = curl(
        &format!("{url}/completions"),
        Some(&completion(CASES[0].0, None)),
        &["-H", "authorization: Bearer wrong"],
    );
    assert_eq!(status, 401, "{body}");
    let (status, _, health) = curl(&url.replace("/v1", "/health"), None, &[]);
    assert_eq!(status, 200, "{health}");

    // Not streaming: the measured answer, with usage.
    let (status, _, body) = curl(
        &format!("{url}/completions"),
        Some(&completion(CASES[0].0, None)),
        &key,
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["text"], format!(" {}", CASES[0].1));
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(answer["model"], "fewshot@q4");
    assert!(answer["usage"]["prompt_tokens"].as_u64().unwrap() > 20);

    // The winner's own template, filled with the request's variables.
    let (status, _, body) = curl(
        &format!("{url}/variants/fewshot/completions"),
        Some(&serde_json::json!({"vars": {"sentence": CASES[1].0}})),
        &key,
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["text"], format!(" {}", CASES[1].1));

    // Streaming chat: the deltas add up to the answer, then the finish, the usage and [DONE].
    let (status, headers, body) = curl(
        &format!("{url}/chat/completions"),
        Some(&serde_json::json!({
            "messages": [{"role": "user", "content": prompt(CASES[1].0)}],
            "stream": true,
            "stream_options": {"include_usage": true},
        })),
        &key,
    );
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains("text/event-stream"), "{headers}");
    let events: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, format!(" {}", CASES[1].1));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[chunks.len() - 2]["choices"][0]["finish_reason"], "stop");
    assert!(
        chunks.last().unwrap()["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 5
    );

    // Tradeoff's own OpenAI client (streaming, usage, its SSE parser) as a remote target: every
    // case passes, with the tokens the server counted.
    let db = dir.path().join("client.sqlite3");
    let cases = cases_yaml();
    let client = write(
        dir.path(),
        "client.yaml",
        &format!(
            "schema: 1\nvariants:\n  - {{id: chat, user: {}}}\ncases:\n{cases}targets: [{{id: served, provider: openai, model: fewshot@q4, base_url: '{url}', api_key_env: SERVE_TEST_KEY}}]\nrepetitions: 3\nchecks: [{{type: equals}}]\n",
            serde_json::to_string(&prompt("{{ sentence }}")).unwrap()
        ),
    );
    let run = tradeoff()
        .args(["run", "--json", "--db"])
        .arg(&db)
        .arg(&client)
        .env("SERVE_TEST_KEY", "k-123")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let report = tradeoff()
        .args(["report", "latest", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["configs"][0]["pass_rate"], 1.0, "{}", report["runs"]);
    assert_eq!(report["configs"][0]["errors"], 0);

    // Eight clients at once on four slots: every one answered, as measured.
    let answers: Vec<(u16, String)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..8)
            .map(|i| {
                let url = &url;
                scope.spawn(move || {
                    let (status, _, body) = curl(
                        &format!("{url}/completions"),
                        Some(&completion(CASES[i % 2].0, None)),
                        &key,
                    );
                    (status, body)
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "{body}");
        let answer: Value = serde_json::from_str(body).unwrap();
        assert_eq!(answer["choices"][0]["text"], format!(" {}", CASES[i % 2].1));
    }

    // The official openai package, streaming and not.
    let script = r#"
import json, os, sys
from openai import OpenAI
client = OpenAI(base_url=os.environ["URL"], api_key="k-123")
plain = client.completions.create(model="fewshot@q4", prompt=os.environ["PROMPT"])
stream = client.chat.completions.create(
    model="fewshot@q4", messages=[{"role": "user", "content": os.environ["PROMPT"]}],
    stream=True, stream_options={"include_usage": True})
text, usage = "", None
for chunk in stream:
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
    if chunk.usage:
        usage = chunk.usage.completion_tokens
print(json.dumps({"plain": plain.choices[0].text, "streamed": text, "usage": usage}))
"#;
    let python = Command::new(python_clients())
        .args(["-c", script])
        .env("URL", &url)
        .env("PROMPT", prompt(CASES[0].0))
        .output()
        .unwrap();
    assert!(python.status.success(), "{}", stderr(&python));
    let answers: Value = serde_json::from_slice(&python.stdout).unwrap();
    assert_eq!(answers["plain"], format!(" {}", CASES[0].1));
    assert_eq!(answers["streamed"], format!(" {}", CASES[0].1));
    assert!(answers["usage"].as_u64().unwrap() > 5, "{answers}");

    // /metrics, read by the Prometheus project's own OpenMetrics parser.
    let (status, headers, metrics) = curl(&format!("{}/metrics", url.trim_end_matches("/v1")), None, &key);
    assert_eq!(status, 200, "{metrics}");
    assert!(headers.contains("openmetrics-text"), "{headers}");
    let parsed = Command::new(python_clients())
        .args([
            "-c",
            r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "gen_ai_request_model")
        out[sample.name + "{" + labels + "}"] = sample.value
print(json.dumps(out))
"#,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(metrics.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(parsed.status.success(), "{}\n{metrics}", stderr(&parsed));
    let samples: Value = serde_json::from_slice(&parsed.stdout).unwrap();
    // Every answered request so far: 3 by curl, 6 by the client run, 8 at once, 2 by openai
    // (the two without the key never reached a route).
    let answered = 19.0;
    assert_eq!(
        samples["gen_ai_server_time_to_first_token_seconds_count{}"], answered,
        "{samples}"
    );
    assert_eq!(
        samples["gen_ai_server_request_duration_seconds_count{error_type=none}"], answered,
        "{samples}"
    );
    assert_eq!(
        samples["tradeoff_requests_total{error_type=none,route=chat}"], 8.0,
        "{samples}"
    );
    assert!(
        samples["tradeoff_tokens_total{gen_ai_token_type=output}"]
            .as_f64()
            .unwrap()
            > 100.0
    );
    assert_eq!(
        samples["gen_ai_client_token_usage_count{gen_ai_token_type=input}"],
        answered
    );

    let stopped = server.stop();
    assert!(stopped.status.success(), "{}", stderr(&stopped));

    // The traffic log holds every answered request, with its times, tokens and text.
    let traffic = tradeoff()
        .args(["traffic", "--json", "--db"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(traffic.status.success(), "{}", stderr(&traffic));
    let traffic: Value = serde_json::from_slice(&traffic.stdout).unwrap();
    let summary = &traffic["deployments"][0]["summary"];
    assert_eq!(summary["requests"], answered, "{traffic}");
    assert_eq!(summary["error_rate"], 0.0, "{traffic}");
    assert!(summary["ttft_p50_ms"].as_f64().unwrap() > 0.0);
    assert!(summary["itl_p50_ms"].as_f64().unwrap() > 0.0);
    // Two cases asked again and again: two distinct answers.
    let distinct = summary["distinct_output_share"].as_f64().unwrap() * (answered);
    assert!((distinct - 2.0).abs() < 1e-9, "{summary}");
    let csv = tradeoff()
        .args(["traffic", "--csv", "--db"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(stdout(&csv).contains("Berlin"), "--log-text keeps the answers");
}
