//! Helpers shared by the end-to-end tests.

pub mod sse_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The real default model. `make test` fetches it first; running the tests without it is a
/// set-up mistake, reported as such rather than skipped.
pub fn default_model() -> PathBuf {
    let path = tradeoff_core::paths::default_model();
    assert!(
        path.exists(),
        "the default model is missing at {}; run `make model`",
        path.display()
    );
    path
}

/// Tests that run the model take turns: on a 2-core machine, two at once would only make
/// each slower and their timings meaningless.
pub fn model_turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn tradeoff() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tradeoff"))
}

/// `tradeoff worker`, as the CLI starts it.
pub fn worker_command() -> tradeoff_worker::WorkerCommand {
    tradeoff_worker::WorkerCommand {
        program: env!("CARGO_BIN_EXE_tradeoff").into(),
        args: vec!["worker".into()],
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../..")
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A command's stdout as JSON; the command must have succeeded.
pub fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).expect("the command prints JSON")
}

/// `tradeoff ARGS --db DB`, which must succeed, read as JSON.
pub fn tradeoff_json(args: &[&str], db: &Path) -> serde_json::Value {
    json(
        &tradeoff()
            .args(args)
            .arg("--db")
            .arg(db)
            .output()
            .expect("tradeoff runs"),
    )
}

/// Where a winner file breaks `schemas/winner.schema.json` (empty: it follows it).
pub fn winner_schema_errors(winner: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schemas/winner.schema.json")).expect("the winner schema"),
    )
    .expect("the winner schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the winner schema is a JSON Schema");
    validator
        .iter_errors(winner)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// The processes whose parent is `parent`, from /proc.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so parse after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// A Python with the official `openai` package and `prometheus-client` (the Prometheus
/// project's own parser), from PyPI, in a venv of its own: real clients for `tradeoff serve`.
/// Kept outside the clone, keyed by the versions, so only the first run pays for it.
pub fn python_clients() -> PathBuf {
    static READY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            const PACKAGES: [&str; 2] = ["openai==3.51.0", "prometheus-client==0.26.0"];
            let home = std::env::var_os("HOME").expect("HOME is set");
            let venv = Path::new(&home)
                .join(".cache/tradeoff")
                .join(format!("py-clients-{}", PACKAGES.join("-")));
            let python = venv.join("bin/python");
            if !python.exists() {
                let building = venv.with_extension("building");
                let _ = std::fs::remove_dir_all(&building);
                let made = Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(&building)
                    .output()
                    .unwrap();
                assert!(
                    made.status.success(),
                    "python3 -m venv (the python3-venv package): {}",
                    stderr(&made)
                );
                let installed = Command::new(building.join("bin/pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check"])
                    .args(PACKAGES)
                    .output()
                    .unwrap();
                assert!(
                    installed.status.success(),
                    "pip install {PACKAGES:?}: {}",
                    stderr(&installed)
                );
                std::fs::rename(&building, &venv).unwrap();
            }
            python
        })
        .clone()
}

/// The few-shot extraction prompt that the base model answers correctly.
pub const FEWSHOT: &str = "Sentence: The first modern Olympic Games opened in Athens in 1896.
JSON: {\"city\": \"Athens\", \"year\": 1896}

Sentence: In 1969 thousands of people gathered in Woodstock for a music festival.
JSON: {\"city\": \"Woodstock\", \"year\": 1969}

Sentence: The Berlin Wall fell in 1989.
JSON:";
