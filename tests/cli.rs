//! The `tradeoff` command line end to end, on the real default model.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tradeoff_core::execute::resume::ExperimentStatus;

use crate::support::{default_model, model_turn, repo_root, stderr, stdout, tradeoff, write};

/// An experiment of `cases` runs long enough to be interrupted part-way.
fn counting_experiment(dir: &std::path::Path, cases: usize) -> std::path::PathBuf {
    let cases: String = (0..cases)
        .map(|i| format!("  - {{vars: {{n: '{i}'}}}}\n"))
        .collect();
    write(
        dir,
        "long.yaml",
        &format!(
            "schema: 1
variants: [{{id: count, prompt: 'Count from {{{{ n }}}}:'}}]
cases:
{cases}targets: [{{id: t, model: default, n_ctx: 256, max_tokens: 24}}]
"
        ),
    )
}

/// `tradeoff run FILE --db DB` with extra arguments, in the background.
fn spawn_run(
    file: &std::path::Path,
    db: &std::path::Path,
    extra: &[&str],
    stdout: Stdio,
) -> std::process::Child {
    tradeoff()
        .arg("run")
        .arg(file)
        .args(extra)
        .arg("--db")
        .arg(db)
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// `tradeoff run FILE --db DB` with extra arguments, captured.
fn run_capture(file: &std::path::Path, db: &std::path::Path, extra: &[&str]) -> std::process::Output {
    tradeoff()
        .arg("run")
        .arg(file)
        .args(extra)
        .arg("--db")
        .arg(db)
        .output()
        .unwrap()
}

#[test]
fn the_quickstart_runs_completely_and_reports_the_same_from_the_database() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let quickstart = repo_root().join("fixtures/experiments/quickstart.yaml");
    let output = run_capture(&quickstart, &db, &["--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    // The environment names the CPU code that ran, proved by the self-test on this machine.
    let cpu = &report["environment"]["cpu_backend"];
    assert_eq!(cpu["verified"], true, "{cpu}");
    let variant = cpu["variant"].as_str().unwrap();
    assert!(
        cpu["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == variant),
        "{cpu}"
    );
    assert!(!cpu["features"].as_array().unwrap().is_empty(), "{cpu}");

    let runs = report["runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        3 * 2 * 4 * 2,
        "3 variants × 2 n_ctx × 4 cases × 2 repetitions"
    );
    for run in runs {
        for field in [
            "variant",
            "target",
            "n_ctx",
            "case",
            "repetition",
            "latency_ms",
            "ttft_ms",
            "input_tokens",
            "output_tokens",
            "prompt_tokens_per_s",
            "output",
            "error",
        ] {
            assert!(run.get(field).is_some(), "run lacks {field}: {run}");
        }
        assert!(run["error"].is_null(), "{run}");
        assert!(run["latency_ms"].as_f64().unwrap() > 0.0);
        assert!(run["input_tokens"].as_u64().unwrap() > 0);
    }
    // The few-shot variant answers every case correctly on the base model, every time.
    let experiment = tradeoff_core::spec::load::load_file(&quickstart).unwrap();
    for case in &experiment.cases {
        for run in runs
            .iter()
            .filter(|r| r["variant"] == "fewshot" && r["case"] == case.id.as_str())
        {
            assert_eq!(
                run["output"].as_str().unwrap().trim(),
                case.expected.as_deref().unwrap(),
                "{run}"
            );
            assert_eq!(run["passed"], true, "{run}");
            assert_eq!(
                run["checks"].as_array().unwrap().len(),
                2,
                "json_valid and equals"
            );
        }
    }
    // Its checks say so per config; the other variants' answers are not the expected JSON.
    for config in report["configs"].as_array().unwrap() {
        let expected = if config["variant"] == "fewshot" { 1.0 } else { 0.0 };
        assert_eq!(config["pass_rate"].as_f64(), Some(expected), "{config}");
        // $0.08 an hour for runs of ~0.1–1 s: between $0.002 and $0.03 per 1,000 requests.
        let per_1k = config["cost_per_1k_usd"].as_f64().unwrap();
        assert!((0.001..0.05).contains(&per_1k), "{config}");
    }
    // The chat-shaped variant carries the missing-template warning.
    assert!(runs.iter().filter(|r| r["variant"] == "chat").all(|r| {
        r["warnings"][0]
            .as_str()
            .unwrap_or("")
            .contains("no chat template")
    }));
    let configs = report["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 6);
    assert!(
        configs
            .iter()
            .all(|c| c["runs"] == 8 && c["errors"] == 0 && c["latency_p50_ms"].as_f64().unwrap() > 0.0)
    );

    let id = report["experiment_id"].as_i64().unwrap();
    let again = tradeoff()
        .args(["report", "latest", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let again: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(
        again, report,
        "the report read back equals the one printed after the run"
    );

    let csv_out = tradeoff()
        .args(["report", "latest", "--format", "csv", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(csv_out.status.success());
    let mut reader = csv::Reader::from_reader(csv_out.stdout.as_slice());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "experiment_id");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 48);
    assert!(rows.iter().all(|r| r[0] == id.to_string()));

    let md = tradeoff()
        .args(["report", &id.to_string(), "--format", "md", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let md = stdout(&md);
    assert!(
        md.contains("| variant | target | settings |")
            && md.contains("| fewshot | gemma-270m-q4 | n_ctx 512 | 8 | 0 |"),
        "{md}"
    );

    let compared = tradeoff()
        .args([
            "report",
            &id.to_string(),
            "--format",
            "json",
            "--baseline",
            "1",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    let compared: serde_json::Value = serde_json::from_str(&stdout(&compared)).unwrap();
    let comparisons = compared["comparison"]["configs"].as_array().unwrap();
    assert_eq!(comparisons.len(), 6);
    assert_eq!(
        comparisons[0]["latency_ms"]["median"]["estimate"], 0.0,
        "the baseline against itself"
    );
    for c in comparisons {
        let verdict = c["latency_ms"]["verdict"].as_str().unwrap();
        assert!(
            ["lower", "higher", "no_clear_difference"].contains(&verdict),
            "{c}"
        );
    }
    let no_such = tradeoff()
        .args(["report", &id.to_string(), "--baseline", "9", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(no_such.status.code(), Some(2));
    assert!(stderr(&no_such).contains("no config 9"), "{}", stderr(&no_such));

    let list = tradeoff()
        .args(["list", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(list[0]["runs"], 48);
    assert_eq!(list[0]["status"], "completed");
}

#[test]
fn killing_the_process_mid_experiment_keeps_every_finished_run_and_a_sound_database() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = counting_experiment(dir.path(), 60);
    let mut child = spawn_run(&file, &db, &[], Stdio::null());
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
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let (total, complete): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(*) FILTER (WHERE latency_ms > 0 AND output_tokens > 0 AND error_class IS NULL) FROM runs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!((3..60).contains(&total), "{total} runs");
    assert_eq!(total, complete, "every recorded run is whole");
    let report = tradeoff()
        .args(["report", "latest", "--format", "csv", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", stderr(&report));
    // Records, not lines: an output may hold newlines inside its quoted cell.
    let records = csv::Reader::from_reader(report.stdout.as_slice())
        .records()
        .map(Result::unwrap)
        .count();
    assert_eq!(records as i64, total);
}

#[test]
fn models_inspect_reads_the_default_model_without_loading_it() {
    let output = tradeoff()
        .args(["models", "inspect", "default", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let info: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(info["architecture"], "gemma3");
    assert_eq!(info["quantization"], "Q4_K_M");
    assert_eq!(info["has_chat_template"], false);
    assert_eq!(info["sha256"], tradeoff_core::paths::DEFAULT_MODEL_SHA256);
    let parameters = info["parameters"].as_u64().unwrap();
    assert!((250_000_000..300_000_000).contains(&parameters), "{parameters}");
}

#[test]
fn run_events_stream_every_run_as_json_lines() {
    use tradeoff_core::execute::events::RunEvent;
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "e.yaml",
        "schema: 1
variants: [{id: v, prompt: \"Q: {{ q }}\\nA:\"}]
cases: [{vars: {q: 'What is 2+2?'}}, {vars: {q: 'Name a colour.'}}]
targets: [{id: t, model: default, n_ctx: 256, max_tokens: 6}]
",
    );
    let output = run_capture(&file, &dir.path().join("db.sqlite3"), &["--events"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let events: Vec<RunEvent> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(matches!(events.first(), Some(RunEvent::Started { total: 2, .. })));
    assert!(
        matches!(events.last(), Some(RunEvent::Finished { status, .. }) if *status == ExperimentStatus::Completed)
    );
    let mut streamed = String::new();
    let mut finished = 0;
    for event in &events {
        match event {
            RunEvent::Text { chunk } => streamed.push_str(chunk),
            RunEvent::RunFinished { record, .. } => {
                assert_eq!(
                    streamed, record.output,
                    "the streamed text is the recorded output"
                );
                streamed.clear();
                finished += 1;
            }
            _ => {}
        }
    }
    assert_eq!(finished, 2);
}

#[test]
fn run_events_report_bad_input_as_a_failed_event() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bad.yaml", "schema: 1\nvariants: [\n");
    let output = run_capture(&file, &dir.path().join("db.sqlite3"), &["--events"]);
    assert_eq!(output.status.code(), Some(2));
    let last: tradeoff_core::execute::events::RunEvent =
        serde_json::from_str(stdout(&output).lines().last().unwrap()).unwrap();
    assert!(
        matches!(last, tradeoff_core::execute::events::RunEvent::Failed { message } if message.contains("bad.yaml:"))
    );
}

#[test]
fn ctrl_c_cancels_after_the_run_in_flight_and_marks_the_experiment_cancelled() {
    use std::io::{BufRead, BufReader};
    use tradeoff_core::execute::events::RunEvent;
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = counting_experiment(dir.path(), 40);
    let mut child = spawn_run(&file, &db, &["--events"], Stdio::piped());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut finished = 0;
    let mut last = None;
    for line in lines.by_ref() {
        let event: RunEvent = serde_json::from_str(&line.unwrap()).unwrap();
        if matches!(event, RunEvent::RunFinished { .. }) {
            finished += 1;
            if finished == 2 {
                let status = std::process::Command::new("kill")
                    .arg("-INT")
                    .arg(child.id().to_string())
                    .status();
                assert!(status.unwrap().success());
            }
        }
        last = Some(event);
    }
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130));
    assert!(
        matches!(last, Some(RunEvent::Finished { ref status, .. }) if *status == ExperimentStatus::Cancelled),
        "{last:?}"
    );
    let list = tradeoff()
        .args(["list", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(list[0]["status"], "cancelled");
    let runs = list[0]["runs"].as_i64().unwrap();
    assert!((2..40).contains(&runs), "{runs} runs kept");
}

#[test]
fn doctor_proves_local_inference_on_this_machine_and_keeps_the_verified_cpu_variant() {
    let _turn = model_turn();
    let home = tempfile::tempdir().unwrap();
    let doctor = || {
        tradeoff()
            .args(["doctor", "--json", "--model"])
            .arg(default_model())
            .env("TRADEOFF_HOME", home.path())
            .output()
            .unwrap()
    };
    let output = doctor();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let cpu = &report["cpu_backend"];
    assert_eq!(cpu["verified"], true, "{report}");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join("cpu-check.json")).unwrap()).unwrap();
    assert_eq!(record["variant"], cpu["variant"]);

    // Recorded: the second start is pinned and verified without testing again.
    let again = doctor();
    assert!(again.status.success(), "{}", stderr(&again));
    let report: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(report["cpu_backend"], *cpu);
}
