//! `tradeoff load` against servers whose timing is known: the measured TTFT, inter-token gaps and
//! end-to-end follow the schedule a server streams on; a generator that stalls is caught (its
//! late sends are recorded and the level is not valid, its latency counted from the due time);
//! and against a server of fixed service rate (one request at a time, 40 ms each: 25 requests/s)
//! the knee lands below 25 requests/s within 10 % and the level past it is saturated.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tradeoff_core::analyze::load_test::{Load, summarize_level};
use tradeoff_core::execute::arrivals::{Arrivals, LevelLimit};
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_core::spec::target::remote::{ProviderKind, RemoteTarget};
use tradeoff_load::{LevelPlan, Workload, run_level};
use tradeoff_remote::RemoteCaller;

use crate::support::sse_server::{FakeProvider, Reply};
use crate::support::{stderr, tradeoff};

/// An OpenAI chat stream of `tokens` one-token chunks: role, the tokens, finish, usage, done.
fn token_events(tokens: u32) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let body = serde_json::json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {body}")
    };
    let mut events = vec![chunk(
        serde_json::json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    events.extend((0..tokens).map(|i| chunk(serde_json::json!({"content": format!("t{i} ")}), Value::Null)));
    events.push(chunk(serde_json::json!({}), "stop".into()));
    events.push(format!(
        "data: {}",
        serde_json::json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
            "usage": {"prompt_tokens": 16, "completion_tokens": tokens, "total_tokens": 16 + tokens}})
    ));
    events.push("data: [DONE]".into());
    events
}

fn load_json(provider: &FakeProvider, db: &std::path::Path, args: &[&str]) -> Value {
    let out = tradeoff()
        .args(["load", "--base-url"])
        .arg(provider.base_url())
        .args([
            "--model",
            "m",
            "--input-tokens",
            "16",
            "--output-tokens",
            "6",
            "--json",
            "--db",
        ])
        .arg(db)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn near(value: &Value, expected: f64, within: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() <= within)
}

#[test]
fn measured_timings_follow_the_schedule_the_server_streams_on_in_closed_and_open_loops() {
    // 30 ms to the first event (the role), then 8 ms between events: the first token comes at
    // 38 ms, the next five 8 ms apart.
    let provider = FakeProvider::start(|_, _| Reply::stream(token_events(6), 30, 8));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    for args in [
        &["--concurrency", "1,8", "--requests", "40"][..],
        &["--rate", "20", "--arrivals", "constant", "--requests", "40"][..],
    ] {
        let report = load_json(&provider, &db, args);
        for level in report["levels"].as_array().unwrap() {
            assert_eq!(level["requests"], 40, "{level}");
            assert_eq!(level["error_rate"], 0.0, "{level}");
            assert!(near(&level["ttft_ms"]["p50"], 38.0, 4.0), "{args:?}: {level}");
            assert!(near(&level["itl_ms"]["p50"], 8.0, 2.0), "{args:?}: {level}");
            // The answer ends with the stream, three events after the last token (at 102 ms),
            // and TPOT spreads the time after the first token over the other five, as vLLM's
            // benchmark defines it: (102 − 38) / 5 = 12.8 ms.
            assert!(near(&level["e2e_ms"]["p50"], 102.0, 6.0), "{args:?}: {level}");
            assert!(near(&level["tpot_ms"]["p50"], 12.8, 2.0), "{args:?}: {level}");
            assert!(level["send_lag_p99_ms"].as_f64().unwrap() < 10.0, "{level}");
            assert_eq!(level["valid"], true);
            assert_eq!(level["saturated"], false, "{level}");
        }
    }
    let open = load_json(
        &provider,
        &db,
        &["--rate", "20", "--arrivals", "constant", "--requests", "40"],
    );
    let level = &open["levels"][0];
    assert_eq!(level["rate"], 20.0);
    assert_eq!(level["offered_rps"], 20.0);
    // 40 answers, each ending 102 ms after it was due, 50 ms apart: 20 a second.
    assert!(near(&level["achieved_rps"], 20.0, 0.5), "{level}");
    assert!(
        open["id"].as_i64().unwrap() >= 3,
        "every test is recorded: {open}"
    );
}

#[test]
fn a_generator_that_stalls_is_caught_and_its_late_requests_count_their_wait() {
    let provider = FakeProvider::start(|_, _| Reply::stream(token_events(2), 5, 1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = RemoteTarget::new(ProviderKind::Openai, "m".into(), provider.base_url(), None);
    let workload = Workload {
        caller: Arc::new(RemoteCaller::new(&target).unwrap()),
        prompts: Arc::new(vec![RenderedPrompt::Raw { prompt: "x".into() }]),
        sampling: Sampling {
            temperature: 0.0,
            top_p: None,
            top_k: None,
            seed: 0,
            max_tokens: 2,
            stop: Vec::new(),
        },
    };
    let plan = LevelPlan {
        load: Load::Rate(50.0),
        limit: LevelLimit::Requests(40),
        warmup: LevelLimit::Requests(0),
        arrivals: Arrivals::Constant,
        seed: 1,
    };
    let steady = runtime.block_on(run_level(&workload, plan, Arc::new(|_| {})));
    let level = summarize_level(plan.load, &steady, None, 10.0);
    assert!(level.valid, "{level:?}");
    // The generator shares its one thread with the requests: a request that holds the thread
    // for 300 ms on its end stalls it, and every request due meanwhile goes out late.
    let stalled_once = Arc::new(Mutex::new(false));
    let stall = Arc::clone(&stalled_once);
    let stalled = runtime.block_on(run_level(
        &workload,
        plan,
        Arc::new(move |_| {
            let mut done = stall.lock().unwrap();
            if !*done {
                *done = true;
                std::thread::sleep(Duration::from_millis(300));
            }
        }),
    ));
    let level = summarize_level(plan.load, &stalled, None, 10.0);
    assert!(!level.valid, "{level:?}");
    assert!(level.send_lag_p99_ms > 200.0, "{level:?}");
    // Latency runs from the due time: the wait the stall caused is in it, not hidden.
    let late = stalled
        .iter()
        .max_by(|a, b| a.lag_ms.total_cmp(&b.lag_ms))
        .unwrap();
    assert!(late.e2e_ms >= late.lag_ms, "{late:?}");
    assert!(level.e2e_ms.p99.unwrap() > 200.0, "{level:?}");
}

#[test]
fn against_a_server_of_fixed_service_rate_the_knee_lies_within_ten_percent_below_it() {
    // One request at a time, 40 ms each, first come first served: 25 requests/s at most. With
    // constant arrivals below that rate nothing queues; above it the queue grows without end.
    let free_at = Arc::new(Mutex::new(Instant::now()));
    let provider = FakeProvider::start(move |_, _| {
        let now = Instant::now();
        let mut free = free_at.lock().unwrap();
        let start = (*free).max(now);
        *free = start + Duration::from_millis(40);
        let wait = (*free - now).as_millis() as u64;
        Reply::stream(token_events(1), wait, 0)
    });
    let dir = tempfile::tempdir().unwrap();
    let report = load_json(
        &provider,
        &dir.path().join("db.sqlite3"),
        &[
            "--rate",
            "12,20,23,28",
            "--arrivals",
            "constant",
            "--duration",
            "4s",
        ],
    );
    let levels = report["levels"].as_array().unwrap();
    for level in &levels[..3] {
        assert_eq!(level["saturated"], false, "{level}");
    }
    assert_eq!(levels[3]["saturated"], true, "{}", levels[3]);
    let knee = &report["knee"];
    let rps = knee["rps"].as_f64().unwrap();
    assert!(
        (22.5..=25.0).contains(&rps),
        "knee {rps} req/s against 25: {knee}"
    );
    assert_eq!(knee["next_rps"], 28.0);
}
