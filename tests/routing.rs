//! `tradeoff route` on an experiment recorded with the real default model: a cascade computed by
//! hand from the recorded runs (as `tradeoff report --json` gives them) agrees with the
//! simulation, and a policy that would leak the expected answer is refused with its place.

use serde_json::Value;

use crate::support::{
    json, model_turn, stderr, stdout, tradeoff, tradeoff_json, winner_schema_errors, write,
};

const EXPERIMENT: &str = r#"schema: 1
name: routing
variants:
  - id: fewshot
    prompt: "Sentence: The first modern Olympic Games opened in Athens in 1896.\nJSON: {\"city\": \"Athens\", \"year\": 1896}\n\nSentence: {{ sentence }}\nJSON:"
  - id: bare
    prompt: "Extract the city and the year as JSON.\nSentence: {{ sentence }}\nJSON:"
cases:
  - {id: berlin, vars: {sentence: "The Berlin Wall fell in 1989."}, expected: '{"city": "Berlin", "year": 1989}'}
  - {id: paris, vars: {sentence: "Paris hosted the World Exposition of 1889."}, expected: '{"city": "Paris", "year": 1889}'}
  - {id: london, vars: {sentence: "In 2012 London welcomed athletes from around the world."}, expected: '{"city": "London", "year": 2012}'}
  - {id: chicago, vars: {sentence: "The great fire of Chicago broke out in 1871."}, expected: '{"city": "Chicago", "year": 1871}'}
targets:
  - {id: q4, model: default, n_ctx: 512, threads: 2, temperature: 0, max_tokens: 24, stop: ["\n"], price: {per_hour: 0.08}}
checks: [{type: json_valid}, {type: equals}]
policies:
  - id: known-cities-first
    cascade:
      - {variant: fewshot, target: q4, escalate_when: [error, {check: {type: regex, value: '"city": "(Paris|Chicago)"'}}, {confidence_below: -5}]}
      - {variant: bare, target: q4}
"#;

/// numpy's default percentile, as the report computes it.
fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (values.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    values[low] + (values[high] - values[low]) * (rank - low as f64)
}

#[test]
fn a_cascade_worked_out_by_hand_from_the_recorded_runs_equals_tradeoff_route() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let file = write(dir.path(), "routing.yaml", EXPERIMENT);
    tradeoff_json(&["run", "--json", file.to_str().unwrap()], &db);
    let report = tradeoff_json(&["report", "latest", "--format", "json"], &db);
    let routed = tradeoff_json(&["route", "latest", "--json"], &db);

    let runs = report["runs"].as_array().unwrap();
    let find = |variant: &str, case: &str| {
        runs.iter()
            .find(|r| r["variant"] == variant && r["case"] == case)
            .unwrap()
    };
    let (mut passed, mut latencies, mut costs, mut answered_first) = (0, Vec::new(), Vec::new(), 0);
    for case in ["berlin", "paris", "london", "chicago"] {
        let first = find("fewshot", case);
        let output = first["output"].as_str().unwrap();
        let known = output.contains(r#""city": "Paris""#) || output.contains(r#""city": "Chicago""#);
        let escalate =
            !first["error"].is_null() || !known || first["metrics"]["logprob_mean"].as_f64().unwrap() < -5.0;
        let (latency, cost, answer) = if escalate {
            let second = find("bare", case);
            (
                first["latency_ms"].as_f64().unwrap() + second["latency_ms"].as_f64().unwrap(),
                first["cost_usd"].as_f64().unwrap() + second["cost_usd"].as_f64().unwrap(),
                second,
            )
        } else {
            answered_first += 1;
            (
                first["latency_ms"].as_f64().unwrap(),
                first["cost_usd"].as_f64().unwrap(),
                first,
            )
        };
        passed += usize::from(answer["passed"] == true);
        latencies.push(latency);
        costs.push(cost);
    }
    // The default model answers every case right with the few-shot prompt: two stay, two go on.
    assert_eq!(answered_first, 2, "{runs:?}");
    let policy = &routed["policies"][0];
    assert_eq!(policy["id"], "known-cities-first");
    assert!(policy["incomplete"].is_null(), "{policy}");
    assert_eq!(
        policy["pass_rate"]["value"].as_f64().unwrap(),
        passed as f64 / 4.0
    );
    assert_eq!(
        policy["latency_p50_ms"]["value"].as_f64().unwrap(),
        percentile(&mut latencies, 50.0)
    );
    let cost = costs.iter().sum::<f64>() / 4.0 * 1000.0;
    let simulated = policy["cost_per_1k_usd"]["value"].as_f64().unwrap();
    assert!(
        (simulated - cost).abs() <= cost * 1e-12,
        "{simulated} against {cost}"
    );
    assert_eq!(policy["stages"][0]["answered"], answered_first);
    assert_eq!(policy["stages"][1]["answered"], 4 - answered_first);
    // The confidence threshold traced: from escalating only what the regex sends on to
    // escalating everything, picked in sample and scored on held-out cases.
    let swept = tradeoff_json(&["route", "latest", "--json", "--sweep", "confidence"], &db);
    let sweep = &swept["sweeps"][0];
    assert_eq!(sweep["policy"], "known-cities-first");
    let points = sweep["points"].as_array().unwrap();
    assert_eq!(points.first().unwrap()["escalated"], 0.5);
    assert_eq!(points.last().unwrap()["escalated"], 1.0);
    assert_eq!(sweep["picked"]["folds"], 4);
    assert!(sweep["picked"]["held_out"]["pass_rate"].is_number(), "{sweep}");
    // Run for real: the first stage calls every request, the second only the two escalated; the
    // greedy answers are the recorded ones, so quality and the split agree exactly, and the
    // timings land within the simulation's intervals (widened by a quarter: two runs minutes
    // apart on a shared 2-core machine differ in speed, and an interval over 4 cases is narrow).
    let live = tradeoff_json(
        &["route", "latest", "--json", "--live", "known-cities-first"],
        &db,
    );
    assert_eq!(live["calls"], serde_json::json!([4, 2]));
    assert_eq!(
        live["live"]["pass_rate"]["value"],
        live["simulated"]["pass_rate"]["value"]
    );
    assert_eq!(live["live"]["stages"], live["simulated"]["stages"]);
    let (l, s) = (
        &live["live"]["latency_p50_ms"],
        &live["simulated"]["latency_p50_ms"],
    );
    let value = l["value"].as_f64().unwrap();
    assert!(
        value >= s["low"].as_f64().unwrap() * 0.75 && value <= s["high"].as_f64().unwrap() * 1.25,
        "live p50 {value} against simulated {s}"
    );
    let listed = tradeoff()
        .args(["list", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("policy known-cities-first live"));
    // Every config alone sits beside it, with the numbers of the report's summary.
    let configs = routed["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 2);
    for (routed, summary) in configs.iter().zip(report["configs"].as_array().unwrap()) {
        assert_eq!(routed["pass_rate"]["value"], summary["pass_rate"], "{routed}");
        assert_eq!(
            routed["latency_p50_ms"]["value"], summary["latency_p50_ms"],
            "{routed}"
        );
    }
}

#[test]
fn a_policy_file_that_escalates_on_the_expected_answer_is_refused_with_its_place() {
    let _turn = model_turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let without_policies = EXPERIMENT.split("policies:").next().unwrap();
    let file = write(dir.path(), "routing.yaml", without_policies);
    let mut run = tradeoff();
    run.args(["run", "--json", "--db"]).arg(&db).arg(&file);
    json(&run.output().unwrap());
    let policy = write(
        dir.path(),
        "leaky.yaml",
        "policies:\n  - id: leaky\n    cascade:\n      - {variant: bare, target: q4, escalate_when: [{check: equals}]}\n      - {variant: fewshot, target: q4}\n",
    );
    let refused = tradeoff()
        .args(["route", "latest", "--db"])
        .arg(&db)
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(message.contains("leaky.yaml"), "{message}");
    assert!(
        message.contains("policies[0].cascade[0].escalate_when[0]"),
        "{message}"
    );
    assert!(message.contains("leak the answer"), "{message}");
}

#[test]
fn a_cascade_over_a_scheduled_sse_server_runs_live_inside_its_simulated_intervals() {
    use crate::support::sse_server::{FakeProvider, Reply, openai_chat_events};
    // A small model that answers JSON only to easy questions, quickly; a big one that always
    // does, three times slower. Chunks are timed by the server, so latencies are known.
    let server = FakeProvider::start(|_, seen| {
        let body = seen.json();
        let question = body["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if body["model"] == "small" {
            let text = if question.contains("easy") {
                r#"{"ok": true}"#
            } else {
                "Let me think about it."
            };
            Reply::stream(openai_chat_events(text, 12, 6), 40, 5)
        } else {
            Reply::stream(openai_chat_events(r#"{"ok": true}"#, 12, 6), 120, 5)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    let cases: String = (0..6)
        .map(|i| {
            format!(
                "  - {{vars: {{q: '{} question {i}'}}, expected: '{{\"ok\": true}}'}}\n",
                if i % 2 == 0 { "easy" } else { "hard" }
            )
        })
        .collect();
    let file = write(
        dir.path(),
        "sse.yaml",
        &format!(
            "schema: 1
variants: [{{id: v, user: '{{{{ q }}}}'}}]
cases:
{cases}targets:
  - {{id: small, provider: openai, model: small, base_url: '{url}', price: {{input_per_mtok: 0.1, output_per_mtok: 0.4}}}}
  - {{id: big, provider: openai, model: big, base_url: '{url}', price: {{input_per_mtok: 2.5, output_per_mtok: 10}}}}
repetitions: 2
checks: [{{type: json_valid}}, {{type: equals}}]
policies:
  - {{id: small-first, cascade: [{{variant: v, target: small, escalate_when: [error, {{check: json_valid}}]}}, {{variant: v, target: big}}]}}
",
            url = server.base_url()
        ),
    );
    tradeoff_json(&["run", "--json", file.to_str().unwrap()], &db);
    let live = tradeoff_json(&["route", "latest", "--json", "--live", "small-first"], &db);
    // Every request calls the small model; the six hard ones go on to the big one.
    assert_eq!(live["calls"], serde_json::json!([12, 6]));
    assert_eq!(live["live"]["pass_rate"]["value"], 1.0);
    // Quality and money land inside the simulated intervals exactly. The intervals resample
    // cases, not the server's timing from one run to the next: with every hard request taking
    // the same scheduled time, p95's interval is a few milliseconds wide, and a live run on a
    // busy machine may miss it by a little, so timings are held to within 10 % of it.
    let inside: Vec<(String, bool)> = live["inside"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f[0].as_str().unwrap().to_string(), f[1] == true))
        .collect();
    assert_eq!(inside[0], ("pass rate".to_string(), true), "{live}");
    assert_eq!(inside[1], ("$/1k req".to_string(), true), "{live}");
    for figure in ["latency_p50_ms", "latency_p95_ms", "ttft_p50_ms"] {
        let (l, s) = (&live["live"][figure], &live["simulated"][figure]);
        let value = l["value"].as_f64().unwrap();
        assert!(
            value >= s["low"].as_f64().unwrap() * 0.9 && value <= s["high"].as_f64().unwrap() * 1.1,
            "{figure}: live {value} against simulated {s}"
        );
    }
    // The cascade costs less than the big model alone at the same pass rate.
    let routed = tradeoff_json(&["route", "1", "--json"], &db);
    let cascade = routed["policies"][0]["cost_per_1k_usd"]["value"]
        .as_f64()
        .unwrap();
    let big = routed["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"].as_str().unwrap().contains("big"))
        .unwrap();
    assert!(
        cascade < big["cost_per_1k_usd"]["value"].as_f64().unwrap(),
        "{routed}"
    );
    assert_eq!(big["pass_rate"]["value"], 1.0);

    // So the cascade wins when the objective asks for the cheapest at full quality: the winner
    // file describes its stages and conditions, the configs it calls and its simulated figures.
    let out = dir.path().join("winner.json");
    let winner = |order: &str, out: &std::path::Path| {
        tradeoff()
            .args(["winner", "1", "--db"])
            .arg(&db)
            .arg("--objective")
            .arg(format!(
                r#"{{"constraints": ["pass_rate >= 0.99"], "order": ["{order}"]}}"#
            ))
            .arg("-o")
            .arg(out)
            .output()
            .unwrap()
    };
    let picked = winner("cheapest", &out);
    assert!(picked.status.success(), "{}", stderr(&picked));
    assert!(
        stdout(&picked)
            .contains("winner: cascade small-first, simulated on the recorded runs (pass rate 100%"),
        "{}",
        stdout(&picked)
    );
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let errors = winner_schema_errors(&exported);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(exported["schema"], 2);
    let chosen = &exported["winner"];
    assert_eq!(chosen["kind"], "policy");
    assert_eq!(chosen["policy"]["id"], "small-first");
    assert_eq!(chosen["policy"]["cascade"][0]["escalate_when"][0], "error");
    let called: Vec<&str> = chosen["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["target"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(called, ["small", "big"]);
    assert_eq!(chosen["simulated"], routed["policies"][0]);
    assert!(
        exported["runner_up"]["label"].as_str().unwrap().contains("big"),
        "{exported}"
    );
    assert!(
        exported["excluded"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("pass_rate >= 0.99 fails"),
        "{exported}"
    );
    // The fastest at full quality is the big model alone (the cascade's hard requests pay for
    // the small model first): the cascade is the runner-up, compared on its requests' latencies.
    let fastest = winner("fastest", &out);
    assert!(fastest.status.success(), "{}", stderr(&fastest));
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(exported["winner"]["kind"], "config");
    assert_eq!(exported["winner"]["target"]["id"], "big");
    assert_eq!(exported["runner_up"]["label"], "cascade small-first");
    assert_eq!(
        exported["runner_up"]["latency_ms"]["baseline_n"], 12,
        "{exported}"
    );
}
