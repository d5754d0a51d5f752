//! Validation of targets: a local model's sweeps and settings, a remote API's URL, key
//! variable, limits and extra body fields, and the sampling every target uses.

use super::*;

/// A remote time limit beyond a day is a typo, not a setting.
const MAX_TIMEOUT_S: f64 = 86_400.0;

pub(super) fn target(
    check: &Checker,
    list: &str,
    index: usize,
    spec: TargetSpec,
    place: &Surroundings,
) -> Result<Target, ExperimentError> {
    let at = |field: &str| format!("{list}[{index}].{field}");
    id_ok(check, at("id"), &spec.id)?;
    let sampling = sampling(check, &at, &spec)?;
    if let Some((field, message)) = spec.price.as_ref().and_then(|p| p.problem()) {
        return Err(check.problem(format!("{}.{field}", at("price")), message));
    }
    if spec.provider.is_some() {
        return remote_target(check, &at, spec, sampling);
    }
    let remote_only = [
        ("base_url", spec.base_url.is_some()),
        ("api_key_env", spec.api_key_env.is_some()),
        ("max_concurrency", spec.max_concurrency.is_some()),
        ("requests_per_minute", spec.requests_per_minute.is_some()),
        ("max_attempts", spec.max_attempts.is_some()),
        ("timeout", spec.timeout.is_some()),
        ("include_usage", spec.include_usage.is_some()),
        ("logprobs", spec.logprobs.is_some()),
        ("extra_body", spec.extra_body.is_some()),
    ];
    if let Some((field, _)) = remote_only.iter().find(|(_, given)| *given) {
        return Err(check.problem(
            at(field),
            format!(
                "is a setting of remote targets; add `provider` ({}) or remove it",
                ProviderKind::names()
            ),
        ));
    }
    let model_spec = spec.model.trim().to_string();
    if model_spec.is_empty() {
        return Err(check.problem(at("model"), "must be a GGUF file path or `default`"));
    }
    let path = if model_spec == "default" {
        place.default_model.clone()
    } else {
        let given = Path::new(&model_spec);
        if given.is_absolute() {
            given.to_path_buf()
        } else {
            place.base_dir.join(given)
        }
    };
    let n_ctx = sweep(
        check,
        &at("n_ctx"),
        spec.n_ctx.map_or_else(|| vec![DEFAULT_N_CTX], |n| n.0),
        1,
        "context length",
    )?;
    let threads = sweep(
        check,
        &at("threads"),
        spec.threads.map_or_else(|| vec![place.default_threads], |t| t.0),
        1,
        "thread count",
    )?;
    let batch = sweep(
        check,
        &at("batch"),
        spec.batch.map_or_else(|| vec![DEFAULT_BATCH], |b| b.0),
        1,
        "batch size",
    )?;
    let n_gpu_layers = sweep(
        check,
        &at("n_gpu_layers"),
        spec.n_gpu_layers.map_or_else(|| vec![0], |n| n.0),
        0,
        "layer count",
    )?;
    let kv_names = spec.kv_type.map_or_else(|| vec!["f16".to_string()], |k| k.0);
    let mut kv_type = Vec::with_capacity(kv_names.len());
    for (position, name) in kv_names.iter().enumerate() {
        let parsed = KvType::parse(name.trim()).ok_or_else(|| {
            check.problem(
                format!("{}[{position}]", at("kv_type")),
                format!("`{name}` is not a KV cache type; use f16, q8_0 or q4_0"),
            )
        })?;
        kv_type.push(parsed);
    }
    let kv_type = sweep(check, &at("kv_type"), kv_type, KvType::F16, "KV cache type")?;
    let parallel = sweep(
        check,
        &at("parallel"),
        spec.parallel.map_or_else(|| vec![1], |p| p.0),
        1,
        "sequence count",
    )?;
    let prefix_cache = sweep(
        check,
        &at("prefix_cache"),
        spec.prefix_cache.map_or_else(|| vec![false], |p| p.0),
        false,
        "value",
    )?;
    if prefix_cache.contains(&true) && parallel.iter().any(|p| *p > 1) {
        return Err(check.problem(
            at("prefix_cache"),
            "prefix caching is for single-stream runs; it cannot be combined with parallel > 1",
        ));
    }
    let chat_template = ChatTemplateChoice::from(spec.chat_template.unwrap_or_else(|| "auto".into()));
    if let ChatTemplateChoice::Named(name) = &chat_template
        && name.trim().is_empty()
    {
        return Err(check.problem(at("chat_template"), "use auto, none or a template name"));
    }
    Ok(Target {
        id: spec.id,
        kind: TargetKind::Local(LocalTarget {
            model: ModelRef {
                spec: model_spec,
                path,
            },
            n_ctx,
            threads,
            batch,
            kv_type,
            n_gpu_layers,
            parallel,
            prefix_cache,
            chat_template,
            model_sha256: None,
        }),
        sampling,
        price: spec.price,
        price_source: None,
    })
}

fn sampling(
    check: &Checker,
    at: &dyn Fn(&str) -> String,
    spec: &TargetSpec,
) -> Result<Sampling, ExperimentError> {
    let temperature = spec.temperature.unwrap_or(0.0);
    if !(temperature.is_finite() && temperature >= 0.0) {
        return Err(check.problem(at("temperature"), "must be a number >= 0 (0 = greedy)"));
    }
    if let Some(top_p) = spec.top_p
        && !(top_p > 0.0 && top_p <= 1.0)
    {
        return Err(check.problem(at("top_p"), "must be in (0, 1]"));
    }
    if spec.top_k == Some(0) {
        return Err(check.problem(at("top_k"), "must be at least 1 (leave it out to disable)"));
    }
    let max_tokens = match spec.max_tokens {
        Some(0) => return Err(check.problem(at("max_tokens"), "must be at least 1")),
        Some(n) => n,
        None => DEFAULT_MAX_TOKENS,
    };
    if let Some(position) = spec.stop.iter().position(|s| s.is_empty()) {
        return Err(check.problem(
            format!("{}[{position}]", at("stop")),
            "an empty stop sequence would end every generation at once",
        ));
    }
    Ok(Sampling {
        temperature,
        top_p: spec.top_p,
        top_k: spec.top_k,
        seed: spec.seed.unwrap_or(0),
        max_tokens,
        stop: spec.stop.clone(),
    })
}

/// A target with a `provider`: an HTTP API instead of a model file.
fn remote_target(
    check: &Checker,
    at: &dyn Fn(&str) -> String,
    spec: TargetSpec,
    sampling: Sampling,
) -> Result<Target, ExperimentError> {
    let name = spec.provider.as_deref().unwrap_or_default().trim();
    let provider = ProviderKind::parse(name).ok_or_else(|| {
        check.problem(
            at("provider"),
            format!(
                "`{name}` is not a provider; use openai (any OpenAI-compatible server), anthropic or gemini"
            ),
        )
    })?;
    let local_only = [
        ("n_ctx", spec.n_ctx.is_some()),
        ("threads", spec.threads.is_some()),
        ("batch", spec.batch.is_some()),
        ("kv_type", spec.kv_type.is_some()),
        ("n_gpu_layers", spec.n_gpu_layers.is_some()),
        ("parallel", spec.parallel.is_some()),
        ("prefix_cache", spec.prefix_cache.is_some()),
        ("chat_template", spec.chat_template.is_some()),
    ];
    if let Some((field, _)) = local_only.iter().find(|(_, given)| *given) {
        return Err(check.problem(
            at(field),
            "is a setting of local models; a remote target's server decides it",
        ));
    }
    let model = spec.model.trim().to_string();
    if model.is_empty() {
        return Err(check.problem(at("model"), "must name the provider's model"));
    }
    let base_url = remote::base_url(provider, spec.base_url.as_deref())
        .map_err(|message| check.problem(at("base_url"), message))?;
    let api_key_env = remote::key_variable(provider, &base_url, spec.api_key_env.as_deref())
        .map_err(|message| check.problem(at("api_key_env"), message))?;
    let positive = |field: &str, value: Option<u32>, default: u32| match value {
        Some(0) => Err(check.problem(at(field), "must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    let max_concurrency = positive("max_concurrency", spec.max_concurrency, DEFAULT_MAX_CONCURRENCY)?;
    let max_attempts = positive("max_attempts", spec.max_attempts, DEFAULT_MAX_ATTEMPTS)?;
    let requests_per_minute = match spec.requests_per_minute {
        Some(0) => {
            return Err(check.problem(
                at("requests_per_minute"),
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        other => other,
    };
    let defaults = Timeouts::default();
    let mut timeouts = defaults;
    if let Some(given) = &spec.timeout {
        for (field, value, slot) in [
            ("connect", given.connect, &mut timeouts.connect_s),
            ("first_token", given.first_token, &mut timeouts.first_token_s),
            ("total", given.total, &mut timeouts.total_s),
        ] {
            if let Some(seconds) = value {
                if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_TIMEOUT_S) {
                    return Err(check.problem(
                        format!("{}.{field}", at("timeout")),
                        format!("must be a number of seconds in (0, {MAX_TIMEOUT_S}], found {seconds}"),
                    ));
                }
                *slot = seconds;
            }
        }
    }
    let extra_body = spec.extra_body.unwrap_or_default();
    if let Some(name) = extra_body
        .keys()
        .find(|k| remote::RESERVED_BODY_FIELDS.contains(&k.as_str()))
    {
        return Err(check.problem(
            format!("{}.{name}", at("extra_body")),
            "is set by Tradeoff from the variant and the target's own settings; set it there",
        ));
    }
    let logprobs = spec.logprobs.unwrap_or(false);
    if logprobs && provider != ProviderKind::Openai {
        return Err(check.problem(
            at("logprobs"),
            format!(
                "is read only from OpenAI-compatible servers (provider: openai); the {} API \
                 streams no token log-probabilities Tradeoff can read",
                provider.as_str()
            ),
        ));
    }
    // Without a price of its own, a hosted model's price comes from the price table when the
    // experiment is resolved (`spec::resolve`), not here: validation reads no file but the one.
    Ok(Target {
        id: spec.id,
        kind: TargetKind::Remote(RemoteTarget {
            provider,
            model,
            base_url,
            api_key_env,
            max_concurrency,
            requests_per_minute,
            max_attempts,
            timeouts,
            include_usage: spec.include_usage.unwrap_or(true),
            logprobs,
            extra_body,
        }),
        sampling,
        price: spec.price,
        price_source: None,
    })
}

/// A swept setting's values: at least one, none below `minimum`, none twice.
fn sweep<T: PartialOrd + Copy + std::fmt::Display>(
    check: &Checker,
    field: &str,
    values: Vec<T>,
    minimum: T,
    what: &str,
) -> Result<Vec<T>, ExperimentError> {
    if values.is_empty() {
        return Err(check.problem(field, format!("needs at least one {what}")));
    }
    if let Some(position) = values.iter().position(|v| *v < minimum) {
        return Err(check.problem(
            format!("{field}[{position}]"),
            format!("must be at least {minimum}"),
        ));
    }
    // By their text, in one pass: comparing each value with every earlier one is quadratic in
    // a long sweep. The swept types (integers, KV types, booleans) print distinct values apart.
    let mut seen = HashSet::with_capacity(values.len());
    for value in &values {
        if !seen.insert(value.to_string()) {
            return Err(check.problem(field, format!("{value} is listed twice")));
        }
    }
    Ok(values)
}

/// Refuses a thread count this machine cannot use (ggml aborts past its own limit), after the
/// plan's size: a plan too large to build says so first.
pub(super) fn threads_usable(
    check: &Checker,
    list: &str,
    targets: &[Target],
    most: u32,
) -> Result<(), ExperimentError> {
    for (index, target) in targets.iter().enumerate() {
        let Some(local) = target.local() else {
            continue;
        };
        for (position, threads) in local.threads.iter().enumerate() {
            crate::spec::target::check_threads(*threads, most)
                .map_err(|error| check.problem(format!("{list}[{index}].threads[{position}]"), error))?;
        }
    }
    Ok(())
}
