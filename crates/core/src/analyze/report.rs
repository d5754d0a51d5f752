//! Reports: the runs of an experiment and a summary per config, as JSON, CSV or Markdown.
//! The CLI's `run --json` and `report` both build this from what the store holds, so what is
//! printed after a run is exactly what can be read back later.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::analyze::compare::{Difference, Verdict, difference};
use crate::diff::{Granularity, diff};
use crate::execute::environment::Environment;
use crate::execute::record::RunRecord;
use crate::execute::resume::ExperimentStatus;
use crate::execute::sink::LoadEvent;
use crate::run::{FinishReason, RunError, RunMetrics};
use crate::spec::checks::CheckResult;
use crate::spec::experiment::{ChatTemplateChoice, Target, TargetKind};
use crate::spec::target::{KvType, LocalSettings};
use crate::stats::{mean, percentile, std_dev};

pub mod csv_export;
mod markdown;
mod summary;
#[cfg(test)]
mod tests;

pub use markdown::{interval_text, verdict_word};
pub use summary::{ConfigSummary, SUMMARY_HEADERS, summarize};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub experiment_id: i64,
    pub name: String,
    pub source: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// `running`, `completed`, `cancelled` or `interrupted`.
    pub status: ExperimentStatus,
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
    /// Every grader call (see `execute::grading`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judgements: Vec<JudgementRow>,
    /// How a search (racing, halving) went; `None` for the full grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchReport>,
}

/// A search as a report shows it (the JSON report's `search` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchReport {
    pub strategy: String,
    pub confidence: f64,
    pub seed: u64,
    /// The runs recorded, and those the full grid has.
    pub runs_used: usize,
    pub runs_grid: usize,
    pub rounds: u32,
    pub stopped: String,
    pub sureness: String,
    /// Every config dropped, in the order they were.
    pub eliminated: Vec<EliminatedConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EliminatedConfig {
    /// `variant · target · settings`.
    pub config: String,
    pub round: u32,
    pub reason: String,
    pub cases_run: u32,
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
    pub loads: Vec<LoadEvent>,
    /// A remote target's API (no key: only the variable that holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<crate::spec::target::remote::RemoteTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<crate::spec::cost::Price>,
    /// Where the price came from when the target did not set it (the price table's entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_source: Option<String>,
}

impl TargetInfo {
    /// What a report shows of a resolved target, before its loads are known. A remote target
    /// shows its API as the model's place and no local settings.
    pub fn of(target: &Target) -> TargetInfo {
        let (model_path, local) = match &target.kind {
            TargetKind::Local(local) => (local.model.path.to_string_lossy().into_owned(), Some(local)),
            TargetKind::Remote(remote) => (remote.base_url.clone(), None),
        };
        TargetInfo {
            id: target.id.clone(),
            model: target.model_name().to_string(),
            model_path,
            model_sha256: local.and_then(|l| l.model_sha256.clone()),
            threads: local.map(|l| l.threads.clone()).unwrap_or_default(),
            batch: local.map(|l| l.batch.clone()).unwrap_or_default(),
            kv_type: local.map(|l| l.kv_type.clone()).unwrap_or_default(),
            n_gpu_layers: local.map(|l| l.n_gpu_layers.clone()).unwrap_or_default(),
            chat_template: local
                .map_or(ChatTemplateChoice::None, |l| l.chat_template.clone())
                .to_string(),
            loads: Vec::new(),
            remote: target.remote().cloned(),
            price: target.price.clone(),
            price_source: target.price_source.clone(),
        }
    }
}

/// One recorded run in a report: the run as the runner recorded it (its config and case
/// positions, repetition, output, measurements once, checks, cost, attempts), with the names a
/// person reads beside it and its verdict over its case's checks. The JSON report also shows the
/// common measurements (and the rates derived from them) beside the names (`RunRowJson`).
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub labels: RunLabels,
    pub run: RunRecord,
    /// Whether the run passed its case's checks (`None`: the case has none) and their mean score.
    pub passed: Option<bool>,
    pub score: Option<f64>,
}

impl RunRow {
    pub fn new(labels: RunLabels, run: RunRecord) -> RunRow {
        RunRow {
            labels,
            run,
            passed: None,
            score: None,
        }
    }

    pub fn metrics(&self) -> Option<&RunMetrics> {
        self.run.metrics.as_ref()
    }

    pub fn latency_ms(&self) -> Option<f64> {
        self.metrics().map(|m| m.latency_ms)
    }

    pub fn ttft_ms(&self) -> Option<f64> {
        self.metrics().and_then(|m| m.ttft_ms)
    }

    pub fn input_tokens(&self) -> Option<u32> {
        self.metrics().map(|m| m.input_tokens)
    }

    pub fn output_tokens(&self) -> Option<u32> {
        self.metrics().map(|m| m.output_tokens)
    }

    pub fn gen_tokens_per_s(&self) -> Option<f64> {
        self.metrics().and_then(RunMetrics::gen_tokens_per_s)
    }

    /// Any measurement by name of accessor (`|m| m.peak_rss_bytes`).
    pub fn metric<T>(&self, f: impl Fn(&RunMetrics) -> Option<T>) -> Option<T> {
        self.metrics().and_then(f)
    }
}

/// A run as the JSON report writes it: the common measurements and derived rates beside the
/// key, then everything else, with the whole `metrics` kept for checking the numbers.
#[derive(Serialize)]
struct RunRowJson<'a> {
    variant: &'a str,
    target: &'a str,
    #[serde(flatten)]
    settings: Option<LocalSettings>,
    case: &'a str,
    repetition: u32,
    started_at: &'a str,
    latency_ms: Option<f64>,
    ttft_ms: Option<f64>,
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    prompt_tokens_per_s: Option<f64>,
    gen_tokens_per_s: Option<f64>,
    peak_rss_bytes: Option<u64>,
    kv_cache_bytes: Option<u64>,
    cached_tokens: Option<u32>,
    batch_sequences: Option<u32>,
    passed: Option<bool>,
    score: Option<f64>,
    checks: &'a [CheckResult],
    cost_usd: Option<f64>,
    output: &'a str,
    finish_reason: Option<FinishReason>,
    error: &'a Option<RunError>,
    warnings: &'a [String],
    metrics: &'a Option<RunMetrics>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    attempts: &'a [crate::execute::remote::Attempt],
    cache_hit: bool,
    cache_saved_usd: Option<f64>,
}

impl Serialize for RunRow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let run = &self.run;
        RunRowJson {
            variant: &self.labels.variant,
            target: &self.labels.target,
            settings: self.labels.settings,
            case: &self.labels.case,
            repetition: run.repetition,
            started_at: &run.started_at,
            latency_ms: self.latency_ms(),
            ttft_ms: self.ttft_ms(),
            input_tokens: self.input_tokens(),
            output_tokens: self.output_tokens(),
            prompt_tokens_per_s: self.metric(RunMetrics::prompt_tokens_per_s),
            gen_tokens_per_s: self.gen_tokens_per_s(),
            peak_rss_bytes: self.metric(|m| m.peak_rss_bytes),
            kv_cache_bytes: self.metric(|m| m.kv_cache_bytes),
            cached_tokens: self.metric(|m| m.cached_tokens),
            batch_sequences: self.metric(|m| m.batch_sequences),
            passed: self.passed,
            score: self.score,
            checks: &run.checks,
            cost_usd: run.cost_usd,
            output: &run.output,
            finish_reason: run.finish_reason,
            error: &run.error,
            warnings: &run.warnings,
            metrics: &run.metrics,
            attempts: &run.attempts,
            cache_hit: run.cache_hit,
            cache_saved_usd: run.cache_saved_usd,
        }
        .serialize(serializer)
    }
}

/// The names a person reads for a run's config and case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLabels {
    pub variant: String,
    pub target: String,
    pub settings: Option<LocalSettings>,
    pub case: String,
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
        for run in self
            .runs
            .iter()
            .filter(|r| r.run.error.is_none() && !r.run.cache_hit)
        {
            if let (Some(&config), Some(value)) = (
                index.get(&(
                    run.labels.variant.as_str(),
                    run.labels.target.as_str(),
                    run.labels.settings,
                )),
                run.metrics().and_then(&metric),
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

    /// Said once for the experiment when runs were contended (`RunMetrics::contended`).
    pub fn contention_warning(&self) -> Option<String> {
        let contended: usize = self.configs.iter().map(|c| c.contended_runs).sum();
        (contended > 0).then(|| {
            format!(
                "{contended} of {} runs were contended: other programs used the CPU beyond what those runs left free, so their timings measure the machine's load as well as the model (marked `contended`). Rerun them on a quiet machine, or from the CLI rather than the app, to compare speed.",
                self.runs.len()
            )
        })
    }

    /// The contention warning, then every distinct warning of the experiment's runs and loads,
    /// in first-seen order.
    pub fn distinct_warnings(&self) -> Vec<String> {
        let mut seen: Vec<String> = self.contention_warning().into_iter().collect();
        let all = self
            .targets
            .iter()
            .flat_map(|t| t.loads.iter().flat_map(|l| l.warnings.iter()))
            .chain(self.runs.iter().flat_map(|r| r.run.warnings.iter()));
        for warning in all {
            if !seen.contains(warning) {
                seen.push(warning.clone());
            }
        }
        seen
    }
}
