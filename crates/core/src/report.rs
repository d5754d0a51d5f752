//! Reports: the runs of an experiment and a summary per config, as JSON, CSV or Markdown.
//! The CLI's `run --json` and `report` both build this from what the store holds, so what is
//! printed after a run is exactly what can be read back later.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::checks::CheckResult;
use crate::compare::{Difference, Verdict, difference};
use crate::diff::{Granularity, diff};
use crate::engine::{KvType, LocalSettings};
use crate::environment::Environment;
use crate::run::{FinishReason, RunError, RunMetrics};
use crate::stats::{mean, percentile, std_dev};

mod csv_export;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub experiment_id: i64,
    pub name: String,
    pub source: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// `running`, `completed`, `cancelled` or `interrupted`.
    pub status: String,
    /// Runs the plan has; fewer in `runs` means some are missing (an unfinished experiment).
    #[serde(default)]
    pub planned_runs: usize,
    pub environment: Environment,
    pub targets: Vec<TargetInfo>,
    pub configs: Vec<ConfigSummary>,
    pub runs: Vec<RunRow>,
    /// Every config against a baseline config, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// What grading the judge checks took, per grader: never part of the runs' own numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grading: Vec<GraderSummary>,
    /// Every grader call (see `tradeoff_core::grading`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judgements: Vec<JudgementRow>,
}

/// One grader call as a report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgementRow {
    pub variant: String,
    pub target: String,
    #[serde(flatten)]
    pub settings: Option<LocalSettings>,
    pub case: String,
    pub repetition: u32,
    pub check_index: usize,
    pub grader: String,
    pub passed: bool,
    pub score: f64,
    pub reason: Option<String>,
    pub error: Option<RunError>,
    pub latency_ms: Option<f64>,
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    pub cost_usd: Option<f64>,
    /// The grader's answer (empty in reports read without outputs).
    pub answer: String,
}

/// What one grader's calls took, kept apart from the configs they graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraderSummary {
    pub grader: String,
    pub calls: usize,
    /// Calls that failed or whose answer could not be read as a verdict.
    pub errors: usize,
    pub passed: usize,
    pub latency_p50_ms: Option<f64>,
    pub latency_total_ms: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// `None` when the grader has no price.
    pub cost_usd: Option<f64>,
}

impl GraderSummary {
    /// One summary per grader, in order of first appearance.
    pub fn of(judgements: &[JudgementRow]) -> Vec<GraderSummary> {
        let mut graders: Vec<&str> = Vec::new();
        for row in judgements {
            if !graders.contains(&row.grader.as_str()) {
                graders.push(&row.grader);
            }
        }
        graders
            .into_iter()
            .map(|grader| {
                let mine: Vec<&JudgementRow> = judgements.iter().filter(|j| j.grader == grader).collect();
                let latencies: Vec<f64> = mine.iter().filter_map(|j| j.latency_ms).collect();
                let costs: Vec<f64> = mine.iter().filter_map(|j| j.cost_usd).collect();
                GraderSummary {
                    grader: grader.to_string(),
                    calls: mine.len(),
                    errors: mine.iter().filter(|j| j.error.is_some()).count(),
                    passed: mine.iter().filter(|j| j.error.is_none() && j.passed).count(),
                    latency_p50_ms: percentile(&latencies, 50.0),
                    latency_total_ms: latencies.iter().sum(),
                    input_tokens: mine.iter().filter_map(|j| j.input_tokens).map(u64::from).sum(),
                    output_tokens: mine.iter().filter_map(|j| j.output_tokens).map(u64::from).sum(),
                    cost_usd: (!costs.is_empty()).then(|| costs.iter().sum()),
                }
            })
            .collect()
    }
}

/// Every config against one baseline config: confidence intervals (bootstrap, 95 %) for the
/// differences of latency and TTFT. A config is called faster only when its interval excludes 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Index of the baseline in `configs`.
    pub baseline: usize,
    pub configs: Vec<ConfigComparison>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigComparison {
    pub config: usize,
    /// Latency and TTFT of this config minus the baseline's, in milliseconds.
    pub latency_ms: Difference,
    pub ttft_ms: Difference,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub id: String,
    pub model: String,
    pub model_path: String,
    pub model_sha256: Option<String>,
    pub threads: Vec<u32>,
    pub batch: Vec<u32>,
    pub kv_type: Vec<KvType>,
    pub n_gpu_layers: Vec<u32>,
    pub chat_template: String,
    pub loads: Vec<LoadRow>,
    /// A remote target's API (no key: only the variable that holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<crate::remote::RemoteTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<crate::cost::Price>,
    /// Where the price came from when the target did not set it (the price table's entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRow {
    #[serde(flatten)]
    pub settings: LocalSettings,
    pub model_load_ms: Option<f64>,
    pub context_create_ms: Option<f64>,
    pub kv_cache_bytes: Option<u64>,
    pub error: Option<RunError>,
    pub warnings: Vec<String>,
}

/// One run, flattened for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub variant: String,
    pub target: String,
    /// `None` for a remote target.
    #[serde(flatten)]
    pub settings: Option<LocalSettings>,
    pub case: String,
    pub repetition: u32,
    pub started_at: String,
    pub latency_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    pub prompt_tokens_per_s: Option<f64>,
    pub gen_tokens_per_s: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub kv_cache_bytes: Option<u64>,
    /// Prompt tokens reused from the KV cache (a warm run); `None` without prefix caching.
    pub cached_tokens: Option<u32>,
    /// Runs decoded together with this one (throughput mode); `None` for single-stream runs.
    pub batch_sequences: Option<u32>,
    /// Whether the run passed its case's checks (`None`: the case has none) and their mean score.
    pub passed: Option<bool>,
    pub score: Option<f64>,
    pub checks: Vec<CheckResult>,
    /// What the run cost by its target's price; `None` without a price.
    pub cost_usd: Option<f64>,
    pub output: String,
    pub finish_reason: Option<FinishReason>,
    pub error: Option<RunError>,
    pub warnings: Vec<String>,
    /// The raw measurements behind the numbers above.
    pub metrics: Option<RunMetrics>,
    /// Remote runs: every attempt the run took.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<crate::remote::Attempt>,
    /// Answered from the response cache (its latency is the original run's, for reference).
    #[serde(default)]
    pub cache_hit: bool,
    #[serde(default)]
    pub cache_saved_usd: Option<f64>,
}

impl RunRow {
    pub fn from_metrics(
        key: RunKey,
        output: String,
        finish_reason: Option<FinishReason>,
        metrics: Option<RunMetrics>,
        error: Option<RunError>,
        warnings: Vec<String>,
    ) -> RunRow {
        RunRow {
            variant: key.variant,
            target: key.target,
            settings: key.settings,
            case: key.case,
            repetition: key.repetition,
            started_at: key.started_at,
            latency_ms: metrics.as_ref().map(|m| m.latency_ms),
            ttft_ms: metrics.as_ref().and_then(|m| m.ttft_ms),
            input_tokens: metrics.as_ref().map(|m| m.input_tokens),
            output_tokens: metrics.as_ref().map(|m| m.output_tokens),
            prompt_tokens_per_s: metrics.as_ref().and_then(RunMetrics::prompt_tokens_per_s),
            gen_tokens_per_s: metrics.as_ref().and_then(RunMetrics::gen_tokens_per_s),
            peak_rss_bytes: metrics.as_ref().and_then(|m| m.peak_rss_bytes),
            kv_cache_bytes: metrics.as_ref().and_then(|m| m.kv_cache_bytes),
            cached_tokens: metrics.as_ref().and_then(|m| m.cached_tokens),
            batch_sequences: metrics.as_ref().and_then(|m| m.batch_sequences),
            passed: None,
            score: None,
            checks: Vec::new(),
            cost_usd: None,
            output,
            finish_reason,
            error,
            warnings,
            metrics,
            attempts: Vec::new(),
            cache_hit: false,
            cache_saved_usd: None,
        }
    }
}

/// Which run a row is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKey {
    pub variant: String,
    pub target: String,
    pub settings: Option<LocalSettings>,
    pub case: String,
    pub repetition: u32,
    pub started_at: String,
}

/// Which config a summary row is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigKey {
    pub variant: String,
    pub target: String,
    /// `None` for a remote target.
    #[serde(flatten)]
    pub settings: Option<LocalSettings>,
    /// A remote target's provider and model (`openai gpt-4o-mini`), which name its configs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

/// Per-config statistics over its successful runs; errors are counted, not averaged in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigSummary {
    pub variant: String,
    pub target: String,
    /// `None` for a remote target.
    #[serde(flatten)]
    pub settings: Option<LocalSettings>,
    /// The settings in words, naming only those that differ between the experiment's configs.
    pub settings_label: String,
    pub runs: usize,
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
    pub kv_cache_bytes: Option<u64>,
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
    pub warm_runs: usize,
    pub cached_tokens_mean: Option<f64>,
    /// Estimated time the cache saved per run: reused tokens × this config's measured
    /// prompt-evaluation time per token.
    pub ttft_saved_ms_estimate: Option<f64>,
    /// Measured: p50 TTFT of the same config without prefix caching minus this config's, when
    /// the experiment has that cold twin (sweep `prefix_cache: [false, true]`).
    pub ttft_p50_saved_vs_cold_ms: Option<f64>,
    /// Runs answered from the response cache (outside every speed and cost statistic above),
    /// and the time and money their original runs took.
    #[serde(default)]
    pub cache_hits: usize,
    #[serde(default)]
    pub cache_saved_ms: Option<f64>,
    #[serde(default)]
    pub cache_saved_usd: Option<f64>,
}

/// Summarizes runs per config, in the order of `configs`. `with_outputs` says whether the runs
/// carry their outputs (consistency needs them).
pub fn summarize(configs: &[ConfigKey], runs: &[RunRow], with_outputs: bool) -> Vec<ConfigSummary> {
    // One pass to bucket runs by config: an experiment can hold 100,000 runs.
    type Key<'a> = (&'a str, &'a str, Option<LocalSettings>);
    let mut by_config: HashMap<Key<'_>, Vec<&RunRow>> = HashMap::with_capacity(configs.len());
    for run in runs {
        by_config
            .entry((run.variant.as_str(), run.target.as_str(), run.settings))
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
            let ok: Vec<&RunRow> = mine.iter().copied().filter(|r| r.error.is_none()).collect();
            // Cache hits made no call: their outputs count for quality, never for speed or cost.
            let hits: Vec<&RunRow> = ok.iter().copied().filter(|r| r.cache_hit).collect();
            let measured: Vec<&RunRow> = ok.iter().copied().filter(|r| !r.cache_hit).collect();
            let values = |f: fn(&RunRow) -> Option<f64>| -> Vec<f64> {
                measured.iter().filter_map(|r| f(r)).collect()
            };
            let latency = values(|r| r.latency_ms);
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
                ttft_p50_ms: percentile(&values(|r| r.ttft_ms), 50.0),
                ttft_p95_ms: percentile(&values(|r| r.ttft_ms), 95.0),
                prompt_tokens_per_s_mean: mean(&values(|r| r.prompt_tokens_per_s)),
                gen_tokens_per_s_mean: mean(&values(|r| r.gen_tokens_per_s)),
                input_tokens_mean: mean(&values(|r| r.input_tokens.map(f64::from))),
                output_tokens_mean: mean(&values(|r| r.output_tokens.map(f64::from))),
                kv_cache_bytes: measured.iter().find_map(|r| r.kv_cache_bytes),
                peak_rss_bytes_max: measured.iter().filter_map(|r| r.peak_rss_bytes).max(),
                pass_rate: pass_rate(mine),
                score_mean: mean(&mine.iter().filter_map(|r| r.score).collect::<Vec<_>>()),
                consistency_similarity: None,
                consistency_exact_rate: None,
                cost_per_run_usd: mean(&values(|r| r.cost_usd)),
                cost_per_1k_usd: mean(&values(|r| r.cost_usd)).map(|c| c * 1000.0),
                model_load_ms: None,
                context_create_ms: None,
                aggregate_tokens_per_s: aggregate_tokens_per_s(&measured),
                warm_runs: measured
                    .iter()
                    .filter(|r| r.cached_tokens.is_some_and(|c| c > 0))
                    .count(),
                cached_tokens_mean: mean(&values(|r| r.cached_tokens.map(f64::from))),
                ttft_saved_ms_estimate: ttft_saved_ms_estimate(&measured),
                ttft_p50_saved_vs_cold_ms: None,
                cache_hits: hits.len(),
                cache_saved_ms: (!hits.is_empty()).then(|| hits.iter().filter_map(|r| r.latency_ms).sum()),
                cache_saved_usd: hits.iter().filter_map(|r| r.cache_saved_usd).reduce(|a, b| a + b),
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
            .entry(run.case.as_str())
            .or_default()
            .push(run.output.as_str());
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
        let Some(metrics) = &run.metrics else { continue };
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
        .filter_map(|r| r.metrics.as_ref())
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

fn list<T: std::fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

/// A local setting of a run for a CSV cell; empty for a remote run.
fn number(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".to_string(), |v| format!("{v:.decimals$}"))
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("there is no config {} to compare with: the experiment has {configs} (numbered from 1)", index + 1)]
    NoSuchConfig { index: usize, configs: usize },
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write the report: {0}")]
    Io(#[from] std::io::Error),
}

impl Report {
    /// Compares every config with config `baseline` over their successful runs.
    pub fn compare_with(&mut self, baseline: usize) -> Result<(), ReportError> {
        if baseline >= self.configs.len() {
            return Err(ReportError::NoSuchConfig {
                index: baseline,
                configs: self.configs.len(),
            });
        }
        let latency = self.samples_by_config(|m| Some(m.latency_ms));
        let ttft = self.samples_by_config(|m| m.ttft_ms);
        let configs = (0..self.configs.len())
            .map(|index| ConfigComparison {
                config: index,
                latency_ms: difference(&latency[baseline], &latency[index]),
                ttft_ms: difference(&ttft[baseline], &ttft[index]),
            })
            .collect();
        self.comparison = Some(Comparison { baseline, configs });
        Ok(())
    }

    /// A metric of every measured run (successful, not a cache hit) of config `index`.
    pub fn samples(&self, index: usize, metric: impl Fn(&RunMetrics) -> Option<f64>) -> Vec<f64> {
        self.samples_by_config(metric)
            .into_iter()
            .nth(index)
            .unwrap_or_default()
    }

    /// A metric of every measured run, per config in report order: one pass over the runs
    /// (an experiment can hold 100,000 of them).
    pub fn samples_by_config(&self, metric: impl Fn(&RunMetrics) -> Option<f64>) -> Vec<Vec<f64>> {
        let index: HashMap<(&str, &str, Option<LocalSettings>), usize> = self
            .configs
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.variant.as_str(), c.target.as_str(), c.settings), i))
            .collect();
        let mut samples = vec![Vec::new(); self.configs.len()];
        for run in self.runs.iter().filter(|r| r.error.is_none() && !r.cache_hit) {
            if let (Some(&config), Some(value)) = (
                index.get(&(run.variant.as_str(), run.target.as_str(), run.settings)),
                run.metrics.as_ref().and_then(&metric),
            ) {
                samples[config].push(value);
            }
        }
        samples
    }

    /// Fills each config's load and context-creation times from its target's loads.
    pub fn attach_load_times(&mut self) {
        for config in &mut self.configs {
            let load = self
                .targets
                .iter()
                .filter(|t| t.id == config.target)
                .flat_map(|t| t.loads.iter())
                .find(|l| Some(l.settings) == config.settings);
            if let Some(load) = load {
                config.model_load_ms = load.model_load_ms;
                config.context_create_ms = load.context_create_ms;
            }
        }
    }

    pub fn to_json(&self) -> Result<String, ReportError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# {} (experiment {})\n", self.name, self.experiment_id);
        let _ = writeln!(
            md,
            "Status: {}. Started {}{}. Machine: {} ({} logical cores, {:.1} GiB RAM). {}\n",
            crate::resume::status_text(&self.status, self.runs.len(), self.planned_runs),
            self.created_at,
            self.finished_at
                .as_deref()
                .map(|f| format!(", finished {f}"))
                .unwrap_or_default(),
            self.environment.machine.cpu_model,
            self.environment.machine.logical_cores,
            self.environment.machine.memory_bytes as f64 / (1u64 << 30) as f64,
            self.environment.llama_build.as_deref().unwrap_or(""),
        );
        let _ = writeln!(md, "| {} |", SUMMARY_HEADERS.join(" | "));
        let _ = writeln!(md, "|{}", "---|".repeat(SUMMARY_HEADERS.len()));
        for config in &self.configs {
            let cells: Vec<String> = config.cells().iter().map(|c| escape_md(c)).collect();
            let _ = writeln!(md, "| {} |", cells.join(" | "));
        }
        if let Some(comparison) = &self.comparison {
            self.comparison_markdown(&mut md, comparison);
        }
        let _ = writeln!(md, "\n## Targets\n");
        for target in &self.targets {
            if let Some(remote) = &target.remote {
                let _ = writeln!(
                    md,
                    "- `{}`: {} at {}{}, max concurrency {}{}",
                    target.id,
                    remote.label(),
                    remote.base_url,
                    remote
                        .api_key_env
                        .as_deref()
                        .map(|v| format!(" (key from {v})"))
                        .unwrap_or_default(),
                    remote.max_concurrency,
                    target
                        .price_source
                        .as_deref()
                        .map(|s| format!("; price from {}", escape_md(s)))
                        .unwrap_or_default()
                );
                continue;
            }
            let _ = writeln!(
                md,
                "- `{}`: {} (sha256 {}), threads {}, batch {}, KV cache {}, GPU layers {}, chat template {}",
                target.id,
                target.model_path,
                target.model_sha256.as_deref().unwrap_or("unknown"),
                list(&target.threads),
                list(&target.batch),
                list(&target.kv_type),
                list(&target.n_gpu_layers),
                target.chat_template
            );
            for load in &target.loads {
                let _ = writeln!(
                    md,
                    "  - n_ctx {} · {} threads · batch {} · kv {}: model load {} ms, context {} ms, KV cache {}{}",
                    load.settings.n_ctx,
                    load.settings.threads,
                    load.settings.batch,
                    load.settings.kv_type,
                    number(load.model_load_ms, 1),
                    number(load.context_create_ms, 1),
                    load.kv_cache_bytes.map_or_else(|| "—".to_string(), mib),
                    load.error
                        .as_ref()
                        .map(|e| format!(", failed: {e}"))
                        .unwrap_or_default()
                );
            }
        }
        if !self.grading.is_empty() {
            let _ = writeln!(
                md,
                "\n## Grading\n\nJudge checks graded after the runs; these calls are not part of any config's latency or cost.\n"
            );
            for line in self.grading_lines() {
                let _ = writeln!(md, "- {}", escape_md(&line));
            }
        }
        let warnings = self.distinct_warnings();
        if !warnings.is_empty() {
            let _ = writeln!(md, "\n## Warnings\n");
            for warning in warnings {
                let _ = writeln!(md, "- {}", escape_md(&warning));
            }
        }
        let errors: Vec<&RunRow> = self.runs.iter().filter(|r| r.error.is_some()).collect();
        if !errors.is_empty() {
            let _ = writeln!(md, "\n## Errors\n");
            for run in errors {
                if let Some(error) = &run.error {
                    let _ = writeln!(
                        md,
                        "- {} / {} / {} / case {} / rep {}: {}",
                        run.variant,
                        run.target,
                        run.settings
                            .map_or_else(|| "remote".to_string(), |s| format!("n_ctx {}", s.n_ctx)),
                        run.case,
                        run.repetition,
                        escape_md(&error.to_string())
                    );
                }
            }
        }
        md
    }

    /// One line per grader: calls, verdicts, time, tokens and cost.
    pub fn grading_lines(&self) -> Vec<String> {
        self.grading
            .iter()
            .map(|g| {
                format!(
                    "grader {}: {} calls{}, {} passed; latency p50 {} ms, {:.1} s in all; {} input + {} output tokens; {}",
                    g.grader,
                    g.calls,
                    if g.errors > 0 {
                        format!(" ({} without a verdict)", g.errors)
                    } else {
                        String::new()
                    },
                    g.passed,
                    number(g.latency_p50_ms, 0),
                    g.latency_total_ms / 1000.0,
                    g.input_tokens,
                    g.output_tokens,
                    g.cost_usd
                        .map_or_else(|| "no price".to_string(), |c| format!("${c:.6}"))
                )
            })
            .collect()
    }

    fn comparison_markdown(&self, md: &mut String, comparison: &Comparison) {
        let label = |index: usize| {
            self.configs
                .get(index)
                .map(|c| format!("{} · {} · {}", c.variant, c.target, c.settings_label))
                .unwrap_or_default()
        };
        let _ = writeln!(
            md,
            "\n## Compared with {}\n\nDifferences of medians with 95 % bootstrap intervals; a config is called faster or slower only when the interval excludes 0.\n",
            escape_md(&label(comparison.baseline))
        );
        let _ = writeln!(
            md,
            "| config | runs | Δ p50 latency | latency | Δ p50 TTFT | TTFT |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for c in comparison
            .configs
            .iter()
            .filter(|c| c.config != comparison.baseline)
        {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                escape_md(&label(c.config)),
                c.latency_ms.other_n,
                interval_text(&c.latency_ms),
                verdict_word(&c.latency_ms),
                interval_text(&c.ttft_ms),
                verdict_word(&c.ttft_ms),
            );
        }
    }

    /// Every distinct warning of the experiment's runs and loads, in first-seen order.
    pub fn distinct_warnings(&self) -> Vec<String> {
        let mut seen = Vec::<String>::new();
        let all = self
            .targets
            .iter()
            .flat_map(|t| t.loads.iter().flat_map(|l| l.warnings.iter()))
            .chain(self.runs.iter().flat_map(|r| r.warnings.iter()));
        for warning in all {
            if !seen.contains(warning) {
                seen.push(warning.clone());
            }
        }
        seen
    }
}

/// `−95.3 ms [−120.1, −70.2]`.
pub fn interval_text(difference: &Difference) -> String {
    match &difference.median {
        Some(i) => format!("{:+.1} ms [{:+.1}, {:+.1}]", i.estimate, i.low, i.high),
        None => "—".into(),
    }
}

/// How a latency difference reads: lower is faster.
pub fn verdict_word(difference: &Difference) -> &'static str {
    match difference.verdict {
        Verdict::Lower => "faster",
        Verdict::Higher => "slower",
        Verdict::NoClearDifference => "no clear difference",
        Verdict::TooFewRuns => "too few runs",
    }
}

fn escape_md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let key = RunKey {
            variant: variant.into(),
            target: "t".into(),
            settings: Some(SETTINGS),
            case: "c".into(),
            repetition: 0,
            started_at: String::new(),
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
        RunRow::from_metrics(key, "out".into(), None, metrics, error, vec![])
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
        let with_output = |text: &str| RunRow {
            output: text.into(),
            ..row("a", Some(100.0))
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
}
