//! Each provider's stream, timed as the server sent it, with its usage and finish reason.

use super::*;

#[test]
fn an_openai_chat_stream_is_timed_as_the_server_sent_it_and_its_usage_is_taken_exactly() {
    let _turn = model_turn();
    // Event 0 is the role-only chunk at 100 ms; the first text comes with event 1 at 120 ms;
    // `[DONE]` (event 6) at 220 ms.
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 100, 20));
    let target = target(ProviderKind::Openai, server.base_url());
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let job = chat("The Berlin Wall fell in 1989.");
    let timing = timing_deviation(1, Some(6));
    let (result, sent, _) = measured_on_a_warm_connection(&server, &mut remote, &target, job, |sample| {
        timing(sample).max((sample.1[1] - 120.0).abs())
    });
    let generation = result.outcome.as_ref().unwrap();
    assert_eq!(generation.output, ANSWER);
    assert_eq!(generation.finish_reason, FinishReason::EndOfText);
    let m = &generation.metrics;
    assert_near(
        m.ttft_ms.unwrap(),
        sent[1],
        "TTFT (the role-only chunk must not count)",
    );
    assert_near(m.latency_ms, sent[6], "latency");
    assert_near(sent[1], 120.0, "the schedule");
    assert_eq!((m.input_tokens, m.output_tokens), (61, 12));
    assert_eq!(m.tokens_estimated, Some(false));
    assert_eq!(result.attempts.len(), 1);

    let seen = &server.requests()[0];
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.header("authorization"), None, "no key variable, no key sent");
    let body = seen.json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["content"], "The Berlin Wall fell in 1989.");
    assert_eq!(body["max_tokens"], 64);
}

#[test]
fn an_anthropic_stream_counts_from_the_first_text_delta_and_takes_cumulative_usage() {
    let _turn = model_turn();
    // message_start, content_block_start and ping come first; the first text delta is event 3.
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("anthropic-messages.sse"), 50, 10));
    let mut target = target(ProviderKind::Anthropic, server.base_url());
    target.api_key_env = Some("TEST_ANTHROPIC_KEY".into());
    let mut remote = remote_with_key("TEST_ANTHROPIC_KEY", "sk-ant-test-0123456789");
    let job = chat("The Berlin Wall fell in 1989.");
    let (result, sent, _) =
        measured_on_a_warm_connection(&server, &mut remote, &target, job, timing_deviation(3, Some(7)));
    let generation = result.outcome.as_ref().unwrap();
    assert_eq!(generation.output, ANSWER);
    let m = &generation.metrics;
    assert_near(m.ttft_ms.unwrap(), sent[3], "TTFT");
    assert_near(m.latency_ms, sent[7], "latency (message_stop)");
    assert_eq!((m.input_tokens, m.output_tokens), (58, 14));

    let seen = &server.requests()[0];
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some("sk-ant-test-0123456789"));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    let body = seen.json();
    assert_eq!(body["system"], "Answer with JSON.");
    assert_eq!(body["messages"].as_array().unwrap().len(), 1, "system goes apart");
}

#[test]
fn a_gemini_stream_ends_with_its_finish_reason_and_counts_usage_metadata() {
    let _turn = model_turn();
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("gemini-stream.sse"), 40, 10));
    let mut target = target(ProviderKind::Gemini, format!("http://{}/v1beta", server.addr));
    target.api_key_env = Some("TEST_GEMINI_KEY".into());
    let mut remote = remote_with_key("TEST_GEMINI_KEY", "AIza-test-0123456789");
    let job = chat("The Berlin Wall fell in 1989.");
    let (result, sent, ended) =
        measured_on_a_warm_connection(&server, &mut remote, &target, job, timing_deviation(0, None));
    let generation = result.outcome.as_ref().unwrap();
    assert_eq!(generation.output, ANSWER);
    let m = &generation.metrics;
    assert_near(m.ttft_ms.unwrap(), sent[0], "TTFT");
    // Gemini has no end marker: the response ends when the server closes it.
    assert_near(m.latency_ms, ended, "latency");
    assert_eq!((m.input_tokens, m.output_tokens), (57, 13));
    let seen = &server.requests()[0];
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(seen.header("x-goog-api-key"), Some("AIza-test-0123456789"));
    assert_eq!(
        seen.json()["systemInstruction"]["parts"][0]["text"],
        "Answer with JSON."
    );
}

#[test]
fn a_raw_prompt_goes_to_the_completions_endpoint_and_llama_server_timings_are_kept() {
    let _turn = model_turn();
    let server =
        FakeProvider::start(|_, _| Reply::stream(fixture_events("llama-server-completions.sse"), 10, 5));
    let mut target = target(ProviderKind::Openai, server.base_url());
    target
        .extra_body
        .insert("cache_prompt".into(), serde_json::Value::Bool(false));
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let mut job = chat("");
    job.prompt = RenderedPrompt::Raw {
        prompt: "Sentence: The Berlin Wall fell in 1989.\nJSON:".into(),
    };
    let result = &run(&mut remote, &target, vec![job])[0];
    let generation = result.outcome.as_ref().unwrap();
    assert_eq!(generation.output, format!(" {ANSWER}"));
    let m = &generation.metrics;
    assert_eq!((m.input_tokens, m.output_tokens), (92, 16));
    assert_eq!(m.prompt_eval_ms, Some(149.121));
    assert_eq!(m.prompt_eval_tokens, Some(92));
    assert_eq!(m.cached_tokens, Some(0));
    assert_eq!((m.gen_eval_tokens, m.gen_eval_ms), (Some(15), Some(216.135)));
    let seen = &server.requests()[0];
    assert_eq!(seen.path, "/v1/completions");
    assert_eq!(
        seen.json()["prompt"],
        "Sentence: The Berlin Wall fell in 1989.\nJSON:"
    );
    assert_eq!(
        seen.json()["cache_prompt"],
        false,
        "extra_body reaches the request"
    );
}

#[test]
fn without_usage_in_the_stream_token_counts_are_marked_as_estimates() {
    let _turn = model_turn();
    let events: Vec<String> = fixture_events("openai-chat.sse")
        .into_iter()
        .filter(|e| !e.contains("\"prompt_tokens\""))
        .collect();
    let server = FakeProvider::start(move |_, _| Reply::stream(events.clone(), 0, 2));
    let mut target = target(ProviderKind::Openai, server.base_url());
    target.include_usage = false;
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let result = &run(&mut remote, &target, vec![chat("x")])[0];
    let generation = result.outcome.as_ref().unwrap();
    assert_eq!(generation.metrics.tokens_estimated, Some(true));
    assert_eq!(generation.metrics.output_tokens, 8, "32 characters ≈ 8 tokens");
    assert!(
        generation.warnings.iter().any(|w| w.contains("estimates")),
        "{:?}",
        generation.warnings
    );
    assert!(server.requests()[0].json().get("stream_options").is_none());
}
