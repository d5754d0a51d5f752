use std::path::Path;

use super::*;
use crate::analyze::report::{RunLabels, RunRow};
use crate::analyze::routing::{Signal, sweep_thresholds};
use crate::execute::record::RunRecord;
use crate::run::{ErrorClass, FinishReason, RunError, RunMetrics};
use crate::spec::load::{FileFormat, parse_str};
use crate::spec::policy::policies_of;

const EXPERIMENT: &str = r#"
schema: 1
variants:
  - {id: cheap, prompt: "{{ s }}"}
  - {id: careful, prompt: "Think. {{ s }}"}
cases:
  - {id: a, vars: {s: "Berlin 1989"}, expected: '{"y": 1}'}
  - {id: b, vars: {s: "Paris 1889"}, expected: '{"y": 2}'}
  - {id: c, vars: {s: "London"}, expected: '{"y": 3}'}
targets:
  - {id: t, provider: openai, model: m, base_url: "http://127.0.0.1:9/v1"}
repetitions: 2
checks: [{type: json_valid}, {type: equals}]
"#;

fn experiment(policies: &str) -> Experiment {
    parse_str(
        &format!("{EXPERIMENT}{policies}"),
        FileFormat::Yaml,
        "x.yaml",
        Path::new("/"),
    )
    .unwrap()
}

/// A recorded run: its output, whether it passed, and its (latency ms, cost $, confidence).
fn run(
    variant: &str,
    case: &str,
    repetition: u32,
    output: &str,
    passed: bool,
    measured: (f64, f64, f64),
) -> RunRow {
    let (ms, usd, confidence) = measured;
    let mut record = RunRecord::new(0, 0, repetition, "2026-12-01T00:00:00Z".into());
    record.output = output.into();
    record.finish_reason = Some(FinishReason::Stop);
    let mut metrics = RunMetrics::new(ms, 10, 5);
    metrics.ttft_ms = Some(ms / 4.0);
    metrics.logprob_mean = Some(confidence);
    metrics.logprob_min = Some(confidence * 3.0);
    record.metrics = Some(metrics);
    record.cost_usd = Some(usd);
    let labels = RunLabels {
        variant: variant.into(),
        target: "t".into(),
        settings: None,
        case: case.into(),
    };
    let mut row = RunRow::new(labels, record);
    row.passed = Some(passed);
    row
}

/// Six requests: `cheap` answers JSON on a (both repetitions) and b (first repetition), prose
/// elsewhere; `careful` is right everywhere but c's second repetition, at 4× the time and 10× the
/// money.
fn runs() -> Vec<RunRow> {
    let mut runs = Vec::new();
    for (case, reps) in [("a", [true, true]), ("b", [true, false]), ("c", [false, false])] {
        for (repetition, json) in reps.into_iter().enumerate() {
            let repetition = repetition as u32;
            let (output, passed) = if json {
                (r#"{"y": 1}"#, case == "a")
            } else {
                ("I think so", false)
            };
            runs.push(run(
                "cheap",
                case,
                repetition,
                output,
                passed,
                (100.0, 0.001, -0.1),
            ));
            let right = !(case == "c" && repetition == 1);
            runs.push(run(
                "careful",
                case,
                repetition,
                r#"{"y": 9}"#,
                right,
                (400.0, 0.010, -0.5),
            ));
        }
    }
    runs
}

#[test]
fn a_cascade_simulated_on_recorded_runs_agrees_with_the_same_walk_done_by_hand() {
    let e = experiment(
        "policies:\n  - {id: small-first, cascade: [{variant: cheap, target: t, escalate_when: [error, {check: json_valid}]}, {variant: careful, target: t}]}\n",
    );
    let report = simulate(&e, 7, &runs(), &policies_of(&e).unwrap());
    assert_eq!(report.requests, 6);
    let policy = &report.policies[0];
    assert_eq!(policy.incomplete, None);
    // By hand: cheap's JSON answers a/0, a/1, b/0 are taken (a passes twice, b/0 fails); the
    // three prose answers escalate to careful, which passes b/1 and c/0 and fails c/1.
    let pass = policy.pass_rate.unwrap();
    assert_eq!(pass.value, 4.0 / 6.0);
    // Latency: 100 ms for the three taken at once, 100 + 400 for the three escalated.
    assert_eq!(policy.latency_p50_ms.unwrap().value, 300.0);
    // Cost: three at $0.001, three at $0.011, per 1,000 requests.
    let cost = policy.cost_per_1k_usd.unwrap().value;
    assert!(
        (cost - (3.0 * 0.001 + 3.0 * 0.011) / 6.0 * 1000.0).abs() < 1e-9,
        "{cost}"
    );
    // TTFT: the escalated ones wait for cheap's whole answer, then careful's first token.
    let ttft = policy.ttft_p95_ms.unwrap().value;
    assert!((ttft - 200.0).abs() < 1e-9, "{ttft}");
    let answered: Vec<usize> = policy.stages.iter().map(|s| s.answered).collect();
    assert_eq!(answered, [3, 3]);
    assert_eq!(policy.stages[0].stage, "cheap · t · openai m");
    // Intervals are over cases and contain the figure.
    assert!(pass.low <= pass.value && pass.value <= pass.high);
    assert!(
        pass.high - pass.low > 0.0,
        "three cases of differing results vary"
    );
}

#[test]
fn each_config_alone_gives_the_figures_of_its_config_summary() {
    let e = experiment("");
    let mut runs = runs();
    runs[2].run.error = Some(RunError::new(ErrorClass::TimeoutTotal, "timed out"));
    let report = simulate(&e, 7, &runs, &[]);
    let keys: Vec<crate::analyze::report::ConfigKey> = report
        .configs
        .iter()
        .map(|c| crate::analyze::report::ConfigKey {
            variant: c.id.split(" · ").next().unwrap().into(),
            target: "t".into(),
            settings: None,
            remote: None,
        })
        .collect();
    let summaries = crate::analyze::report::summarize(&keys, &runs, false);
    for (outcome, summary) in report.configs.iter().zip(&summaries) {
        assert_eq!(
            outcome.pass_rate.map(|e| e.value),
            summary.pass_rate,
            "{}",
            outcome.id
        );
        assert_eq!(outcome.latency_p50_ms.map(|e| e.value), summary.latency_p50_ms);
        assert_eq!(outcome.latency_p95_ms.map(|e| e.value), summary.latency_p95_ms);
        assert_eq!(outcome.latency_p99_ms.map(|e| e.value), summary.latency_p99_ms);
        assert_eq!(
            outcome.error_rate.map(|e| e.value),
            Some(summary.errors as f64 / summary.runs as f64)
        );
        assert_eq!(outcome.ttft_p50_ms.map(|e| e.value), summary.ttft_p50_ms);
        assert_eq!(outcome.cost_per_1k_usd.map(|e| e.value), summary.cost_per_1k_usd);
    }
}

#[test]
fn confidence_errors_and_missing_runs_are_taken_as_recorded_or_said() {
    let e = experiment(
        "policies:\n  - {id: sure, cascade: [{variant: careful, target: t, escalate_when: [{confidence_below: -0.3}]}, {variant: cheap, target: t}]}\n  - {id: on-error, cascade: [{variant: cheap, target: t, escalate_when: [error]}, {variant: careful, target: t}]}\n",
    );
    let mut runs = runs();
    // careful is unsure everywhere (−0.5 < −0.3): every request goes on to cheap.
    let report = simulate(&e, 7, &runs, &policies_of(&e).unwrap());
    assert_eq!(report.policies[0].stages[1].answered, 6);
    // A cheap run that failed escalates on `error`; its time counts, its missing cost is zero.
    let failed = runs.iter_mut().find(|r| r.labels.variant == "cheap").unwrap();
    failed.run.error = Some(RunError::new(ErrorClass::TimeoutTotal, "timed out"));
    failed.run.cost_usd = None;
    let report = simulate(&e, 7, &runs, &policies_of(&e).unwrap());
    assert_eq!(report.policies[1].stages[1].answered, 1);
    // `sure` answers with cheap everywhere: one request of six is an error.
    assert_eq!(report.policies[0].error_rate.map(|e| e.value), Some(1.0 / 6.0));
    // A run missing for a request a stage reaches: no figures, and the reason.
    runs.retain(|r| !(r.labels.variant == "careful" && r.labels.case == "b"));
    let report = simulate(&e, 7, &runs, &policies_of(&e).unwrap());
    let incomplete = report.policies[0].incomplete.as_deref().unwrap();
    assert!(
        incomplete.contains("2 requests have no recorded run"),
        "{incomplete}"
    );
    assert!(report.policies[0].pass_rate.is_none());
}

#[test]
fn a_rule_answers_what_it_matches_at_no_cost_and_its_answers_are_graded() {
    let e = experiment(
        "policies:\n  - {id: rule-first, cascade: [{rule: {var: s, regex: '(?P<city>[A-Z][a-z]+) (?P<year>\\d{4})', output: '{\"y\": 1}'}}, {variant: careful, target: t}]}\n",
    );
    let report = simulate(&e, 7, &runs(), &policies_of(&e).unwrap());
    let policy = &report.policies[0];
    // a and b match (4 requests), c does not (2 go to careful: one passes).
    assert_eq!(policy.stages[0].answered, 4);
    assert_eq!(policy.stages[0].stage, "rule on s");
    // The rule's answer equals a's expected only: 2 of 4 pass, plus careful's one of c's two.
    assert_eq!(policy.pass_rate.unwrap().value, 3.0 / 6.0);
    // Its time is measured, not assumed zero; two thirds of the requests took no model call, so
    // the median is a rule's time, below the 400 ms the recorded model runs took.
    let p50 = policy.latency_p50_ms.unwrap().value;
    assert!(p50 > 0.0 && p50 < 400.0, "{p50}");
    assert_eq!(policy.cost_per_1k_usd.unwrap().value, 0.010 * 2.0 / 6.0 * 1000.0);
}

#[test]
fn a_threshold_sweep_traces_every_threshold_and_scores_the_picked_one_on_held_out_cases() {
    let e = experiment(
        "policies:\n  - {id: unsure-escalates, cascade: [{variant: cheap, target: t, escalate_when: [{confidence_below: -0.3}]}, {variant: careful, target: t}]}\n",
    );
    let mut runs = runs();
    // cheap is sure where it is right (case a) and unsure elsewhere.
    for row in runs.iter_mut().filter(|r| r.labels.variant == "cheap") {
        let confidence = if row.labels.case == "a" {
            -0.05
        } else {
            -0.6 - f64::from(row.run.repetition) / 10.0
        };
        if let Some(m) = row.run.metrics.as_mut() {
            m.logprob_mean = Some(confidence);
        }
    }
    let policies = policies_of(&e).unwrap();
    let sweeps = sweep_thresholds(&e, &runs, &policies, Signal::Confidence, None);
    let sweep = &sweeps[0];
    assert_eq!((sweep.policy.as_str(), sweep.stage), ("unsure-escalates", 0));
    // From escalating nothing to escalating everything, never fewer as the threshold rises.
    let escalated: Vec<f64> = sweep.points.iter().map(|p| p.figures.escalated).collect();
    assert_eq!(escalated.first(), Some(&0.0));
    assert_eq!(escalated.last(), Some(&1.0));
    assert!(escalated.windows(2).all(|w| w[0] <= w[1]), "{escalated:?}");
    // Everything escalated passes 5 of 6 (careful fails c/1): the pick keeps that, at the least
    // cost: escalate the unsure (b, c), keep a's sure answers.
    assert_eq!(sweep.min_pass_rate, Some(5.0 / 6.0));
    let picked = sweep.picked.as_ref().unwrap();
    assert_eq!(picked.in_sample.figures.pass_rate, Some(5.0 / 6.0));
    assert_eq!(picked.in_sample.figures.escalated, 4.0 / 6.0);
    assert!(picked.in_sample.threshold > -0.6 && picked.in_sample.threshold <= -0.05);
    // Three cases, three folds; every request is scored once, by a threshold picked without its case.
    assert_eq!(picked.folds, 3);
    assert_eq!(picked.fold_thresholds.len(), 3);
    assert!(picked.held_out.pass_rate.is_some());
}
