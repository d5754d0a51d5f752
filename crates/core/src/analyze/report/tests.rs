use super::*;
use crate::execute::record::RunRecord;
use crate::run::ErrorClass;

const SETTINGS: LocalSettings = LocalSettings {
    n_ctx: 512,
    threads: 2,
    batch: 512,
    kv_type: KvType::F16,
    n_gpu_layers: 0,
    parallel: 1,
    prefix_cache: false,
};

fn row(variant: &str, latency: Option<f64>) -> RunRow {
    let labels = RunLabels {
        variant: variant.into(),
        target: "t".into(),
        settings: Some(SETTINGS),
        case: "c".into(),
    };
    let metrics = latency.map(|latency_ms| RunMetrics {
        ttft_ms: Some(latency_ms / 2.0),
        prompt_eval_ms: Some(10.0),
        prompt_eval_tokens: Some(10),
        gen_eval_ms: Some(30.0),
        gen_eval_tokens: Some(3),
        ..RunMetrics::new(latency_ms, 10, 4)
    });
    let error = latency
        .is_none()
        .then(|| RunError::new(ErrorClass::Decode, "boom"));
    let run = RunRecord {
        output: "out".into(),
        metrics,
        error,
        ..RunRecord::new(0, 0, 0, String::new())
    };
    RunRow::new(labels, run)
}

#[test]
fn summaries_count_errors_but_compute_statistics_over_successful_runs_only() {
    let configs = [ConfigKey {
        variant: "a".into(),
        target: "t".into(),
        settings: Some(SETTINGS),
        remote: None,
    }];
    let runs = [
        row("a", Some(100.0)),
        row("a", Some(300.0)),
        row("a", None),
        row("b", Some(1.0)),
    ];
    let s = &summarize(&configs, &runs, true)[0];
    assert_eq!((s.runs, s.errors), (3, 1));
    assert_eq!(s.latency_p50_ms, Some(200.0));
    assert_eq!(s.latency_p95_ms, Some(290.0));
    assert_eq!(s.ttft_p50_ms, Some(100.0));
    assert_eq!(s.gen_tokens_per_s_mean, Some(100.0));
    assert_eq!(s.prompt_tokens_per_s_mean, Some(1000.0));
    assert_eq!(s.output_tokens_mean, Some(4.0));
}

#[test]
fn a_config_without_successful_runs_has_no_statistics() {
    let configs = [ConfigKey {
        variant: "a".into(),
        target: "t".into(),
        settings: Some(SETTINGS),
        remote: None,
    }];
    let s = &summarize(&configs, &[row("a", None)], true)[0];
    assert_eq!((s.runs, s.errors, s.latency_p50_ms), (1, 1, None));
    assert_eq!(s.cells()[5], "—");
}

#[test]
fn consistency_compares_the_repetitions_of_each_case_pairwise() {
    let configs = [ConfigKey {
        variant: "a".into(),
        target: "t".into(),
        settings: Some(SETTINGS),
        remote: None,
    }];
    let with_output = |text: &str| {
        let mut row = row("a", Some(100.0));
        row.run.output = text.into();
        row
    };
    let runs = [
        with_output("the city is Berlin"),
        with_output("the city is Berlin"),
        with_output("the city is Paris"),
    ];
    let s = &summarize(&configs, &runs, true)[0];
    // Three pairs: one identical, two that differ in one word of four.
    assert_eq!(s.consistency_exact_rate, Some(1.0 / 3.0));
    let similarity = s.consistency_similarity.unwrap();
    assert!(similarity > 0.6 && similarity < 1.0, "{similarity}");
    let without = &summarize(&configs, &runs, false)[0];
    assert_eq!(without.consistency_exact_rate, None, "no outputs, no claim");
}

#[test]
fn contended_runs_are_counted_per_config_and_a_run_is_contended_only_beyond_the_cores_it_left_free() {
    // Two threads on two cores leave none free: a third of a core of others is too much. On
    // four cores the same load fits in the two left free.
    assert!(crate::run::contended(0.3, 2, 2));
    assert!(!crate::run::contended(0.3, 2, 4));
    assert!(!crate::run::contended(0.2, 2, 2), "within the allowance");

    let configs = [ConfigKey {
        variant: "a".into(),
        target: "t".into(),
        settings: Some(SETTINGS),
        remote: None,
    }];
    let mut busy = row("a", Some(100.0));
    if let Some(metrics) = busy.run.metrics.as_mut() {
        metrics.other_cpu_cores = Some(0.9);
        metrics.contended = Some(true);
    }
    let runs = [busy, row("a", Some(120.0)), row("a", None)];
    assert_eq!(summarize(&configs, &runs, false)[0].contended_runs, 1);
}
