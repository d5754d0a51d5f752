//! `tradeoff history`: the same experiment file run again after its API got slower and wrong on
//! one target: that config's latency and pass-rate regressions are called out with their
//! intervals, the unchanged config gets none.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::support::sse_server::{FakeProvider, Reply, openai_chat_events};
use crate::support::{stderr, stdout, tradeoff, write};

#[test]
fn a_file_run_again_calls_out_the_config_that_regressed_and_only_that_one() {
    let degraded = Arc::new(AtomicBool::new(false));
    let provider = {
        let degraded = Arc::clone(&degraded);
        FakeProvider::start(move |_, seen| {
            let worse = seen.json()["model"] == "drifting" && degraded.load(Ordering::SeqCst);
            if worse {
                Reply::stream(openai_chat_events("I am not sure.", 12, 6), 90, 2)
            } else {
                Reply::stream(openai_chat_events(r#"{"ok": true}"#, 12, 6), 15, 2)
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let cases: String = (0..8)
        .map(|i| format!("  - {{vars: {{q: 'question {i}'}}, expected: '{{\"ok\": true}}'}}\n"))
        .collect();
    let file = write(
        dir.path(),
        "api.yaml",
        &format!(
            "schema: 1
name: api-drift
variants: [{{id: v, user: '{{{{ q }}}}'}}]
cases:
{cases}targets:
  - {{id: steady, provider: openai, model: steady, base_url: '{url}'}}
  - {{id: drifting, provider: openai, model: drifting, base_url: '{url}'}}
checks: [{{type: equals}}]
",
            url = provider.base_url()
        ),
    );
    let run = || {
        let out = tradeoff()
            .arg("run")
            .arg("--db")
            .arg(&db)
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    run();
    let first = tradeoff().args(["history", "--db"]).arg(&db).output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("run the same file again"),
        "{}",
        stdout(&first)
    );
    degraded.store(true, Ordering::SeqCst);
    run();

    let shown = tradeoff()
        .args(["history", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", stderr(&shown));
    let history: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(history["name"], "api-drift");
    assert_eq!(history["entries"].as_array().unwrap().len(), 2);
    let config = |target: &str| {
        history["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["target"] == target)
            .unwrap()
            .clone()
    };
    let steady = config("steady");
    let change = &steady["points"][1]["change"];
    assert_eq!(change["since_experiment_id"], 1);
    assert_eq!(change["regressions"], serde_json::json!([]), "{steady}");
    let drifting = config("drifting");
    let change = &drifting["points"][1]["change"];
    let regressions: Vec<&str> = change["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(regressions.len(), 2, "{drifting}");
    assert!(regressions[0].starts_with("p50 latency +"), "{regressions:?}");
    assert!(
        regressions[1].starts_with("pass rate -100 points"),
        "{regressions:?}"
    );
    // 15 ms before, 90 ms after: the interval of the median's change lies around +75 ms.
    let latency = &change["latency_p50_ms"];
    assert!(latency["low"].as_f64().unwrap() > 50.0, "{latency}");
    assert!(latency["high"].as_f64().unwrap() < 110.0, "{latency}");

    let text = tradeoff().args(["history", "--db"]).arg(&db).output().unwrap();
    let text = stdout(&text);
    assert!(text.contains("REGRESSION since #1: p50 latency"), "{text}");
    assert!(text.contains("2 regressions established"), "{text}");
}
