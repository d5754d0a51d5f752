//! The same experiment file run again later (a new model file, a new llama.cpp, a new day): each
//! config's figures run after run, and what changed against the previous run, called a
//! regression or an improvement only when its 95 % bootstrap interval says so and, for latency
//! and cost, the change is at least [`MIN_RELATIVE_CHANGE`] of the previous value. The interval
//! resamples runs within each experiment; it cannot see that a whole experiment ran on a machine
//! a few percent busier, and repeating one moves latency by that much (measured on the
//! quickstart: 1–6 % between two runs minutes apart), so smaller shifts are not called.

use serde::{Deserialize, Serialize};

use crate::analyze::compare::{Interval, bootstrap, difference};
use crate::analyze::report::{ConfigSummary, Report, RunRow};
use crate::execute::resume::ExperimentStatus;
use crate::spec::target::LocalSettings;
use crate::stats::{mean, percentile};

/// The most runs of one file a history reads: it is for reading, not for every run ever made.
pub const MAX_HISTORY_ENTRIES: usize = 50;

/// The smallest relative change of latency or cost that is called a regression or an
/// improvement (with an interval that excludes zero): 10 %.
pub const MIN_RELATIVE_CHANGE: f64 = 0.10;

/// Every recorded run of one experiment file, oldest first, and each config's course through them.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentHistory {
    pub name: String,
    /// The experiment file (absolute path), when the experiments came from one.
    pub source: Option<String>,
    pub entries: Vec<HistoryEntry>,
    pub configs: Vec<ConfigHistory>,
}

/// One recorded run of the file.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub experiment_id: i64,
    pub created_at: String,
    pub status: ExperimentStatus,
    /// The llama.cpp build it ran with, when a local model took part.
    pub llama_build: Option<String>,
    /// What changed since the previous entry, in words: model files (by sha256), the llama.cpp
    /// build, the configs measured.
    pub changed: Vec<String>,
}

/// One config (variant, target, settings) across the entries that measured it.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigHistory {
    pub variant: String,
    pub target: String,
    pub settings: Option<LocalSettings>,
    /// How the latest entry labels it (`fewshot · gemma-270m-q4 · n_ctx 512`).
    pub label: String,
    pub points: Vec<HistoryPoint>,
}

/// A config's figures in one entry, and how they moved from its previous one.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub experiment_id: i64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub runs: usize,
    pub pass_rate: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub cost_per_run_usd: Option<f64>,
    /// Against the config's previous point (`None` on its first): this one minus that one.
    pub change: Option<PointChange>,
}

/// What moved between two points, each with its 95 % bootstrap interval.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointChange {
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub since_experiment_id: i64,
    /// Median latency of successful runs.
    pub latency_p50_ms: Option<Interval>,
    /// Pass rate (failed runs count as not passing), in points of share (−0.25: 25 points down).
    pub pass_rate: Option<Interval>,
    /// Mean cost of a run.
    pub cost_per_run_usd: Option<Interval>,
    /// Each established worsening, in words; empty when none.
    pub regressions: Vec<String>,
    pub improvements: Vec<String>,
}

/// The history of the experiments in `reports` (one file's, oldest first).
pub fn history(reports: &[Report]) -> ExperimentHistory {
    let mut entries = Vec::with_capacity(reports.len());
    for (index, report) in reports.iter().enumerate() {
        entries.push(HistoryEntry {
            experiment_id: report.experiment_id,
            created_at: report.created_at.clone(),
            status: report.status,
            llama_build: report.environment.llama_build.clone(),
            changed: index
                .checked_sub(1)
                .map_or_else(Vec::new, |previous| changes(&reports[previous], report)),
        });
    }
    let mut configs: Vec<ConfigHistory> = Vec::new();
    for report in reports {
        for summary in &report.configs {
            let runs: Vec<&RunRow> = report.runs.iter().filter(|row| is_of(row, summary)).collect();
            let at = configs.iter().position(|c| {
                c.variant == summary.variant && c.target == summary.target && c.settings == summary.settings
            });
            let config = match at {
                Some(at) => &mut configs[at],
                None => {
                    configs.push(ConfigHistory {
                        variant: summary.variant.clone(),
                        target: summary.target.clone(),
                        settings: summary.settings,
                        label: String::new(),
                        points: Vec::new(),
                    });
                    configs.last_mut().expect("just pushed")
                }
            };
            config.label = format!(
                "{} · {} · {}",
                summary.variant, summary.target, summary.settings_label
            );
            config.points.push(HistoryPoint {
                experiment_id: report.experiment_id,
                runs: summary.runs,
                pass_rate: summary.pass_rate,
                latency_p50_ms: summary.latency_p50_ms,
                latency_p95_ms: summary.latency_p95_ms,
                cost_per_run_usd: summary.cost_per_run_usd,
                change: None,
            });
            // The samples of each point are not kept in the history: the change is worked out
            // now, against the previous point's report.
            let points = config.points.len();
            if points >= 2 {
                let since = config.points[points - 2].experiment_id;
                let previous = reports
                    .iter()
                    .find(|r| r.experiment_id == since)
                    .map(|r| {
                        r.runs
                            .iter()
                            .filter(|row| is_of(row, summary))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                config.points[points - 1].change = Some(change(since, &previous, &runs));
            }
        }
    }
    let last = reports.last();
    ExperimentHistory {
        name: last.map(|r| r.name.clone()).unwrap_or_default(),
        source: last.and_then(|r| r.source.clone()),
        entries,
        configs,
    }
}

fn is_of(row: &RunRow, summary: &ConfigSummary) -> bool {
    row.labels.variant == summary.variant
        && row.labels.target == summary.target
        && row.labels.settings == summary.settings
}

/// Successful runs' latencies.
fn latencies(runs: &[&RunRow]) -> Vec<f64> {
    runs.iter()
        .filter(|row| row.run.error.is_none())
        .filter_map(|row| row.latency_ms())
        .collect()
}

/// 1 for a run that passed its checks, 0 for one that did not or failed (runs of cases without
/// checks say nothing).
fn passes(runs: &[&RunRow]) -> Vec<f64> {
    runs.iter()
        .filter_map(|row| match (row.passed, &row.run.error) {
            (Some(passed), _) => Some(f64::from(u8::from(passed))),
            (None, Some(_)) => Some(0.0),
            (None, None) => None,
        })
        .collect()
}

fn costs(runs: &[&RunRow]) -> Vec<f64> {
    runs.iter().filter_map(|row| row.run.cost_usd).collect()
}

fn change(since: i64, previous: &[&RunRow], current: &[&RunRow]) -> PointChange {
    let latency = difference(&latencies(previous), &latencies(current)).median;
    let mean_of = |values: &[f64]| mean(values).unwrap_or(f64::NAN);
    let (earlier, now) = (passes(previous), passes(current));
    // Checks on neither side, or both: a pass rate appears or goes with the checks, not the model.
    let pass_rate = (!earlier.is_empty() && !now.is_empty())
        .then(|| bootstrap(&earlier, &now, mean_of))
        .flatten();
    let cost = bootstrap(&costs(previous), &costs(current), mean_of);
    let mut regressions = Vec::new();
    let mut improvements = Vec::new();
    // `before`: the previous value a relative change is measured from (`None`: any established
    // change counts, as for a pass rate).
    let mut call = |interval: &Option<Interval>,
                    before: Option<f64>,
                    higher_is_worse: bool,
                    say: &dyn Fn(&Interval) -> String| {
        let Some(interval) = interval else {
            return;
        };
        if !interval.excludes_zero() {
            return;
        }
        if let Some(before) = before
            && interval.estimate.abs() < MIN_RELATIVE_CHANGE * before.abs()
        {
            return;
        }
        if (interval.low > 0.0) == higher_is_worse {
            regressions.push(say(interval));
        } else {
            improvements.push(say(interval));
        }
    };
    let relative = |change: f64, before: Option<f64>| {
        before
            .filter(|b| *b != 0.0)
            .map_or(String::new(), |b| format!(", {:+.0} %", change / b * 100.0))
    };
    let latency_before = percentile(&latencies(previous), 50.0);
    call(&latency, Some(latency_before.unwrap_or(0.0)), true, &|i| {
        format!(
            "p50 latency {:+.0} ms{} (95 % interval {:+.0} to {:+.0} ms)",
            i.estimate,
            relative(i.estimate, latency_before),
            i.low,
            i.high
        )
    });
    call(&pass_rate, None, false, &|i| {
        format!(
            "pass rate {:+.0} points (95 % interval {:+.0} to {:+.0})",
            i.estimate * 100.0,
            i.low * 100.0,
            i.high * 100.0
        )
    });
    let cost_before = mean(&costs(previous));
    call(&cost, Some(cost_before.unwrap_or(0.0)), true, &|i| {
        format!(
            "cost per run {:+.3e} ${} (95 % interval {:+.3e} to {:+.3e} $)",
            i.estimate,
            relative(i.estimate, cost_before),
            i.low,
            i.high
        )
    });
    PointChange {
        since_experiment_id: since,
        latency_p50_ms: latency,
        pass_rate,
        cost_per_run_usd: cost,
        regressions,
        improvements,
    }
}

/// What differs between two runs of the file besides the day: the model files, llama.cpp, the
/// configs.
fn changes(previous: &Report, current: &Report) -> Vec<String> {
    let mut changed = Vec::new();
    for target in &current.targets {
        let before = previous.targets.iter().find(|t| t.id == target.id);
        match before {
            None => changed.push(format!("target `{}` is new", target.id)),
            Some(before) if before.model_sha256 != target.model_sha256 => {
                let short = |sha: &Option<String>| {
                    sha.as_deref()
                        .map_or("unknown".to_string(), |s| s.chars().take(12).collect())
                };
                changed.push(format!(
                    "target `{}`: another model file (sha256 {} → {})",
                    target.id,
                    short(&before.model_sha256),
                    short(&target.model_sha256)
                ));
            }
            Some(before) if before.model != target.model => {
                changed.push(format!(
                    "target `{}`: model {} → {}",
                    target.id, before.model, target.model
                ));
            }
            Some(_) => {}
        }
    }
    if previous.environment.llama_build != current.environment.llama_build
        && current.environment.llama_build.is_some()
    {
        changed.push(format!(
            "llama.cpp: {} → {}",
            previous.environment.llama_build.as_deref().unwrap_or("none"),
            current.environment.llama_build.as_deref().unwrap_or("none")
        ));
    }
    let gone = previous
        .configs
        .iter()
        .filter(|c| {
            !current
                .configs
                .iter()
                .any(|n| n.variant == c.variant && n.target == c.target && n.settings == c.settings)
        })
        .count();
    if gone > 0 {
        changed.push(format!("{gone} configs of the previous run not measured"));
    }
    changed
}
