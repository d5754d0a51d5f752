//! A remote winner served: requests proxied to the API it was measured on, with its settings and
//! its key, the text streamed on as the API sends it.

use serde_json::Value;

use super::{Server, curl, record_and_pick};
use crate::support::sse_server::{FakeProvider, Reply, openai_chat_events};
use crate::support::write;

#[test]
fn a_remote_winner_is_proxied_with_its_settings_and_its_key_streaming_or_not() {
    let provider =
        FakeProvider::start(|_, _| Reply::stream(openai_chat_events(r#"{"city": "Berlin"}"#, 12, 6), 30, 5));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = write(
        dir.path(),
        "remote.yaml",
        &format!(
            "schema: 1\nvariants: [{{id: v, system: 'Answer as JSON.', user: '{{{{ q }}}}'}}]\ncases: [{{vars: {{q: 'Where did the wall fall?'}}, expected: '{{\"city\": \"Berlin\"}}'}}]\ntargets: [{{id: api, provider: openai, model: small, base_url: '{}', api_key_env: SERVE_REMOTE_KEY, temperature: 0.2, max_tokens: 40}}]\nchecks: [{{type: equals}}]\n",
            provider.base_url()
        ),
    );
    let key = [("SERVE_REMOTE_KEY", "sk-remote-123")];
    let (winner, _) = record_and_pick(dir.path(), &file, &db, &[], &key);
    let measured_calls = provider.requests().len();

    let server = Server::start(&winner, &["--db", db.to_str().unwrap()], &key);
    let (status, _, body) = curl(
        &format!("{}/variants/v/completions", server.url),
        Some(&serde_json::json!({"vars": {"q": "Where did the wall fall?"}})),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["text"], r#"{"city": "Berlin"}"#);
    assert_eq!(answer["usage"]["completion_tokens"], 6);
    let (status, _, body) = curl(
        &format!("{}/chat/completions", server.url),
        Some(
            &serde_json::json!({"messages": [{"role": "user", "content": "hi"}], "stream": true, "max_tokens": 7}),
        ),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let text: String = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, r#"{"city": "Berlin"}"#);
    drop(server);

    // What reached the API: the winner's model, template, sampling, the client's max_tokens, and
    // the key, which went nowhere else.
    let proxied = &provider.requests()[measured_calls..];
    assert_eq!(proxied.len(), 2);
    let first = proxied[0].json();
    assert_eq!(first["model"], "small");
    assert_eq!(first["messages"][0]["content"], "Answer as JSON.");
    assert_eq!(first["messages"][1]["content"], "Where did the wall fall?");
    assert!((first["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(proxied[1].json()["max_tokens"], 7);
    for request in proxied {
        assert_eq!(request.header("authorization"), Some("Bearer sk-remote-123"));
    }
}
