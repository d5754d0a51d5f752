//! `tradeoff route` on 100,000 recorded runs (10 configs × 1,000 cases × 10 repetitions) with
//! three policies: the simulation with its bootstrap intervals, against the config summaries of
//! the same runs (what `tradeoff report` computes) as the reference measured in the same run.
//! Target (issue 15): the simulation under 1 s.
//!
//! `cargo bench -p tradeoff-core --bench routing`

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use tradeoff_core::analyze::report::{ConfigKey, RunLabels, RunRow, summarize};
use tradeoff_core::analyze::routing::simulate;
use tradeoff_core::execute::record::RunRecord;
use tradeoff_core::run::{FinishReason, RunMetrics};
use tradeoff_core::spec::experiment::Experiment;
use tradeoff_core::spec::load::{FileFormat, PlanLimits, parse_str_with};
use tradeoff_core::spec::policy::policies_of;
use tradeoff_core::stats::SplitMix64;

const VARIANTS: usize = 10;
const CASES: usize = 1000;
const REPETITIONS: u32 = 10;

fn experiment() -> Experiment {
    let variants: String = (0..VARIANTS)
        .map(|v| format!("  - {{id: v{v}, prompt: \"{v}: {{{{ s }}}}\"}}\n"))
        .collect();
    let cases: String = (0..CASES)
        .map(|c| {
            format!(
                "  - {{id: c{c}, vars: {{s: \"Case {c} in {}\"}}, expected: '{{\"n\": {c}}}'}}\n",
                1900 + c % 100
            )
        })
        .collect();
    let text = format!(
        "schema: 1\nvariants:\n{variants}cases:\n{cases}targets: [{{id: t, provider: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}}]\n\
         repetitions: {REPETITIONS}\nchecks: [{{type: json_valid}}, {{type: equals}}]\npolicies:\n\
         \x20 - {{id: cascade, cascade: [{{variant: v0, target: t, escalate_when: [error, {{check: json_valid}}, {{confidence_below: -0.4}}]}}, {{variant: v1, target: t, escalate_when: [{{min_confidence_below: -3}}]}}, {{variant: v2, target: t}}]}}\n\
         \x20 - {{id: route, route: [{{when: 'input_tokens > 30', variant: v3, target: t}}, {{variant: v4, target: t}}]}}\n\
         \x20 - {{id: rule, cascade: [{{rule: {{var: s, regex: 'Case (?P<n>\\d+) in 19[0-4]', output: '{{\"n\": {{{{ n }}}}}}'}}}}, {{variant: v5, target: t}}]}}\n"
    );
    parse_str_with(
        &text,
        FileFormat::Yaml,
        "bench.yaml",
        Path::new("/"),
        &PlanLimits::unbounded(),
    )
    .expect("the benchmark's experiment is valid")
}

fn runs() -> Vec<RunRow> {
    let mut rng = SplitMix64(15);
    let mut rows = Vec::with_capacity(VARIANTS * CASES * REPETITIONS as usize);
    for v in 0..VARIANTS {
        for c in 0..CASES {
            for repetition in 0..REPETITIONS {
                let right = rng.below(10) < 7;
                let mut run = RunRecord::new(v, c, repetition, "2026-12-01T00:00:00Z".into());
                run.output = if right {
                    format!("{{\"n\": {c}}}")
                } else {
                    "I am not sure".into()
                };
                run.finish_reason = Some(FinishReason::Stop);
                let latency = 100.0 + 50.0 * v as f64 + rng.below(100) as f64;
                let mut metrics = RunMetrics::new(latency, 20 + rng.below(20) as u32, 8);
                metrics.ttft_ms = Some(latency / 3.0);
                metrics.logprob_mean = Some(-(rng.below(1000) as f64) / 1000.0);
                metrics.logprob_min = Some(-(rng.below(5000) as f64) / 1000.0);
                run.metrics = Some(metrics);
                run.cost_usd = Some(1e-5 * (v + 1) as f64);
                let labels = RunLabels {
                    variant: format!("v{v}"),
                    target: "t".into(),
                    settings: None,
                    case: format!("c{c}"),
                };
                let mut row = RunRow::new(labels, run);
                row.passed = Some(right);
                rows.push(row);
            }
        }
    }
    rows
}

fn bench(c: &mut Criterion) {
    let experiment = experiment();
    let runs = runs();
    let keys: Vec<ConfigKey> = (0..VARIANTS)
        .map(|v| ConfigKey {
            variant: format!("v{v}"),
            target: "t".into(),
            settings: None,
            remote: None,
        })
        .collect();
    let mut group = c.benchmark_group("routing 100k runs");
    group.sample_size(10);
    group.bench_function("reference: config summaries (tradeoff report)", |b| {
        b.iter(|| summarize(&keys, &runs, false))
    });
    let policies = policies_of(&experiment).expect("the benchmark's policies are valid");
    group.bench_function("simulate 3 policies + 10 configs with intervals", |b| {
        b.iter(|| simulate(&experiment, 1, &runs, &policies))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
