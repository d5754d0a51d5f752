//! The app's two boundaries with the untrusted: paths the webview sends (writes only where the
//! rule allows, reads only of regular files) and what child processes print (read to the end,
//! kept within bounds, paths passed after `--`).

use std::path::{Path, PathBuf};

use tauri::Manager as _;

use crate::AppState;
use crate::child::fake_tradeoff;
use crate::dto::ProgressEvent;
use crate::executor::{Running, run_experiment};
use crate::file_access::Picker;
use crate::tests::{invoke, mock_app};

/// Stands in for the user: the save dialog returns this path.
struct UserChooses(PathBuf);

impl Picker for UserChooses {
    fn save(&self, _: &Path) -> Option<PathBuf> {
        Some(self.0.clone())
    }
    fn open(&self, _: bool) -> Option<PathBuf> {
        None
    }
}

fn quickstart() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../fixtures/experiments/quickstart.yaml")
}

#[test]
fn saving_an_experiment_outside_the_data_folder_needs_the_users_choice_in_the_save_dialog() {
    let dir = tempfile::tempdir().unwrap();
    let app = mock_app(&dir.path().join("db.sqlite3"));
    let draft = invoke(
        &app,
        "read_experiment",
        serde_json::json!({ "path": quickstart() }),
    )
    .unwrap();
    let elsewhere = dir.path().join("mine/quickstart.yaml");
    let save = |path: &Path| {
        invoke(
            &app,
            "save_experiment",
            serde_json::json!({ "path": path, "draft": draft.clone() }),
        )
    };

    let error = save(&elsewhere).unwrap_err();
    assert_eq!(error["code"], "not_allowed", "{error}");
    assert!(!elsewhere.exists(), "nothing was written");

    // Without dialogs (a window that has none) choosing fails with an error, not a panic.
    let error = invoke(
        &app,
        "pick_save_path",
        serde_json::json!({ "suggested": "/x.yaml" }),
    )
    .unwrap_err();
    assert_eq!(error["code"], "unavailable", "{error}");

    app.state::<AppState>()
        .files
        .set_picker(Box::new(UserChooses(elsewhere.clone())));
    let chosen = invoke(
        &app,
        "pick_save_path",
        serde_json::json!({ "suggested": "/data/experiments/quickstart.yaml" }),
    )
    .unwrap();
    assert_eq!(chosen, serde_json::json!(elsewhere));
    let view = save(&elsewhere).unwrap();
    assert_eq!(view["name"], "quickstart");
    assert!(elsewhere.is_file());

    // The choice covers that file, not its folder.
    let error = save(&dir.path().join("mine/other.yaml")).unwrap_err();
    assert_eq!(error["code"], "not_allowed", "{error}");
}

#[test]
fn exports_to_a_path_the_user_did_not_choose_are_refused_before_anything_is_read_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let app = mock_app(&dir.path().join("db.sqlite3"));
    let target = dir.path().join("export.json");
    for (command, args) in [
        (
            "export_config",
            serde_json::json!({ "experimentId": 1, "config": 0, "path": target }),
        ),
        (
            "export_winner",
            serde_json::json!({ "experimentId": 1, "objective": "", "path": target }),
        ),
    ] {
        let error = invoke(&app, command, args).unwrap_err();
        assert_eq!(error["code"], "not_allowed", "{command}: {error}");
        assert!(error["message"].as_str().unwrap().contains("Choose…"), "{error}");
    }
    assert!(!target.exists());
}

#[test]
fn experiment_files_and_model_sources_must_be_regular_files_or_folders() {
    let dir = tempfile::tempdir().unwrap();
    let app = mock_app(&dir.path().join("db.sqlite3"));
    for command in ["open_experiment", "read_experiment"] {
        let error = invoke(&app, command, serde_json::json!({ "path": "/dev/zero" })).unwrap_err();
        assert_eq!(error["code"], "bad_input", "{command}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains("not a regular file"),
            "{error}"
        );
    }
    let error = invoke(
        &app,
        "add_model_source",
        serde_json::json!({ "path": "/dev/null" }),
    )
    .unwrap_err();
    assert_eq!(error["code"], "bad_input", "{error}");
}

struct Ran {
    outcome: Result<crate::dto::RunOutcomeView, crate::error::AppError>,
    events: Vec<ProgressEvent>,
    /// The arguments the child got, one a line (when the script wrote them).
    args: String,
}

/// Runs the executor against a stand-in `tradeoff` running `script`.
fn run_with(script: &str) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let binary = fake_tradeoff(dir.path(), script);
    // A file name that starts like an option.
    let file = dir.path().join("-experiment.yaml");
    std::fs::write(&file, "schema: 1\n").unwrap();
    let events = std::sync::Mutex::new(Vec::new());
    let emit = |event: ProgressEvent| events.lock().unwrap().push(event);
    let outcome = run_experiment(
        &binary,
        &dir.path().join("db.sqlite3"),
        &file,
        &Running::default(),
        &emit,
    );
    Ran {
        outcome,
        events: events.into_inner().unwrap(),
        args: std::fs::read_to_string(dir.path().join("args")).unwrap_or_default(),
    }
}

#[test]
fn the_experiment_process_gets_its_file_after_a_double_dash_and_its_database_joined_to_the_option() {
    let ran = run_with(
        r#"for a in "$@"; do echo "$a"; done > "$(dirname "$0")/args"
echo '{"event":"finished","experiment_id":7,"status":"completed"}'"#,
    );
    assert_eq!(ran.outcome.unwrap().experiment_id, Some(7));
    let args: Vec<&str> = ran.args.lines().collect();
    assert_eq!(args[..2], ["run", "--events"]);
    assert!(
        args[2].starts_with("--db=") && args[2].ends_with("db.sqlite3"),
        "{args:?}"
    );
    assert_eq!(args[3], "--");
    assert!(args[4].ends_with("/-experiment.yaml"), "{args:?}");
}

#[test]
fn a_child_that_floods_stderr_and_prints_broken_lines_is_read_to_the_end_and_only_a_tail_is_kept() {
    // 8 MiB of stderr, a line that is not UTF-8, a 9 MiB line, then an event: the reader must
    // neither stop early (the child would block on a full pipe) nor hold it all.
    let ran = run_with(
        r#"head -c 8388608 /dev/zero | tr '\0' 'x' >&2
echo 'the last words' >&2
printf '\377\376 not utf-8\n'
head -c 9437184 /dev/zero | tr '\0' 'y'; echo
echo '{"event":"started","experiment_id":3,"total":1}'
exit 3"#,
    );
    assert!(
        matches!(
            ran.events.first(),
            Some(ProgressEvent::Started { experiment_id: 3, .. })
        ),
        "the event after the broken lines arrived: {:?}",
        ran.events.first()
    );
    let error = ran.outcome.unwrap_err();
    assert_eq!(error.code, crate::error::AppCode::Executor.into(), "{error:?}");
    let details = error.details.unwrap();
    assert!(
        details.len() <= crate::child::STDERR_TAIL_BYTES + 100,
        "{} bytes kept",
        details.len()
    );
    assert!(details.trim_end().ends_with("the last words"), "{details:.200}");
}

#[test]
fn the_live_preview_keeps_the_end_of_a_long_generation() {
    // 100,000 text chunks of 10 bytes: 1 MB of output for one run.
    let ran = run_with(
        r#"echo '{"event":"run_started","done":0,"total":1,"run":{"config":0,"case":0,"repetition":0}}'
i=0; while [ $i -lt 100000 ]; do echo '{"event":"text","chunk":"0123456789"}'; i=$((i+1)); done
echo '{"event":"run_started","done":1,"total":1,"run":{"config":0,"case":0,"repetition":0}}'
echo '{"event":"finished","experiment_id":1,"status":"completed"}'"#,
    );
    assert!(ran.outcome.is_ok());
    let longest = ran
        .events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Running { text, .. } => Some(text.len()),
            _ => None,
        })
        .max()
        .unwrap();
    assert!(longest <= 32 * 1024 + 16, "a preview of {longest} bytes");
}

#[test]
fn the_quantize_process_gets_its_source_after_a_double_dash_and_only_type_names_as_types() {
    let dir = tempfile::tempdir().unwrap();
    let binary = fake_tradeoff(
        dir.path(),
        r#"for a in "$@"; do echo "$a"; done > "$(dirname "$0")/args"
echo '{"event":"quantized","type_name":"Q8_0","path":"/m/out.gguf","bytes":1,"duration_ms":1.0,"requantized":false,"warnings":[]}'"#,
    );
    let source = dir.path().join("--help.gguf");
    std::fs::write(&source, "GGUF").unwrap();
    let db = dir.path().join("db.sqlite3");
    let quantize = |source: &str, types: &[&str]| {
        let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        crate::quantizer::quantize(&binary, &db, source, &types, true, &|_| {})
    };

    let error = quantize(&source.to_string_lossy(), &["Q8_0", "--out-dir=/etc"]).unwrap_err();
    assert_eq!(error.code, crate::error::AppCode::BadInput.into(), "{error:?}");
    let error = quantize("/dev/zero", &["Q8_0"]).unwrap_err();
    assert_eq!(error.code, crate::error::AppCode::BadInput.into(), "{error:?}");

    let written = quantize(&source.to_string_lossy(), &["Q8_0"]);
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args[..3], ["quantize", "--type=Q8_0", "--events"], "{args:?}");
    assert!(args[3].starts_with("--db="), "{args:?}");
    assert_eq!(args[4..6], ["--allow-requantize", "--"], "{args:?}");
    assert_eq!(args[6], source.to_string_lossy());
    assert_eq!(written.unwrap(), vec!["/m/out.gguf".to_string()]);
}
