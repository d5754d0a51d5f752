//! A real OpenAI-compatible server: llama.cpp's llama-server serving the default model on
//! 127.0.0.1, compared in one experiment with the same model run locally.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{FEWSHOT, default_model, model_turn, stderr, tradeoff, write};

/// llama-server as `scripts/build-llama-server.sh` builds it (`make test` runs the script first
/// and passes the path in `TRADEOFF_LLAMA_SERVER`).
fn llama_server_binary() -> PathBuf {
    let path = std::env::var_os("TRADEOFF_LLAMA_SERVER").map_or_else(
        || {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            home.join(".cache/tradeoff/llama-server/0.3.36/build/bin/llama-server")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "llama-server is missing at {}; run scripts/build-llama-server.sh (make test does)",
        path.display()
    );
    path
}

/// A running llama-server, stopped when dropped.
struct Served {
    child: Child,
    port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_default_model() -> Served {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A base model has no chat template; llama-server would fall back to chatml for chat
    // requests. This test sends raw completions, and names gemma's template for safety.
    let child = Command::new(llama_server_binary())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("-m")
        .arg(default_model())
        .args([
            "-c",
            "2048",
            "-t",
            "2",
            "-np",
            "1",
            "--no-jinja",
            "--chat-template",
            "gemma",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let served = Served { child, port };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if health(port) {
            return served;
        }
        assert!(
            Instant::now() < deadline,
            "llama-server did not become ready on port {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `GET /health` answers 200 once the model is loaded.
fn health(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

#[test]
fn llama_server_serving_the_default_model_is_measured_beside_the_same_model_run_locally() {
    let _turn = model_turn();
    let served = serve_default_model();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = write(
        dir.path(),
        "served.yaml",
        &format!(
            "schema: 1
variants: [{{id: fewshot, prompt: {fewshot}}}]
cases: [{{vars: {{}}, expected: '{{\"city\": \"Berlin\", \"year\": 1989}}'}}]
targets:
  - {{id: local, model: default, n_ctx: 2048, threads: 2, max_tokens: 24, stop: [\"\\n\"]}}
  - {{id: served, provider: openai, model: gemma-3-270m, base_url: 'http://127.0.0.1:{port}/v1',
      max_concurrency: 1, max_tokens: 24, stop: [\"\\n\"], logprobs: true, extra_body: {{cache_prompt: false}}}}
repetitions: 3
checks: [{{type: equals}}]
",
            fewshot = serde_json::to_string(FEWSHOT).unwrap(),
            port = served.port
        ),
    );
    let run = tradeoff()
        .args(["run", "--json", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for run in runs {
        assert!(run["error"].is_null(), "{run}");
        assert_eq!(
            run["output"].as_str().unwrap().trim(),
            r#"{"city": "Berlin", "year": 1989}"#,
            "{run}"
        );
        assert_eq!(run["passed"], true);
    }
    let served_runs: Vec<&serde_json::Value> = runs.iter().filter(|r| r["target"] == "served").collect();
    let local_runs: Vec<&serde_json::Value> = runs.iter().filter(|r| r["target"] == "local").collect();
    for run in &served_runs {
        let metrics = &run["metrics"];
        // usage and timings arrive only in llama-server's last chunk, and both are kept.
        assert_eq!(metrics["tokens_estimated"], false, "{run}");
        // `extra_body: {cache_prompt: false}` turns llama-server's prompt cache off, so both
        // targets evaluate the whole prompt every time.
        assert_eq!(metrics["cached_tokens"], 0, "{run}");
        assert!(metrics["prompt_eval_ms"].as_f64().unwrap() > 0.0, "{run}");
        assert!(metrics["gen_eval_tokens"].as_u64().unwrap() > 0, "{run}");
        assert!(run["ttft_ms"].as_f64().unwrap() < run["latency_ms"].as_f64().unwrap());
    }
    // Same model, same greedy tokens: the server's log-probabilities of them (its `logprobs`)
    // are the ones the local run computed from its logits, up to rounding: llama-server is built
    // for this CPU and the worker runs the CPU variant it selected, whose kernels sum in another
    // order (0.031 nats apart on an AVX2 EPYC, within 0.02 on an AVX-512 one). A wrong quantity (a
    // probability, another token's) is off by far more.
    for (served, local) in served_runs.iter().zip(&local_runs) {
        for field in ["logprob_mean", "logprob_min"] {
            let (s, l) = (
                served["metrics"][field].as_f64().unwrap(),
                local["metrics"][field].as_f64().unwrap(),
            );
            assert!((s - l).abs() < 0.1, "{field}: served {s}, local {l}");
        }
    }
    // Same model, same tokenizer: the server counts the prompt as the local run does.
    assert_eq!(served_runs[0]["input_tokens"], local_runs[0]["input_tokens"]);
    assert_eq!(served_runs[0]["output_tokens"], local_runs[0]["output_tokens"]);
    let configs = report["configs"].as_array().unwrap();
    let labels: Vec<&str> = configs
        .iter()
        .map(|c| c["settings_label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["n_ctx 2048", "openai gemma-3-270m"]);
    eprintln!(
        "local p50 {:.0} ms, served p50 {:.0} ms",
        configs[0]["latency_p50_ms"].as_f64().unwrap(),
        configs[1]["latency_p50_ms"].as_f64().unwrap()
    );
}
