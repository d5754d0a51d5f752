//! The queries behind the app's results screen, on an experiment of 100,000 runs:
//! one grid page (a screenful of cases) and the per-config summary.
//! Target: < 300 ms each (issue: desktop app).

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use tradeoff_core::execute::environment::Environment;
use tradeoff_core::execute::record::RunRecord;
use tradeoff_core::execute::sink::RunSink;
use tradeoff_core::run::{FinishReason, RunMetrics};
use tradeoff_core::spec::load::{FileFormat, parse_str};
use tradeoff_core::spec::matrix::Plan;
use tradeoff_store::Store;

const CASES: usize = 2_000;

/// 10 configs × 2,000 cases × 5 repetitions = 100,000 runs with 300-character outputs.
fn filled_store(dir: &Path) -> (Store, i64) {
    let cases: String = (0..CASES)
        .map(|i| format!("  - {{id: c{i}, vars: {{x: '{i}'}}}}\n"))
        .collect();
    let text = format!(
        "schema: 1
variants: [{{id: a, prompt: 'A {{{{ x }}}}'}}, {{id: b, prompt: 'B {{{{ x }}}}'}}]
cases:
{cases}targets:
  - {{id: t1, model: m1.gguf, n_ctx: [512, 1024, 2048, 4096, 8192]}}
repetitions: 5
"
    );
    let experiment = parse_str(&text, FileFormat::Yaml, "bench.yaml", Path::new("/m")).expect("experiment");
    let plan = Plan::new(&experiment);
    let mut store = Store::open(&dir.join("bench.sqlite3")).expect("store");
    let started = std::time::Instant::now();
    let id = {
        let mut writer = store
            .begin_experiment(
                &experiment,
                &plan,
                &Environment::detect(None),
                &tradeoff_store::Owner::current(),
            )
            .expect("experiment row");
        for group in &plan.groups {
            for run in &group.runs {
                writer
                    .record_run(&RunRecord {
                        config: run.config,
                        case: run.case,
                        repetition: run.repetition,
                        started_at: "2026-11-29T00:00:00Z".into(),
                        output: "lorem ipsum dolor sit amet ".repeat(11),
                        finish_reason: Some(FinishReason::MaxTokens),
                        metrics: Some(RunMetrics {
                            ttft_ms: Some(20.0),
                            prompt_eval_ms: Some(10.0),
                            prompt_eval_tokens: Some(40),
                            gen_eval_ms: Some(800.0),
                            gen_eval_tokens: Some(63),
                            ..RunMetrics::new(100.0 + (run.case % 50) as f64, 40, 64)
                        }),
                        error: None,
                        warnings: vec![],
                        checks: Vec::new(),
                        cost_usd: None,
                        attempts: Vec::new(),
                        cache_hit: false,
                        cache_saved_usd: None,
                    })
                    .expect("run");
            }
        }
        writer.experiment_id()
    };
    eprintln!(
        "recorded 100,000 runs one transaction each in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    (store, id)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, id) = filled_store(dir.path());
    let mut group = c.benchmark_group("results screen, 100k runs");
    group.sample_size(20);
    group.bench_function("grid page: 40 cases, one repetition", |b| {
        b.iter(|| store.grid_page(id, Some(0), 1_000, 40).expect("page"))
    });
    group.bench_function("per-config summary", |b| {
        b.iter(|| store.report_without_outputs(id).expect("summary").configs)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
