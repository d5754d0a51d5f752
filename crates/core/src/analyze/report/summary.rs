//! One summary per config: percentiles of latency and TTFT, throughput, pass rate, cost, the
//! consistency of repeated outputs, and each warm config against its cold twin.

use super::*;
use crate::execute::search_log::Elimination;

/// Per-config statistics over its successful runs; errors are counted, not averaged in.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigSummary {
    pub variant: String,
    pub target: String,
    /// `None` for a remote target.
    #[serde(flatten)]
    pub settings: Option<LocalSettings>,
    /// The settings in words, naming only those that differ between the experiment's configs.
    pub settings_label: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub runs: usize,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub errors: usize,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_mean_ms: Option<f64>,
    pub latency_sd_ms: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub prompt_tokens_per_s_mean: Option<f64>,
    pub gen_tokens_per_s_mean: Option<f64>,
    pub input_tokens_mean: Option<f64>,
    pub output_tokens_mean: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub kv_cache_bytes: Option<u64>,
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub peak_rss_bytes_max: Option<u64>,
    /// Share of the config's checked runs that passed every check (failed runs count as not
    /// passing), and their mean score; `None` without checks.
    pub pass_rate: Option<f64>,
    pub score_mean: Option<f64>,
    /// Consistency across repetitions: the mean word similarity of every pair of outputs of the
    /// same case, and the share of those pairs that are identical (`None`: one repetition, or
    /// a summary built without outputs).
    pub consistency_similarity: Option<f64>,
    pub consistency_exact_rate: Option<f64>,
    /// Mean cost of a successful run, and of 1,000 such requests (`None`: no price).
    pub cost_per_run_usd: Option<f64>,
    pub cost_per_1k_usd: Option<f64>,
    /// What preparing this config cost before its first run (never part of a run's latency):
    /// loading the model (`None` when it was already loaded) and creating the context.
    pub model_load_ms: Option<f64>,
    pub context_create_ms: Option<f64>,
    /// Output tokens per second of wall time over all the config's runs: for throughput-mode
    /// configs the batches' wall time (each run's share), for single-stream ones the runs'
    /// latencies. This is the number to compare when serving many requests.
    pub aggregate_tokens_per_s: Option<f64>,
    /// Runs that reused a cached prompt prefix (warm runs) and how many tokens they reused.
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub warm_runs: usize,
    /// Runs that other programs slowed (`RunMetrics::contended`): their timings measure the
    /// machine's load as well as the model.
    #[serde(default)]
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub contended_runs: usize,
    pub cached_tokens_mean: Option<f64>,
    /// Estimated time the cache saved per run: reused tokens × this config's measured
    /// prompt-evaluation time per token.
    pub ttft_saved_ms_estimate: Option<f64>,
    /// Measured: p50 TTFT of the same config without prefix caching minus this config's, when
    /// the experiment has that cold twin (sweep `prefix_cache: [false, true]`).
    pub ttft_p50_saved_vs_cold_ms: Option<f64>,
    /// Runs answered from the response cache (outside every speed and cost statistic above),
    /// and the time and money their original runs took.
    #[cfg_attr(feature = "specta", specta(type = u32))]
    #[serde(default)]
    pub cache_hits: usize,
    #[serde(default)]
    pub cache_saved_ms: Option<f64>,
    #[serde(default)]
    pub cache_saved_usd: Option<f64>,
    /// Dropped by a search (racing, halving): it ran fewer cases and cannot win.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eliminated: Option<Elimination>,
}

/// Summarizes runs per config, in the order of `configs`. `with_outputs` says whether the runs
/// carry their outputs (consistency needs them).
pub fn summarize(configs: &[ConfigKey], runs: &[RunRow], with_outputs: bool) -> Vec<ConfigSummary> {
    // One pass to bucket runs by config: an experiment can hold 100,000 runs.
    type Key<'a> = (&'a str, &'a str, Option<LocalSettings>);
    let mut by_config: HashMap<Key<'_>, Vec<&RunRow>> = HashMap::with_capacity(configs.len());
    for run in runs {
        by_config
            .entry((
                run.labels.variant.as_str(),
                run.labels.target.as_str(),
                run.labels.settings,
            ))
            .or_default()
            .push(run);
    }
    let labels = settings_labels(configs);
    let mut summaries = configs
        .iter()
        .zip(labels)
        .map(|(key, settings_label)| {
            let mine = by_config
                .get(&(key.variant.as_str(), key.target.as_str(), key.settings))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let ok: Vec<&RunRow> = mine.iter().copied().filter(|r| r.run.error.is_none()).collect();
            // Cache hits made no call: their outputs count for quality, never for speed or cost.
            let hits: Vec<&RunRow> = ok.iter().copied().filter(|r| r.run.cache_hit).collect();
            let measured: Vec<&RunRow> = ok.iter().copied().filter(|r| !r.run.cache_hit).collect();
            let values = |f: fn(&RunRow) -> Option<f64>| -> Vec<f64> {
                measured.iter().filter_map(|r| f(r)).collect()
            };
            let latency = values(RunRow::latency_ms);
            let mut summary = ConfigSummary {
                variant: key.variant.clone(),
                target: key.target.clone(),
                settings: key.settings,
                settings_label,
                runs: mine.len(),
                errors: mine.len() - ok.len(),
                latency_p50_ms: percentile(&latency, 50.0),
                latency_p95_ms: percentile(&latency, 95.0),
                latency_p99_ms: percentile(&latency, 99.0),
                latency_mean_ms: mean(&latency),
                latency_sd_ms: std_dev(&latency),
                ttft_p50_ms: percentile(&values(RunRow::ttft_ms), 50.0),
                ttft_p95_ms: percentile(&values(RunRow::ttft_ms), 95.0),
                prompt_tokens_per_s_mean: mean(&values(|r| r.metric(RunMetrics::prompt_tokens_per_s))),
                gen_tokens_per_s_mean: mean(&values(RunRow::gen_tokens_per_s)),
                input_tokens_mean: mean(&values(|r| r.input_tokens().map(f64::from))),
                output_tokens_mean: mean(&values(|r| r.output_tokens().map(f64::from))),
                kv_cache_bytes: measured.iter().find_map(|r| r.metric(|m| m.kv_cache_bytes)),
                peak_rss_bytes_max: measured
                    .iter()
                    .filter_map(|r| r.metric(|m| m.peak_rss_bytes))
                    .max(),
                pass_rate: pass_rate(mine),
                score_mean: mean(&mine.iter().filter_map(|r| r.score).collect::<Vec<_>>()),
                consistency_similarity: None,
                consistency_exact_rate: None,
                cost_per_run_usd: mean(&values(|r| r.run.cost_usd)),
                cost_per_1k_usd: mean(&values(|r| r.run.cost_usd)).map(|c| c * 1000.0),
                model_load_ms: None,
                context_create_ms: None,
                aggregate_tokens_per_s: aggregate_tokens_per_s(&measured),
                warm_runs: measured
                    .iter()
                    .filter(|r| r.metric(|m| m.cached_tokens).is_some_and(|c| c > 0))
                    .count(),
                contended_runs: measured
                    .iter()
                    .filter(|r| r.metric(|m| m.contended).unwrap_or(false))
                    .count(),
                cached_tokens_mean: mean(&values(|r| r.metric(|m| m.cached_tokens).map(f64::from))),
                ttft_saved_ms_estimate: ttft_saved_ms_estimate(&measured),
                ttft_p50_saved_vs_cold_ms: None,
                cache_hits: hits.len(),
                cache_saved_ms: (!hits.is_empty()).then(|| hits.iter().filter_map(|r| r.latency_ms()).sum()),
                cache_saved_usd: hits
                    .iter()
                    .filter_map(|r| r.run.cache_saved_usd)
                    .reduce(|a, b| a + b),
                eliminated: None,
            };
            if with_outputs {
                (summary.consistency_similarity, summary.consistency_exact_rate) = consistency(&ok);
            }
            summary
        })
        .collect::<Vec<_>>();
    compare_with_cold_twins(&mut summaries);
    summaries
}

/// The settings part of every config's label: local settings named as
/// [`LocalSettings::labels`] does (among the local configs), remote configs by provider and model.
fn settings_labels(configs: &[ConfigKey]) -> Vec<String> {
    let local: Vec<LocalSettings> = configs.iter().filter_map(|c| c.settings).collect();
    let mut local_labels = LocalSettings::labels(&local).into_iter();
    configs
        .iter()
        .map(|c| match c.settings {
            Some(_) => local_labels.next().unwrap_or_default(),
            None => c.remote.clone().unwrap_or_else(|| "remote".into()),
        })
        .collect()
}

/// For every prefix-cached config, the TTFT it saved against the same config run cold.
fn compare_with_cold_twins(summaries: &mut [ConfigSummary]) {
    let cold: HashMap<(String, String, LocalSettings), Option<f64>> = summaries
        .iter()
        .filter_map(|s| s.settings.filter(|l| !l.prefix_cache).map(|l| (s, l)))
        .map(|(s, l)| ((s.variant.clone(), s.target.clone(), l), s.ttft_p50_ms))
        .collect();
    for summary in summaries.iter_mut() {
        let Some(settings) = summary.settings.filter(|l| l.prefix_cache) else {
            continue;
        };
        let twin = LocalSettings {
            prefix_cache: false,
            ..settings
        };
        let cold_ttft = cold
            .get(&(summary.variant.clone(), summary.target.clone(), twin))
            .copied()
            .flatten();
        summary.ttft_p50_saved_vs_cold_ms =
            cold_ttft.zip(summary.ttft_p50_ms).map(|(cold, warm)| cold - warm);
    }
}

/// Mean pairwise word similarity and exact-match rate of the outputs of each case's
/// repetitions, over all pairs of all cases.
fn consistency(runs: &[&RunRow]) -> (Option<f64>, Option<f64>) {
    let mut by_case: HashMap<&str, Vec<&str>> = HashMap::new();
    for run in runs {
        by_case
            .entry(run.labels.case.as_str())
            .or_default()
            .push(run.run.output.as_str());
    }
    let mut similarities = Vec::new();
    let mut exact = 0usize;
    for outputs in by_case.values() {
        for (i, a) in outputs.iter().enumerate() {
            for b in &outputs[i + 1..] {
                exact += usize::from(a == b);
                similarities.push(if a == b {
                    1.0
                } else {
                    diff(a, b, Granularity::Word).similarity
                });
            }
        }
    }
    if similarities.is_empty() {
        return (None, None);
    }
    (
        mean(&similarities),
        Some(exact as f64 / similarities.len() as f64),
    )
}

fn pass_rate(runs: &[&RunRow]) -> Option<f64> {
    let checked: Vec<bool> = runs.iter().filter_map(|r| r.passed).collect();
    (!checked.is_empty()).then(|| checked.iter().filter(|p| **p).count() as f64 / checked.len() as f64)
}

/// Output tokens over the wall time they took. A run of a batch of `n` accounts for `1/n` of
/// its batch's wall time, so the batches' times add up exactly once.
fn aggregate_tokens_per_s(runs: &[&RunRow]) -> Option<f64> {
    let mut tokens = 0.0;
    let mut wall_ms = 0.0;
    for run in runs {
        let Some(metrics) = run.metrics() else { continue };
        tokens += f64::from(metrics.output_tokens);
        wall_ms += match (metrics.batch_sequences, metrics.batch_wall_ms) {
            (Some(n), Some(batch_ms)) if n > 0 => batch_ms / f64::from(n),
            _ => metrics.latency_ms,
        };
    }
    (wall_ms > 0.0).then(|| tokens * 1000.0 / wall_ms)
}

/// Mean time a prefix cache saved per run: reused tokens × the config's prompt-evaluation
/// milliseconds per token (measured on the tokens its runs did evaluate). Cold runs save 0.
fn ttft_saved_ms_estimate(runs: &[&RunRow]) -> Option<f64> {
    let with_cache: Vec<&RunMetrics> = runs
        .iter()
        .filter_map(|r| r.metrics())
        .filter(|m| m.cached_tokens.is_some())
        .collect();
    if with_cache.is_empty() {
        return None;
    }
    let (ms, tokens) = with_cache.iter().fold((0.0, 0u64), |(ms, tokens), m| {
        (
            ms + m.prompt_eval_ms.unwrap_or(0.0),
            tokens + u64::from(m.prompt_eval_tokens.unwrap_or(0)),
        )
    });
    if tokens == 0 {
        return None;
    }
    let per_token = ms / tokens as f64;
    let saved: Vec<f64> = with_cache
        .iter()
        .map(|m| f64::from(m.cached_tokens.unwrap_or(0)) * per_token)
        .collect();
    mean(&saved)
}

/// Columns of the per-config summary, shared by the terminal table and Markdown.
pub const SUMMARY_HEADERS: [&str; 14] = [
    "variant",
    "target",
    "settings",
    "runs",
    "errors",
    "pass",
    "p50 ms",
    "p95 ms",
    "p50 TTFT ms",
    "gen tok/s",
    "agg tok/s",
    "in tok",
    "out tok",
    "$/1k req",
];

impl ConfigSummary {
    pub fn cells(&self) -> [String; 14] {
        [
            self.variant.clone(),
            self.target.clone(),
            self.settings_label.clone(),
            self.runs.to_string(),
            self.errors.to_string(),
            self.pass_rate
                .map_or_else(|| "—".to_string(), |p| format!("{:.0}%", p * 100.0)),
            number(self.latency_p50_ms, 1),
            number(self.latency_p95_ms, 1),
            number(self.ttft_p50_ms, 1),
            number(self.gen_tokens_per_s_mean, 1),
            number(self.aggregate_tokens_per_s, 1),
            number(self.input_tokens_mean, 1),
            number(self.output_tokens_mean, 1),
            self.cost_per_1k_usd
                .map_or_else(|| "—".to_string(), |c| format!("{c:.4}")),
        ]
    }
}

pub(super) fn list<T: std::fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

/// A local setting of a run for a CSV cell; empty for a remote run.
pub(super) fn number(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".to_string(), |v| format!("{v:.decimals$}"))
}
