//! Wire types between the app's backend and its UI. TypeScript is generated from these by
//! specta (`ui/src/bindings.ts`). Ids and counts cross as `u32` numbers, never 64-bit integers.

use serde::Serialize;
use specta::Type;
use tradeoff_core::analyze::compare::Verdict;
use tradeoff_core::analyze::report::ConfigSummary;
use tradeoff_core::execute::resume::ExperimentStatus;
use tradeoff_core::spec::experiment::{Experiment, PromptTemplate};
use tradeoff_core::spec::matrix::Plan;
use tradeoff_store::ExperimentListing;

use crate::error::{AppCode, AppError};

pub fn id32(id: i64) -> Result<u32, AppError> {
    u32::try_from(id).map_err(|_| {
        AppError::new(
            AppCode::Database,
            format!("id {id} does not fit the UI's id type"),
        )
    })
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct ExperimentItem {
    pub id: u32,
    pub name: String,
    pub created_at: String,
    /// `interrupted` also for an experiment whose process is gone (see `tradeoff_store::Owner`).
    pub status: ExperimentStatus,
    pub configs: u32,
    /// Runs recorded.
    pub runs: u32,
    pub errors: u32,
    /// Runs the plan has; fewer recorded means some are missing.
    pub planned_runs: u32,
    /// The experiment file it was run from, when it came from one: shown again, it opens too.
    pub source: Option<String>,
}

impl ExperimentItem {
    pub fn from_listing(l: &ExperimentListing) -> Result<Self, AppError> {
        Ok(ExperimentItem {
            id: id32(l.id)?,
            name: l.name.clone(),
            created_at: l.created_at.clone(),
            status: l.status,
            configs: l.configs as u32,
            runs: l.runs as u32,
            errors: l.errors as u32,
            planned_runs: l.planned_runs as u32,
            source: l.source.clone(),
        })
    }
}

/// An experiment file as the UI shows it before running.
#[derive(Debug, Clone, Serialize, Type)]
pub struct ExperimentView {
    pub path: String,
    pub name: String,
    pub variants: Vec<VariantView>,
    pub cases: Vec<String>,
    pub targets: Vec<String>,
    /// The local targets and graders: they need local inference to work on this machine.
    pub local_targets: Vec<String>,
    /// `variant · target · settings` of every config, in report order.
    pub configs: Vec<String>,
    pub runs: u32,
}

/// How a variant's prompt is written: chat messages, or one raw completion prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum PromptFormat {
    Chat,
    Raw,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct VariantView {
    pub id: String,
    pub format: PromptFormat,
    /// The templates, in order, labelled (`system: ...`, `user: ...` or the raw prompt).
    pub templates: Vec<String>,
}

impl ExperimentView {
    pub fn new(path: String, e: &Experiment) -> Self {
        let plan = Plan::new(e);
        ExperimentView {
            path,
            name: e.name.clone(),
            variants: e
                .variants
                .iter()
                .map(|v| match &v.template {
                    PromptTemplate::Raw { prompt } => VariantView {
                        id: v.id.clone(),
                        format: PromptFormat::Raw,
                        templates: vec![prompt.clone()],
                    },
                    PromptTemplate::Chat {
                        system,
                        messages,
                        user,
                    } => VariantView {
                        id: v.id.clone(),
                        format: PromptFormat::Chat,
                        templates: system
                            .iter()
                            .map(|s| format!("system: {s}"))
                            .chain(
                                messages
                                    .iter()
                                    .map(|m| format!("{}: {}", m.role.as_str(), m.content)),
                            )
                            .chain(user.iter().map(|u| format!("user: {u}")))
                            .collect(),
                    },
                })
                .collect(),
            cases: e.cases.iter().map(|c| c.id.clone()).collect(),
            targets: e.targets.iter().map(|t| t.id.clone()).collect(),
            local_targets: e
                .targets
                .iter()
                .chain(&e.graders)
                .filter(|t| t.local().is_some())
                .map(|t| t.id.clone())
                .collect(),
            configs: plan.config_labels(e),
            runs: plan.total_runs() as u32,
        }
    }
}

/// Progress of a running experiment, batched (text at most 4 times a second).
#[derive(Debug, Clone, Serialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProgressEvent {
    Started {
        experiment_id: u32,
        total: u32,
    },
    Loading {
        target: String,
        n_ctx: u32,
    },
    /// The run in flight and the text it has produced so far.
    Running {
        done: u32,
        total: u32,
        config: u32,
        case: u32,
        repetition: u32,
        text: String,
    },
    RunFinished {
        done: u32,
        total: u32,
        config: u32,
        case: u32,
        repetition: u32,
        output: String,
        latency_ms: Option<f64>,
        error: Option<String>,
    },
    /// Judge checks being graded, after every run has finished.
    Graded {
        done: u32,
        total: u32,
    },
    /// A round of a search (racing, halving) finished: the configs still in (by position),
    /// those dropped after it with why, and the runs used of the grid's.
    SearchRound {
        round: u32,
        alive: Vec<u32>,
        eliminated: Vec<tradeoff_core::execute::search_log::Elimination>,
        runs_used: u32,
        runs_grid: u32,
    },
    Finished {
        experiment_id: u32,
        status: ExperimentStatus,
    },
    Failed {
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct RunOutcomeView {
    pub experiment_id: Option<u32>,
    pub status: ExperimentStatus,
}

/// A config of the results screen: its position (what grid cells and comparisons refer to) and
/// the engine's summary of it, as the JSON report has it.
#[derive(Debug, Clone, Serialize, Type)]
pub struct ConfigView {
    pub index: u32,
    #[serde(flatten)]
    pub summary: ConfigSummary,
}

impl ConfigView {
    pub fn new(index: usize, summary: &ConfigSummary) -> Self {
        ConfigView {
            index: index as u32,
            summary: summary.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct ResultsView {
    pub experiment_id: u32,
    pub name: String,
    pub status: ExperimentStatus,
    pub repetitions: u32,
    pub configs: Vec<ConfigView>,
    pub cases: Vec<String>,
    /// Runs recorded so far (all repetitions); the cells themselves load page by page.
    pub recorded_runs: u32,
    /// Runs the plan has (config × case × repetition).
    pub planned_runs: u32,
    pub warnings: Vec<String>,
    /// One line per grader of judge checks: calls, verdicts, time, tokens, cost (not part of
    /// any config's numbers).
    pub grading: Vec<String>,
    /// Indices of the configs no other config beats on quality, cost and p95 latency at once.
    pub pareto_front: Vec<u32>,
    /// Every successful single-stream run's latency, per config (the latency distributions).
    pub latencies_ms: Vec<Vec<f64>>,
    /// The context budget the experiment swept, if any: which budget each config is.
    pub budget: Option<BudgetView>,
}

/// A swept context budget as the results' chart reads it.
#[derive(Debug, Clone, Serialize, Type)]
pub struct BudgetView {
    /// The case variable cut.
    pub var: String,
    /// Per config (in summary order): its budget, or `None` for a config without one.
    pub configs: Vec<Option<BudgetPoint>>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct BudgetPoint {
    /// The file's variant the budgeted one was made from.
    pub variant: String,
    pub tokens: u32,
    /// `head`, `tail`, `middle` or `relevant`.
    pub strategy: String,
}

impl BudgetView {
    pub fn of(
        experiment: &tradeoff_core::spec::experiment::Experiment,
        configs: &[ConfigSummary],
    ) -> Option<BudgetView> {
        let budget = experiment.budget.as_ref()?;
        let point = |summary: &ConfigSummary| {
            let variant = experiment.variants.iter().find(|v| v.id == summary.variant)?;
            let choice = variant.budget?;
            let suffix = format!(" {}", choice.label(&budget.var));
            Some(BudgetPoint {
                variant: variant
                    .id
                    .strip_suffix(&suffix)
                    .unwrap_or(&variant.id)
                    .to_string(),
                tokens: choice.tokens,
                strategy: choice.strategy.as_str().to_string(),
            })
        };
        Some(BudgetView {
            var: budget.var.clone(),
            configs: configs.iter().map(point).collect(),
        })
    }
}

/// A model of the library, as the Models screen lists it.
#[derive(Debug, Clone, Serialize, Type)]
pub struct ModelView {
    pub path: String,
    pub name: String,
    pub architecture: Option<String>,
    /// Millions of parameters.
    pub parameters_m: Option<f64>,
    pub quantization: Option<String>,
    pub trained_context: Option<f64>,
    pub file_size_bytes: f64,
    pub has_chat_template: bool,
    pub sha256: Option<String>,
    /// `requantized from Q4_K_M` for models Tradeoff made.
    pub origin: Option<String>,
    pub requantized: bool,
    /// Why the file could not be read as a model.
    pub error: Option<String>,
}

impl ModelView {
    pub fn new(model: &tradeoff_store::LibraryModel) -> Self {
        let file = &model.file;
        let summary = file.summary.as_ref();
        let origin = model.origin.as_ref().map(|o| {
            let from = o.source_quantization.as_deref().unwrap_or("an unknown type");
            if o.requantized {
                format!("requantized from {from}")
            } else {
                format!("quantized from {from}")
            }
        });
        ModelView {
            path: file.path.to_string_lossy().into_owned(),
            name: file
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            architecture: summary.and_then(|s| s.architecture.clone()),
            parameters_m: summary.map(|s| s.parameters as f64 / 1e6),
            quantization: summary.and_then(|s| s.quantization.clone()),
            trained_context: summary.and_then(|s| s.trained_context).map(|c| c as f64),
            file_size_bytes: summary.map_or(0.0, |s| s.file_size as f64),
            has_chat_template: summary.is_some_and(|s| s.has_chat_template),
            sha256: model.sha256.clone(),
            origin,
            requantized: model.origin.as_ref().is_some_and(|o| o.requantized),
            error: file.error.clone(),
        }
    }
}

/// Progress of a quantization started from the Models screen.
#[derive(Debug, Clone, Serialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QuantizeProgress {
    Progress {
        type_name: String,
        done: u32,
        total: u32,
    },
    Quantized {
        type_name: String,
        path: String,
        file_size_bytes: f64,
        duration_ms: f64,
        warnings: Vec<String>,
    },
    Failed {
        type_name: Option<String>,
        message: String,
    },
}

/// A config against the chosen baseline: median differences with 95 % bootstrap intervals.
#[derive(Debug, Clone, Serialize, Type)]
pub struct ComparisonView {
    pub config: u32,
    pub latency: DifferenceView,
    pub ttft: DifferenceView,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct DifferenceView {
    /// `other − baseline` of the medians, and its interval; `None` with too few runs.
    pub estimate_ms: Option<f64>,
    pub low_ms: Option<f64>,
    pub high_ms: Option<f64>,
    /// Lower latency is `lower` (faster); a verdict only when the interval excludes 0.
    pub verdict: Verdict,
}

impl DifferenceView {
    pub fn new(d: &tradeoff_core::analyze::compare::Difference) -> Self {
        DifferenceView {
            estimate_ms: d.median.map(|i| i.estimate),
            low_ms: d.median.map(|i| i.low),
            high_ms: d.median.map(|i| i.high),
            verdict: d.verdict,
        }
    }
}
