use std::path::Path;

use super::*;
use crate::spec::experiment::*;
use crate::spec::file as spec;
use crate::spec::target::KvType;

fn yaml(text: &str) -> Result<Experiment, ExperimentError> {
    parse_str(text, FileFormat::Yaml, "exp.yaml", Path::new("/models"))
}

fn json(text: &str) -> Result<Experiment, ExperimentError> {
    parse_str(text, FileFormat::Json, "exp.json", Path::new("/models"))
}

fn problem(result: Result<Experiment, ExperimentError>) -> Problem {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e
            .problem()
            .cloned()
            .unwrap_or_else(|| panic!("no location in {e}")),
    }
}

const MINIMAL: &str = "\
schema: 1
variants:
  - {id: v, prompt: \"Q: {{ q }}\\nA:\"}
cases:
  - {vars: {q: one}}
  - {id: second, vars: {q: two}}
targets:
  - {id: t, model: small.gguf, n_ctx: 512}
";

#[test]
fn a_minimal_file_gets_defaults_and_numbered_cases() {
    let e = yaml(MINIMAL).unwrap();
    assert_eq!(e.name, "exp");
    assert_eq!(e.repetitions, 1);
    assert_eq!(e.cases[0].id, "1");
    assert_eq!(e.cases[1].id, "second");
    let t = &e.targets[0];
    let local = t.local().unwrap();
    assert_eq!(local.n_ctx, vec![512]);
    assert_eq!(local.model.path, Path::new("/models/small.gguf"));
    assert_eq!(t.sampling.temperature, 0.0);
    assert_eq!(t.sampling.max_tokens, DEFAULT_MAX_TOKENS);
    assert_eq!(local.chat_template, ChatTemplateChoice::Auto);
}

#[test]
fn json_and_yaml_files_mean_the_same_experiment() {
    let from_json = json(
        r#"{"schema": 1, "variants": [{"id": "v", "prompt": "Q: {{ q }}\nA:"}],
            "cases": [{"vars": {"q": "one"}}, {"id": "second", "vars": {"q": "two"}}],
            "targets": [{"id": "t", "model": "small.gguf", "n_ctx": [512]}]}"#,
    )
    .unwrap();
    let mut from_yaml = yaml(MINIMAL).unwrap();
    from_yaml.name = from_json.name.clone();
    // Only where they were written differs.
    from_yaml.written = from_json.written.clone();
    assert_eq!(from_json, from_yaml);
}

#[test]
fn the_quickstart_fixture_is_valid() {
    let path =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
            .join("../../fixtures/experiments/quickstart.yaml");
    let e = load_file(&path).unwrap();
    assert_eq!(
        (e.variants.len(), e.cases.len(), e.targets.len(), e.repetitions),
        (3, 4, 1, 2)
    );
    let local = e.targets[0].local().unwrap();
    assert_eq!(local.n_ctx, vec![512, 2048]);
    assert!(local.model.is_default());
}

#[test]
fn malformed_yaml_is_reported_with_line_and_column() {
    let p = problem(yaml("schema: 1\nvariants: [\n  {id: v\n"));
    assert_eq!(p.file, "exp.yaml");
    assert!(p.line.is_some() && p.column.is_some(), "{p}");
}

#[test]
fn malformed_json_is_reported_with_line_and_column() {
    let p = problem(json("{\"schema\": 1,\n \"variants\": [}"));
    assert_eq!((p.line, p.column), (Some(2), Some(15)), "{p}");
}

#[test]
fn an_unknown_field_is_named_with_its_path_and_line() {
    let text = MINIMAL.replace("n_ctx: 512}", "n_ctx: 512, temprature: 0.5}");
    let p = problem(yaml(&text));
    assert_eq!(p.field.as_deref(), Some("targets[0].temprature"), "{p}");
    assert!(
        p.message
            .starts_with("unknown field `temprature`, expected one of"),
        "{p}"
    );
    assert_eq!(p.line, Some(8), "{p}");
    let shown = p.to_string();
    assert!(shown.starts_with("exp.yaml:8:"), "{shown}");
}

#[test]
fn a_wrong_type_names_the_field() {
    let text = MINIMAL.replace("n_ctx: 512", "n_ctx: big");
    let p = problem(yaml(&text));
    assert_eq!(p.field.as_deref(), Some("targets[0].n_ctx"), "{p}");
    assert!(p.message.contains(r#"string "big", expected u32"#), "{p}");
}

#[test]
fn an_undefined_template_variable_names_variant_case_and_variable() {
    let text = MINIMAL.replace("{{ q }}", "{{ question }}");
    let p = problem(yaml(&text));
    assert_eq!(p.field.as_deref(), Some("variants[0].prompt"));
    assert!(
        p.message.contains("`question`") && p.message.contains("case `1`"),
        "{p}"
    );
    assert!(p.message.contains("it defines: q"), "{p}");
}

#[test]
fn a_template_syntax_error_is_refused_before_running() {
    let text = MINIMAL.replace("{{ q }}", "{{ q ");
    let p = problem(yaml(&text));
    assert_eq!(p.field.as_deref(), Some("variants[0].prompt"));
    assert!(p.message.contains("does not parse"), "{p}");
}

#[test]
fn a_variant_cannot_be_chat_shaped_and_raw_at_once() {
    let text = MINIMAL.replace("{id: v, prompt:", "{id: v, user: hi, prompt:");
    let p = problem(yaml(&text));
    assert_eq!(p.field.as_deref(), Some("variants[0].prompt"));
    assert!(p.message.contains("not both"), "{p}");
}

#[test]
fn duplicate_ids_and_bad_numbers_are_refused() {
    let dup = MINIMAL
        .replace("{id: second,", "{id: '1',")
        .replace("  - {vars: {q: one}}", "  - {id: '1', vars: {q: one}}");
    assert!(problem(yaml(&dup)).message.contains("used twice"));
    assert_eq!(
        problem(yaml(&MINIMAL.replace("n_ctx: 512", "n_ctx: [512, 0]")))
            .field
            .as_deref(),
        Some("targets[0].n_ctx[1]")
    );
    assert_eq!(
        problem(yaml(&MINIMAL.replace("n_ctx: 512", "n_ctx: 512, top_p: 1.5")))
            .field
            .as_deref(),
        Some("targets[0].top_p")
    );
    assert_eq!(
        problem(yaml(&MINIMAL.replace("n_ctx: 512", "n_ctx: 512, stop: ['']")))
            .field
            .as_deref(),
        Some("targets[0].stop[0]")
    );
    assert_eq!(
        problem(yaml(&format!("{MINIMAL}repetitions: 0\n")))
            .field
            .as_deref(),
        Some("repetitions")
    );
}

#[test]
fn a_newer_schema_is_refused_with_the_supported_version() {
    let p = problem(yaml(&MINIMAL.replace("schema: 1", "schema: 2")));
    assert!(
        p.message.contains("schema 2") && p.message.contains("reads schema 1"),
        "{p}"
    );
}

#[test]
fn an_unreadable_or_unknown_file_type_says_which_file() {
    let missing = load_file(Path::new("/nonexistent/exp.yaml")).unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/exp.yaml: cannot read"),
        "{missing}"
    );
    let unknown = load_file(Path::new("exp.toml")).unwrap_err();
    assert!(
        unknown.to_string().contains("use .yaml, .yml or .json"),
        "{unknown}"
    );
}

#[test]
fn an_edited_experiment_is_written_only_when_valid_and_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let source =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
            .join("../../fixtures/experiments/quickstart.yaml");
    let mut spec = read_spec(&source).unwrap();
    spec.repetitions = 3;
    spec.targets[0].n_ctx = Some(spec::OneOrMany(vec![1024]));
    for name in ["edited.yaml", "edited.json"] {
        let path = dir.path().join(name);
        let saved = write_spec(&path, &spec).unwrap();
        assert_eq!(
            (saved.repetitions, saved.targets[0].local().unwrap().n_ctx.clone()),
            (3, vec![1024])
        );
        assert_eq!(read_spec(&path).unwrap(), spec, "{name}");
        assert_eq!(load_file(&path).unwrap().variants, saved.variants);
    }
    let mut broken = spec.clone();
    broken.variants[0].prompt = Some("{{ missing }}".into());
    let target = dir.path().join("broken.yaml");
    let error = write_spec(&target, &broken).unwrap_err();
    assert!(error.to_string().contains("`missing`"), "{error}");
    assert!(!target.exists(), "an invalid experiment is not written");
}

#[test]
fn every_local_setting_takes_one_value_or_a_list_to_sweep() {
    let text = MINIMAL.replace(
        "n_ctx: 512}",
        "n_ctx: [512, 1024], threads: [1, 2], batch: 256, kv_type: [f16, q8_0], n_gpu_layers: 0}",
    );
    let e = yaml(&text).unwrap();
    let t = e.targets[0].local().unwrap();
    assert_eq!(t.threads, vec![1, 2]);
    assert_eq!(t.batch, vec![256]);
    assert_eq!(t.kv_type, vec![KvType::F16, KvType::Q8_0]);
    assert_eq!(t.n_gpu_layers, vec![0]);
    let settings = t.settings();
    assert_eq!(settings.len(), 2 * 2 * 2);
    assert!(settings.iter().all(|s| s.batch == 256));

    let plan = crate::spec::matrix::Plan::new(&e);
    assert_eq!(plan.configs.len(), 8);
    assert_eq!(plan.groups.len(), 8, "one context per combination");
    let labels = plan.config_labels(&e);
    assert_eq!(labels[0], "v · t · n_ctx 512 · 1 thread · kv f16");
    assert_eq!(labels[3], "v · t · n_ctx 512 · 2 threads · kv q8_0");
}

#[test]
fn a_single_setting_is_written_back_as_a_scalar_and_a_sweep_as_a_list() {
    let spec: ExperimentFile = serde_yaml_ng::from_str(
        &MINIMAL.replace("n_ctx: 512}", "n_ctx: 512, threads: [1, 2], kv_type: q8_0}"),
    )
    .unwrap();
    let json = serde_json::to_value(&spec.targets[0]).unwrap();
    assert_eq!(json["n_ctx"], 512);
    assert_eq!(json["threads"], serde_json::json!([1, 2]));
    assert_eq!(json["kv_type"], "q8_0");
}

#[test]
fn bad_sweep_values_name_their_field_and_position() {
    let p = problem(yaml(
        &MINIMAL.replace("n_ctx: 512}", "n_ctx: 512, kv_type: [f16, q5]}"),
    ));
    assert_eq!(p.field.as_deref(), Some("targets[0].kv_type[1]"), "{p}");
    assert!(p.message.contains("f16, q8_0 or q4_0"), "{p}");
    let p = problem(yaml(
        &MINIMAL.replace("n_ctx: 512}", "n_ctx: 512, threads: [2, 0]}"),
    ));
    assert_eq!(p.field.as_deref(), Some("targets[0].threads[1]"), "{p}");
    let p = problem(yaml(
        &MINIMAL.replace("n_ctx: 512}", "n_ctx: 512, batch: [64, 64]}"),
    ));
    assert_eq!(p.field.as_deref(), Some("targets[0].batch"), "{p}");
    assert!(p.message.contains("listed twice"), "{p}");
}

#[test]
fn a_target_recorded_before_threads_could_be_swept_still_reads_back() {
    let e = yaml(MINIMAL).unwrap();
    let mut stored = serde_json::to_value(&e.targets[0]).unwrap();
    stored["threads"] = serde_json::json!(4);
    stored["batch"] = serde_json::json!(2048);
    stored.as_object_mut().unwrap().remove("kv_type");
    stored.as_object_mut().unwrap().remove("n_gpu_layers");
    let target: Target = serde_json::from_value(stored).unwrap();
    let local = target.local().unwrap();
    assert_eq!(local.threads, vec![4]);
    assert_eq!(local.kv_type, vec![KvType::F16]);
    assert_eq!(local.n_gpu_layers, vec![0]);
}

#[test]
fn prefix_caching_is_refused_for_parallel_sequences() {
    let p = problem(yaml(
        &MINIMAL.replace("n_ctx: 512}", "n_ctx: 512, parallel: [1, 4], prefix_cache: true}"),
    ));
    assert_eq!(p.field.as_deref(), Some("targets[0].prefix_cache"), "{p}");
}

#[test]
fn checks_are_validated_with_the_file_and_named_by_their_place() {
    let e = yaml(&format!("{MINIMAL}checks: [{{type: json_valid}}]\n")).unwrap();
    assert_eq!(e.checks.len(), 1);
    let p = problem(yaml(&format!(
        "{MINIMAL}checks: [{{type: json_valid}}, {{type: regex, value: '('}}]\n"
    )));
    assert_eq!(p.field.as_deref(), Some("checks[1]"), "{p}");
    assert!(p.message.contains("not a valid regex"), "{p}");
    let p = problem(yaml(
        &MINIMAL.replace("{vars: {q: one}}", "{vars: {q: one}, checks: [{type: contains}]}"),
    ));
    assert_eq!(p.field.as_deref(), Some("cases[0].checks[0]"), "{p}");
    assert_eq!(p.message, "needs `value`");
}

#[test]
fn a_price_is_checked_field_by_field() {
    let e = yaml(&MINIMAL.replace("n_ctx: 512}", "n_ctx: 512, price: {per_hour: 0.35}}")).unwrap();
    assert_eq!(e.targets[0].price.as_ref().unwrap().per_hour, Some(0.35));
    let p = problem(yaml(
        &MINIMAL.replace("n_ctx: 512}", "n_ctx: 512, price: {watts: 65}}"),
    ));
    assert_eq!(p.field.as_deref(), Some("targets[0].price.per_kwh"), "{p}");
    let p = problem(yaml(
        &MINIMAL.replace("n_ctx: 512}", "n_ctx: 512, price: {per_hour: 1, per_day: 2}}"),
    ));
    assert!(p.message.contains("per_day"), "{p}");
}

#[test]
fn an_objective_is_read_with_the_file_and_bad_constraints_are_named() {
    let e = yaml(&format!(
        "{MINIMAL}objective: {{constraints: ['pass_rate >= 0.9'], order: [cheapest, fastest]}}\n"
    ))
    .unwrap();
    assert_eq!(e.objective.unwrap().constraints, ["pass_rate >= 0.9"]);
    let p = problem(yaml(&format!(
        "{MINIMAL}objective: {{constraints: ['pass_rate >= 0.9', 'speed < 3']}}\n"
    )));
    assert_eq!(p.field.as_deref(), Some("objective.constraints[1]"), "{p}");
    let p = problem(yaml(&format!(
        "{MINIMAL}objective: {{order: [cheapest, prettiest]}}\n"
    )));
    assert!(p.message.contains("prettiest"), "{p}");
}

const REMOTE: &str = "\
schema: 1
variants: [{id: v, user: 'Q: {{ q }}'}]
cases: [{vars: {q: one}}]
targets:
";

#[test]
fn a_remote_target_takes_its_providers_defaults_and_makes_one_config_per_variant() {
    let e = yaml(&format!(
        "{REMOTE}  - {{id: claude, provider: anthropic, model: claude-3-5-haiku-20241022}}
  - {{id: vllm, provider: openai, model: qwen, base_url: 'http://10.0.0.5:8000/v1/', max_concurrency: 16,
      timeout: {{first_token: 5}}}}
  - {{id: local, model: small.gguf, n_ctx: [256, 512]}}
"
    ))
    .unwrap();
    let claude = e.targets[0].remote().unwrap();
    assert_eq!(claude.base_url, "https://api.anthropic.com/v1");
    // No price in the file: none until the experiment is resolved (`spec::resolve`'s tests).
    assert_eq!(e.targets[0].price, None, "validation reads no price table");
    assert_eq!(claude.api_key_env.as_deref(), Some("ANTHROPIC_API_KEY"));
    let vllm = e.targets[1].remote().unwrap();
    assert_eq!(vllm.base_url, "http://10.0.0.5:8000/v1", "trailing slash dropped");
    assert_eq!(
        vllm.api_key_env, None,
        "a self-hosted server needs no key unless named"
    );
    assert_eq!(vllm.max_concurrency, 16);
    assert_eq!(vllm.timeouts.first_token_s, 5.0);
    assert_eq!(
        vllm.timeouts.total_s,
        crate::spec::target::remote::Timeouts::default().total_s
    );
    let plan = crate::spec::matrix::Plan::new(&e);
    assert_eq!(plan.configs.len(), 4);
    assert_eq!(
        plan.config_labels(&e),
        [
            "v · claude · anthropic claude-3-5-haiku-20241022",
            "v · vllm · openai qwen",
            "v · local · n_ctx 256",
            "v · local · n_ctx 512"
        ]
    );
}

#[test]
fn local_settings_on_a_remote_target_and_remote_settings_on_a_local_one_are_refused() {
    let p = problem(yaml(&format!(
        "{REMOTE}  - {{id: r, provider: openai, model: m, n_ctx: 512}}\n"
    )));
    assert_eq!(p.field.as_deref(), Some("targets[0].n_ctx"));
    assert!(p.message.contains("local models"), "{p}");
    let p = problem(yaml(&format!(
        "{REMOTE}  - {{id: l, model: m.gguf, base_url: 'http://x/v1'}}\n"
    )));
    assert_eq!(p.field.as_deref(), Some("targets[0].base_url"));
    assert!(p.message.contains("provider"), "{p}");
    let p = problem(yaml(&format!(
        "{REMOTE}  - {{id: r, provider: openia, model: m}}\n"
    )));
    assert_eq!(p.field.as_deref(), Some("targets[0].provider"));
    assert!(p.message.contains("openai"), "{p}");
    let p = problem(yaml(&format!(
        "{REMOTE}  - {{id: r, provider: openai, model: m, base_url: 'localhost:8080'}}\n"
    )));
    assert_eq!(p.field.as_deref(), Some("targets[0].base_url"));
    let p = problem(yaml(&format!(
        "{REMOTE}  - {{id: r, provider: openai, model: m, timeout: {{total: 0}}}}\n"
    )));
    assert_eq!(p.field.as_deref(), Some("targets[0].timeout.total"));
    let p = problem(yaml(&format!(
        "{REMOTE}  - {{id: r, provider: openai, model: m, timeout: {{first_token: 1e30}}}}\n"
    )));
    assert_eq!(p.field.as_deref(), Some("targets[0].timeout.first_token"));
    let p = problem(yaml(&format!(
        "{REMOTE}  - {{id: r, provider: openai, model: m, extra_body: {{cache_prompt: false, stream: false}}}}\n"
    )));
    assert_eq!(p.field.as_deref(), Some("targets[0].extra_body.stream"));
    let p = problem(yaml(&format!(
        "{REMOTE}  - {{id: r, provider: anthropic, model: m, logprobs: true}}\n"
    )));
    assert_eq!(p.field.as_deref(), Some("targets[0].logprobs"));
    assert!(p.message.contains("OpenAI-compatible"), "{p}");
    let p = problem(yaml(&format!(
        "{REMOTE}  - {{id: l, model: m.gguf, logprobs: true}}\n"
    )));
    assert_eq!(
        p.field.as_deref(),
        Some("targets[0].logprobs"),
        "local runs always record it"
    );
}

#[test]
fn a_key_pasted_where_the_variable_name_belongs_is_refused_without_repeating_it() {
    let key = "sk-proj-Abc123Def456Ghi789Jkl";
    let error = yaml(&format!(
        "{REMOTE}  - {{id: r, provider: openai, model: m, api_key_env: {key}}}\n"
    ))
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("targets[0].api_key_env") && text.contains("looks like an API key"),
        "{text}"
    );
    assert!(!text.contains(key), "{text}");
}

#[test]
fn judge_checks_need_a_grader_they_can_name_and_graders_are_not_swept() {
    let with = |extra: &str| yaml(&format!("{MINIMAL}{extra}"));
    let judged = "checks: [{type: judge, rubric: 'answers the question'}]\n";
    let p = problem(with(judged));
    assert_eq!(p.field.as_deref(), Some("checks[0]"), "{p}");
    assert!(p.message.contains("add one under `graders`"), "{p}");

    let one = with(&format!("{judged}graders: [{{id: g, model: grader.gguf}}]\n")).unwrap();
    assert_eq!(one.graders[0].id, "g");
    assert_eq!(
        one.graders[0].local().unwrap().model.path,
        Path::new("/models/grader.gguf")
    );

    let two = "graders: [{id: g, model: a.gguf}, {id: h, provider: openai, model: gpt-4o-mini}]\n";
    let p = problem(with(&format!("{judged}{two}")));
    assert_eq!(p.field.as_deref(), Some("checks[0].grader"), "{p}");
    assert!(p.message.contains("`g`, `h`"), "{p}");
    let named = "cases: [{vars: {q: one}, checks: [{type: judge, rubric: r, grader: x}]}]\n";
    let p = problem(yaml(&format!(
        "schema: 1\nvariants: [{{id: v, prompt: '{{{{ q }}}}'}}]\n{named}targets: [{{id: t, model: m.gguf}}]\n{two}"
    )));
    assert_eq!(p.field.as_deref(), Some("cases[0].checks[0].grader"), "{p}");
    assert!(p.message.contains("no grader `x`"), "{p}");

    let p = problem(with(&format!(
        "{judged}graders: [{{id: g, model: a.gguf, n_ctx: [512, 1024]}}]\n"
    )));
    assert_eq!(p.field.as_deref(), Some("graders[0].n_ctx"), "{p}");
    assert!(p.message.contains("one setting"), "{p}");
    let p = problem(with("graders: [{id: g, model: a.gguf, temprature: 1}]\n"));
    assert!(
        p.field.as_deref().is_some_and(|f| f.starts_with("graders[0]")),
        "{p}"
    );
}

#[test]
fn a_huge_repetition_count_is_refused_naming_the_field_and_the_numbers() {
    let p = problem(yaml(&format!("{MINIMAL}repetitions: 4294967295\n")));
    assert_eq!(p.field.as_deref(), Some("repetitions"));
    assert_eq!(
        p.message,
        "the plan has 1 configs × 2 cases × 4,294,967,295 repetitions = 8,589,934,590 runs; \
         the limit is 100,000 (raise it with --max-runs)"
    );
}

#[test]
fn a_sweep_of_a_hundred_thousand_values_is_refused_at_once_naming_the_sweep() {
    let values: Vec<String> = (1..=100_000).map(|n| n.to_string()).collect();
    let text = MINIMAL.replace("n_ctx: 512}", &format!("n_ctx: [{}]}}", values.join(", ")));
    let started = std::time::Instant::now();
    let p = problem(yaml(&text));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(p.field.as_deref(), Some("targets[0].n_ctx"));
    assert!(
        p.message.contains("= 100,000 configs; the limit is 1,000"),
        "{}",
        p.message
    );
    assert!(p.message.contains("--max-configs"), "{}", p.message);
}

#[test]
fn sweeps_whose_product_overflows_are_refused_not_wrapped_around() {
    let list = |n: usize| {
        format!(
            "[{}]",
            (1..=n).map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
        )
    };
    let text = MINIMAL.replace(
        "n_ctx: 512}",
        &format!(
            "n_ctx: {l}, threads: {l}, batch: {l}, n_gpu_layers: {l}, parallel: {l}}}",
            l = list(10_000)
        ),
    );
    let p = problem(yaml(&text));
    assert!(
        p.message.contains("100,000,000,000,000,000,000 target settings"),
        "{}",
        p.message
    );
}

#[test]
fn raised_plan_limits_accept_a_plan_the_defaults_refuse() {
    let text = format!("{MINIMAL}repetitions: 200000\n");
    problem(yaml(&text));
    let limits = PlanLimits {
        max_runs: 400_000,
        ..PlanLimits::default()
    };
    let e = parse_str_with(&text, FileFormat::Yaml, "exp.yaml", Path::new("/models"), &limits).unwrap();
    assert_eq!(e.repetitions, 200_000);
    // The limit itself is allowed.
    yaml(&format!("{MINIMAL}repetitions: 50000\n")).unwrap();
}

#[test]
fn a_thread_count_beyond_what_the_machine_can_use_is_refused_naming_the_sweep_entry() {
    let text = MINIMAL.replace("n_ctx: 512}", "n_ctx: 512, threads: [2, 100000]}");
    let p = problem(yaml(&text));
    assert_eq!(p.field.as_deref(), Some("targets[0].threads[1]"));
    assert!(
        p.message
            .starts_with("threads 100000 is not usable here: between 1 and "),
        "{}",
        p.message
    );
}
