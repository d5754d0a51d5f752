//! Remote experiments through the `tradeoff` binary: keys kept out of everything recorded,
//! connection tests, load, prices, the response cache and terminal safety.

use super::faults::faulty_server;
use super::*;

#[test]
fn a_key_given_to_an_experiment_appears_in_no_database_export_report_or_log() {
    let _turn = model_turn();
    let key = "sk-test-leak-check-9f8e7d6c5b4a";
    let server = faulty_server();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = write(
        dir.path(),
        "remote.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, system: 'Answer with JSON.', user: '{{{{ fault }}}}'}}]
cases: [{{vars: {{fault: ok}}}}, {{vars: {{fault: '401'}}}}, {{vars: {{fault: 'ok too'}}}}]
targets:
  - {{id: api, provider: openai, model: gpt-4o-mini, base_url: '{}', api_key_env: TRADEOFF_TEST_KEY,
      price: {{input_per_mtok: 0.15, output_per_mtok: 0.6}}}}
checks: [{{type: json_valid}}]
",
            server.base_url()
        ),
    );
    let run = tradeoff()
        .env("TRADEOFF_TEST_KEY", key)
        .env("RUST_LOG", "trace")
        .args(["run", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let mut everything = vec![stderr(&run), String::from_utf8_lossy(&run.stdout).into_owned()];
    for format in ["json", "csv", "md"] {
        let report = tradeoff()
            .args(["report", "latest", "--format", format, "--db"])
            .arg(&db)
            .output()
            .unwrap();
        assert!(report.status.success(), "{}", stderr(&report));
        everything.push(String::from_utf8_lossy(&report.stdout).into_owned());
        everything.push(stderr(&report));
    }
    let winner_file = dir.path().join("winner.json");
    let winner = tradeoff()
        .args(["winner", "latest", "--db"])
        .arg(&db)
        .arg("-o")
        .arg(&winner_file)
        .output()
        .unwrap();
    assert!(winner.status.success(), "{}", stderr(&winner));
    let winner_json = std::fs::read_to_string(&winner_file).unwrap();
    let exported: serde_json::Value = serde_json::from_str(&winner_json).unwrap();
    let errors = crate::support::winner_schema_errors(&exported);
    assert!(
        errors.is_empty(),
        "a remote winner follows the schema: {errors:?}"
    );
    assert!(exported["winner"]["settings"].is_null());
    assert_eq!(
        exported["winner"]["target"]["remote"]["api_key_env"],
        "TRADEOFF_TEST_KEY"
    );
    everything.push(winner_json);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        everything.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
    }
    for text in &everything {
        assert!(
            !text.contains(key),
            "the key leaked into: {}",
            &text[..text.len().min(400)]
        );
    }
    // The key did reach the server, and the server's echo of it was recorded redacted.
    assert!(
        server
            .requests()
            .iter()
            .all(|s| s.header("authorization") == Some(&format!("Bearer {key}")))
    );
    let report = tradeoff()
        .args(["report", "latest", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let failed: Vec<&serde_json::Value> = runs.iter().filter(|r| !r["error"].is_null()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["error"]["class"], "auth");
    assert!(
        failed[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[redacted]")
    );
    let ok = runs.iter().find(|r| r["error"].is_null()).unwrap();
    assert_eq!(ok["input_tokens"], 61);
    assert_eq!(ok["passed"], true);
    assert!(ok["cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(ok["attempts"].as_array().map(Vec::len), Some(1));
}

#[test]
fn testing_a_connection_lists_the_servers_models_and_says_whether_the_target_model_is_there() {
    let server = FakeProvider::start(|_, seen| match seen.header("authorization") {
        Some("Bearer sk-test-models-0123456789") => Reply::status(
            200,
            r#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"},{"id":"gpt-4o","object":"model"}]}"#,
        ),
        _ => Reply::status(401, r#"{"error":{"message":"Incorrect API key provided"}}"#),
    });
    let target = target(ProviderKind::Openai, server.base_url());
    let mut remote = remote_with_key("UNUSED", "unused-key");
    let client = remote.client_for(&target).unwrap();
    let key = tradeoff_remote::secrets::ApiKey::new("sk-test-models-0123456789");
    let probe = remote
        .block_on(tradeoff_remote::list_models(&client, &target, Some(&key)))
        .unwrap();
    assert_eq!(probe.models, ["gpt-4o-mini", "gpt-4o"]);
    assert!(probe.model_listed);
    let seen = &server.requests()[0];
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("GET", "/v1/models"));

    let wrong = tradeoff_remote::secrets::ApiKey::new("sk-test-wrong-0123456789");
    let error = remote
        .block_on(tradeoff_remote::list_models(&client, &target, Some(&wrong)))
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Auth);
    assert!(error.message.contains("HTTP 401"), "{error}");
}

#[test]
fn a_thousand_short_requests_at_concurrency_64_are_all_recorded() {
    let _turn = model_turn();
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 0, 0));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let cases: Vec<String> = (0..10).map(|i| format!("{{vars: {{n: '{i}'}}}}")).collect();
    let file = write(
        dir.path(),
        "many.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, user: 'case {{{{ n }}}}'}}]
cases: [{}]
targets: [{{id: api, provider: openai, model: m, base_url: '{}', max_concurrency: 64}}]
repetitions: 100
",
            cases.join(", "),
            server.base_url()
        ),
    );
    let run = tradeoff()
        .args(["run", "--json", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!stderr(&run).contains("locked"), "{}", stderr(&run));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1000);
    assert!(
        runs.iter()
            .all(|r| r["error"].is_null() && r["output_tokens"] == 12)
    );
    assert_eq!(server.requests().len(), 1000);
}

#[test]
fn a_hosted_model_without_a_price_is_priced_from_the_table_and_the_users_override_wins() {
    let _turn = model_turn();
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 0, 1));
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = write(
        dir.path(),
        "priced.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, user: 'x'}}]
cases: [{{vars: {{}}}}]
targets: [{{id: api, provider: openai, model: gpt-4o-mini-2024-07-18, base_url: '{}'}}]
",
            server.base_url()
        ),
    );
    let cost_of_run = |home: &std::path::Path| {
        let run = tradeoff()
            .env("TRADEOFF_HOME", home)
            .args(["run", "--json", "--db"])
            .arg(&db)
            .arg(&file)
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", stderr(&run));
        let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        let source = report["targets"][0]["price_source"].as_str().unwrap().to_string();
        (report["runs"][0]["cost_usd"].as_f64().unwrap(), source)
    };
    // 61 input tokens at $0.15/M and 12 output tokens at $0.60/M (the built-in entry).
    let (cost, source) = cost_of_run(&home);
    assert!((cost - (61.0 * 0.15 + 12.0 * 0.60) / 1e6).abs() < 1e-12, "{cost}");
    assert!(source.starts_with("built-in: openai gpt-4o-mini"), "{source}");

    std::fs::write(
        home.join("prices.json"),
        r#"{"schema": 1, "models": [{"provider": "openai", "model": "gpt-4o-mini", "input_per_mtok": 1, "output_per_mtok": 2, "source": "our contract", "as_of": "2026-11"}]}"#,
    )
    .unwrap();
    let (cost, source) = cost_of_run(&home);
    assert!((cost - (61.0 + 24.0) / 1e6).abs() < 1e-12, "{cost}");
    assert!(
        source.contains("our contract") && source.contains("prices.json"),
        "{source}"
    );

    std::fs::write(home.join("prices.json"), "{\"schema\": 1, \"models\": [").unwrap();
    let broken = tradeoff()
        .env("TRADEOFF_HOME", &home)
        .args(["run", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(stderr(&broken).contains("prices.json"), "{}", stderr(&broken));
}

#[test]
fn a_cache_hit_returns_the_stored_output_is_labelled_and_stays_out_of_the_statistics() {
    let _turn = model_turn();
    let server = FakeProvider::start(|_, _| Reply::stream(fixture_events("openai-chat.sse"), 20, 5));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let experiment = |mode: &str| {
        write(
            dir.path(),
            &format!("{mode}.yaml"),
            &format!(
                "schema: 1
variants: [{{id: v, user: '{{{{ n }}}}'}}]
cases: [{{vars: {{n: one}}}}, {{vars: {{n: two}}}}]
targets: [{{id: api, provider: openai, model: m, base_url: '{}', price: {{input_per_mtok: 1, output_per_mtok: 2}}}}]
cache: {mode}
",
                server.base_url()
            ),
        )
    };
    let run = |file: &std::path::Path| {
        let out = tradeoff()
            .args(["run", "--json", "--db"])
            .arg(&db)
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = run(&experiment("read_write"));
    assert_eq!(server.requests().len(), 2);
    let second = run(&experiment("read_write"));
    assert_eq!(server.requests().len(), 2, "answered from the cache, no request");
    for (hit, original) in second["runs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(first["runs"].as_array().unwrap())
    {
        assert_eq!(hit["cache_hit"], true);
        assert_eq!(hit["output"], original["output"]);
        assert_eq!(hit["cost_usd"], 0.0);
        assert_eq!(hit["cache_saved_usd"], original["cost_usd"]);
    }
    let config = &second["configs"][0];
    assert_eq!(config["cache_hits"], 2);
    assert!(
        config["latency_p50_ms"].is_null(),
        "no measured run, no latency statistic: {config}"
    );
    assert!(config["cost_per_run_usd"].is_null());
    let saved = config["cache_saved_usd"].as_f64().unwrap();
    assert!((saved - 2.0 * (61.0 + 24.0) / 1e6).abs() < 1e-12, "{saved}");
    // The first experiment's statistics are untouched by the second's hits.
    let again = tradeoff()
        .args(["report", "1", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        again["configs"][0]["latency_p50_ms"],
        first["configs"][0]["latency_p50_ms"]
    );

    run(&experiment("refresh"));
    assert_eq!(server.requests().len(), 4, "refresh calls the server again");
}

#[test]
fn model_output_with_terminal_escapes_is_printed_as_visible_text_not_obeyed() {
    let _turn = model_turn();
    // Sets the window title, writes the clipboard (OSC 52), clears the screen (8-bit CSI).
    let hostile = "Berlin\u{1b}]0;owned\u{7}\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{9b}2J";
    let server = FakeProvider::start(move |_, _| Reply::stream(openai_chat_events(hostile, 5, 3), 0, 0));
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "hostile.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, user: 'Where?'}}]
cases: [{{vars: {{}}}}]
targets:
  - {{id: api, provider: openai, model: gpt-4o-mini, base_url: '{}', api_key_env: TRADEOFF_TEST_KEY,
      price: {{input_per_mtok: 0.15, output_per_mtok: 0.6}}}}
",
            server.base_url()
        ),
    );
    let db = dir.path().join("db.sqlite3");
    let run = tradeoff()
        .env("TRADEOFF_TEST_KEY", "sk-test")
        .args(["run", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let report = tradeoff()
        .args(["report", "latest", "--format", "md", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let table = stdout(&run);
    assert!(table.contains("Berlin"), "{table}");
    assert!(
        table.contains("\\u{1b}]52;c;"),
        "the escape is shown, not dropped: {table}"
    );
    for shown in [table, stdout(&report)] {
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{9b}') && !shown.contains('\u{7}'),
            "{shown:?}"
        );
    }
}
