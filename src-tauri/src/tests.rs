use std::path::Path;

use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets};

use tauri::Manager as _;

use super::*;

/// Fails when `ui/src/bindings.ts` does not match the commands, after rewriting it, so that
/// the next run passes and the diff shows what to commit.
#[test]
fn the_committed_typescript_bindings_are_up_to_date() {
    let committed =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
            .join("../ui/src/bindings.ts");
    let before = std::fs::read_to_string(&committed).unwrap_or_default();
    export_bindings(&committed).unwrap();
    let after = std::fs::read_to_string(&committed).unwrap();
    assert!(
        after.contains("runExperiment") && after.contains("diffRuns"),
        "{after}"
    );
    assert_eq!(
        before, after,
        "ui/src/bindings.ts was stale and has been regenerated: commit it"
    );
}

pub(crate) fn invoke(
    app: &tauri::App<MockRuntime>,
    cmd: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, serde_json::Value> {
    let webview = app
        .get_webview_window("main")
        .map(Ok)
        .unwrap_or_else(|| tauri::WebviewWindowBuilder::new(app, "main", Default::default()).build());
    let webview = webview.unwrap();
    get_ipc_response(
        &webview,
        tauri::webview::InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: tauri::ipc::InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|r| r.deserialize::<serde_json::Value>().unwrap())
}

pub(crate) fn mock_app(db: &Path) -> tauri::App<MockRuntime> {
    let builder = specta_builder_for!(MockRuntime);
    mock_builder()
        .manage(AppState::new(db.to_path_buf()))
        .invoke_handler(builder.invoke_handler())
        .build(mock_context(noop_assets()))
        .unwrap()
}

#[test]
fn commands_answer_through_ipc_and_errors_carry_a_code() {
    let dir = tempfile::tempdir().unwrap();
    let app = mock_app(&dir.path().join("db.sqlite3"));
    assert_eq!(
        invoke(&app, "list_experiments", serde_json::json!({})).unwrap(),
        serde_json::json!([])
    );

    let quickstart =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
            .join("../fixtures/experiments/quickstart.yaml");
    let view = invoke(&app, "open_experiment", serde_json::json!({ "path": quickstart })).unwrap();
    assert_eq!(view["name"], "quickstart");
    assert_eq!(view["runs"], 48);
    assert_eq!(view["variants"][2]["format"], "chat");

    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "schema: 1\nvariants: [\n").unwrap();
    let error = invoke(&app, "open_experiment", serde_json::json!({ "path": broken })).unwrap_err();
    assert_eq!(error["code"], "bad_input");
    assert!(
        error["message"].as_str().unwrap().contains("broken.yaml:"),
        "{error}"
    );

    let missing = invoke(&app, "results", serde_json::json!({ "experimentId": 99 })).unwrap_err();
    assert_eq!(missing["code"], "not_found");
}

#[test]
fn endpoints_are_kept_by_name_checked_like_experiment_targets_and_never_hold_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let app = mock_app(&dir.path().join("db.sqlite3"));
    let endpoint = |name: &str, base_url: &str, key: &str| {
        serde_json::json!({ "endpoint": {
            "name": name, "provider": "openai", "base_url": base_url, "api_key_env": key,
            "model": "qwen", "include_usage": false } })
    };
    let list = invoke(
        &app,
        "save_endpoint",
        endpoint("farm", "http://10.0.0.5:8000/v1/", "FARM_KEY"),
    )
    .unwrap();
    assert_eq!(
        list[0]["base_url"], "http://10.0.0.5:8000/v1",
        "normalized as in experiment files"
    );
    assert_eq!(list[0]["include_usage"], false);
    let list = invoke(
        &app,
        "save_endpoint",
        endpoint("farm", "http://10.0.0.6:8000/v1", "FARM_KEY"),
    )
    .unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "saving under the same name replaces"
    );
    assert_eq!(list[0]["base_url"], "http://10.0.0.6:8000/v1");

    let pasted = "sk-proj-0123456789abcdefghij";
    let error = invoke(&app, "save_endpoint", endpoint("leak", "http://x/v1", pasted)).unwrap_err();
    assert_eq!(error["code"], "bad_input");
    assert!(!error["message"].as_str().unwrap().contains(pasted), "{error}");
    let error = invoke(&app, "save_endpoint", endpoint("bad", "localhost:8080", "")).unwrap_err();
    assert!(error["message"].as_str().unwrap().contains("base URL"), "{error}");

    let list = invoke(&app, "delete_endpoint", serde_json::json!({ "name": "farm" })).unwrap();
    assert_eq!(list, serde_json::json!([]));
    let error = invoke(&app, "delete_endpoint", serde_json::json!({ "name": "farm" })).unwrap_err();
    assert_eq!(error["code"], "not_found");

    // A connection that cannot be made is an error with the remote class as its code.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let error = invoke(
        &app,
        "test_endpoint",
        endpoint("down", &format!("http://127.0.0.1:{port}/v1"), ""),
    )
    .unwrap_err();
    assert_eq!(error["code"], "connect", "{error}");
}

#[test]
fn an_experiment_whose_process_is_gone_reads_interrupted_with_its_planned_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    {
        let quickstart =
            Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
                .join("../fixtures/experiments/quickstart.yaml");
        let experiment = tradeoff_core::spec::load::load_file(&quickstart).unwrap();
        let plan = tradeoff_core::spec::matrix::Plan::new(&experiment);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = tradeoff_store::Owner::of(child.id());
        child.wait().unwrap();
        let environment = tradeoff_core::execute::environment::Environment::detect(None);
        Store::open(&db)
            .unwrap()
            .begin_experiment(&experiment, &plan, &environment, &gone)
            .unwrap();
    }
    let app = mock_app(&db);
    let list = invoke(&app, "list_experiments", serde_json::json!({})).unwrap();
    assert_eq!(
        (&list[0]["status"], &list[0]["runs"], &list[0]["planned_runs"]),
        (
            &serde_json::json!("interrupted"),
            &serde_json::json!(0),
            &serde_json::json!(48)
        )
    );
    let results = invoke(&app, "results", serde_json::json!({ "experimentId": 1 })).unwrap();
    assert_eq!(
        (&results["status"], &results["planned_runs"]),
        (&serde_json::json!("interrupted"), &serde_json::json!(48))
    );
}

#[test]
fn a_refused_draft_names_the_field_it_is_about_for_the_editor_to_point_at() {
    let dir = tempfile::tempdir().unwrap();
    let app = mock_app(&dir.path().join("db.sqlite3"));
    let quickstart = std::path::Path::new(
        &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("../fixtures/experiments/quickstart.yaml");
    let mut draft = invoke(&app, "read_experiment", serde_json::json!({ "path": quickstart })).unwrap();
    draft["variants"][0]["prompt"] = serde_json::json!("Sentence: {{ sentnce }}");
    let error = invoke(
        &app,
        "plan_experiment",
        serde_json::json!({ "path": quickstart, "draft": draft }),
    )
    .unwrap_err();
    assert_eq!(error["code"], "bad_input", "{error}");
    assert_eq!(error["field"]["path"], "variants[0].prompt", "{error}");
    let message = error["field"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("sentnce") && !message.contains("quickstart.yaml"),
        "{error}"
    );
}
