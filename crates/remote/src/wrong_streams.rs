//! Remote calls against servers whose event streams are wrong in ways a parser could trip on:
//! token counts that add past what a count holds, byte order marks before the first event. Each
//! must end as a run of its own (read, or classified), never as a panic that fails every job of
//! the target.

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;

use super::scheduler::HttpRemote;
use super::test_server::{MemoryKeyring, TestServer, respond};
use super::{ProviderKind, RemoteEngine, RemoteEvent, RemoteJob, RemoteResult, RemoteTarget};
use tradeoff_core::run::ErrorClass;
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::{ChatMessage, RenderedPrompt};

/// Runs one chat job against a server that answers every request with `body` as an event
/// stream.
fn run_against(provider: ProviderKind, body: &'static str) -> RemoteResult {
    let server = TestServer::start(move |_| respond(200, &[("content-type", "text/event-stream")], body));
    let mut target = RemoteTarget::new(provider, "m".into(), format!("{}/v1", server.origin()), None);
    target.max_attempts = 1;
    target.timeouts.first_token_s = 10.0;
    target.timeouts.total_s = 10.0;
    let mut remote = HttpRemote::with_keyring(Box::new(MemoryKeyring::default())).expect("client");
    let job = RemoteJob {
        prompt: RenderedPrompt::Chat {
            messages: vec![ChatMessage {
                role: Role::User,
                content: "Q".into(),
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
        .run_jobs(&target, vec![job], &AtomicBool::new(false), &mut |event| {
            if let RemoteEvent::Finished(_, finished) = event {
                result = Some(*finished);
            }
            ControlFlow::Continue(())
        })
        .expect("the target's jobs run");
    result.expect("the job finished")
}

#[test]
fn token_counts_that_add_past_u32_max_are_a_bad_response_naming_the_fields_in_every_wire_format() {
    let cases: [(ProviderKind, &'static str, &str); 3] = [
        (
            ProviderKind::Anthropic,
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":4294967295,\"cache_read_input_tokens\":1,\"output_tokens\":1}}}\n\n",
            "`usage.input_tokens` 4294967295 + `usage.cache_read_input_tokens` 1",
        ),
        (
            ProviderKind::Gemini,
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":1,\"candidatesTokenCount\":4294967295,\"thoughtsTokenCount\":1}}\n\n",
            "`usageMetadata.candidatesTokenCount` 4294967295 + `usageMetadata.thoughtsTokenCount` 1",
        ),
        (
            ProviderKind::Openai,
            "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}],\"timings\":{\"prompt_n\":4294967295,\"prompt_ms\":1,\"predicted_n\":1,\"predicted_ms\":1,\"cache_n\":1}}\n\ndata: [DONE]\n\n",
            "`timings.prompt_n` 4294967295 + `timings.cache_n` 1",
        ),
    ];
    for (provider, body, fields) in cases {
        let result = run_against(provider, body);
        let error = result.outcome.expect_err("the counts are refused");
        assert_eq!(error.class, ErrorClass::BadResponse, "{provider}: {error}");
        assert!(error.message.contains(fields), "{provider}: {error}");
    }
}

#[test]
fn a_token_count_too_large_for_a_count_is_a_bad_response_not_clamped_or_dropped() {
    // A cast clamped this `prompt_n` to u32::MAX, and usage past u32 was dropped for an estimate.
    for body in [
        "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}],\"timings\":{\"prompt_n\":1e12,\"prompt_ms\":1,\"predicted_n\":1,\"predicted_ms\":1}}\n\ndata: [DONE]\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":4294967296,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n",
    ] {
        let result = run_against(ProviderKind::Openai, body);
        let error = result.outcome.expect_err("the count is refused");
        assert_eq!(error.class, ErrorClass::BadResponse, "{error}");
        assert!(error.message.contains("which is not a token count"), "{error}");
    }
}

#[test]
fn a_stream_that_starts_with_byte_order_marks_is_read_as_if_they_were_not_there() {
    let body = "\u{feff}\u{feff}data: {\"choices\":[{\"delta\":{\"content\":\"fine\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
    let result = run_against(ProviderKind::Openai, body);
    let generation = result.outcome.expect("the stream is read");
    assert_eq!(generation.output, "fine");
    assert_eq!(generation.metrics.output_tokens, 1);
}
