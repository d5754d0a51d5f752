//! The load generator's own limits, so its numbers can be trusted (issue: load and capacity):
//! 1. Open loop against a zero-delay OpenAI-compatible stub on loopback: the highest constant
//!    rate it sends at with p99 send lag ≤ 1 ms (goal: ≥ 2,000 requests/s on this machine).
//! 2. 64 concurrent streams against a stub that streams on a known schedule (first token after
//!    20 ms, then one every 5 ms): how far the measured TTFT, inter-token gaps and end-to-end are
//!    from the schedule at p50 and p99 (goal: within 2 ms).
//!
//! The stub runs on a runtime (and threads) of its own; the generator on another, as in use.
//! Beside the generator, in the same run, a reference client that is nothing but a TCP socket
//! (no HTTP library, no JSON) times the same 64 streams: what it sees beyond the schedule is this
//! machine's (two shared cores, 64 streams due at once), so the generator's own error is the
//! difference.
//!
//! `cargo bench -p tradeoff-cli --bench load_generator`

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::post;
use tradeoff_core::analyze::load_test::{Load, LoadSample, summarize_level};
use tradeoff_core::execute::arrivals::{Arrivals, LevelLimit};
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_core::spec::target::remote::{ProviderKind, RemoteTarget};
use tradeoff_core::stats::percentile;
use tradeoff_load::{LevelPlan, Workload, run_level};
use tradeoff_remote::RemoteCaller;

const TOKENS: usize = 8;
const FIRST_MS: u64 = 20;
const GAP_MS: u64 = 5;

fn chunk(delta: &str, finish: &str) -> String {
    format!(
        "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"stub\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

fn usage() -> String {
    format!(
        "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"stub\",\"choices\":[],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":{TOKENS},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
        12 + TOKENS
    )
}

/// The stub: `/fast/...` answers at once, `/timed/...` streams the tokens on the schedule.
fn stub() -> std::net::SocketAddr {
    let (ready, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("stub runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
            let _ = ready.send(listener.local_addr().expect("address"));
            let fast: String = [
                chunk(r#"{"role":"assistant","content":""}"#, "null"),
                chunk(r#"{"content":"ok"}"#, "null"),
                chunk("{}", r#""stop""#),
                usage(),
            ]
            .concat();
            let app = Router::new()
                .route(
                    "/fast/chat/completions",
                    post(move || {
                        let body = fast.clone();
                        async move { ([("content-type", "text/event-stream")], body) }
                    }),
                )
                .route("/timed/chat/completions", post(timed));
            let listener = listener.tap_io(|s| {
                let _ = s.set_nodelay(true);
            });
            let _ = axum::serve(listener, app).await;
        });
    });
    address.recv().expect("the stub listens")
}

use axum::serve::ListenerExt;

async fn timed() -> Response {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    // Each token at its own deadline from the request's arrival, so rounding does not add up from
    // one token to the next. The deadlines are kept by an OS thread (hrtimer sleeps, tens of µs)
    // rather than tokio's timer, which rounds every sleep up to the next millisecond: that would
    // be the stub's error, charged to the generator.
    let arrived = std::time::Instant::now();
    std::thread::spawn(move || {
        let at = |ms: u64| {
            let due = arrived + Duration::from_millis(ms);
            std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        };
        at(FIRST_MS);
        let _ = sender.blocking_send(Ok(chunk(r#"{"role":"assistant","content":"t"}"#, "null")));
        for k in 1..TOKENS as u64 {
            at(FIRST_MS + k * GAP_MS);
            let _ = sender.blocking_send(Ok(chunk(r#"{"content":"t"}"#, "null")));
        }
        let _ = sender.blocking_send(Ok(chunk("{}", r#""stop""#) + &usage()));
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(tokio_stream_of(receiver)))
        .expect("a response")
}

fn tokio_stream_of(
    mut receiver: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// One stream read from a kept-alive bare socket: the times (ms from the write) at which each
/// token's bytes arrived, and the end of the stream (its `[DONE]`; the chunked body's terminator
/// that follows is read, and ignored, with the next answer).
async fn reference_stream(
    socket: &mut tokio::net::TcpStream,
    address: std::net::SocketAddr,
) -> Option<(Vec<f64>, f64)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = r#"{"model":"stub","messages":[{"role":"user","content":"x"}],"stream":true}"#;
    let request = format!(
        "POST /timed/chat/completions HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let sent = std::time::Instant::now();
    socket.write_all(request.as_bytes()).await.ok()?;
    let mut tokens = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = socket.read(&mut buffer).await.ok()?;
        let at = sent.elapsed().as_secs_f64() * 1e3;
        if read == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(&buffer[..read]);
        for _ in text.matches("\"content\":\"t\"") {
            tokens.push(at);
        }
        if text.contains("[DONE]") {
            return Some((tokens, at));
        }
    }
}

/// The reference client: `streams` at a time, `requests` in all, each stream starting the next
/// request when its last one ends (the generator's closed loop). Times of TTFT, gaps, end-to-end.
fn reference(
    runtime: &tokio::runtime::Runtime,
    address: std::net::SocketAddr,
    streams: usize,
    requests: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    runtime.block_on(async move {
        let left = Arc::new(std::sync::atomic::AtomicUsize::new(requests));
        let mut tasks = Vec::new();
        for _ in 0..streams {
            let left = left.clone();
            tasks.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                let Ok(mut socket) = tokio::net::TcpStream::connect(address).await else {
                    return seen;
                };
                let _ = socket.set_nodelay(true);
                while left
                    .fetch_update(
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                        |n| n.checked_sub(1),
                    )
                    .is_ok()
                {
                    match reference_stream(&mut socket, address).await {
                        Some(stream) => seen.push(stream),
                        None => break,
                    }
                }
                seen
            }));
        }
        let (mut ttft, mut gaps, mut e2e) = (Vec::new(), Vec::new(), Vec::new());
        // The first round starts every stream at once, as the generator's warm-up does.
        for task in tasks {
            for (tokens, end) in task.await.expect("a stream").into_iter().skip(2) {
                ttft.extend(tokens.first().copied());
                gaps.extend(tokens.windows(2).map(|w| w[1] - w[0]));
                e2e.push(end);
            }
        }
        (ttft, gaps, e2e)
    })
}

fn workload(base_url: String) -> Workload {
    let mut target = RemoteTarget::new(ProviderKind::Openai, "stub".into(), base_url, None);
    target.max_concurrency = 4096;
    Workload {
        caller: Arc::new(RemoteCaller::new(&target).expect("a caller")),
        prompts: Arc::new(vec![RenderedPrompt::Chat {
            messages: vec![tradeoff_core::spec::prompt::ChatMessage {
                role: tradeoff_core::spec::file::Role::User,
                content: "x".into(),
            }],
        }]),
        sampling: Sampling {
            temperature: 0.0,
            top_p: None,
            top_k: None,
            seed: 0,
            max_tokens: TOKENS as u32,
            stop: Vec::new(),
        },
    }
}

fn run(
    runtime: &tokio::runtime::Runtime,
    workload: &Workload,
    load: Load,
    limit: LevelLimit,
) -> Vec<LoadSample> {
    let plan = LevelPlan {
        load,
        limit,
        // The first round of a closed loop starts every stream at once: not a steady state.
        warmup: match load {
            Load::Concurrency(n) => LevelLimit::Requests(2 * n as usize),
            Load::Rate(_) => LevelLimit::Requests(0),
        },
        arrivals: Arrivals::Constant,
        seed: 1,
    };
    runtime.block_on(run_level(workload, plan, Arc::new(|_| {})))
}

fn main() {
    let address = stub();
    let base = format!("http://{address}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("generator runtime");
    let fast = workload(format!("{base}/fast"));
    // Warm the connection pool.
    run(
        &runtime,
        &fast,
        Load::Concurrency(64),
        LevelLimit::Requests(2_000),
    );
    println!("open loop, zero-delay stub, constant arrivals, 3 s per rate:");
    let mut best = None;
    for rate in [500.0, 1_000.0, 2_000.0, 3_000.0, 4_000.0] {
        let samples = run(&runtime, &fast, Load::Rate(rate), LevelLimit::DurationMs(3_000.0));
        let level = summarize_level(Load::Rate(rate), &samples, None, 1.0);
        println!(
            "  {rate:>6.0} req/s offered: {:>7.1} answered, send lag p99 {:.3} ms, errors {:.1} %{}",
            level.achieved_rps,
            level.send_lag_p99_ms,
            level.error_rate * 100.0,
            if level.valid && !level.saturated {
                ""
            } else {
                "  (lag above 1 ms or saturated)"
            }
        );
        if level.valid && !level.saturated && level.error_rate == 0.0 {
            best = Some(rate);
        }
    }
    println!(
        "  highest rate with p99 send lag ≤ 1 ms: {} (goal ≥ 2,000 req/s)",
        best.map_or("none".to_string(), |r| format!("{r:.0} req/s"))
    );

    let timed = workload(format!("{base}/timed"));
    let samples = run(
        &runtime,
        &timed,
        Load::Concurrency(64),
        LevelLimit::Requests(3_200),
    );
    let ok: Vec<&LoadSample> = samples
        .iter()
        .filter(|s| s.error_class.is_none() && !s.warmup)
        .collect();
    let ttft: Vec<f64> = ok.iter().filter_map(|s| s.ttft_ms).collect();
    let gaps: Vec<f64> = ok.iter().flat_map(|s| s.itl_ms.iter().copied()).collect();
    let e2e: Vec<f64> = ok.iter().map(|s| s.e2e_ms).collect();
    let expected_e2e = (FIRST_MS + GAP_MS * (TOKENS as u64 - 1)) as f64;
    let (reference_ttft, reference_gaps, reference_e2e) = reference(&runtime, address, 64, 3_200);
    println!(
        "64 concurrent streams on a schedule (first token {FIRST_MS} ms, then every {GAP_MS} ms), {} requests after the first two rounds, {} failed;",
        samples.iter().filter(|s| !s.warmup).count(),
        samples.iter().filter(|s| s.error_class.is_some()).count()
    );
    println!("beside it, a bare-socket reference client (no HTTP library, no JSON) on the same streams:");
    for (name, values, reference, expected) in [
        ("TTFT", &ttft, &reference_ttft, FIRST_MS as f64),
        ("inter-token", &gaps, &reference_gaps, GAP_MS as f64),
        ("end-to-end", &e2e, &reference_e2e, expected_e2e),
    ] {
        let at = |values: &Vec<f64>, p: f64| percentile(values, p).unwrap_or(f64::NAN) - expected;
        println!(
            "  {name:<12} expected {expected:>5.1} ms: generator p50 {:+.2} p99 {:+.2} ms; reference p50 {:+.2} p99 {:+.2} ms; the generator's own error p50 {:+.2} p99 {:+.2} ms (goal: within 2 ms)",
            at(values, 50.0),
            at(values, 99.0),
            at(reference, 50.0),
            at(reference, 99.0),
            at(values, 50.0) - at(reference, 50.0),
            at(values, 99.0) - at(reference, 99.0),
        );
    }
}
