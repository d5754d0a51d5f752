//! Remote calls against servers that try to get a key into what is recorded, to send it (or the
//! prompt) somewhere else, or to make the client read without end.

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;

use futures_util::StreamExt;

use axum::body::{Body, Bytes};

use super::scheduler::HttpRemote;
use super::secrets::ApiKey;
use super::test_server::{MemoryKeyring, TestServer, openai_stream, respond};
use super::{
    Probe, ProviderKind, RemoteEngine, RemoteEvent, RemoteJob, RemoteResult, RemoteTarget, list_models,
};
use tradeoff_core::run::{ErrorClass, RunError};
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::{ChatMessage, RenderedPrompt};

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

/// A server that redirects every request to the same path on `to`.
fn redirecting(status: u16, to: String) -> TestServer {
    TestServer::start(move |seen| respond(status, &[("location", &format!("{to}{}", seen.path))], ""))
}

#[test]
fn no_provider_follows_a_redirect_to_another_host_so_neither_the_key_nor_the_prompt_leaves() {
    let elsewhere = TestServer::start(|_| openai_stream("taken"));
    for provider in [
        ProviderKind::Openai,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
    ] {
        for status in [302, 307, 308] {
            let configured = redirecting(status, elsewhere.origin());
            let mut target = target(provider, format!("{}/v1", configured.origin()));
            target.max_attempts = 3;
            let result = run_one(&target);
            let error = result.outcome.expect_err("the redirect is refused");
            assert_eq!(
                error.class,
                ErrorClass::BadResponse,
                "{provider} {status}: {error}"
            );
            assert!(
                error
                    .message
                    .contains("keys are sent only to the configured host")
                    && error
                        .message
                        .contains(&format!("redirected to {}", elsewhere.origin())),
                "{provider} {status}: {error}"
            );
            assert_eq!(result.attempts.len(), 1, "not retried: {provider} {status}");
            assert_eq!(result.attempts[0].status, Some(status));
            assert_eq!(configured.requests().len(), 1);
        }
    }
    assert!(
        elsewhere.requests().is_empty(),
        "the other host was sent: {:?}",
        elsewhere.requests()
    );
}

#[test]
fn the_connection_test_does_not_follow_a_redirect_to_another_host() {
    let elsewhere = TestServer::start(|_| respond(200, &[], r#"{"data":[{"id":"m"}]}"#));
    let configured = redirecting(307, elsewhere.origin());
    for provider in [
        ProviderKind::Openai,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
    ] {
        let error = probe(&target(provider, format!("{}/v1", configured.origin())))
            .expect_err("the redirect is refused");
        assert_eq!(error.class, ErrorClass::BadResponse, "{provider}: {error}");
        assert!(
            error
                .message
                .contains("keys are sent only to the configured host"),
            "{provider}: {error}"
        );
    }
    assert!(elsewhere.requests().is_empty(), "{:?}", elsewhere.requests());
}

#[test]
fn a_307_within_the_host_is_followed_and_noted_while_a_302_that_would_drop_the_prompt_and_a_loop_are_refused()
{
    let moved = TestServer::start(|seen| match seen.path.strip_prefix("/old") {
        Some(path) => respond(307, &[("location", &format!("/new{path}"))], ""),
        None => openai_stream("fine"),
    });
    let result = run_one(&target(
        ProviderKind::Openai,
        format!("{}/old/v1", moved.origin()),
    ));
    let generation = result
        .outcome
        .expect("the same request to the same server is followed");
    assert_eq!(generation.output, "fine");
    assert!(
        generation
            .warnings
            .iter()
            .any(|w| w.contains("redirected the request to")),
        "{:?}",
        generation.warnings
    );
    let requests = moved.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].body.contains(PROMPT), "a 307 keeps the body");

    let to_get = TestServer::start(|_| respond(302, &[("location", "/elsewhere")], ""));
    let error = run_one(&target(ProviderKind::Openai, format!("{}/v1", to_get.origin())))
        .outcome
        .expect_err("a 302 is refused");
    assert!(error.message.contains("into a GET without its body"), "{error}");
    assert_eq!(to_get.requests().len(), 1);

    let looping = TestServer::start(|seen| respond(307, &[("location", seen.path.as_str())], ""));
    let error = run_one(&target(ProviderKind::Openai, format!("{}/v1", looping.origin())))
        .outcome
        .expect_err("a loop ends");
    assert!(error.message.contains("redirected more than 5 times"), "{error}");
    assert_eq!(looping.requests().len(), 1 + super::redirect::MAX_REDIRECTS);
}

#[test]
fn a_connection_test_against_a_port_nothing_listens_on_says_the_connection_was_refused() {
    // A port that was free a moment ago: nothing listens on it now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let error = probe(&target(
        ProviderKind::Openai,
        format!("http://127.0.0.1:{port}/v1"),
    ))
    .expect_err("nothing listens");
    assert_eq!(error.class, ErrorClass::Connect, "{error}");
    // The cause, not reqwest's bare "error sending request for url".
    assert!(
        error.message.to_lowercase().contains("connection refused"),
        "{error}"
    );
}
