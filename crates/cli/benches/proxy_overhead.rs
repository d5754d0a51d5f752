//! What `tradeoff serve` adds to a request when it proxies a remote winner: clients send
//! streamed chat requests to a zero-delay OpenAI-compatible stub on loopback, directly and through
//! the real `tradeoff serve`, alternating, and the median per-request time of each is compared, at
//! 64 concurrent streams and at one. Beside it, the server's own CPU time per request (its
//! `/proc/PID/stat` times over the proxied rounds): with the clients, the stub and the server on
//! the same few cores, the time added at 64 streams is mostly that CPU time queued behind the
//! other streams' (about CPU per request × streams / cores), so the CPU time is what the server
//! costs a request wherever it runs. Target: under 0.5 ms per request at 64 concurrent streams
//! (issue: serving and monitoring).
//!
//! `cargo bench -p tradeoff-cli --bench proxy_overhead`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::post;
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_core::spec::target::remote::{ProviderKind, RemoteTarget, Timeouts};
use tradeoff_remote::RemoteCaller;

const CLIENTS: usize = 64;
const REQUESTS_PER_CLIENT: usize = 100;
const ROUNDS: usize = 3;

/// An OpenAI chat stream answered at once: the role, the text, the finish, the usage.
fn stream() -> String {
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"stub\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    [
        chunk(r#"{"role":"assistant","content":""}"#, "null"),
        chunk(r#"{"content":"{\"city\": \"Berlin\"}"}"#, "null"),
        chunk("{}", r#""stop""#),
        "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"stub\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":6,\"total_tokens\":18}}\n\n".to_string(),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat()
}

fn target(base_url: &str) -> RemoteTarget {
    RemoteTarget {
        provider: ProviderKind::Openai,
        model: "stub".into(),
        base_url: base_url.into(),
        api_key_env: None,
        max_concurrency: CLIENTS as u32,
        requests_per_minute: None,
        max_attempts: 1,
        timeouts: Timeouts::default(),
        include_usage: true,
        logprobs: false,
        extra_body: serde_json::Map::new(),
    }
}

/// Every request's time, from `clients` clients sending `REQUESTS_PER_CLIENT` each.
async fn load(caller: Arc<RemoteCaller>, clients: usize) -> Vec<f64> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let caller = Arc::clone(&caller);
        tasks.spawn(async move {
            let mut times = Vec::with_capacity(REQUESTS_PER_CLIENT);
            for _ in 0..REQUESTS_PER_CLIENT {
                let started = Instant::now();
                let prompt = RenderedPrompt::Raw { prompt: "x".into() };
                let sampling = Sampling {
                    temperature: 0.0,
                    top_p: None,
                    top_k: None,
                    seed: 0,
                    max_tokens: 8,
                    stop: Vec::new(),
                };
                caller
                    .call(prompt, sampling, &mut |_| {})
                    .await
                    .expect("a stub answer");
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            times
        });
    }
    let mut all = Vec::new();
    while let Some(times) = tasks.join_next().await {
        all.extend(times.expect("a client"));
    }
    all
}

/// CPU time (user + system) the process has used so far, in milliseconds.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The fields after the command name (which may hold spaces) are 3.., utime and stime 14 and 15.
    let after = stat.rsplit_once(')').expect("a stat line").1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    // USER_HZ, the unit of those times: 100 on Linux unless `getconf` says otherwise.
    let per_second = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks * 1000.0 / per_second
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a port for the stub");
    let stub = format!("http://{}/v1", listener.local_addr().expect("address"));
    let body = stream();
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(move || {
                let body = body.clone();
                async move { ([("content-type", "text/event-stream")], body) }
            }),
        )
        .route(
            "/v1/completions",
            post(|| async { ([("content-type", "text/event-stream")], stream()) }),
        );
    runtime.spawn(async move { axum::serve(listener, app).await });

    // The winner: one case run against the stub, picked, and served.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite3");
    let file = dir.path().join("e.yaml");
    std::fs::write(
        &file,
        format!("schema: 1\nvariants: [{{id: v, user: 'x'}}]\ncases: [{{vars: {{}}}}]\ntargets: [{{id: stub, provider: openai, model: stub, base_url: '{stub}', api_key_env: null}}]\n"),
    )
    .expect("experiment file");
    let tradeoff = env!("CARGO_BIN_EXE_tradeoff");
    let ok = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(tradeoff).args(args).output().expect("tradeoff");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    ok(&["run".as_ref(), "--db".as_ref(), db.as_os_str(), file.as_os_str()]);
    let winner = dir.path().join("winner.json");
    ok(&[
        "winner".as_ref(),
        "latest".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "-o".as_ref(),
        winner.as_os_str(),
    ]);
    let mut server = Command::new(tradeoff)
        .arg("serve")
        .arg(&winner)
        .args(["--port", "0", "--no-log", "--parallel", "64", "--queue", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tradeoff serve");
    let mut first = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("its address");
    let proxy = first
        .trim()
        .strip_prefix("listening on ")
        .expect("listening")
        .to_string();

    let direct = Arc::new(RemoteCaller::new(&target(&stub)).expect("direct caller"));
    let proxied = Arc::new(RemoteCaller::new(&target(&proxy)).expect("proxied caller"));
    // Warm both paths' connection pools once.
    runtime.block_on(load(Arc::clone(&direct), CLIENTS));
    runtime.block_on(load(Arc::clone(&proxied), CLIENTS));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for clients in [CLIENTS, 1] {
        let (mut direct_ms, mut proxied_ms) = (Vec::new(), Vec::new());
        let mut server_cpu_ms = 0.0;
        for _ in 0..ROUNDS {
            direct_ms.push(median(runtime.block_on(load(Arc::clone(&direct), clients))));
            let before = cpu_ms(server.id());
            proxied_ms.push(median(runtime.block_on(load(Arc::clone(&proxied), clients))));
            server_cpu_ms += cpu_ms(server.id()) - before;
        }
        let (direct, proxied) = (median(direct_ms.clone()), median(proxied_ms.clone()));
        let requests = clients * REQUESTS_PER_CLIENT;
        let cpu_per_request_ms = server_cpu_ms / (requests * ROUNDS) as f64;
        println!(
            "{clients} concurrent clients, {requests} requests per round, {ROUNDS} alternating rounds, {cores} cores"
        );
        println!("  median per request, direct to the stub:     {direct:.3} ms  (rounds {direct_ms:.3?})");
        println!("  median per request, through tradeoff serve: {proxied:.3} ms  (rounds {proxied_ms:.3?})");
        println!("  time added per request: {:.3} ms", proxied - direct);
        println!(
            "  the server's CPU time per request: {cpu_per_request_ms:.3} ms (goal: under 0.5 ms){}",
            if clients > cores {
                format!(
                    "; queued behind the other streams on {cores} shared cores that is about {:.2} ms",
                    cpu_per_request_ms * clients as f64 / cores as f64
                )
            } else {
                String::new()
            }
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}
