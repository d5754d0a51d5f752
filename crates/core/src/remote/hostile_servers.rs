//! Remote calls against servers that try to get a key into what is recorded, to send it (or the
//! prompt) somewhere else, or to make the client read without end.

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;

use futures_util::StreamExt;

use axum::body::{Body, Bytes};

use super::scheduler::HttpRemote;
use super::secrets::ApiKey;
use super::test_server::{MemoryKeyring, TestServer, respond};
use super::{
    Probe, ProviderKind, RemoteEngine, RemoteEvent, RemoteJob, RemoteResult, RemoteTarget, list_models,
};
use crate::experiment::{Role, Sampling};
use crate::prompt::{ChatMessage, RenderedPrompt};
use crate::run::{ErrorClass, RunError};

/// The test's key: no window of it should show up in anything recorded.
const KEY: &str = "tk-7Q9x2LmZ4pR8sV1wK6yB3nD5";
const KEY_VARIABLE: &str = "TRADEOFF_TEST_HOSTILE_SERVER_KEY";
const PROMPT: &str = "the secret prompt";

fn target(provider: ProviderKind, base_url: String) -> RemoteTarget {
    let mut target = RemoteTarget::new(provider, "m".into(), base_url, Some(KEY_VARIABLE.into()));
    target.max_attempts = 1;
    target.timeouts.first_token_s = 10.0;
    target.timeouts.total_s = 10.0;
    target
}

/// Runs one chat job with the test's key (from a keyring in memory) and returns its result.
fn run_one(target: &RemoteTarget) -> RemoteResult {
    let mut remote = HttpRemote::with_keyring(MemoryKeyring::with(KEY_VARIABLE, KEY)).expect("client");
    let job = RemoteJob {
        prompt: RenderedPrompt::Chat {
            messages: vec![ChatMessage {
                role: Role::User,
                content: PROMPT.into(),
            }],
        },
        sampling: Sampling {
            temperature: 0.0,
            top_p: None,
            top_k: None,
            seed: 0,
            max_tokens: 8,
            stop: Vec::new(),
        },
    };
    let mut result = None;
    remote
        .run_jobs(target, vec![job], &AtomicBool::new(false), &mut |event| {
            if let RemoteEvent::Finished(_, finished) = event {
                result = Some(*finished);
            }
            ControlFlow::Continue(())
        })
        .expect("runs");
    result.expect("the job finished")
}

/// The app's "test connection": lists the server's models with the test's key.
fn probe(target: &RemoteTarget) -> Result<Probe, RunError> {
    let mut remote = HttpRemote::with_keyring(Box::new(MemoryKeyring::default())).expect("client");
    let client = remote.client_for(target).expect("client");
    remote.block_on(list_models(&client, target, Some(&ApiKey::new(KEY))))
}

/// `text` with `%XX` escapes undone, as a reader of the record could undo them.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Panics if five or more consecutive characters of the key appear in `text`, as sent or
/// percent-decoded.
fn assert_no_piece_of_the_key(text: &str) {
    for form in [text.to_string(), percent_decoded(text)] {
        for piece in KEY.as_bytes().windows(5) {
            let piece = std::str::from_utf8(piece).expect("ascii key");
            assert!(!form.contains(piece), "`{piece}` of the key is in: {form}");
        }
    }
}

fn percent_encoded(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[test]
fn an_error_body_echoing_the_key_plainly_encoded_and_across_the_messages_cut_leaves_no_piece_of_it() {
    // Keys at every offset, so whichever character the message is cut at falls inside one, and
    // the key percent-encoded, as a proxy echoing the request's URL would show it.
    let body = format!("echo={} {}", percent_encoded(KEY), format!("{KEY} ").repeat(200));
    let server = TestServer::start(move |_| respond(400, &[("content-type", "text/plain")], body.clone()));
    let result = run_one(&target(ProviderKind::Openai, format!("{}/v1", server.origin())));
    let error = result.outcome.expect_err("a 400 is an error");
    let seen = &server.requests()[0];
    assert_eq!(seen.path, "/v1/chat/completions");
    assert!(seen.body.contains(PROMPT));
    let sent = seen.header("authorization").map(str::to_string);
    assert_eq!(
        sent,
        Some(format!("Bearer {KEY}")),
        "the server had the key to echo"
    );
    assert!(error.message.contains("HTTP 400"), "{error}");
    assert!(error.message.contains("[redacted]"), "{error}");
    assert_no_piece_of_the_key(&error.message);
    assert!(
        error.message.chars().count() <= super::secrets::MAX_ERROR_CHARS + 1,
        "the message is still shortened: {} characters",
        error.message.chars().count()
    );
}

#[test]
fn a_model_list_larger_than_1_mib_or_without_end_is_refused_with_a_clear_error_instead_of_read_whole() {
    let entry = r#"{"id":"a-model-name-padded-out-to-make-the-list-long"},"#;
    let huge = format!(
        r#"{{"data":[{}{{"id":"m"}}]}}"#,
        entry.repeat((2 << 20) / entry.len())
    );
    let endless = move |_: &_| {
        let chunks = futures_util::stream::iter(std::iter::once(r#"{"data":["#.to_string()))
            .chain(futures_util::stream::repeat(entry.repeat(1000)))
            .map(|text| Ok::<_, std::io::Error>(Bytes::from(text)));
        respond(
            200,
            &[("content-type", "application/json")],
            Body::from_stream(chunks),
        )
    };
    let servers = [
        TestServer::start(move |_| respond(200, &[("content-type", "application/json")], huge.clone())),
        TestServer::start(endless),
    ];
    for server in &servers {
        let mut target = target(ProviderKind::Openai, format!("{}/v1", server.origin()));
        // Without a bound the endless list would be read until this timeout.
        target.timeouts.first_token_s = 5.0;
        let error = probe(&target).expect_err("the list is too large");
        assert_eq!(error.class, ErrorClass::BadResponse, "{error}");
        assert!(error.message.contains("exceeded 1 MiB"), "{error}");
    }
    // A list of ordinary size is still read.
    let server = TestServer::start(|_| {
        respond(
            200,
            &[("content-type", "application/json")],
            r#"{"data":[{"id":"m"}]}"#,
        )
    });
    let listed = probe(&target(ProviderKind::Openai, format!("{}/v1", server.origin()))).expect("a list");
    assert!(listed.model_listed, "{listed:?}");
}
