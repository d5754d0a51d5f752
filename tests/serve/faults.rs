//! Faults: a full queue, a worker killed mid-request, a server killed mid-traffic, and winners
//! or addresses that cannot be served.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{CASES, Server, completion, curl, winner};
use crate::support::{children_of, model_turn, stderr, stdout, tradeoff, write};

#[test]
fn beyond_its_slots_and_queue_it_answers_429_and_a_dead_worker_costs_only_its_requests() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let winner = winner(dir.path());
    let server = Server::start(&winner, &["--parallel", "1", "--queue", "0", "--no-log"], &[]);
    let url = server.url.clone();
    let long = completion(CASES[0].0, Some(400));
    std::thread::scope(|scope| {
        let busy = scope.spawn(|| curl(&format!("{url}/completions"), Some(&long), &[]));
        // Once the one slot is decoding, the next request has nowhere to wait.
        let worker = loop {
            let (_, _, health) = curl(&url.replace("/v1", "/health"), None, &[]);
            let children = children_of(server.child.id());
            if health.contains("\"status\":\"ok\"") && !children.is_empty() {
                break children[0];
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let refused = loop {
            let (status, headers, body) = curl(
                &format!("{url}/completions"),
                Some(&completion(CASES[1].0, None)),
                &[],
            );
            if status == 429 {
                break (headers, body);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            refused.0.to_ascii_lowercase().contains("retry-after: "),
            "{}",
            refused.0
        );
        assert!(refused.1.contains("server_busy"), "{}", refused.1);

        // The worker dies mid-request: that request fails with the reason, the next one gets a
        // new worker and the measured answer.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(worker as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let (status, _, body) = busy.join().unwrap();
        assert_eq!(status, 500, "{body}");
        assert!(
            body.contains("worker_crashed") && body.contains("SIGKILL"),
            "{body}"
        );
    });
    let (status, _, body) = curl(
        &format!("{url}/completions"),
        Some(&completion(CASES[1].0, None)),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["text"], format!(" {}", CASES[1].1));
    let (_, _, health) = curl(&url.replace("/v1", "/health"), None, &[]);
    assert!(health.contains("\"worker_restarts\":1"), "{health}");
}

#[test]
fn a_public_address_without_a_key_and_a_winner_that_cannot_be_served_are_refused_with_the_reason() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let winner = winner(dir.path());
    let public = tradeoff()
        .arg("serve")
        .arg(&winner)
        .args(["--host", "0.0.0.0", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(public.status.code(), Some(2), "{}", stderr(&public));
    assert!(stderr(&public).contains("--api-key-env"), "{}", stderr(&public));

    // A model file that is not the measured one.
    let mut changed: Value = serde_json::from_str(&std::fs::read_to_string(&winner).unwrap()).unwrap();
    changed["winner"]["provenance"]["model_sha256"] = "0".repeat(64).into();
    let changed_file = write(dir.path(), "changed.json", &changed.to_string());
    let refused = tradeoff()
        .arg("serve")
        .arg(&changed_file)
        .arg("--check")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let message = stderr(&refused);
    assert!(
        message.contains("changed.json") && message.contains("winner.provenance.model_sha256"),
        "{message}"
    );
    assert!(
        message.contains("not the file the winner was measured with"),
        "{message}"
    );

    // Labels are the file's data: a terminal never obeys them.
    let mut hostile: Value = serde_json::from_str(&std::fs::read_to_string(&winner).unwrap()).unwrap();
    hostile["winner"]["summary"]["variant"] = "fewshot\u{1b}]0;pwned\u{7}".into();
    let hostile_file = write(dir.path(), "hostile.json", &hostile.to_string());
    let checked = tradeoff()
        .arg("serve")
        .arg(&hostile_file)
        .arg("--check")
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert!(!stdout(&checked).contains('\u{1b}'), "{}", stdout(&checked));
    assert!(
        stdout(&checked).contains("fewshot\\u{1b}]0;pwned"),
        "{}",
        stdout(&checked)
    );

    // Not a winner file at all.
    let other = write(dir.path(), "other.json", r#"{"kind": "tradeoff.experiment"}"#);
    let refused = tradeoff()
        .arg("serve")
        .arg(&other)
        .arg("--check")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("not a winner file"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn a_server_killed_mid_traffic_leaves_an_intact_log_with_every_finished_request() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let winner = winner(dir.path());
    let log = dir.path().join("traffic.sqlite3");
    let server = Server::start(&winner, &["--db", log.to_str().unwrap()], &[]);
    let url = server.url.clone();
    for case in CASES.iter().cycle().take(5) {
        let (status, _, body) = curl(
            &format!("{url}/completions"),
            Some(&completion(case.0, None)),
            &[],
        );
        assert_eq!(status, 200, "{body}");
    }
    std::thread::scope(|scope| {
        let cut = scope.spawn(|| {
            Command::new("curl")
                .args([
                    "-sS",
                    "--max-time",
                    "60",
                    "-H",
                    "content-type: application/json",
                    "--data-binary",
                ])
                .arg(completion(CASES[0].0, Some(400)).to_string())
                .arg(format!("{url}/completions"))
                .output()
                .unwrap()
        });
        // The long one is decoding, the five before it were committed (within milliseconds).
        std::thread::sleep(Duration::from_millis(800));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(server.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let cut = cut.join().unwrap();
        assert!(
            !cut.status.success() || stdout(&cut).is_empty(),
            "the cut request got no answer"
        );
    });
    drop(server);
    let db = rusqlite::Connection::open(&log).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = db
        .query_row("SELECT count(*) FROM traffic", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 5, "every finished request, and nothing of the one cut off");
    let complete: i64 = db
        .query_row(
            "SELECT count(*) FROM traffic WHERE status = 200 AND output_hash IS NOT NULL AND latency_ms > 0",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(complete, 5);
}

#[test]
fn a_server_told_to_exit_with_its_input_stops_when_its_parent_closes_it() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let winner = winner(dir.path());
    let mut child = tradeoff()
        .arg("serve")
        .arg(&winner)
        .args(["--port", "0", "--no-log", "--exit-with-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(first.starts_with("listening on "), "{first}");
    drop(child.stdin.take());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "it did not stop when its input closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_client_that_gives_up_before_its_answer_is_logged_as_cut_off() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let winner = winner(dir.path());
    let log = dir.path().join("traffic.sqlite3");
    let server = Server::start(&winner, &["--db", log.to_str().unwrap()], &[]);
    // A whole answer of 400 tokens takes seconds; this client waits one.
    let gave_up = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "1",
            "-H",
            "content-type: application/json",
            "--data-binary",
        ])
        .arg(completion(CASES[0].0, Some(400)).to_string())
        .arg(format!("{}/completions", server.url))
        .output()
        .unwrap();
    assert_eq!(
        gave_up.status.code(),
        Some(28),
        "curl timed out: {}",
        stderr(&gave_up)
    );
    // The server notices, cancels the generation and records the request; then it stops.
    std::thread::sleep(Duration::from_millis(500));
    let stopped = server.stop();
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    let db = rusqlite::Connection::open(&log).unwrap();
    let (status, class): (i64, String) = db
        .query_row("SELECT status, error_class FROM traffic", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!((status, class.as_str()), (499, "stream_broken"));
}
