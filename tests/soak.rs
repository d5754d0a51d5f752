//! Soak: many remote runs at concurrency 64 through the real `tradeoff` binary against the fake
//! provider with its faults mixed in. Every planned run must be recorded once with the error
//! class of the fault it met; the long version (`scripts/soak.sh`) also watches the binary's
//! memory.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::sse_server::{End, FakeProvider, Reply, fixture_events};
use crate::support::{model_turn, tradeoff, write};

/// What the server does to every request of a case, decided by the case's index so that each
/// run's expected outcome is known without asking the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fault {
    Ok,
    /// The first event comes late; the run still succeeds.
    Slow,
    /// Every attempt gets a 500: a `server_error` after the last attempt.
    Status500,
    /// Two events, then the connection is cut: a `stream_broken`, not retried.
    Reset,
}

impl Fault {
    /// 5 % 500s, 2 % broken streams, 5 % slow first tokens, the rest plain (and those get the
    /// 429s, below).
    fn of_case(case: usize) -> Fault {
        match case % 100 {
            0..5 => Fault::Status500,
            5..7 => Fault::Reset,
            7..12 => Fault::Slow,
            _ => Fault::Ok,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Fault::Ok => "ok",
            Fault::Slow => "slow",
            Fault::Status500 => "fail500",
            Fault::Reset => "reset",
        }
    }

    fn from_word(word: &str) -> Fault {
        match word {
            "slow" => Fault::Slow,
            "fail500" => Fault::Status500,
            "reset" => Fault::Reset,
            _ => Fault::Ok,
        }
    }
}

/// About 3 % of the requests of plain and slow runs get a 429 with `Retry-After: 0`, chosen by a
/// hash of the request's index (seeded, so a soak repeats), wherever they fall in the run's
/// attempts: the retries must absorb them.
fn rate_limited(request: usize) -> bool {
    // SplitMix64 of the index: spread evenly without a dependency.
    let mut z = (request as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    z % 100 < 3
}

struct Soak {
    runs: usize,
    concurrency: usize,
    /// Milliseconds between the events of a plain stream: sets how long a run holds its slot.
    gap_ms: u64,
    /// Sample the binary's memory each second and hold its growth after warm-up under 10 %.
    watch_memory: bool,
}

/// One sample of the binary while it runs.
struct Sample {
    seconds: f64,
    requests: usize,
    rss_kib: u64,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn soak(soak: Soak) {
    let Soak {
        runs,
        concurrency,
        gap_ms,
        watch_memory,
    } = soak;
    // Repetitions send the same prompt, which the server cannot tell apart; the fault belongs
    // to the case, so all repetitions of a case meet the same one.
    let repetitions = if runs.is_multiple_of(10) { 10 } else { 1 };
    let cases = runs / repetitions;

    let statuses: Arc<Mutex<HashMap<&'static str, usize>>> = Arc::default();
    let answered = Arc::new(AtomicUsize::new(0));
    let server = {
        let (statuses, answered) = (Arc::clone(&statuses), Arc::clone(&answered));
        let events = fixture_events("openai-chat.sse");
        FakeProvider::start(move |index, seen| {
            answered.fetch_add(1, Ordering::Relaxed);
            let message = seen.json()["messages"][0]["content"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let fault = Fault::from_word(message.rsplit(' ').next().unwrap_or(""));
            let (kind, reply) = match fault {
                Fault::Ok | Fault::Slow if rate_limited(index) => (
                    "429",
                    Reply::Status {
                        code: 429,
                        headers: vec![("retry-after", "0".into())],
                        body: r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#.into(),
                    },
                ),
                Fault::Ok => ("200", Reply::stream(events.clone(), 0, gap_ms)),
                Fault::Slow => ("200 slow", Reply::stream(events.clone(), 400, gap_ms)),
                Fault::Status500 => (
                    "500",
                    Reply::status(500, r#"{"error":{"message":"The server had an error"}}"#),
                ),
                Fault::Reset => (
                    "200 cut",
                    Reply::Stream {
                        events: events[..2].to_vec(),
                        first: Duration::ZERO,
                        gap: Duration::from_millis(gap_ms),
                        end: End::Reset,
                    },
                ),
            };
            *statuses.lock().unwrap().entry(kind).or_default() += 1;
            reply
        })
    };

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let case_list: Vec<String> = (0..cases)
        .map(|i| {
            format!(
                "{{id: c{i}, vars: {{n: '{i}', fault: {}}}}}",
                Fault::of_case(i).word()
            )
        })
        .collect();
    // Three attempts: a 429 on all three of a run is 0.03³, so the retries absorb them; 500s
    // are tried three times with the scheduler's backoff.
    let file = write(
        dir.path(),
        "soak.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, user: 'case {{{{ n }}}} {{{{ fault }}}}'}}]
cases: [{}]
targets: [{{id: api, provider: openai, model: m, base_url: '{}', max_concurrency: {concurrency},
  max_attempts: 3, timeout: {{first_token: 20, total: 60}}}}]
repetitions: {repetitions}
",
            case_list.join(", "),
            server.base_url()
        ),
    );
    let stdout_path = dir.path().join("stdout.json");
    let stderr_path = dir.path().join("stderr.txt");
    let start = Instant::now();
    let mut child = tradeoff()
        .args(["run", "--json", "--db"])
        .arg(&db)
        .arg(&file)
        .stdout(Stdio::from(std::fs::File::create(&stdout_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut samples: Vec<Sample> = Vec::new();
    // Bounded: a soak that hangs fails instead of running on.
    let limit = Duration::from_secs(60 + (runs as u64) / 20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the soak did not finish within {limit:?}");
        }
        if let Some(rss_kib) = vm_rss_kib(pid) {
            samples.push(Sample {
                seconds: start.elapsed().as_secs_f64(),
                requests: answered.load(Ordering::Relaxed),
                rss_kib,
            });
        }
        std::thread::sleep(Duration::from_millis(if watch_memory { 1000 } else { 100 }));
    };
    let elapsed = start.elapsed();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(status.success(), "{stderr}");

    // Read back from the store: `run --json` prints the experiment's report as recorded.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stdout_path).unwrap()).unwrap();
    let recorded = report["runs"].as_array().unwrap();
    assert_eq!(recorded.len(), runs, "every planned run is recorded");
    let mut seen_once: HashMap<(String, u64), usize> = HashMap::new();
    let mut outcomes: HashMap<(Fault, String), usize> = HashMap::new();
    let mut retried_429 = 0;
    for run in recorded {
        let case = run["case"].as_str().unwrap().to_string();
        let repetition = run["repetition"].as_u64().unwrap();
        *seen_once.entry((case, repetition)).or_default() += 1;
        let output = run["output"].as_str().unwrap_or("");
        let class = run["error"]["class"].as_str().unwrap_or("none").to_string();
        let attempts = run["attempts"].as_array().cloned().unwrap_or_default();
        let codes: Vec<u64> = attempts.iter().filter_map(|a| a["status"].as_u64()).collect();
        retried_429 += codes.iter().filter(|s| **s == 429).count();
        // Case ids are `c<index>`, and the index decides the fault.
        let index: usize = run["case"]
            .as_str()
            .and_then(|c| c.strip_prefix('c'))
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| panic!("case id without an index: {run}"));
        let fault = Fault::of_case(index);
        match fault {
            Fault::Ok | Fault::Slow if class == "rate_limited" => {
                assert!(codes.iter().all(|s| *s == 429), "{run}");
            }
            Fault::Ok | Fault::Slow => {
                assert_eq!(class, "none", "a {fault:?} run: {run}");
                assert!(output.contains("Berlin"), "{run}");
            }
            Fault::Status500 => {
                assert_eq!(class, "server_error", "{run}");
                assert_eq!(codes, vec![500, 500, 500], "{run}");
            }
            Fault::Reset => assert_eq!(class, "stream_broken", "{run}"),
        }
        *outcomes.entry((fault, class)).or_default() += 1;
    }
    assert_eq!(seen_once.len(), runs, "no run is recorded twice");
    assert!(seen_once.values().all(|n| *n == 1));

    let rate = runs as f64 / elapsed.as_secs_f64();
    println!(
        "soak: {runs} runs ({cases} cases × {repetitions}) at concurrency {concurrency} in {:.1} s ({rate:.0} runs/s)",
        elapsed.as_secs_f64()
    );
    let mut sorted: Vec<_> = statuses.lock().unwrap().clone().into_iter().collect();
    sorted.sort();
    println!("server replies: {sorted:?}; 429s retried: {retried_429}");
    let mut sorted: Vec<_> = outcomes.into_iter().collect();
    sorted.sort_by_key(|((fault, class), _)| (format!("{fault:?}"), class.clone()));
    for ((fault, class), count) in sorted {
        println!("  {fault:?} -> {class}: {count}");
    }

    if watch_memory {
        println!("  time s   requests   RSS MiB");
        for s in &samples {
            println!(
                "{:>8.1} {:>10} {:>9.1}",
                s.seconds,
                s.requests,
                s.rss_kib as f64 / 1024.0
            );
        }
        // Warm-up: the first 20 % of the requests (connections opened, caches filled).
        let warm = samples
            .iter()
            .find(|s| s.requests >= runs / 5)
            .expect("a sample after warm-up");
        let last = samples.last().expect("a sample");
        let peak = samples
            .iter()
            .filter(|s| s.seconds >= warm.seconds)
            .map(|s| s.rss_kib)
            .max()
            .unwrap_or(warm.rss_kib);
        let growth = (last.rss_kib as f64 - warm.rss_kib as f64) / warm.rss_kib as f64;
        println!(
            "RSS after warm-up {:.1} MiB at {:.1} s, at the end {:.1} MiB ({:+.1} %), peak {:.1} MiB",
            warm.rss_kib as f64 / 1024.0,
            warm.seconds,
            last.rss_kib as f64 / 1024.0,
            growth * 100.0,
            peak as f64 / 1024.0
        );
        assert!(growth < 0.10, "RSS grew {:.1} % after warm-up", growth * 100.0);
    }
}

#[test]
fn five_hundred_runs_at_concurrency_64_against_a_faulty_server_are_all_recorded_and_classified() {
    let _turn = model_turn();
    soak(Soak {
        runs: 500,
        concurrency: 64,
        gap_ms: 2,
        watch_memory: false,
    });
}

/// `scripts/soak.sh`: SOAK_RUNS (10000) runs at SOAK_CONCURRENCY (64), with the memory curve.
#[test]
#[ignore = "a soak of minutes; run by scripts/soak.sh"]
fn a_soak_of_ten_thousand_faulty_runs_keeps_every_run_and_the_memory_flat() {
    let _turn = model_turn();
    soak(Soak {
        runs: env_usize("SOAK_RUNS", 10_000),
        concurrency: env_usize("SOAK_CONCURRENCY", 64),
        gap_ms: 20,
        watch_memory: true,
    });
}
