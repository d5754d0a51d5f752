//! Client overhead of remote runs: how much of a run's measured TTFT and latency is the client's
//! own (HTTP stack, SSE parsing, scheduling) rather than the server's. A server in this process
//! streams chat completions and notes when it handed each event to the connection; the overhead
//! of a run is its measured TTFT (latency) minus the server's time from the request's arrival
//! to the first text event (the end marker). That counts the request's way in and the event's
//! way out, so it bounds the per-chunk delay from above. Streams are phased apart within the
//! event gap (see `stream`); with every stream sending at the same instant the median was
//! 0.5–0.6 ms on 2 cores, the cost of queueing behind 63 simultaneous events.
//!
//! `cargo bench -p tradeoff-remote --bench remote_overhead [-- REQUESTS CONCURRENCY]`
//! (defaults: 1000 requests, 64 at a time). Target: median < 0.5 ms at 64 concurrent streams.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::response::Response;
use axum::serve::ListenerExt;
use tradeoff_core::execute::remote::{RemoteEngine, RemoteEvent, RemoteJob};
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::{ChatMessage, RenderedPrompt};
use tradeoff_core::spec::target::remote::{ProviderKind, RemoteTarget};
use tradeoff_remote::HttpRemote;

/// Per request id: arrival, first text handed over, end marker handed over.
type Timeline = Arc<Mutex<HashMap<String, (Instant, Option<Instant>, Option<Instant>)>>>;

const EVENTS: usize = 8;
const GAP: Duration = Duration::from_millis(5);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let requests: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let concurrency: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let timeline: Timeline = Arc::default();
    let addr = start_server(Arc::clone(&timeline));

    let mut target = RemoteTarget::new(
        ProviderKind::Openai,
        "bench".into(),
        format!("http://{addr}/v1"),
        None,
    );
    target.max_concurrency = concurrency;
    target.max_attempts = 1;
    let jobs: Vec<RemoteJob> = (0..requests).map(|i| job(&format!("req-{i}"))).collect();
    let mut remote = HttpRemote::new().expect("http client");
    let mut measured: Vec<Option<(f64, f64)>> = vec![None; requests];
    let start = Instant::now();
    remote
        .run_jobs(&target, jobs, &AtomicBool::new(false), &mut |event| {
            if let RemoteEvent::Finished(index, result) = event
                && let Ok(generation) = &result.outcome
            {
                measured[index] = generation
                    .metrics
                    .ttft_ms
                    .map(|ttft| (ttft, generation.metrics.latency_ms));
            }
            ControlFlow::Continue(())
        })
        .expect("runs");
    let wall = start.elapsed();

    let timeline = timeline.lock().expect("timeline");
    let mut ttft_overhead = Vec::new();
    let mut latency_overhead = Vec::new();
    for (index, m) in measured.iter().enumerate() {
        let Some((ttft, latency)) = m else { continue };
        let Some((arrived, Some(first), Some(done))) = timeline.get(&format!("req-{index}")) else {
            continue;
        };
        let ms = |later: &Instant| later.duration_since(*arrived).as_secs_f64() * 1000.0;
        ttft_overhead.push(ttft - ms(first));
        latency_overhead.push(latency - ms(done));
    }
    let ok = ttft_overhead.len();
    println!(
        "{requests} requests, {concurrency} concurrent, {EVENTS} events {GAP:?} apart: {ok} measured in {:.1} s",
        wall.as_secs_f64()
    );
    for (name, values) in [("TTFT", &mut ttft_overhead), ("latency", &mut latency_overhead)] {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            values
                .get(((values.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "client overhead on {name}: median {:.3} ms, p95 {:.3} ms, max {:.3} ms",
            at(0.5),
            at(0.95),
            at(1.0)
        );
    }
    if ok < requests {
        println!("warning: {} requests failed or were not matched", requests - ok);
    }
}

fn job(id: &str) -> RemoteJob {
    RemoteJob {
        prompt: RenderedPrompt::Chat {
            messages: vec![ChatMessage {
                role: Role::User,
                content: id.to_string(),
            }],
        },
        sampling: Sampling {
            temperature: 0.0,
            top_p: None,
            top_k: None,
            seed: 0,
            max_tokens: 16,
            stop: Vec::new(),
        },
    }
}

fn start_server(timeline: Timeline) -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send addr");
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let app = Router::new().fallback(move |body: Bytes| {
                let timeline = Arc::clone(&timeline);
                async move { stream(body, timeline) }
            });
            axum::serve(listener, app).await.expect("serve");
        });
    });
    rx.recv().expect("server address")
}

fn stream(body: Bytes, timeline: Timeline) -> Response {
    let arrived = Instant::now();
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = request["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    timeline
        .lock()
        .expect("timeline")
        .insert(id.clone(), (arrived, None, None));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(EVENTS + 2);
    tokio::spawn(async move {
        let chunk = |content: &str| {
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":null}}]}}\n\n"
            )
        };
        // Each stream gets its own phase within the gap, as streams from a real server have;
        // without it all 64 streams would send at the same instant and the bench would measure
        // a synthetic burst instead of the client.
        let phase = id
            .trim_start_matches("req-")
            .parse::<u64>()
            .map_or(Duration::ZERO, |n| Duration::from_micros((n * 7919) % 5000));
        let mut at = tokio::time::Instant::from_std(arrived) + phase;
        for i in 0..EVENTS {
            at += GAP;
            tokio::time::sleep_until(at).await;
            if tx.send(Ok(Bytes::from(chunk(&format!("t{i} "))))).await.is_err() {
                return;
            }
            if i == 0
                && let Some(entry) = timeline.lock().expect("timeline").get_mut(&id)
            {
                entry.1 = Some(Instant::now());
            }
        }
        let end = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":8}}\n\ndata: [DONE]\n\n";
        if tx.send(Ok(Bytes::from(end))).await.is_ok()
            && let Some(entry) = timeline.lock().expect("timeline").get_mut(&id)
        {
            entry.2 = Some(Instant::now());
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .expect("response")
}
