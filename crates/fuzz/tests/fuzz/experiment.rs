//! The experiment loader: YAML or JSON text through `experiment::parse_str` (syntax, schema and
//! validation), then what a valid experiment feeds next (the plan and the template compiler).

use std::path::Path;

use proptest::prelude::*;
use serde_json::Value;
use tradeoff_core::spec::experiment::Experiment;
use tradeoff_core::spec::load::{DEFAULT_MAX_RUNS, FileFormat, parse_str};
use tradeoff_core::spec::matrix::Plan;
use tradeoff_core::spec::prompt::PromptRenderer;

use super::driver::fuzz;
use super::values::{apply, edit_text, edits, text_edits};

const QUICKSTART: &str = include_str!("../../../../fixtures/experiments/quickstart.yaml");
/// Every part of the schema at least once: remote targets of each provider, sweeps, graders and
/// judge checks, every other check kind, an objective and the cache.
const EVERYTHING: &str = r#"
schema: 1
name: all
variants:
  - {id: raw, prompt: "Q: {{ q }}\nA:"}
  - id: chat
    system: Be brief.
    messages: [{role: user, content: "{{ q }}"}, {role: assistant, content: ok}]
    user: "{{ q | upper }}"
cases:
  - {id: a, vars: {q: one, n: 1}, expected: one, checks: [{type: judge, rubric: right, grader: g}]}
  - {vars: {q: two, n: [1, 2]}}
targets:
  - {id: local, model: small.gguf, n_ctx: [256, 512], threads: [1, 2], batch: 64, kv_type: [f16, q8_0],
     parallel: [1, 2], prefix_cache: [false, true], temperature: 0.5, top_p: 0.9, top_k: 40, seed: 3,
     max_tokens: 8, stop: ["\n"], chat_template: chatml, price: {per_hour: 0.1}}
  - {id: o, provider: openai, model: gpt-4o-mini, base_url: "http://127.0.0.1:1/v1", max_concurrency: 2,
     requests_per_minute: 60, max_attempts: 2, timeout: {connect: 1, first_token: 2, total: 3},
     extra_body: {cache_prompt: false}}
  - {id: c, provider: anthropic, model: claude-3-5-haiku-20241022, api_key_env: MY_KEY}
  - {id: gm, provider: gemini, model: gemini-2.0-flash, price: {input_per_mtok: 1, output_per_mtok: 2}}
graders: [{id: g, provider: openai, model: gpt-4o-mini}]
repetitions: 3
cache: read_write
objective: {constraints: ["pass_rate >= 0.5", "p95_latency_ms < 1000"], order: [cheapest, fastest]}
checks:
  - {type: contains, value: o}
  - {type: not_contains, value: x}
  - {type: icontains, value: O}
  - {type: equals}
  - {type: starts_with, value: o}
  - {type: regex, value: "^o"}
  - {type: json_valid}
  - {type: json_schema, schema: {type: object, required: [a]}}
  - {type: max_tokens, value: 5}
  - {type: similarity, threshold: 0.5}
  - {type: latency_ms, max: 100}
  - {type: cost_usd, max: 0.01}
"#;
const KEYS: &[&str] = &[
    "schema",
    "name",
    "description",
    "variants",
    "id",
    "prompt",
    "system",
    "user",
    "messages",
    "role",
    "content",
    "cases",
    "vars",
    "expected",
    "checks",
    "targets",
    "model",
    "n_ctx",
    "threads",
    "batch",
    "kv_type",
    "n_gpu_layers",
    "parallel",
    "prefix_cache",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "max_tokens",
    "stop",
    "chat_template",
    "price",
    "provider",
    "base_url",
    "api_key_env",
    "max_concurrency",
    "requests_per_minute",
    "max_attempts",
    "timeout",
    "extra_body",
    "graders",
    "repetitions",
    "cache",
    "objective",
    "constraints",
    "order",
    "type",
    "value",
    "rubric",
    "grader",
    "threshold",
    "max",
    "per_hour",
    "input_per_mtok",
    "output_per_mtok",
];
const WORDS: &[&str] = &[
    "default",
    "openai",
    "anthropic",
    "gemini",
    "judge",
    "regex",
    "json_schema",
    "similarity",
    "contains",
    "equals",
    "f16",
    "q8_0",
    "q4_0",
    "chatml",
    "auto",
    "none",
    "read_write",
    "refresh",
    "off",
    "cheapest",
    "fastest",
    "pass_rate >= 0.9",
    "{{ q }}",
    "{{ output }}",
    "small.gguf",
    "/dev/zero",
    "../x.gguf",
    "&a [1]",
    "*a",
    "<<: *a",
    "!!binary AAAA",
    "? ",
    "- ",
    ": ",
    "{",
    "[",
    "'",
    "\"",
    "\t",
    "---\n",
    "...\n",
];

/// What validation lets through by default; more would plan (and allocate) without bound.
const MAX_PLANNED_RUNS: u64 = DEFAULT_MAX_RUNS;

fn texts() -> impl Strategy<Value = (FileFormat, String)> {
    let seeds: Vec<Value> = [QUICKSTART, EVERYTHING]
        .iter()
        .filter_map(|text| serde_yaml_ng::from_str(text).ok())
        .collect();
    let structured = (
        prop::sample::select(seeds),
        edits(KEYS, WORDS),
        text_edits(WORDS),
        any::<bool>(),
    )
        .prop_map(|(seed, edits, text, json)| {
            let value = apply(seed, &edits);
            if json {
                (FileFormat::Json, edit_text(&value.to_string(), &text))
            } else {
                (
                    FileFormat::Yaml,
                    edit_text(&serde_yaml_ng::to_string(&value).unwrap_or_default(), &text),
                )
            }
        });
    let textual = (
        prop::sample::select(vec![QUICKSTART, EVERYTHING]),
        text_edits(WORDS),
    )
        .prop_map(|(seed, text)| (FileFormat::Yaml, edit_text(seed, &text)));
    prop_oneof![3 => structured, 2 => textual]
}

/// The runs a plan of `experiment` has, counted from the lengths of its sweeps: enumerating the
/// combinations to count them would itself allocate one per combination.
fn planned_runs(experiment: &Experiment) -> u64 {
    let configs: u64 = experiment
        .targets
        .iter()
        .map(|t| match t.local() {
            None => 1,
            Some(local) => local
                .sweep_lengths()
                .into_iter()
                .fold(1u64, |product, (_, n)| product.saturating_mul(n as u64)),
        })
        .fold(0u64, u64::saturating_add)
        .saturating_mul(experiment.variants.len() as u64);
    configs
        .saturating_mul(experiment.cases.len() as u64)
        .saturating_mul(u64::from(experiment.repetitions))
}

fn check((format, text): &(FileFormat, String)) -> Result<&'static str, String> {
    let Ok(experiment) = parse_str(text, *format, "fuzz.yaml", Path::new("/models")) else {
        return Ok("refused");
    };
    // Everything in a valid experiment was written in the file.
    let parts = experiment.variants.len()
        + experiment.cases.len()
        + experiment.targets.len()
        + experiment.graders.len();
    if parts > text.len() {
        return Err(format!(
            "{parts} variants, cases and targets from {} bytes",
            text.len()
        ));
    }
    let runs = planned_runs(&experiment);
    if runs > MAX_PLANNED_RUNS {
        return Err(format!(
            "accepted an experiment of {runs} planned runs from {} bytes (repetitions {})",
            text.len(),
            experiment.repetitions
        ));
    }
    let plan = Plan::new(&experiment);
    let planned: usize = plan.groups.iter().map(|g| g.runs.len()).sum();
    if planned as u64 > runs {
        return Err(format!("{planned} runs planned, at most {runs} expected"));
    }
    PromptRenderer::new(&experiment.variants)
        .map_err(|e| format!("a validated variant does not compile: {e}"))?;
    Ok("accepted")
}

#[test]
fn experiment_files_load_or_are_refused_and_valid_ones_plan() {
    fuzz("experiment", texts(), &[], check);
}

#[test]
fn an_experiment_of_four_billion_repetitions_is_refused_before_it_is_planned() {
    let text = "schema: 1
variants: [{id: v, prompt: 'Q: {{ q }}'}]
cases: [{vars: {q: one}}]
targets: [{id: t, model: small.gguf, n_ctx: [256, 512], threads: [1, 2, 3]}]
repetitions: 4294967295
";
    let result = parse_str(text, FileFormat::Yaml, "big.yaml", Path::new("/models"));
    assert!(
        result.is_err(),
        "{} planned runs accepted",
        result.map(|e| planned_runs(&e)).unwrap_or(0)
    );
}
