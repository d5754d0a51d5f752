//! Remote targets against real HTTP servers on 127.0.0.1 speaking each provider's wire format
//! (recorded streams from fixtures/streams/ on a schedule), and the faults servers produce.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tradeoff_core::execute::remote::{RemoteEngine, RemoteEvent, RemoteJob, RemoteResult};
use tradeoff_core::run::{ErrorClass, FinishReason};
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::{ChatMessage, RenderedPrompt};
use tradeoff_core::spec::target::remote::{ProviderKind, RemoteTarget, Timeouts};
use tradeoff_remote::HttpRemote;
use tradeoff_remote::secrets::Keyring;

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

mod faults;
mod through_the_cli;
mod wire_formats;
