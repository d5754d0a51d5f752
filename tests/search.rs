//! Searching instead of running the whole grid (`search:`, `tradeoff run --search`): racing
//! drops what is confidently out, records why, keeps its runs in the report, and picks what the
//! grid picks.

use serde_json::Value;

use crate::support::sse_server::{FakeProvider, Reply, openai_chat_events};
use crate::support::{model_turn, stderr, stdout, tradeoff, tradeoff_json, write};

fn report(db: &std::path::Path, id: &str) -> Value {
    tradeoff_json(&["report", id, "--format", "json"], db)
}

fn winner(db: &std::path::Path, id: &str) -> String {
    let export = tradeoff_json(&["winner", id], db);
    let winner = &export["winner"];
    format!(
        "{} · {} · {}",
        winner["variant"]["id"].as_str().unwrap_or_default(),
        winner["target"]["id"].as_str().unwrap_or_default(),
        winner["settings"]["n_ctx"]
    )
}

#[test]
fn a_race_drops_the_configs_that_are_confidently_worse_records_why_and_still_picks_the_grids_winner() {
    // Three prompts on one API: `right` answers every case, `half` every other, `wrong` none.
    let provider = FakeProvider::start(|_, seen| {
        let prompt = seen.json()["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let number: u32 = prompt
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let correct = prompt.starts_with("right") || (prompt.starts_with("half") && number.is_multiple_of(2));
        let answer = if correct { "yes" } else { "no" };
        Reply::stream(openai_chat_events(answer, 8, 1), 1, 1)
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let cases: String = (0..40)
        .map(|i| format!("  - {{vars: {{n: '{i}'}}, expected: 'yes'}}\n"))
        .collect();
    let file = write(
        dir.path(),
        "race.yaml",
        &format!(
            "schema: 1
name: race
variants:
  - {{id: right, user: 'right {{{{ n }}}}'}}
  - {{id: half, user: 'half {{{{ n }}}}'}}
  - {{id: wrong, user: 'wrong {{{{ n }}}}'}}
cases:
{cases}targets:
  - {{id: api, provider: openai, model: m, base_url: '{url}'}}
checks: [{{type: equals}}]
search: {{strategy: racing, batch: 4, seed: 3}}
",
            url = provider.base_url()
        ),
    );
    let raced = tradeoff()
        .args(["run", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(raced.status.success(), "{}", stderr(&raced));
    let text = stdout(&raced);
    assert!(text.contains("search: racing at 95% confidence"), "{text}");
    assert!(text.contains("wrong (dropped, round"), "{text}");

    let raced = report(&db, "1");
    let search = &raced["search"];
    assert_eq!(search["strategy"], "racing");
    assert_eq!(search["runs_grid"], 120);
    let used = search["runs_used"].as_u64().unwrap();
    assert_eq!(used as usize, raced["runs"].as_array().unwrap().len());
    assert!(used < 100, "racing used {used} of 120 runs: {search}");
    let eliminated = search["eliminated"].as_array().unwrap();
    let dropped: Vec<&str> = eliminated.iter().map(|e| e["config"].as_str().unwrap()).collect();
    assert_eq!(dropped.len(), 2, "{search}");
    assert!(dropped.iter().all(|c| !c.starts_with("right")), "{dropped:?}");
    for e in eliminated {
        assert!(e["round"].as_u64().unwrap() >= 1, "{e}");
        assert!(e["reason"].as_str().unwrap().contains("below right"), "{e}");
    }
    // Dropped configs keep their runs, marked, and cannot win.
    let wrong = raced["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["variant"] == "wrong")
        .unwrap();
    assert!(wrong["runs"].as_u64().unwrap() >= 4, "{wrong}");
    assert!(wrong["eliminated"]["reason"].is_string(), "{wrong}");

    let grid = tradeoff()
        .args(["run", "--search", "grid", "--db"])
        .arg(&db)
        .arg(&file)
        .output()
        .unwrap();
    assert!(grid.status.success(), "{}", stderr(&grid));
    assert!(report(&db, "2")["search"].is_null(), "a grid records no search");
    assert_eq!(report(&db, "2")["runs"].as_array().unwrap().len(), 120);
    assert_eq!(winner(&db, "1"), winner(&db, "2"));
    assert!(winner(&db, "1").starts_with("right"), "{}", winner(&db, "1"));

    // The runs a search did not make are not missing runs to resume.
    let resumed = tradeoff()
        .args(["run", "--resume", "1", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(resumed.status.code(), Some(2), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("racing search, which cannot be resumed"),
        "{}",
        stderr(&resumed)
    );
}

#[test]
fn a_search_field_that_is_wrong_is_named_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    for (search, says) in [
        (
            "{strategy: racing, confidence: 1.5}",
            "search.confidence: must be above 0.5",
        ),
        ("{strategy: sideways}", "search.strategy"),
        ("{strategy: halving, eta: 1}", "search.eta: must be at least 2"),
        (
            "{budget: {max_runs: 0}}",
            "search.budget.max_runs: must be at least 1",
        ),
    ] {
        let file = write(
            dir.path(),
            "bad.yaml",
            &format!(
                "schema: 1
variants: [{{id: v, prompt: 'x'}}]
cases: [{{vars: {{}}}}]
targets: [{{id: t, model: default}}]
search: {search}
"
            ),
        );
        let out = tradeoff().args(["plan"]).arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{search}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{search}: {}", stderr(&out));
    }
    let unknown = tradeoff()
        .args(["run", "--search", "sideways"])
        .arg(dir.path().join("bad.yaml"))
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("use grid, racing or halving"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn on_the_quickstart_racing_and_halving_pick_the_winner_of_the_full_grid() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let quickstart = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/experiments/quickstart.yaml"
    );
    for strategy in ["grid", "racing", "halving"] {
        let out = tradeoff()
            .args(["run", "--search", strategy, "--db"])
            .arg(&db)
            .arg(quickstart)
            .output()
            .unwrap();
        assert!(out.status.success(), "{strategy}: {}", stderr(&out));
    }
    // The prompt that wins: n_ctx 512 and 2048 run the same tokens, so which of the two is
    // cheaper (its runs' wall time) is the machine's noise from one run of the grid to the next.
    let variant = |id: &str| winner(&db, id).split(" · ").next().unwrap().to_string();
    assert_eq!(variant("1"), "fewshot", "{}", winner(&db, "1"));
    assert_eq!(variant("2"), "fewshot", "racing: {}", winner(&db, "2"));
    assert_eq!(variant("3"), "fewshot", "halving: {}", winner(&db, "3"));
    let halving = report(&db, "3");
    assert!(
        halving["search"]["runs_used"].as_u64().unwrap() < 48,
        "{}",
        halving["search"]
    );
}
