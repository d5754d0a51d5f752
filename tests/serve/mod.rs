//! `tradeoff serve` on a winner measured with the real default model, driven by real clients
//! (`clients`), under faults (`faults`) and watched by its canary (`canary`).

mod canary;
mod clients;
mod faults;
mod policy;
mod remote;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use serde_json::Value;

use crate::support::{FEWSHOT, stderr, stdout, tradeoff, write};

/// The cases of the measured experiment, and what the default model answers to them.
pub(super) const CASES: [(&str, &str); 2] = [
    (
        "The Berlin Wall fell in 1989.",
        r#"{"city": "Berlin", "year": 1989}"#,
    ),
    (
        "Paris hosted the World Exposition of 1889.",
        r#"{"city": "Paris", "year": 1889}"#,
    ),
];

/// The few-shot prompt for `sentence`, as the measured variant renders it.
pub(super) fn prompt(sentence: &str) -> String {
    let shots = FEWSHOT.rsplit_once("Sentence:").unwrap().0;
    format!("{shots}Sentence: {sentence}\nJSON:")
}

/// `CASES` as an experiment file's `cases:` entries, each expecting its answer.
pub(super) fn cases_yaml() -> String {
    CASES
        .iter()
        .map(|(sentence, expected)| {
            format!(
                "  - {{vars: {{sentence: {}}}, expected: {}}}\n",
                serde_json::to_string(sentence).unwrap(),
                serde_json::to_string(&format!(" {expected}")).unwrap()
            )
        })
        .collect()
}

/// Records a small experiment on the default model and writes its winner file.
pub(super) fn winner(dir: &Path) -> PathBuf {
    let db = dir.join("db.sqlite3");
    let template = prompt("{{ sentence }}");
    let cases = cases_yaml();
    let file = write(
        dir,
        "measured.yaml",
        &format!(
            "schema: 1\nvariants:\n  - {{id: fewshot, prompt: {}}}\ncases:\n{cases}targets: [{{id: q4, model: default, n_ctx: 512, max_tokens: 24, stop: [\"\\n\"]}}]\nchecks: [{{type: equals}}]\n",
            serde_json::to_string(&template).unwrap()
        ),
    );
    record_and_pick(dir, &file, &db, &[], &[]).0
}

/// Runs the experiment `file` into `db` and writes its winner (`winner_args`, e.g. an objective)
/// to `dir/winner.json`; returns that path and what `tradeoff winner` printed.
pub(super) fn record_and_pick(
    dir: &Path,
    file: &Path,
    db: &Path,
    winner_args: &[&str],
    envs: &[(&str, &str)],
) -> (PathBuf, String) {
    let run = tradeoff()
        .arg("run")
        .arg("--db")
        .arg(db)
        .arg(file)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let out = dir.join("winner.json");
    let picked = tradeoff()
        .args(["winner", "latest", "--db"])
        .arg(db)
        .args(winner_args)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(picked.status.success(), "{}", stderr(&picked));
    (out, stdout(&picked))
}

/// A running `tradeoff serve`, stopped (SIGTERM) when dropped.
pub(super) struct Server {
    pub(super) child: Child,
    pub(super) url: String,
    /// What it prints after the address.
    lines: std::sync::mpsc::Receiver<String>,
}

impl Server {
    pub(super) fn start(winner: &Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut child = tradeoff()
            .arg("serve")
            .arg(winner)
            .args(["--port", "0"])
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(120))
            .expect("the server says where it listens");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {first}"))
            .to_string();
        Server { child, url, lines }
    }

    /// The first line it prints that starts with `prefix`, waiting up to two minutes.
    pub(super) fn line_starting(&self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line starting with {prefix:?}"));
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    pub(super) fn stop(mut self) -> Output {
        stop(&self.child);
        let child = std::mem::replace(&mut self.child, dummy());
        child.wait_with_output().unwrap()
    }
}

pub(super) fn stop(child: &Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
}

/// A finished process to leave in a stopped server's place.
pub(super) fn dummy() -> Child {
    Command::new("true").spawn().unwrap()
}

impl Drop for Server {
    fn drop(&mut self) {
        stop(&self.child);
        let _ = self.child.wait();
    }
}

/// `curl` with a JSON body; returns the HTTP status, the headers and the body.
pub(super) fn curl(url: &str, body: Option<&Value>, extra: &[&str]) -> (u16, String, String) {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-N", "-D", "-", "--max-time", "120"])
        .args(extra)
        .arg(url);
    if let Some(body) = body {
        command
            .args(["-H", "content-type: application/json", "--data-binary"])
            .arg(body.to_string());
    }
    let output = command
        .output()
        .expect("curl runs (scripts/setup-system.sh installs it)");
    assert!(output.status.success(), "curl: {}", stderr(&output));
    let text = stdout(&output);
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, headers.to_string(), body.to_string())
}

pub(super) fn completion(sentence: &str, max_tokens: Option<u32>) -> Value {
    let mut body = serde_json::json!({"model": "anything", "prompt": prompt(sentence)});
    if let Some(max) = max_tokens {
        body["max_tokens"] = max.into();
        body["stop"] = Value::Array(vec!["\u{1}".into()]);
    }
    body
}
