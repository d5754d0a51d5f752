//! Results of a recorded experiment: summaries, comparisons, grid pages, outputs, diffs, the winner.

use crate::*;

/// An experiment's configs with their statistics, its cases and warnings; cells come by page.
#[tauri::command]
#[specta::specta]
pub async fn results(state: State<'_, AppState>, experiment_id: u32) -> Result<ResultsView, AppError> {
    state
        .with_store(move |store| {
            let id = i64::from(experiment_id);
            let experiment = store.experiment(id)?;
            // Consistency compares the repetitions' outputs, so only then are outputs read.
            let report = if experiment.repetitions > 1 {
                store.report(id)?
            } else {
                store.report_without_outputs(id)?
            };
            Ok(ResultsView {
                experiment_id,
                name: report.name.clone(),
                status: report.status,
                repetitions: experiment.repetitions,
                configs: report
                    .configs
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ConfigView::new(i, c))
                    .collect(),
                cases: experiment.cases.iter().map(|c| c.id.clone()).collect(),
                recorded_runs: report.runs.len() as u32,
                planned_runs: report.planned_runs as u32,
                warnings: report.distinct_warnings(),
                grading: report.grading_lines(),
                // The front of the trade-off itself: no constraints, every config with a run.
                pareto_front: decide(&report, &[], &Objective::default())
                    .map(|d| {
                        d.pareto_front
                            .iter()
                            .filter_map(|c| match c {
                                Candidate::Config(i) => Some(*i as u32),
                                Candidate::Policy(_) => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                latencies_ms: report
                    .samples_by_config(|m| m.batch_sequences.is_none().then_some(m.latency_ms)),
                budget: BudgetView::of(&experiment, &report.configs),
            })
        })
        .await
}

/// Every config against config `baseline`: differences of median latency and TTFT with 95 %
/// bootstrap intervals, called faster or slower only when the interval excludes zero.
#[tauri::command]
#[specta::specta]
pub async fn compare_configs(
    state: State<'_, AppState>,
    experiment_id: u32,
    baseline: u32,
) -> Result<Vec<ComparisonView>, AppError> {
    state
        .with_store(move |store| {
            let mut report = store.report_without_outputs(i64::from(experiment_id))?;
            report
                .compare_with(baseline as usize)
                .map_err(|e| AppError::new(AppCode::NotFound, e.to_string()))?;
            Ok(report
                .comparison
                .map(|c| c.configs)
                .unwrap_or_default()
                .iter()
                .map(|c| ComparisonView {
                    config: c.config as u32,
                    latency: DifferenceView::new(&c.latency_ms),
                    ttft: DifferenceView::new(&c.ttft_ms),
                })
                .collect())
        })
        .await
}

/// The cells of `case_count` cases from case position `first_case`, for one repetition:
/// what one screen of the results grid shows.
#[tauri::command]
#[specta::specta]
pub async fn grid_page(
    state: State<'_, AppState>,
    experiment_id: u32,
    repetition: u32,
    first_case: u32,
    case_count: u32,
) -> Result<Vec<GridCell>, AppError> {
    state
        .with_store(move |store| {
            Ok(store.grid_page(i64::from(experiment_id), Some(repetition), first_case, case_count)?)
        })
        .await
}

#[tauri::command]
#[specta::specta]
pub async fn run_output(state: State<'_, AppState>, run_id: u32) -> Result<String, AppError> {
    state
        .with_store(move |store| Ok(store.run_output(i64::from(run_id))?))
        .await
}

/// A diff of two recorded runs' full outputs.
#[tauri::command]
#[specta::specta]
pub async fn diff_runs(
    state: State<'_, AppState>,
    baseline_run_id: u32,
    other_run_id: u32,
    granularity: Granularity,
) -> Result<Diff, AppError> {
    state
        .with_store(move |store| {
            let baseline = store.run_output(i64::from(baseline_run_id))?;
            let other = store.run_output(i64::from(other_run_id))?;
            Ok(diff(&baseline, &other, granularity))
        })
        .await
}

/// The config or policy `objective` picks (JSON; empty: the experiment's own objective), with the
/// runner-up, the margin and its interval, exclusions and the Pareto front.
#[tauri::command]
#[specta::specta]
pub async fn winner(
    state: State<'_, AppState>,
    experiment_id: u32,
    objective: String,
) -> Result<WinnerView, AppError> {
    state
        .with_store(move |store| {
            let export = decision::winner_of(store, i64::from(experiment_id), &objective)?;
            Ok(WinnerView::new(&export))
        })
        .await
}

/// Every recorded run of the experiment's file up to it, each config's figures run after run and
/// the regressions established against its previous run (the CLI's `tradeoff history`).
#[tauri::command]
#[specta::specta]
pub async fn experiment_history(
    state: State<'_, AppState>,
    experiment_id: u32,
) -> Result<tradeoff_core::analyze::history::ExperimentHistory, AppError> {
    use tradeoff_core::analyze::history::{MAX_HISTORY_ENTRIES, history};
    state
        .with_store(move |store| {
            let reports = store.history_reports(i64::from(experiment_id), MAX_HISTORY_ENTRIES)?;
            Ok(history(&reports))
        })
        .await
}
