//! `--canary`: the winner's experiment cases sent through the served path every `--every`, at low
//! priority (a canary request takes a slot only when one is free, never a place in the queue),
//! each round judged against what was measured (`analyze::canary`) and reported as a log line,
//! in `/metrics` and as canary rows of the traffic log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tradeoff_core::analyze::canary::{CanaryAnswer, CanaryBaseline, CanaryRound};
use tradeoff_core::analyze::traffic::TrafficRecord;
use tradeoff_core::spec::checks::{self, Check, Subject};
use tradeoff_core::spec::experiment::Experiment;
use tradeoff_worker::ServedEvent;

use crate::api::{Served, Tracker};
use crate::error::ApiError;

/// What the canary sends and what it is held to.
#[derive(Debug, Clone)]
pub struct Canary {
    /// Its cases and checks.
    pub experiment: Experiment,
    pub baseline: CanaryBaseline,
    pub every: Duration,
}

/// How often a canary request looks for a free slot while clients hold them all.
const SLOT_POLL: Duration = Duration::from_millis(50);

/// Runs rounds until the server stops; `report` receives each judged round.
pub async fn run(served: Arc<Served>, canary: Canary, report: impl Fn(&CanaryRound) + Send) {
    let mut ticks = tokio::time::interval(canary.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let round = round(&served, &canary).await;
        served.metrics.observe_canary(&round);
        report(&round);
    }
}

async fn round(served: &Arc<Served>, canary: &Canary) -> CanaryRound {
    let deadline = Instant::now() + canary.every;
    let mut answers = Vec::with_capacity(canary.experiment.cases.len());
    for (index, case) in canary.experiment.cases.iter().enumerate() {
        let asked = ask(served, case.vars.clone(), deadline).await;
        // Judge checks need a grader's model call: a canary runs the others.
        let checks: Vec<&dyn Check> = canary
            .experiment
            .checks_for(index)
            .map(|c| c.check())
            .filter(|c| c.as_judge().is_none())
            .collect();
        let (output, passed) = match asked {
            Some((output, mut record)) => {
                let passed = (!checks.is_empty()).then(|| {
                    let subject = Subject {
                        output: &output,
                        expected: case.expected.as_deref(),
                        metrics: None,
                        cost_usd: None,
                    };
                    checks::evaluate(&checks, &subject).iter().all(|r| r.passed)
                });
                record.passed = passed;
                served.finish(record);
                (Some(output), passed)
            }
            None => (None, Some(false)),
        };
        answers.push(CanaryAnswer {
            case: case.id.clone(),
            output,
            passed,
        });
    }
    canary.baseline.judge(&answers)
}

/// One canary request: a free slot (waiting for one, never queueing), then the winner's own
/// template filled with the case's variables. Its answer and its record, for the caller to grade
/// and log; `None` when it failed or found no slot in time (then it is logged here).
async fn ask(
    served: &Arc<Served>,
    vars: std::collections::BTreeMap<String, serde_json::Value>,
    deadline: Instant,
) -> Option<(String, TrafficRecord)> {
    let mut tracker = Tracker::canary();
    let slot = loop {
        if let Some(slot) = served.engine_of(0).admission.try_admit() {
            break slot;
        }
        if Instant::now() >= deadline {
            served.finish(tracker.refused(&ApiError::busy(1)));
            return None;
        }
        tokio::time::sleep(SLOT_POLL).await;
    };
    tracker.admitted();
    // A canary serves a single config (`tradeoff serve` refuses one for a policy).
    let config = served.deployment.first();
    let prompt = match config.render(vars) {
        Ok(prompt) => prompt,
        Err(message) => {
            served.finish(tracker.refused(&ApiError::bad_request("template", message)));
            return None;
        }
    };
    let sampling = config.sampling.clone();
    let mut submission = match served.engine_of(0).backend.submit(prompt, sampling).await {
        Ok(submission) => submission,
        Err(error) => {
            served.finish(tracker.refused(&ApiError::from_run(&error)));
            return None;
        }
    };
    loop {
        match submission.next().await {
            Some(ServedEvent::Text(_)) => tracker.text(),
            Some(ServedEvent::Done(result)) => {
                let machine_ms = slot.release();
                return match *result {
                    Ok(generation) => {
                        let record = tracker.answered(served, Some(0), &generation, machine_ms);
                        Some((generation.output, record))
                    }
                    Err(error) => {
                        served.finish(tracker.refused(&ApiError::from_run(&error)));
                        None
                    }
                };
            }
            None => return None,
        }
    }
}

/// A round as the server's log line says it.
pub fn describe(round: &CanaryRound) -> String {
    let rate = round
        .pass_rate
        .map_or("—".to_string(), |r| format!("{:.0} %", r * 100.0));
    let interval = round.measured_pass_interval.map_or(String::new(), |(low, high)| {
        format!(" (measured {:.0}–{:.0} %)", low * 100.0, high * 100.0)
    });
    let similarity = round.similarity.map_or("—".to_string(), |s| format!("{s:.2}"));
    let verdict = if round.flagged {
        format!("FLAGGED: {}", round.reasons.join("; "))
    } else {
        "as measured".to_string()
    };
    format!(
        "canary: {} answers, pass rate {rate}{interval}, similarity to the recorded answers {similarity}: {verdict}",
        round.answers
    )
}
