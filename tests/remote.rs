//! Remote targets against real HTTP servers on 127.0.0.1 speaking each provider's wire format
//! (recorded streams from fixtures/streams/ on a schedule), and the faults servers produce.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tradeoff_core::experiment::{Role, Sampling};
use tradeoff_core::prompt::{ChatMessage, RenderedPrompt};
use tradeoff_core::remote::secrets::Keyring;
use tradeoff_core::remote::{
    HttpRemote, ProviderKind, RemoteEngine, RemoteEvent, RemoteJob, RemoteResult, RemoteTarget, Timeouts,
};
use tradeoff_core::run::{ErrorClass, FinishReason};

use crate::support::sse_server::{End, FakeProvider, Reply, fixture_events, openai_chat_events};
use crate::support::{model_turn, stderr, stdout, tradeoff, write};

/// A keyring held in memory, so tests never touch the machine's own.
#[derive(Default)]
struct MemoryKeyring(Mutex<HashMap<String, String>>);

impl Keyring for MemoryKeyring {
    fn get(&self, variable: &str) -> Result<Option<String>, String> {
        Ok(self.0.lock().unwrap().get(variable).cloned())
    }
    fn set(&self, variable: &str, key: &str) -> Result<(), String> {
        self.0.lock().unwrap().insert(variable.into(), key.into());
        Ok(())
    }
    fn delete(&self, variable: &str) -> Result<(), String> {
        self.0.lock().unwrap().remove(variable);
        Ok(())
    }
}

fn remote_with_key(variable: &str, key: &str) -> HttpRemote {
    let keyring = MemoryKeyring::default();
    keyring.set(variable, key).unwrap();
    HttpRemote::with_keyring(Box::new(keyring)).unwrap()
}

fn target(provider: ProviderKind, base_url: String) -> RemoteTarget {
    let model = match provider {
        ProviderKind::Openai => "gpt-4o-mini",
        ProviderKind::Anthropic => "claude-3-5-haiku-20241022",
        ProviderKind::Gemini => "gemini-2.0-flash",
    };
    let mut target = RemoteTarget::new(provider, model.into(), base_url, None);
    target.max_attempts = 1;
    target
}

fn chat(text: &str) -> RemoteJob {
    RemoteJob {
        prompt: RenderedPrompt::Chat {
            messages: vec![
                ChatMessage {
                    role: Role::System,
                    content: "Answer with JSON.".into(),
                },
                ChatMessage {
                    role: Role::User,
                    content: text.into(),
                },
            ],
        },
        sampling: Sampling {
            temperature: 0.0,
            top_p: None,
            top_k: None,
            seed: 0,
            max_tokens: 64,
            stop: Vec::new(),
        },
    }
}

/// Runs the jobs and returns their results by job index.
fn run(remote: &mut HttpRemote, target: &RemoteTarget, jobs: Vec<RemoteJob>) -> Vec<RemoteResult> {
    let count = jobs.len();
    let mut results: Vec<Option<RemoteResult>> = (0..count).map(|_| None).collect();
    remote
        .run_jobs(target, jobs, &AtomicBool::new(false), &mut |event| {
            if let RemoteEvent::Finished(index, result) = event {
                results[index] = Some(*result);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    results
        .into_iter()
        .map(|r| r.expect("every job finishes"))
        .collect()
}

const ANSWER: &str = r#"{"city": "Berlin", "year": 1989}"#;

fn assert_near(measured: f64, expected: f64, what: &str) {
    assert!(
        (measured - expected).abs() < 2.0,
        "{what}: measured {measured:.2} ms, the server sent it at {expected:.2} ms"
    );
}

/// A warm measurement and the server's view of it: milliseconds from the request's arrival to
/// each event it sent, and to the end of the response.
type Sample = (RemoteResult, Vec<f64>, f64);

/// Runs `job` once to open the connection (that run also pays for TCP and is marked as such),
/// then three times on it, and returns the warm sample `deviation` finds closest to what the
/// server sent. Tests running beside this one on 2 cores can delay any one sample; a bias in the
/// client's timing would show in all three.
fn measured_on_a_warm_connection(
    server: &FakeProvider,
    remote: &mut HttpRemote,
    target: &RemoteTarget,
    job: RemoteJob,
    deviation: impl Fn(&Sample) -> f64,
) -> Sample {
    let cold = run(remote, target, vec![job.clone()]).pop().unwrap();
    assert_eq!(cold.outcome.as_ref().unwrap().metrics.new_connection, Some(true));
    let mut samples = Vec::new();
    for _ in 0..3 {
        let warm = run(remote, target, vec![job.clone()]).pop().unwrap();
        assert_eq!(warm.outcome.as_ref().unwrap().metrics.new_connection, Some(false));
        let seen = server.requests().pop().unwrap();
        let since_arrival = |at: Instant| at.duration_since(seen.arrived).as_secs_f64() * 1000.0;
        let sent: Vec<f64> = seen
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|t| since_arrival(*t))
            .collect();
        let ended = since_arrival(seen.ended.lock().unwrap().unwrap());
        samples.push((warm, sent, ended));
    }
    samples
        .into_iter()
        .min_by(|a, b| deviation(a).total_cmp(&deviation(b)))
        .unwrap()
}

/// How far a sample's TTFT and latency are from the server's event at `first` and `last`.
fn timing_deviation(first: usize, last: Option<usize>) -> impl Fn(&Sample) -> f64 {
    move |(result, sent, ended)| {
        let m = &result.outcome.as_ref().unwrap().metrics;
        let end = last.map_or(*ended, |i| sent[i]);
        (m.ttft_ms.unwrap() - sent[first])
            .abs()
            .max((m.latency_ms - end).abs())
    }
}

#[test]
fn an_openai_chat_stream_is_timed_as_the_server_sent_it_and_its_usage_is_taken_exactly() {
    let _turn = model_turn();
    // Event 0 is the role-only chunk at 100 ms; the first text comes with event 1 at 120 ms;
    // `[DONE]` (event 6) at 220 ms.
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 100, 20));
    let target = target(ProviderKind::Openai, server.base_url());
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let job = chat("The Berlin Wall fell in 1989.");
    let timing = timing_deviation(1, Some(6));
    let (result, sent, _) = measured_on_a_warm_connection(&server, &mut remote, &target, job, |sample| {
        timing(sample).max((sample.1[1] - 120.0).abs())
    });
    let generation = result.outcome.as_ref().unwrap();
    assert_eq!(generation.output, ANSWER);
    assert_eq!(generation.finish_reason, FinishReason::EndOfText);
    let m = &generation.metrics;
    assert_near(
        m.ttft_ms.unwrap(),
        sent[1],
        "TTFT (the role-only chunk must not count)",
    );
    assert_near(m.latency_ms, sent[6], "latency");
    assert_near(sent[1], 120.0, "the schedule");
    assert_eq!((m.input_tokens, m.output_tokens), (61, 12));
    assert_eq!(m.tokens_estimated, Some(false));
    assert_eq!(result.attempts.len(), 1);

    let seen = &server.requests()[0];
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.header("authorization"), None, "no key variable, no key sent");
    let body = seen.json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["content"], "The Berlin Wall fell in 1989.");
    assert_eq!(body["max_tokens"], 64);
}

#[test]
fn an_anthropic_stream_counts_from_the_first_text_delta_and_takes_cumulative_usage() {
    let _turn = model_turn();
    // message_start, content_block_start and ping come first; the first text delta is event 3.
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("anthropic-messages.sse"), 50, 10));
    let mut target = target(ProviderKind::Anthropic, server.base_url());
    target.api_key_env = Some("TEST_ANTHROPIC_KEY".into());
    let mut remote = remote_with_key("TEST_ANTHROPIC_KEY", "sk-ant-test-0123456789");
    let job = chat("The Berlin Wall fell in 1989.");
    let (result, sent, _) =
        measured_on_a_warm_connection(&server, &mut remote, &target, job, timing_deviation(3, Some(7)));
    let generation = result.outcome.as_ref().unwrap();
    assert_eq!(generation.output, ANSWER);
    let m = &generation.metrics;
    assert_near(m.ttft_ms.unwrap(), sent[3], "TTFT");
    assert_near(m.latency_ms, sent[7], "latency (message_stop)");
    assert_eq!((m.input_tokens, m.output_tokens), (58, 14));

    let seen = &server.requests()[0];
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some("sk-ant-test-0123456789"));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    let body = seen.json();
    assert_eq!(body["system"], "Answer with JSON.");
    assert_eq!(body["messages"].as_array().unwrap().len(), 1, "system goes apart");
}

#[test]
fn a_gemini_stream_ends_with_its_finish_reason_and_counts_usage_metadata() {
    let _turn = model_turn();
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("gemini-stream.sse"), 40, 10));
    let mut target = target(ProviderKind::Gemini, format!("http://{}/v1beta", server.addr));
    target.api_key_env = Some("TEST_GEMINI_KEY".into());
    let mut remote = remote_with_key("TEST_GEMINI_KEY", "AIza-test-0123456789");
    let job = chat("The Berlin Wall fell in 1989.");
    let (result, sent, ended) =
        measured_on_a_warm_connection(&server, &mut remote, &target, job, timing_deviation(0, None));
    let generation = result.outcome.as_ref().unwrap();
    assert_eq!(generation.output, ANSWER);
    let m = &generation.metrics;
    assert_near(m.ttft_ms.unwrap(), sent[0], "TTFT");
    // Gemini has no end marker: the response ends when the server closes it.
    assert_near(m.latency_ms, ended, "latency");
    assert_eq!((m.input_tokens, m.output_tokens), (57, 13));
    let seen = &server.requests()[0];
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(seen.header("x-goog-api-key"), Some("AIza-test-0123456789"));
    assert_eq!(
        seen.json()["systemInstruction"]["parts"][0]["text"],
        "Answer with JSON."
    );
}

#[test]
fn a_raw_prompt_goes_to_the_completions_endpoint_and_llama_server_timings_are_kept() {
    let _turn = model_turn();
    let server =
        FakeProvider::start(|_, _| Reply::stream(fixture_events("llama-server-completions.sse"), 10, 5));
    let mut target = target(ProviderKind::Openai, server.base_url());
    target
        .extra_body
        .insert("cache_prompt".into(), serde_json::Value::Bool(false));
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let mut job = chat("");
    job.prompt = RenderedPrompt::Raw {
        prompt: "Sentence: The Berlin Wall fell in 1989.\nJSON:".into(),
    };
    let result = &run(&mut remote, &target, vec![job])[0];
    let generation = result.outcome.as_ref().unwrap();
    assert_eq!(generation.output, format!(" {ANSWER}"));
    let m = &generation.metrics;
    assert_eq!((m.input_tokens, m.output_tokens), (92, 16));
    assert_eq!(m.prompt_eval_ms, Some(149.121));
    assert_eq!(m.prompt_eval_tokens, Some(92));
    assert_eq!(m.cached_tokens, Some(0));
    assert_eq!((m.gen_eval_tokens, m.gen_eval_ms), (Some(15), Some(216.135)));
    let seen = &server.requests()[0];
    assert_eq!(seen.path, "/v1/completions");
    assert_eq!(
        seen.json()["prompt"],
        "Sentence: The Berlin Wall fell in 1989.\nJSON:"
    );
    assert_eq!(
        seen.json()["cache_prompt"],
        false,
        "extra_body reaches the request"
    );
}

#[test]
fn without_usage_in_the_stream_token_counts_are_marked_as_estimates() {
    let _turn = model_turn();
    let events: Vec<String> = fixture_events("openai-chat.sse")
        .into_iter()
        .filter(|e| !e.contains("\"prompt_tokens\""))
        .collect();
    let server = FakeProvider::start(move |_, _| Reply::stream(events.clone(), 0, 2));
    let mut target = target(ProviderKind::Openai, server.base_url());
    target.include_usage = false;
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let result = &run(&mut remote, &target, vec![chat("x")])[0];
    let generation = result.outcome.as_ref().unwrap();
    assert_eq!(generation.metrics.tokens_estimated, Some(true));
    assert_eq!(generation.metrics.output_tokens, 8, "32 characters ≈ 8 tokens");
    assert!(
        generation.warnings.iter().any(|w| w.contains("estimates")),
        "{:?}",
        generation.warnings
    );
    assert!(server.requests()[0].json().get("stream_options").is_none());
}

/// The user message of each request says which fault the server should produce.
fn faulty_server() -> FakeProvider {
    let first_429 = AtomicBool::new(true);
    FakeProvider::start(move |_, seen| {
        let events = fixture_events("openai-chat.sse");
        let fault = seen.json()["messages"][1]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        match fault.as_str() {
            "429 once" if first_429.swap(false, Ordering::SeqCst) => Reply::Status {
                code: 429,
                headers: vec![("retry-after", "1".into())],
                body: r#"{"error":{"message":"Rate limit reached for requests","type":"requests"}}"#.into(),
            },
            "500" => Reply::status(500, r#"{"error":{"message":"The server had an error"}}"#),
            "503" => Reply::status(503, "upstream unavailable"),
            "401" => Reply::status(
                401,
                &format!(
                    r#"{{"error":{{"message":"Incorrect API key provided: {}."}}}}"#,
                    seen.header("authorization")
                        .unwrap_or("")
                        .trim_start_matches("Bearer ")
                ),
            ),
            "too long" => Reply::status(
                400,
                r#"{"error":{"message":"This model's maximum context length is 128000 tokens."}}"#,
            ),
            "reset" => Reply::Stream {
                events: events[..2].to_vec(),
                first: Duration::ZERO,
                gap: Duration::from_millis(5),
                end: End::Reset,
            },
            "malformed" => Reply::stream(vec![events[0].clone(), "data: {\"choices\": [".into()], 0, 5),
            "stall" => Reply::Stream {
                events: vec![events[0].clone()],
                first: Duration::ZERO,
                gap: Duration::ZERO,
                end: End::Stall,
            },
            "endless" => Reply::Stream {
                events: events[..2].to_vec(),
                first: Duration::ZERO,
                gap: Duration::from_millis(5),
                end: End::Repeat(Duration::from_millis(10)),
            },
            _ => Reply::stream(events, 0, 2),
        }
    })
}

#[test]
fn every_server_fault_becomes_a_classified_run_error_and_other_runs_are_unaffected() {
    let _turn = model_turn();
    let server = faulty_server();
    let mut target = target(ProviderKind::Openai, server.base_url());
    target.api_key_env = Some("TEST_OPENAI_KEY".into());
    target.max_concurrency = 16;
    target.max_attempts = 3;
    target.timeouts = Timeouts {
        connect_s: 2.0,
        first_token_s: 0.4,
        total_s: 0.8,
    };
    let key = "sk-test-faults-0123456789abcdef";
    let mut remote = remote_with_key("TEST_OPENAI_KEY", key);
    let faults = [
        "ok",
        "429 once",
        "500",
        "503",
        "401",
        "too long",
        "reset",
        "malformed",
        "stall",
        "endless",
        "ok too",
    ];
    let start = Instant::now();
    let results = run(&mut remote, &target, faults.iter().map(|f| chat(f)).collect());
    let elapsed = start.elapsed();
    let class = |i: usize| results[i].outcome.as_ref().err().map(|e| e.class);
    assert_eq!(class(0), None);
    assert_eq!(class(1), None, "429 then success: {:?}", results[1].attempts);
    assert_eq!(class(2), Some(ErrorClass::ServerError));
    assert_eq!(class(3), Some(ErrorClass::ServerError));
    assert_eq!(class(4), Some(ErrorClass::Auth));
    assert_eq!(class(5), Some(ErrorClass::ContextTooLong));
    assert_eq!(class(6), Some(ErrorClass::StreamBroken));
    assert_eq!(class(7), Some(ErrorClass::BadResponse));
    assert_eq!(class(8), Some(ErrorClass::TimeoutFirstToken));
    assert_eq!(class(9), Some(ErrorClass::TimeoutTotal));
    assert_eq!(class(10), None);

    // Retries: the 429 waited what Retry-After said; 5xx were tried max_attempts times;
    // nothing else was retried.
    let retried = &results[1].attempts;
    assert_eq!(retried.len(), 2);
    assert_eq!(retried[0].status, Some(429));
    assert_eq!(retried[0].retry_after_ms, Some(1000.0));
    assert_eq!(retried[0].waited_ms, Some(1000.0));
    assert!(retried[1].started_after_ms >= 1000.0, "{retried:?}");
    for i in [2, 3] {
        assert_eq!(results[i].attempts.len(), 3);
        let message = &results[i].outcome.as_ref().unwrap_err().message;
        assert!(message.contains("after 3 attempts"), "{message}");
    }
    for i in [4, 5, 6, 7, 8, 9] {
        assert_eq!(results[i].attempts.len(), 1, "fault {} is not retried", faults[i]);
    }
    // The broken stream keeps what arrived; the key echoed back by the server is cut out.
    assert_eq!(results[6].partial_output, "{\"city\"");
    let auth = &results[4].outcome.as_ref().unwrap_err().message;
    assert!(auth.contains("[redacted]") && !auth.contains(key), "{auth}");
    let malformed = &results[7].outcome.as_ref().unwrap_err().message;
    assert!(malformed.contains("malformed JSON"), "{malformed}");
    // Bounded by the timeouts and the one-second Retry-After, never hanging.
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
}

#[test]
fn a_server_that_cannot_be_reached_is_a_connect_error_after_every_attempt() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut target = target(ProviderKind::Openai, format!("http://127.0.0.1:{port}/v1"));
    target.max_attempts = 2;
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let result = &run(&mut remote, &target, vec![chat("x")])[0];
    let error = result.outcome.as_ref().unwrap_err();
    assert_eq!(error.class, ErrorClass::Connect, "{error}");
    assert!(error.message.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert_eq!(result.attempts.len(), 2);
}

#[test]
fn no_more_requests_are_in_flight_than_the_target_allows() {
    let _turn = model_turn();
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 60, 5));
    let mut target = target(ProviderKind::Openai, server.base_url());
    target.max_concurrency = 2;
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let results = run(
        &mut remote,
        &target,
        (0..6).map(|i| chat(&i.to_string())).collect(),
    );
    assert!(results.iter().all(|r| r.outcome.is_ok()));
    let seen = server.requests();
    let mut most = 0;
    for request in &seen {
        let in_flight = seen
            .iter()
            .filter(|other| {
                let ended = other.ended.lock().unwrap().unwrap();
                other.arrived <= request.arrived && ended > request.arrived
            })
            .count();
        most = most.max(in_flight);
    }
    assert_eq!(most, 2);
}

#[test]
fn requests_per_minute_spaces_the_starts_of_requests() {
    let _turn = model_turn();
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 0, 1));
    let mut target = target(ProviderKind::Openai, server.base_url());
    target.max_concurrency = 8;
    target.requests_per_minute = Some(1200);
    let mut remote = remote_with_key("UNUSED", "unused-key");
    run(
        &mut remote,
        &target,
        (0..5).map(|i| chat(&i.to_string())).collect(),
    );
    let mut arrivals: Vec<Instant> = server.requests().iter().map(|s| s.arrived).collect();
    arrivals.sort();
    for pair in arrivals.windows(2) {
        let gap = pair[1].duration_since(pair[0]).as_secs_f64() * 1000.0;
        assert!(gap >= 45.0, "1200 per minute is one every 50 ms, saw {gap:.1} ms");
    }
}

#[test]
fn cancelling_stops_requests_in_flight_and_finishes_nothing_half_done() {
    let server = FakeProvider::start(|_, _| Reply::Stream {
        events: vec![fixture_events("openai-chat.sse")[0].clone()],
        first: Duration::ZERO,
        gap: Duration::ZERO,
        end: End::Stall,
    });
    let target = target(ProviderKind::Openai, server.base_url());
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let cancel = Arc::new(AtomicBool::new(false));
    let setter = Arc::clone(&cancel);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        setter.store(true, Ordering::Relaxed);
    });
    let start = Instant::now();
    let mut finished = 0;
    let outcome = remote.run_jobs(&target, vec![chat("a"), chat("b")], &cancel, &mut |event| {
        if matches!(event, RemoteEvent::Finished(..)) {
            finished += 1;
        }
        ControlFlow::Continue(())
    });
    assert!(outcome.is_err(), "cancelled");
    assert_eq!(finished, 0);
    assert!(
        start.elapsed() < Duration::from_millis(600),
        "{:?}",
        start.elapsed()
    );
    // The server sees both connections closed: its stalled streams end.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server
        .requests()
        .iter()
        .any(|s| s.ended.lock().unwrap().is_none())
    {
        assert!(Instant::now() < deadline, "the requests were left open");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_key_given_to_an_experiment_appears_in_no_database_export_report_or_log() {
    let _turn = model_turn();
    let key = "sk-test-leak-check-9f8e7d6c5b4a";
    let server = faulty_server();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = write(
        dir.path(),
        "remote.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, system: 'Answer with JSON.', user: '{{{{ fault }}}}'}}]
cases: [{{vars: {{fault: ok}}}}, {{vars: {{fault: '401'}}}}, {{vars: {{fault: 'ok too'}}}}]
targets:
  - {{id: api, provider: openai, model: gpt-4o-mini, base_url: '{}', api_key_env: TRADEOFF_TEST_KEY,
      price: {{input_per_mtok: 0.15, output_per_mtok: 0.6}}}}
checks: [{{type: json_valid}}]
",
            server.base_url()
        ),
    );
    let run = tradeoff()
        .env("TRADEOFF_TEST_KEY", key)
        .env("RUST_LOG", "trace")
        .args(["run", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let mut everything = vec![stderr(&run), String::from_utf8_lossy(&run.stdout).into_owned()];
    for format in ["json", "csv", "md"] {
        let report = tradeoff()
            .args(["report", "latest", "--format", format, "--db"])
            .arg(&db)
            .output()
            .unwrap();
        assert!(report.status.success(), "{}", stderr(&report));
        everything.push(String::from_utf8_lossy(&report.stdout).into_owned());
        everything.push(stderr(&report));
    }
    let winner_file = dir.path().join("winner.json");
    let winner = tradeoff()
        .args(["winner", "latest", "--db"])
        .arg(&db)
        .arg("-o")
        .arg(&winner_file)
        .output()
        .unwrap();
    assert!(winner.status.success(), "{}", stderr(&winner));
    let winner_json = std::fs::read_to_string(&winner_file).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::repo_root().join("schemas/winner.schema.json")).unwrap(),
    )
    .unwrap();
    let exported: serde_json::Value = serde_json::from_str(&winner_json).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&exported)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "a remote winner follows the schema: {errors:?}"
    );
    assert!(exported["winner"]["settings"].is_null());
    assert_eq!(
        exported["winner"]["target"]["remote"]["api_key_env"],
        "TRADEOFF_TEST_KEY"
    );
    everything.push(winner_json);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        everything.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
    }
    for text in &everything {
        assert!(
            !text.contains(key),
            "the key leaked into: {}",
            &text[..text.len().min(400)]
        );
    }
    // The key did reach the server, and the server's echo of it was recorded redacted.
    assert!(
        server
            .requests()
            .iter()
            .all(|s| s.header("authorization") == Some(&format!("Bearer {key}")))
    );
    let report = tradeoff()
        .args(["report", "latest", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let failed: Vec<&serde_json::Value> = runs.iter().filter(|r| !r["error"].is_null()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["error"]["class"], "auth");
    assert!(
        failed[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[redacted]")
    );
    let ok = runs.iter().find(|r| r["error"].is_null()).unwrap();
    assert_eq!(ok["input_tokens"], 61);
    assert_eq!(ok["passed"], true);
    assert!(ok["cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(ok["attempts"].as_array().map(Vec::len), Some(1));
}

#[test]
fn testing_a_connection_lists_the_servers_models_and_says_whether_the_target_model_is_there() {
    let server = FakeProvider::start(|_, seen| match seen.header("authorization") {
        Some("Bearer sk-test-models-0123456789") => Reply::status(
            200,
            r#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"},{"id":"gpt-4o","object":"model"}]}"#,
        ),
        _ => Reply::status(401, r#"{"error":{"message":"Incorrect API key provided"}}"#),
    });
    let target = target(ProviderKind::Openai, server.base_url());
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let client = remote.client_for(&target).unwrap();
    let key = tradeoff_core::remote::secrets::ApiKey::new("sk-test-models-0123456789");
    let probe = remote
        .block_on(tradeoff_core::remote::list_models(&client, &target, Some(&key)))
        .unwrap();
    assert_eq!(probe.models, ["gpt-4o-mini", "gpt-4o"]);
    assert!(probe.model_listed);
    let seen = &server.requests()[0];
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("GET", "/v1/models"));

    let wrong = tradeoff_core::remote::secrets::ApiKey::new("sk-test-wrong-0123456789");
    let error = remote
        .block_on(tradeoff_core::remote::list_models(&client, &target, Some(&wrong)))
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Auth);
    assert!(error.message.contains("HTTP 401"), "{error}");
}

#[test]
fn a_thousand_short_requests_at_concurrency_64_are_all_recorded() {
    let _turn = model_turn();
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 0, 0));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let cases: Vec<String> = (0..10).map(|i| format!("{{vars: {{n: '{i}'}}}}")).collect();
    let file = write(
        dir.path(),
        "many.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, user: 'case {{{{ n }}}}'}}]
cases: [{}]
targets: [{{id: api, provider: openai, model: m, base_url: '{}', max_concurrency: 64}}]
repetitions: 100
",
            cases.join(", "),
            server.base_url()
        ),
    );
    let run = tradeoff()
        .args(["run", "--json", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!stderr(&run).contains("locked"), "{}", stderr(&run));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1000);
    assert!(
        runs.iter()
            .all(|r| r["error"].is_null() && r["output_tokens"] == 12)
    );
    assert_eq!(server.requests().len(), 1000);
}

#[test]
fn a_hosted_model_without_a_price_is_priced_from_the_table_and_the_users_override_wins() {
    let _turn = model_turn();
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 0, 1));
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = write(
        dir.path(),
        "priced.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, user: 'x'}}]
cases: [{{vars: {{}}}}]
targets: [{{id: api, provider: openai, model: gpt-4o-mini-2024-07-18, base_url: '{}'}}]
",
            server.base_url()
        ),
    );
    let cost_of_run = |home: &std::path::Path| {
        let run = tradeoff()
            .env("TRADEOFF_HOME", home)
            .args(["run", "--json", "--db"])
            .arg(&db)
            .arg(&file)
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", stderr(&run));
        let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        let source = report["targets"][0]["price_source"].as_str().unwrap().to_string();
        (report["runs"][0]["cost_usd"].as_f64().unwrap(), source)
    };
    // 61 input tokens at $0.15/M and 12 output tokens at $0.60/M (the built-in entry).
    let (cost, source) = cost_of_run(&home);
    assert!((cost - (61.0 * 0.15 + 12.0 * 0.60) / 1e6).abs() < 1e-12, "{cost}");
    assert!(source.starts_with("built-in: openai gpt-4o-mini"), "{source}");

    std::fs::write(
        home.join("prices.json"),
        r#"{"schema": 1, "models": [{"provider": "openai", "model": "gpt-4o-mini", "input_per_mtok": 1, "output_per_mtok": 2, "source": "our contract", "as_of": "2026-11"}]}"#,
    )
    .unwrap();
    let (cost, source) = cost_of_run(&home);
    assert!((cost - (61.0 + 24.0) / 1e6).abs() < 1e-12, "{cost}");
    assert!(
        source.contains("our contract") && source.contains("prices.json"),
        "{source}"
    );

    std::fs::write(home.join("prices.json"), "{\"schema\": 1, \"models\": [").unwrap();
    let broken = tradeoff()
        .env("TRADEOFF_HOME", &home)
        .args(["run", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(stderr(&broken).contains("prices.json"), "{}", stderr(&broken));
}

#[test]
fn a_response_that_never_ends_a_line_is_cut_off_instead_of_filling_memory() {
    let _turn = model_turn();
    let server = FakeProvider::start(|_, _| Reply::Stream {
        events: vec!["data: {\"choices\": [{\"delta\": {\"content\": \"x\"}}]}".into()],
        first: Duration::ZERO,
        gap: Duration::ZERO,
        end: End::Flood,
    });
    let mut target = target(ProviderKind::Openai, server.base_url());
    target.timeouts.total_s = 60.0;
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let start = Instant::now();
    let result = &run(&mut remote, &target, vec![chat("x")])[0];
    let error = result.outcome.as_ref().unwrap_err();
    assert_eq!(error.class, ErrorClass::BadResponse, "{error}");
    assert!(error.message.contains("lines 1 MiB"), "{error}");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
}

#[test]
fn a_cache_hit_returns_the_stored_output_is_labelled_and_stays_out_of_the_statistics() {
    let _turn = model_turn();
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 20, 5));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let experiment = |mode: &str| {
        write(
            dir.path(),
            &format!("{mode}.yaml"),
            &format!(
                "schema: 1
variants: [{{id: v, user: '{{{{ n }}}}'}}]
cases: [{{vars: {{n: one}}}}, {{vars: {{n: two}}}}]
targets: [{{id: api, provider: openai, model: m, base_url: '{}', price: {{input_per_mtok: 1, output_per_mtok: 2}}}}]
cache: {mode}
",
                server.base_url()
            ),
        )
    };
    let run = |file: &std::path::Path| {
        let out = tradeoff()
            .args(["run", "--json", "--db"])
            .arg(&db)
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = run(&experiment("read_write"));
    assert_eq!(server.requests().len(), 2);
    let second = run(&experiment("read_write"));
    assert_eq!(server.requests().len(), 2, "answered from the cache, no request");
    for (hit, original) in second["runs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(first["runs"].as_array().unwrap())
    {
        assert_eq!(hit["cache_hit"], true);
        assert_eq!(hit["output"], original["output"]);
        assert_eq!(hit["cost_usd"], 0.0);
        assert_eq!(hit["cache_saved_usd"], original["cost_usd"]);
    }
    let config = &second["configs"][0];
    assert_eq!(config["cache_hits"], 2);
    assert!(
        config["latency_p50_ms"].is_null(),
        "no measured run, no latency statistic: {config}"
    );
    assert!(config["cost_per_run_usd"].is_null());
    let saved = config["cache_saved_usd"].as_f64().unwrap();
    assert!((saved - 2.0 * (61.0 + 24.0) / 1e6).abs() < 1e-12, "{saved}");
    // The first experiment's statistics are untouched by the second's hits.
    let again = tradeoff()
        .args(["report", "1", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        again["configs"][0]["latency_p50_ms"],
        first["configs"][0]["latency_p50_ms"]
    );

    run(&experiment("refresh"));
    assert_eq!(server.requests().len(), 4, "refresh calls the server again");
}

#[test]
fn model_output_with_terminal_escapes_is_printed_as_visible_text_not_obeyed() {
    let _turn = model_turn();
    // Sets the window title, writes the clipboard (OSC 52), clears the screen (8-bit CSI).
    let hostile = "Berlin\u{1b}]0;owned\u{7}\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{9b}2J";
    let server = FakeProvider::start(move |_, _| Reply::stream(openai_chat_events(hostile, 5, 3), 0, 0));
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "hostile.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, user: 'Where?'}}]
cases: [{{vars: {{}}}}]
targets:
  - {{id: api, provider: openai, model: gpt-4o-mini, base_url: '{}', api_key_env: TRADEOFF_TEST_KEY,
      price: {{input_per_mtok: 0.15, output_per_mtok: 0.6}}}}
",
            server.base_url()
        ),
    );
    let db = dir.path().join("db.sqlite3");
    let run = tradeoff()
        .env("TRADEOFF_TEST_KEY", "sk-test")
        .args(["run", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let report = tradeoff()
        .args(["report", "latest", "--format", "md", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let table = stdout(&run);
    assert!(table.contains("Berlin"), "{table}");
    assert!(
        table.contains("\\u{1b}]52;c;"),
        "the escape is shown, not dropped: {table}"
    );
    for shown in [table, stdout(&report)] {
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{9b}') && !shown.contains('\u{7}'),
            "{shown:?}"
        );
    }
}
