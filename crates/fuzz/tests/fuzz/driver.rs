//! Runs one fuzz target: proptest's runner (generation, shrinking, the persisted failures
//! replayed first) in batches until a number of cases or a time budget is spent, each case under
//! a time limit.
//!
//! Environment:
//! - `FUZZ_SECONDS`: run each target this long (scripts/fuzz.sh); unset, `FUZZ_CASES` cases.
//! - `FUZZ_CASES` (or proptest's `PROPTEST_CASES`): cases per target without a time budget (512).
//! - `FUZZ_SEED`: the seed (fixed by default, so `make test` always runs the same cases).
//! - `FUZZ_STRICT=1`: known issues (reported, owned elsewhere) fail like new ones.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestRunner};

const DEFAULT_SEED: u64 = 0x7261_6465_6f66_6621;
const DEFAULT_CASES: u64 = 512;
const BATCH: u32 = 64;
/// A case slower than this fails (and is shrunk and persisted like any failure).
const SLOW_CASE: Duration = Duration::from_secs(5);
/// A case still running after this is a hang: nothing can stop it, so the process aborts after
/// printing it (proptest cannot persist it; add it as an explicit test).
const HUNG_CASE: Duration = Duration::from_secs(60);

/// A failure already reported to the code's owner: counted, not failed, unless `FUZZ_STRICT=1`.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// Every one of these appears in the failure's message (panic locations included).
    pub needles: &'static [&'static str],
    pub what: &'static str,
}

/// Fuzzes `check` with values of `strategy`. `check` returns `Err` for a property that does not
/// hold (a panic is a failure too), and otherwise what became of the input (`accepted`,
/// `refused`, …): the summary counts them, which shows whether the generator gets past the
/// first checks of the code under test.
pub fn fuzz<S>(
    target: &'static str,
    strategy: S,
    known: &[Known],
    check: impl Fn(&S::Value) -> Result<&'static str, String>,
) where
    S: Strategy,
    S::Value: Clone + Debug + Send + 'static,
{
    install_panic_recorder();
    let seed = env_u64("FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let budget = env_f64("FUZZ_SECONDS").map(Duration::from_secs_f64);
    let total_cases = env_u64("FUZZ_CASES")
        .or_else(|| env_u64("PROPTEST_CASES"))
        .unwrap_or(DEFAULT_CASES);
    let strict = std::env::var("FUZZ_STRICT").is_ok_and(|v| v == "1");
    let persistence: &'static str = Box::leak(
        format!(
            "{}/tests/fuzz/regressions/{target}.txt",
            std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR")
        )
        .into_boxed_str(),
    );
    let config = Config {
        cases: BATCH,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(persistence))),
        max_shrink_time: 60_000,
        max_local_rejects: 1 << 20,
        ..Config::default()
    };
    let watchdog = Watchdog::start(target);
    let cases = Cell::new(0u64);
    let known_hits = Cell::new(0u64);
    let outcomes: std::cell::RefCell<std::collections::BTreeMap<&'static str, u64>> = Default::default();
    let seen_known: std::cell::RefCell<HashSet<&'static str>> = Default::default();
    let started = Instant::now();
    let mut runner = TestRunner::new(config.clone());
    loop {
        let result = runner.run(&strategy, |value| {
            cases.set(cases.get() + 1);
            watchdog.begin(Box::new(value.clone()));
            let case_started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| check(&value)));
            let elapsed = case_started.elapsed();
            watchdog.end();
            let mut failure = match outcome {
                Ok(Ok(label)) => {
                    *outcomes.borrow_mut().entry(label).or_default() += 1;
                    None
                }
                Ok(Err(message)) => Some(message),
                Err(payload) => Some(format!("panicked: {}", panic_text(payload.as_ref()))),
            };
            if failure.is_none() && elapsed > SLOW_CASE {
                failure = Some(format!(
                    "took {:.1} s (the limit is {} s)",
                    elapsed.as_secs_f64(),
                    SLOW_CASE.as_secs()
                ));
            }
            let Some(mut message) = failure else {
                return Ok(());
            };
            for panic in take_panics() {
                message.push_str(&format!(" [panic: {panic}]"));
            }
            if !strict
                && let Some(issue) = known
                    .iter()
                    .find(|k| k.needles.iter().all(|n| message.contains(n)))
            {
                known_hits.set(known_hits.get() + 1);
                if seen_known.borrow_mut().insert(issue.what) {
                    eprintln!("fuzz {target}: known issue ({}): {message}", issue.what);
                }
                return Ok(());
            }
            Err(TestCaseError::fail(message))
        });
        if let Err(error) = result {
            panic!(
                "fuzz {target}: FAILED after {} cases in {:.1} s (seed {seed}): {error}",
                cases.get(),
                started.elapsed().as_secs_f64()
            );
        }
        let done = match budget {
            Some(budget) => started.elapsed() >= budget,
            None => cases.get() >= total_cases,
        };
        if done {
            break;
        }
        // A runner counts its successes across runs: the next batch needs a runner of its own,
        // continuing from this one's random numbers.
        let rng = runner.new_rng();
        runner = TestRunner::new_with_rng(config.clone(), rng);
    }
    let outcomes: Vec<String> = outcomes
        .borrow()
        .iter()
        .map(|(label, n)| format!("{n} {label}"))
        .collect();
    eprintln!(
        "fuzz {target}: {} cases in {:.1} s (seed {seed}): ok ({}){}",
        cases.get(),
        started.elapsed().as_secs_f64(),
        outcomes.join(", "),
        match known_hits.get() {
            0 => String::new(),
            n => format!(", {n} hits of known issues"),
        }
    );
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| *s > 0.0)
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(not a string)".into())
}

/// Panics seen since the last `take_panics`, on any thread (a panic inside the HTTP client's
/// runtime reaches the test only as an error message), with where they happened.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub fn take_panics() -> Vec<String> {
    PANICS
        .lock()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default()
}

/// Records panics with their location, printing each location once: a known issue would
/// otherwise print thousands of identical backtraces.
fn install_panic_recorder() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let printed: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let text = format!("{} at {location}", panic_text(info.payload()));
            let first = printed.lock().is_ok_and(|mut p| p.insert(location));
            if first {
                let thread = std::thread::current();
                eprintln!("panic on thread `{}`: {text}", thread.name().unwrap_or("?"));
            }
            if let Ok(mut panics) = PANICS.lock()
                && panics.len() < 16
            {
                panics.push(text);
            }
        }));
    });
}

/// Aborts the process when one case runs for longer than `HUNG_CASE`, printing the case: a hung
/// case cannot be stopped, and without this the test would wait forever.
type Current = Arc<Mutex<Option<(Instant, Box<dyn Debug + Send>)>>>;

struct Watchdog {
    current: Current,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(target: &'static str) -> Watchdog {
        let current: Current = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let current = Arc::clone(&current);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let Ok(current) = current.lock() else { continue };
                    if let Some((started, input)) = current.as_ref()
                        && started.elapsed() > HUNG_CASE
                    {
                        eprintln!(
                            "fuzz {target}: a case has run for {} s, a hang; aborting. Input: {input:?}",
                            HUNG_CASE.as_secs()
                        );
                        std::process::abort();
                    }
                }
            })
        };
        Watchdog {
            current,
            stop,
            thread: Some(thread),
        }
    }

    /// A copy of the case, formatted only if it hangs: formatting every case would cost more
    /// than running most of them.
    fn begin(&self, value: Box<dyn Debug + Send>) {
        if let Ok(mut current) = self.current.lock() {
            *current = Some((Instant::now(), value));
        }
    }

    fn end(&self) {
        if let Ok(mut current) = self.current.lock() {
            *current = None;
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
