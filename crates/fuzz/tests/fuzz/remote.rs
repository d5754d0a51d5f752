//! The stream parsers of every wire format (OpenAI chat and completions, Anthropic, Gemini), and
//! the SSE framing and stream state around them. The parsers are private to `remote`, so each
//! case goes through the narrowest public way in: `HttpRemote::run_jobs` against a local server
//! that answers with the case's event stream.

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

use proptest::prelude::*;
use serde_json::Value;
use tradeoff_core::execute::remote::{RemoteEngine, RemoteEvent, RemoteJob};
use tradeoff_core::run::ErrorClass;
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::{ChatMessage, RenderedPrompt};
use tradeoff_core::spec::target::remote::{ProviderKind, RemoteTarget};
use tradeoff_remote::HttpRemote;
use tradeoff_remote::secrets::Keyring;

use super::driver::{Known, fuzz, take_panics};
use super::values::{TextEdit, apply, edit_text, edits, json_value, text_edits};

const OPENAI_CHAT: &str = include_str!("../../../../fixtures/streams/openai-chat.sse");
const LLAMA_COMPLETIONS: &str = include_str!("../../../../fixtures/streams/llama-server-completions.sse");
const ANTHROPIC: &str = include_str!("../../../../fixtures/streams/anthropic-messages.sse");
const GEMINI: &str = include_str!("../../../../fixtures/streams/gemini-stream.sse");

const KEYS: &[&str] = &[
    "choices",
    "delta",
    "content",
    "text",
    "reasoning_content",
    "reasoning",
    "finish_reason",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "cached_tokens",
    "timings",
    "prompt_n",
    "prompt_ms",
    "predicted_n",
    "predicted_ms",
    "cache_n",
    "error",
    "message",
    "type",
    "index",
    "stop_reason",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "thinking",
    "candidates",
    "parts",
    "thought",
    "finishReason",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "cachedContentTokenCount",
    "thoughtsTokenCount",
];
const WORDS: &[&str] = &[
    "message_start",
    "content_block_delta",
    "message_delta",
    "message_stop",
    "error",
    "text_delta",
    "thinking_delta",
    "ping",
    "STOP",
    "MAX_TOKENS",
    "stop",
    "length",
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "[DONE]",
    "overloaded_error",
];

/// What a known wrong stream makes the code do, reported to the owner of `remote/` (none now).
const KNOWN: &[Known] = &[];

#[derive(Debug, Clone)]
struct Case {
    provider: ProviderKind,
    /// Raw prompts go to OpenAI's completions endpoint (another parser shape).
    raw: bool,
    /// (event name, data) of each event.
    events: Vec<(Option<String>, String)>,
    body_edits: Vec<(u16, TextEdit)>,
}

impl Case {
    fn body(&self) -> String {
        let mut body = String::new();
        for (event, data) in &self.events {
            if let Some(event) = event {
                body.push_str(&format!("event: {event}\n"));
            }
            for line in data.split('\n') {
                body.push_str(&format!("data: {line}\n"));
            }
            body.push('\n');
        }
        edit_text(&body, &self.body_edits)
    }
}

fn events_of(sse: &str) -> Vec<(Option<String>, Value)> {
    sse.split("\n\n")
        .filter_map(|block| {
            let event = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .map(str::to_string);
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((
                event,
                serde_json::from_str(data).unwrap_or(Value::String(data.into())),
            ))
        })
        .collect()
}

fn cases() -> impl Strategy<Value = Case> {
    let seed = prop::sample::select(vec![
        (ProviderKind::Openai, false, OPENAI_CHAT),
        (ProviderKind::Openai, true, LLAMA_COMPLETIONS),
        (ProviderKind::Anthropic, false, ANTHROPIC),
        (ProviderKind::Gemini, false, GEMINI),
    ]);
    let event_edit = (any::<u16>(), edits(KEYS, WORDS));
    let fabricated = (
        prop::option::of(prop::sample::select(WORDS)),
        json_value(KEYS, WORDS),
    );
    (
        seed,
        prop::collection::vec(event_edit, 0..4),
        prop::collection::vec((any::<u16>(), fabricated), 0..3),
        prop::collection::vec(any::<u16>(), 0..3),
        text_edits(WORDS),
    )
        .prop_map(
            |((provider, raw, sse), event_edits, inserted, dropped, body_edits)| {
                let mut events = events_of(sse);
                for (pick, edits) in event_edits {
                    let at = usize::from(pick) % events.len();
                    events[at].1 = apply(events[at].1.clone(), &edits);
                }
                for (pick, (name, value)) in inserted {
                    let at = usize::from(pick) % (events.len() + 1);
                    events.insert(at, (name.map(str::to_string), value));
                }
                for pick in dropped {
                    if !events.is_empty() {
                        events.remove(usize::from(pick) % events.len());
                    }
                }
                let events = events
                    .into_iter()
                    .map(|(name, value)| {
                        let data = match value {
                            Value::String(s) if s == "[DONE]" => s,
                            other => other.to_string(),
                        };
                        (name, data)
                    })
                    .collect();
                Case {
                    provider,
                    raw,
                    events,
                    body_edits,
                }
            },
        )
}

/// The event stream the local server answers every request with.
struct Server {
    url: String,
    body: Arc<Mutex<String>>,
    turn: Mutex<()>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let body = Arc::new(Mutex::new(String::new()));
        let shared = Arc::clone(&body);
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the stream server");
            runtime.block_on(async move {
                let app = axum::Router::new().fallback(move || {
                    let body = shared.lock().map(|b| b.clone()).unwrap_or_default();
                    async move { ([("content-type", "text/event-stream")], body) }
                });
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a local port");
                let address = listener.local_addr().expect("the port bound");
                sender.send(address).expect("the test waits for the address");
                axum::serve(listener, app).await.expect("the stream server runs");
            });
        });
        let address = receiver.recv().expect("the stream server started");
        Server {
            url: format!("http://{address}/v1"),
            body,
            turn: Mutex::new(()),
        }
    })
}

struct NoKeyring;

impl Keyring for NoKeyring {
    fn get(&self, _: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
    fn set(&self, _: &str, _: &str) -> Result<(), String> {
        Err("read-only".into())
    }
    fn delete(&self, _: &str) -> Result<(), String> {
        Err("read-only".into())
    }
}

fn check(remote: &Mutex<HttpRemote>, case: &Case) -> Result<&'static str, String> {
    let server = server();
    let body = case.body();
    // One case at a time: tests running in parallel share the server.
    let _turn = server.turn.lock().map_err(|e| e.to_string())?;
    *server.body.lock().map_err(|e| e.to_string())? = body.clone();
    let mut target = RemoteTarget::new(case.provider, "m".into(), server.url.clone(), None);
    target.max_attempts = 1;
    target.timeouts.total_s = 10.0;
    target.timeouts.first_token_s = 10.0;
    let prompt = if case.raw {
        RenderedPrompt::Raw { prompt: "Q:".into() }
    } else {
        RenderedPrompt::Chat {
            messages: vec![ChatMessage {
                role: Role::User,
                content: "Q".into(),
            }],
        }
    };
    let job = RemoteJob {
        prompt,
        sampling: Sampling {
            temperature: 0.0,
            top_p: None,
            top_k: None,
            seed: 1,
            max_tokens: 16,
            stop: Vec::new(),
        },
    };
    let mut result = None;
    let mut remote = remote.lock().map_err(|e| e.to_string())?;
    let ran = remote.run_jobs(&target, vec![job], &AtomicBool::new(false), &mut |event| {
        if let RemoteEvent::Finished(_, finished) = event {
            result = Some(finished);
        }
        ControlFlow::Continue(())
    });
    let panics = take_panics();
    if let Err(error) = ran {
        return Err(format!("run_jobs failed: {error} {panics:?}"));
    }
    let result = result.ok_or("no result")?;
    let (output, label) = match &result.outcome {
        Ok(generation) => (&generation.output, "generated"),
        Err(error) if error.class == ErrorClass::Internal => {
            return Err(format!("internal error: {}", error.message));
        }
        Err(_) => (&result.partial_output, "failed"),
    };
    // Output text comes out of the body's JSON strings: never more of it than the body had.
    if output.len() > body.len() {
        return Err(format!(
            "{} bytes of output from a {}-byte stream",
            output.len(),
            body.len()
        ));
    }
    Ok(label)
}

#[test]
fn every_stream_parser_survives_mutated_and_fabricated_event_streams() {
    let remote = Mutex::new(HttpRemote::with_keyring(Box::new(NoKeyring)).expect("an HTTP client"));
    fuzz("remote", cases(), KNOWN, |case| check(&remote, case));
}

/// A stream of `seed` whose event `at` is replaced by `data`.
fn with_event(provider: ProviderKind, raw: bool, seed: &str, at: usize, data: &str) -> Case {
    let mut events: Vec<(Option<String>, String)> = events_of(seed)
        .into_iter()
        .map(|(name, value)| (name, value.to_string()))
        .collect();
    events[at].1 = data.to_string();
    Case {
        provider,
        raw,
        events,
        body_edits: Vec::new(),
    }
}

fn strict_check(case: &Case) -> Result<&'static str, String> {
    let remote = Mutex::new(HttpRemote::with_keyring(Box::new(NoKeyring)).expect("an HTTP client"));
    check(&remote, case)
}

#[test]
fn anthropic_usage_whose_token_counts_add_past_u32_max_ends_the_run_without_a_panic() {
    let start = r#"{"type":"message_start","message":{"usage":{"input_tokens":4294967295,"cache_read_input_tokens":1,"output_tokens":1}}}"#;
    let case = with_event(ProviderKind::Anthropic, false, ANTHROPIC, 0, start);
    let result = strict_check(&case);
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn gemini_usage_whose_answer_and_thought_tokens_add_past_u32_max_ends_the_run_without_a_panic() {
    let last = r#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":4294967295,"thoughtsTokenCount":1}}"#;
    let case = with_event(ProviderKind::Gemini, false, GEMINI, 2, last);
    let result = strict_check(&case);
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn server_timings_whose_prompt_and_cached_tokens_add_past_u32_max_end_the_run_without_a_panic() {
    let timings = r#"{"choices":[{"text":"x","finish_reason":"stop"}],"timings":{"prompt_n":4294967295,"prompt_ms":1,"predicted_n":1,"predicted_ms":1,"cache_n":1}}"#;
    let mut case = with_event(ProviderKind::Openai, true, LLAMA_COMPLETIONS, 0, timings);
    case.events.truncate(1);
    case.events.push((None, "[DONE]".into()));
    let result = strict_check(&case);
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn a_stream_that_starts_with_a_byte_order_mark_ends_the_run_without_a_panic() {
    let case = Case {
        provider: ProviderKind::Openai,
        raw: false,
        events: vec![(None, "null".into())],
        body_edits: vec![(0, TextEdit::Insert("\u{feff}".into()))],
    };
    assert_eq!(case.body(), "\u{feff}data: null\n\n");
    let result = strict_check(&case);
    assert!(result.is_ok(), "{result:?}");
}
