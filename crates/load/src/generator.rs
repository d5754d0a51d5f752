//! One level of load, run and measured. Every request is timed from its due time: in an open
//! loop the schedule's, so a generator that falls behind is seen (its send lag is recorded and
//! bounds the level's validity) and cannot hide the queueing it would cause by sending late
//! (coordinated omission); in a closed loop a request is due when its client sends it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tradeoff_core::analyze::load_test::{Load, LoadSample};
use tradeoff_core::execute::arrivals::{Arrivals, LevelLimit, schedule};
use tradeoff_core::run::ErrorClass;
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_remote::RemoteCaller;

/// What every request of a test sends: the prompts in turn, with one sampling.
#[derive(Debug, Clone)]
pub struct Workload {
    pub caller: Arc<RemoteCaller>,
    pub prompts: Arc<Vec<RenderedPrompt>>,
    pub sampling: Sampling,
}

/// One level: its load, how long it lasts, and its warm-up (sent, recorded, not counted).
#[derive(Debug, Clone, Copy)]
pub struct LevelPlan {
    pub load: Load,
    pub limit: LevelLimit,
    pub warmup: LevelLimit,
    pub arrivals: Arrivals,
    pub seed: u64,
}

/// How long before its due time the generator stops sleeping and waits actively: the timer
/// wakes a task up to a millisecond late, more than the lag a level may show.
const SPIN_BEFORE: Duration = Duration::from_micros(1500);

/// Runs `level` against the workload; `on_done` hears each finished request (for progress).
pub async fn run_level(
    workload: &Workload,
    level: LevelPlan,
    on_done: Arc<dyn Fn(&LoadSample) + Send + Sync>,
) -> Vec<LoadSample> {
    match level.load {
        Load::Rate(rate) => open_loop(workload, level, rate, on_done).await,
        Load::Concurrency(clients) => closed_loop(workload, level, clients, on_done).await,
    }
}

async fn open_loop(
    workload: &Workload,
    level: LevelPlan,
    rate: f64,
    on_done: Arc<dyn Fn(&LoadSample) + Send + Sync>,
) -> Vec<LoadSample> {
    let (warmup, counted) = (
        schedule(level.arrivals, rate, level.warmup, level.seed),
        schedule(level.arrivals, rate, level.limit, level.seed.wrapping_add(1)),
    );
    // The counted schedule follows the warm-up one, one mean gap after it.
    let offset = warmup.last().map_or(0.0, |last| last + 1000.0 / rate);
    let due_times: Vec<(f64, bool)> = warmup
        .iter()
        .map(|&at| (at, true))
        .chain(counted.iter().map(|&at| (at + offset, false)))
        .collect();
    let start = Instant::now() + Duration::from_millis(5);
    let mut requests = JoinSet::new();
    for (index, (at_ms, warm)) in due_times.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(at_ms / 1000.0);
        wait_until(due).await;
        let workload = workload.clone();
        let on_done = Arc::clone(&on_done);
        requests.spawn(async move {
            // Sent when its task starts sending, not when the generator handed it over: a busy
            // runtime that starts it late shows as lag.
            let sent = Instant::now();
            let sample = measure(&workload, index, at_ms, due, sent, warm).await;
            on_done(&sample);
            sample
        });
    }
    collect(requests).await
}

async fn closed_loop(
    workload: &Workload,
    level: LevelPlan,
    clients: u32,
    on_done: Arc<dyn Fn(&LoadSample) + Send + Sync>,
) -> Vec<LoadSample> {
    let start = Instant::now();
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = Arc::new(AtomicUsize::new(0));
    // When the first counted request went out, for a warm-up given as a number of requests.
    let warm_end = Arc::new(std::sync::OnceLock::new());
    let mut tasks = JoinSet::new();
    for _ in 0..clients.max(1) {
        let workload = workload.clone();
        let sent = Arc::clone(&sent);
        let counted = Arc::clone(&counted);
        let warm_end = Arc::clone(&warm_end);
        let on_done = Arc::clone(&on_done);
        tasks.spawn(async move {
            let mut samples = Vec::new();
            loop {
                let index = sent.fetch_add(1, Ordering::Relaxed);
                let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
                let warm = within(level.warmup, index, elapsed_ms);
                // The level's own count and clock start after the warm-up.
                if !warm {
                    let counted_index = counted.fetch_add(1, Ordering::Relaxed);
                    let warmup_ms = match level.warmup {
                        LevelLimit::DurationMs(ms) => ms,
                        LevelLimit::Requests(_) => *warm_end.get_or_init(|| elapsed_ms),
                    };
                    if !within(level.limit, counted_index, elapsed_ms - warmup_ms) {
                        break;
                    }
                }
                let now = Instant::now();
                let sample = measure(&workload, index, elapsed_ms, now, now, warm).await;
                on_done(&sample);
                samples.push(sample);
            }
            samples
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(samples) = done {
            all.extend(samples);
        }
    }
    all.sort_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms));
    all
}

/// Whether request `index` (or one sent `elapsed_ms` in) still falls within `limit`.
fn within(limit: LevelLimit, index: usize, elapsed_ms: f64) -> bool {
    match limit {
        LevelLimit::Requests(n) => index < n,
        LevelLimit::DurationMs(ms) => elapsed_ms < ms,
    }
}

/// Sleeps until shortly before `due`, then yields until it: the timer alone would send up to a
/// millisecond late.
async fn wait_until(due: Instant) {
    if let Some(early) = due.checked_sub(SPIN_BEFORE)
        && early > Instant::now()
    {
        tokio::time::sleep_until(early.into()).await;
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

async fn collect(mut requests: JoinSet<LoadSample>) -> Vec<LoadSample> {
    let mut samples = Vec::with_capacity(requests.len());
    while let Some(done) = requests.join_next().await {
        if let Ok(sample) = done {
            samples.push(sample);
        }
    }
    samples.sort_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms));
    samples
}

/// One request, timed from `due`, every piece of text as it arrives.
async fn measure(
    workload: &Workload,
    index: usize,
    scheduled_ms: f64,
    due: Instant,
    sent: Instant,
    warmup: bool,
) -> LoadSample {
    let prompt = workload.prompts[index % workload.prompts.len().max(1)].clone();
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    let mut gaps = Vec::new();
    let mut on_text = |piece: &str| {
        if piece.is_empty() {
            return;
        }
        let now = Instant::now();
        match last {
            Some(before) => gaps.push(ms(now - before)),
            None => first = Some(now),
        }
        last = Some(now);
    };
    let result = workload
        .caller
        .call(prompt, workload.sampling.clone(), &mut on_text)
        .await;
    let end = Instant::now();
    let (input_tokens, output_tokens, tokens_estimated, error_class) = match &result {
        Ok(generation) => (
            Some(generation.metrics.input_tokens),
            Some(generation.metrics.output_tokens),
            generation.metrics.tokens_estimated == Some(true),
            None,
        ),
        Err(error) => (None, None, false, Some(error.class)),
    };
    LoadSample {
        scheduled_ms,
        lag_ms: ms(sent.saturating_duration_since(due)),
        ttft_ms: first.map(|at| ms(at - due)),
        itl_ms: gaps,
        e2e_ms: ms(end - due),
        input_tokens,
        output_tokens,
        tokens_estimated,
        error_class: error_class.or(match result {
            Ok(_) => None,
            Err(_) => Some(ErrorClass::Internal),
        }),
        warmup,
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
