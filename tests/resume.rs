//! An experiment whose process was killed reads as interrupted, and `run --resume` completes it
//! with every planned run recorded exactly once.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{model_turn, stderr, stdout, tradeoff, write};

const CASES: usize = 8;
const REPETITIONS: usize = 2;
const PLANNED: i64 = (CASES * REPETITIONS) as i64;

fn list(db: &std::path::Path) -> serde_json::Value {
    let output = tradeoff()
        .args(["list", "--json", "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

#[test]
fn a_killed_run_reads_interrupted_with_its_counts_and_resume_records_every_missing_run_once() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let cases: String = (0..CASES)
        .map(|i| format!("  - {{vars: {{n: '{i}'}}}}\n"))
        .collect();
    let file = write(
        dir.path(),
        "resume.yaml",
        &format!(
            "schema: 1
variants: [{{id: count, prompt: 'Count from {{{{ n }}}}:'}}]
cases:
{cases}targets: [{{id: t, model: default, n_ctx: 256, max_tokens: 24}}]
repetitions: {REPETITIONS}
"
        ),
    );
    let mut child = tradeoff()
        .arg("run")
        .arg(&file)
        .arg("--db")
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let count_runs = || -> i64 {
        rusqlite::Connection::open(&db)
            .and_then(|c| c.query_row("SELECT count(*) FROM runs", [], |r| r.get(0)))
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_runs() < 3 {
        assert!(Instant::now() < deadline, "no runs recorded in time");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the experiment ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL: the experiment row is left saying `running`
    child.wait().unwrap();

    let killed = &list(&db)[0];
    let id = killed["id"].as_i64().unwrap();
    assert_eq!(killed["status"], "interrupted", "{killed}");
    assert_eq!(killed["planned_runs"], PLANNED, "{killed}");
    let recorded = killed["runs"].as_i64().unwrap();
    assert!((3..PLANNED).contains(&recorded), "{killed}");
    let report = tradeoff()
        .args(["report", &id.to_string(), "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let expected = format!("interrupted — {recorded} of {PLANNED} runs recorded");
    assert!(stdout(&report).contains(&expected), "{}", stdout(&report));

    let resumed = tradeoff()
        .args(["run", "--resume", &id.to_string(), "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let missing = PLANNED - recorded;
    assert!(
        stderr(&resumed).contains(&format!(
            "{recorded} of {PLANNED} runs recorded, {missing} to run"
        )),
        "{}",
        stderr(&resumed)
    );
    // One experiment, one summary over every run.
    let report: serde_json::Value = serde_json::from_str(&stdout(&resumed)).unwrap();
    assert_eq!(report["experiment_id"], id);
    assert_eq!(report["status"], "completed");
    assert_eq!(report["runs"].as_array().unwrap().len() as i64, PLANNED);
    assert_eq!(report["configs"].as_array().unwrap().len(), 1);
    assert_eq!(report["configs"][0]["runs"], PLANNED);
    let done = &list(&db);
    assert_eq!(done.as_array().unwrap().len(), 1, "no second experiment: {done}");
    assert_eq!(
        (&done[0]["status"], &done[0]["runs"]),
        (&"completed".into(), &PLANNED.into())
    );

    // Every planned run (case × repetition) exactly once.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT k.position, r.repetition, count(*) FROM runs r JOIN cases k ON k.id = r.case_id
             GROUP BY k.position, r.repetition ORDER BY k.position, r.repetition",
        )
        .unwrap();
    let counts: Vec<(i64, i64, i64)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<(i64, i64, i64)> = (0..CASES as i64)
        .flat_map(|case| (0..REPETITIONS as i64).map(move |rep| (case, rep, 1)))
        .collect();
    assert_eq!(counts, expected);
    let failed: i64 = conn
        .query_row(
            "SELECT count(*) FROM runs WHERE error_class IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failed, 0);

    // A completed experiment has nothing to resume, and says so.
    let again = tradeoff()
        .args(["run", "--resume", &id.to_string(), "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("is completed"), "{}", stderr(&again));
}
