//! The canary: rounds held to what was measured.

use serde_json::Value;

use super::{Server, curl, winner};
use crate::support::{model_turn, write};

#[test]
fn a_canary_holds_the_served_config_to_what_was_measured_and_flags_a_broken_one() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let winner = winner(dir.path());
    let db = dir.path().join("db.sqlite3");
    let args = ["--db", db.to_str().unwrap(), "--canary", "1", "--every", "1h"];
    let flagged = |server: &Server| {
        let (_, _, metrics) = curl(
            &format!("{}/metrics", server.url.trim_end_matches("/v1")),
            None,
            &[],
        );
        metrics
            .lines()
            .find(|l| l.starts_with("tradeoff_canary_flagged"))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    };

    let server = Server::start(&winner, &args, &[]);
    let round = server.line_starting("canary: 2 answers");
    assert!(round.ends_with("as measured"), "{round}");
    assert_eq!(flagged(&server).as_deref(), Some("0"));
    drop(server);

    // The same winner with its examples taken out of the template: the model no longer answers
    // JSON, and the first round says so.
    let mut broken: Value = serde_json::from_str(&std::fs::read_to_string(&winner).unwrap()).unwrap();
    broken["winner"]["variant"]["template"]["prompt"] = "{{ sentence }}\n".into();
    let broken = write(dir.path(), "broken.json", &broken.to_string());
    let server = Server::start(&broken, &args, &[]);
    let round = server.line_starting("canary: 2 answers");
    assert!(
        round.contains("FLAGGED: pass rate 0 % (0 of 2) is outside the measured 34–100 %"),
        "{round}"
    );
    assert_eq!(flagged(&server).as_deref(), Some("1"));
    drop(server);

    // Its requests are in the traffic log, marked as the canary's.
    let log = rusqlite::Connection::open(&db).unwrap();
    let canary_rows: i64 = log
        .query_row(
            "SELECT count(*) FROM traffic WHERE canary = 1 AND route = 'canary'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(canary_rows, 4);
    // Each answer's verdict is kept, and folded into the minute aggregates the Monitor reads.
    let count = |sql: &str| -> i64 { log.query_row(sql, [], |row| row.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM traffic WHERE canary = 1 AND passed = 1"),
        2
    );
    assert_eq!(
        count("SELECT count(*) FROM traffic WHERE canary = 1 AND passed = 0"),
        2
    );
    assert!(count("SELECT count(*) FROM traffic_minutes WHERE canary = 1") >= 1);
}
