//! `tradeoff serve` on a winner measured with the real default model, driven by real clients:
//! curl, and Tradeoff's own OpenAI client (a remote target pointed at the server).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use serde_json::Value;

use crate::support::{FEWSHOT, children_of, model_turn, python_clients, stderr, stdout, tradeoff, write};

/// The cases of the measured experiment, and what the default model answers to them.
const CASES: [(&str, &str); 2] = [
    (
        "The Berlin Wall fell in 1989.",
        r#"{"city": "Berlin", "year": 1989}"#,
    ),
    (
        "Paris hosted the World Exposition of 1889.",
        r#"{"city": "Paris", "year": 1889}"#,
    ),
];

/// The few-shot prompt for `sentence`, as the measured variant renders it.
fn prompt(sentence: &str) -> String {
    let shots = FEWSHOT.rsplit_once("Sentence:").unwrap().0;
    format!("{shots}Sentence: {sentence}\nJSON:")
}

/// Records a small experiment on the default model and writes its winner file.
fn winner(dir: &Path) -> PathBuf {
    let db = dir.join("db.sqlite3");
    let template = prompt("{{ sentence }}");
    let cases: String = CASES
        .iter()
        .map(|(sentence, expected)| {
            format!(
                "  - {{vars: {{sentence: {}}}, expected: {}}}\n",
                serde_json::to_string(sentence).unwrap(),
                serde_json::to_string(&format!(" {expected}")).unwrap()
            )
        })
        .collect();
    let file = write(
        dir,
        "measured.yaml",
        &format!(
            "schema: 1\nvariants:\n  - {{id: fewshot, prompt: {}}}\ncases:\n{cases}targets: [{{id: q4, model: default, n_ctx: 512, max_tokens: 24, stop: [\"\\n\"]}}]\nchecks: [{{type: equals}}]\n",
            serde_json::to_string(&template).unwrap()
        ),
    );
    let run = tradeoff()
        .arg("run")
        .arg("--db")
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let out = dir.join("winner.json");
    let picked = tradeoff()
        .args(["winner", "latest", "--db"])
        .arg(&db)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(picked.status.success(), "{}", stderr(&picked));
    out
}

/// A running `tradeoff serve`, stopped (SIGTERM) when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(winner: &Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut child = tradeoff()
            .arg("serve")
            .arg(winner)
            .args(["--port", "0"])
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(120))
            .expect("the server says where it listens");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {first}"))
            .to_string();
        Server { child, url }
    }

    fn stop(mut self) -> Output {
        stop(&self.child);
        let child = std::mem::replace(&mut self.child, dummy());
        child.wait_with_output().unwrap()
    }
}

fn stop(child: &Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
}

/// A finished process to leave in a stopped server's place.
fn dummy() -> Child {
    Command::new("true").spawn().unwrap()
}

impl Drop for Server {
    fn drop(&mut self) {
        stop(&self.child);
        let _ = self.child.wait();
    }
}

/// `curl` with a JSON body; returns the HTTP status, the headers and the body.
fn curl(url: &str, body: Option<&Value>, extra: &[&str]) -> (u16, String, String) {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-N", "-D", "-", "--max-time", "120"])
        .args(extra)
        .arg(url);
    if let Some(body) = body {
        command
            .args(["-H", "content-type: application/json", "--data-binary"])
            .arg(body.to_string());
    }
    let output = command
        .output()
        .expect("curl runs (scripts/setup-system.sh installs it)");
    assert!(output.status.success(), "curl: {}", stderr(&output));
    let text = stdout(&output);
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, headers.to_string(), body.to_string())
}

fn completion(sentence: &str, max_tokens: Option<u32>) -> Value {
    let mut body = serde_json::json!({"model": "anything", "prompt": prompt(sentence)});
    if let Some(max) = max_tokens {
        body["max_tokens"] = max.into();
        body["stop"] = Value::Array(vec!["\u{1}".into()]);
    }
    body
}

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
    let cases: String = CASES
        .iter()
        .map(|(sentence, expected)| {
            format!(
                "  - {{vars: {{sentence: {}}}, expected: {}}}\n",
                serde_json::to_string(sentence).unwrap(),
                serde_json::to_string(&format!(" {expected}")).unwrap()
            )
        })
        .collect();
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

#[test]
fn beyond_its_slots_and_queue_it_answers_429_and_a_dead_worker_costs_only_its_requests() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let winner = winner(dir.path());
    let server = Server::start(&winner, &["--parallel", "1", "--queue", "0", "--no-log"], &[]);
    let url = server.url.clone();
    let long = completion(CASES[0].0, Some(400));
    std::thread::scope(|scope| {
        let busy = scope.spawn(|| curl(&format!("{url}/completions"), Some(&long), &[]));
        // Once the one slot is decoding, the next request has nowhere to wait.
        let worker = loop {
            let (_, _, health) = curl(&url.replace("/v1", "/health"), None, &[]);
            let children = children_of(server.child.id());
            if health.contains("\"status\":\"ok\"") && !children.is_empty() {
                break children[0];
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let refused = loop {
            let (status, headers, body) = curl(
                &format!("{url}/completions"),
                Some(&completion(CASES[1].0, None)),
                &[],
            );
            if status == 429 {
                break (headers, body);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            refused.0.to_ascii_lowercase().contains("retry-after: "),
            "{}",
            refused.0
        );
        assert!(refused.1.contains("server_busy"), "{}", refused.1);

        // The worker dies mid-request: that request fails with the reason, the next one gets a
        // new worker and the measured answer.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(worker as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let (status, _, body) = busy.join().unwrap();
        assert_eq!(status, 500, "{body}");
        assert!(
            body.contains("worker_crashed") && body.contains("SIGKILL"),
            "{body}"
        );
    });
    let (status, _, body) = curl(
        &format!("{url}/completions"),
        Some(&completion(CASES[1].0, None)),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["text"], format!(" {}", CASES[1].1));
    let (_, _, health) = curl(&url.replace("/v1", "/health"), None, &[]);
    assert!(health.contains("\"worker_restarts\":1"), "{health}");
}

#[test]
fn a_public_address_without_a_key_and_a_winner_that_cannot_be_served_are_refused_with_the_reason() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let winner = winner(dir.path());
    let public = tradeoff()
        .arg("serve")
        .arg(&winner)
        .args(["--host", "0.0.0.0", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(public.status.code(), Some(2), "{}", stderr(&public));
    assert!(stderr(&public).contains("--api-key-env"), "{}", stderr(&public));

    // A model file that is not the measured one.
    let mut changed: Value = serde_json::from_str(&std::fs::read_to_string(&winner).unwrap()).unwrap();
    changed["winner"]["provenance"]["model_sha256"] = "0".repeat(64).into();
    let changed_file = write(dir.path(), "changed.json", &changed.to_string());
    let refused = tradeoff()
        .arg("serve")
        .arg(&changed_file)
        .arg("--check")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let message = stderr(&refused);
    assert!(
        message.contains("changed.json") && message.contains("winner.provenance.model_sha256"),
        "{message}"
    );
    assert!(
        message.contains("not the file the winner was measured with"),
        "{message}"
    );

    // Not a winner file at all.
    let other = write(dir.path(), "other.json", r#"{"kind": "tradeoff.experiment"}"#);
    let refused = tradeoff()
        .arg("serve")
        .arg(&other)
        .arg("--check")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("not a winner file"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn a_server_killed_mid_traffic_leaves_an_intact_log_with_every_finished_request() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let winner = winner(dir.path());
    let log = dir.path().join("traffic.sqlite3");
    let server = Server::start(&winner, &["--db", log.to_str().unwrap()], &[]);
    let url = server.url.clone();
    for case in CASES.iter().cycle().take(5) {
        let (status, _, body) = curl(
            &format!("{url}/completions"),
            Some(&completion(case.0, None)),
            &[],
        );
        assert_eq!(status, 200, "{body}");
    }
    std::thread::scope(|scope| {
        let cut = scope.spawn(|| {
            Command::new("curl")
                .args([
                    "-sS",
                    "--max-time",
                    "60",
                    "-H",
                    "content-type: application/json",
                    "--data-binary",
                ])
                .arg(completion(CASES[0].0, Some(400)).to_string())
                .arg(format!("{url}/completions"))
                .output()
                .unwrap()
        });
        // The long one is decoding, the five before it were committed (within milliseconds).
        std::thread::sleep(Duration::from_millis(800));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(server.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let cut = cut.join().unwrap();
        assert!(
            !cut.status.success() || stdout(&cut).is_empty(),
            "the cut request got no answer"
        );
    });
    drop(server);
    let db = rusqlite::Connection::open(&log).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = db
        .query_row("SELECT count(*) FROM traffic", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 5, "every finished request, and nothing of the one cut off");
    let complete: i64 = db
        .query_row(
            "SELECT count(*) FROM traffic WHERE status = 200 AND output_hash IS NOT NULL AND latency_ms > 0",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(complete, 5);
}
