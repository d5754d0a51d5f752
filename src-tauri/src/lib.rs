//! The Tradeoff desktop app: a thin shell. Commands translate between the UI's wire types and
//! the engine (`tradeoff-core`, `tradeoff-store`, and the adapters `tradeoff-remote` and
//! `tradeoff-worker`); experiments run in a `tradeoff` child process
//! (see `executor`). No business logic lives here.

mod child;
mod decision;
mod draft;
mod dto;
mod endpoints;
mod error;
mod executor;
mod exports;
mod file_access;
mod local_inference;
mod planner;
mod prices;
mod quantizer;
mod resume;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tauri::State;
use tauri::ipc::Channel;
use tauri_specta::{Builder, collect_commands};
use tradeoff_core::analyze::ranking::decide;
use tradeoff_core::diff::{Granularity, diff};
use tradeoff_core::spec::file::ExperimentFile;
use tradeoff_core::spec::objective::Objective;
use tradeoff_store::Store;

use crate::decision::WinnerView;
use crate::draft::ExperimentDraft;
use crate::dto::{
    CellView, ComparisonView, ConfigView, DiffGranularity, DiffView, DifferenceView, ExperimentItem,
    ExperimentView, ModelView, ProgressEvent, QuantizeProgress, ResultsView, RunOutcomeView,
};
use crate::endpoints::{EndpointView, KeyStatus, ProbeView};
use crate::error::AppError;
use crate::executor::Running;

/// The quickstart experiment, shipped inside the app so "New from quickstart" works anywhere.
const QUICKSTART: &str = include_str!("../../fixtures/experiments/quickstart.yaml");

#[derive(Debug)]
pub struct AppState {
    db: PathBuf,
    store: Arc<Mutex<Option<Store>>>,
    running: Arc<Running>,
    planner: Arc<planner::Planner>,
    /// The native dialogs and the save paths the user chose in them (what the UI may write).
    files: Arc<file_access::Files>,
    /// The start-up CPU self-test's verdict.
    local_inference: Arc<local_inference::LocalInference>,
}

impl AppState {
    /// `$TRADEOFF_DB` or the default database in the data folder.
    pub fn from_env() -> Self {
        let db = std::env::var_os("TRADEOFF_DB")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(tradeoff_core::paths::default_database);
        AppState::new(db)
    }

    pub fn new(db: PathBuf) -> Self {
        AppState {
            db,
            store: Arc::new(Mutex::new(None)),
            running: Arc::new(Running::default()),
            planner: Arc::new(planner::Planner::default()),
            files: Arc::new(file_access::Files::default()),
            local_inference: Arc::new(local_inference::LocalInference::default()),
        }
    }

    /// Runs `f` with the store on a blocking thread, opening it on first use.
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let store = Arc::clone(&self.store);
        let db = self.db.clone();
        blocking(move || {
            let mut guard = store.lock().unwrap_or_else(PoisonError::into_inner);
            if guard.is_none() {
                *guard = Some(Store::open(&db)?);
            }
            match guard.as_ref() {
                Some(store) => f(store),
                None => Err(AppError::new("database", "the database could not be opened")),
            }
        })
        .await
    }
}

/// Runs file, database or process work off the async runtime's threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| AppError::new("executor", format!("background task failed: {e}")))?
}

#[tauri::command]
#[specta::specta]
async fn list_experiments(state: State<'_, AppState>) -> Result<Vec<ExperimentItem>, AppError> {
    state
        .with_store(|store| {
            store
                .list_experiments()?
                .iter()
                .map(ExperimentItem::from_listing)
                .collect()
        })
        .await
}

/// Writes the quickstart experiment into the data folder (if it is not there yet) and returns its path.
#[tauri::command]
#[specta::specta]
async fn quickstart_file() -> Result<String, AppError> {
    let dir = tradeoff_core::paths::data_dir().join("experiments");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("quickstart.yaml");
    if !path.exists() {
        std::fs::write(&path, QUICKSTART)?;
    }
    Ok(path.to_string_lossy().into_owned())
}

#[tauri::command]
#[specta::specta]
async fn open_experiment(path: String) -> Result<ExperimentView, AppError> {
    blocking(move || {
        let experiment = tradeoff_core::spec::load::load_file(&file_access::readable_file(&path)?)?;
        Ok(ExperimentView::new(path, &experiment))
    })
    .await
}

/// An experiment file as written, for the editor.
#[tauri::command]
#[specta::specta]
async fn read_experiment(path: String) -> Result<ExperimentDraft, AppError> {
    blocking(move || Ok(tradeoff_core::spec::load::read_spec(&file_access::readable_file(&path)?)?.into()))
        .await
}

/// Validates the edited experiment and, when valid, writes it to `path` (YAML or JSON by extension).
#[tauri::command]
#[specta::specta]
async fn save_experiment(
    state: State<'_, AppState>,
    path: String,
    draft: ExperimentDraft,
) -> Result<ExperimentView, AppError> {
    let files = Arc::clone(&state.files);
    blocking(move || {
        let target = files.writable(&path)?;
        let file = ExperimentFile::try_from(draft)?;
        let experiment = tradeoff_core::spec::load::write_spec(&target, &file)?;
        Ok(ExperimentView::new(path, &experiment))
    })
    .await
}

/// What the edited experiment will send and cost before it runs: input tokens per config ×
/// case (llama.cpp for local models, tiktoken for OpenAI, marked estimates otherwise), context
/// fit, memory and the token-cost bound.
#[tauri::command]
#[specta::specta]
async fn plan_experiment(
    state: State<'_, AppState>,
    path: String,
    draft: ExperimentDraft,
) -> Result<planner::PlanView, AppError> {
    let planner = Arc::clone(&state.planner);
    blocking(move || planner.plan(&executor::tradeoff_binary(), Path::new(&path), draft)).await
}

#[tauri::command]
#[specta::specta]
async fn run_experiment(
    state: State<'_, AppState>,
    path: String,
    on_event: Channel<ProgressEvent>,
) -> Result<RunOutcomeView, AppError> {
    let db = state.db.clone();
    let running = Arc::clone(&state.running);
    let check = Arc::clone(&state.local_inference);
    blocking(move || {
        let file = file_access::readable_file(&path)?;
        // The start-up self-test must not share the CPU with measured runs.
        check.wait_while_checking(local_inference::CHECK_TIMEOUT);
        let emit = |event: ProgressEvent| {
            let _ = on_event.send(event);
        };
        executor::run_experiment(&executor::tradeoff_binary(), &db, &file, &running, &emit)
    })
    .await
}

/// Returns whether an experiment was running.
#[tauri::command]
#[specta::specta]
async fn cancel_run(state: State<'_, AppState>) -> Result<bool, AppError> {
    state.running.cancel()
}

/// An experiment's configs with their statistics, its cases and warnings; cells come by page.
#[tauri::command]
#[specta::specta]
async fn results(state: State<'_, AppState>, experiment_id: u32) -> Result<ResultsView, AppError> {
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
                status: report.status.clone(),
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
                pareto_front: decide(&report, &Objective::default())
                    .map(|d| d.pareto_front.iter().map(|&i| i as u32).collect())
                    .unwrap_or_default(),
                latencies_ms: report
                    .samples_by_config(|m| m.batch_sequences.is_none().then_some(m.latency_ms)),
            })
        })
        .await
}

/// Every config against config `baseline`: differences of median latency and TTFT with 95 %
/// bootstrap intervals, called faster or slower only when the interval excludes zero.
#[tauri::command]
#[specta::specta]
async fn compare_configs(
    state: State<'_, AppState>,
    experiment_id: u32,
    baseline: u32,
) -> Result<Vec<ComparisonView>, AppError> {
    state
        .with_store(move |store| {
            let mut report = store.report_without_outputs(i64::from(experiment_id))?;
            report
                .compare_with(baseline as usize)
                .map_err(|e| AppError::new("not_found", e.to_string()))?;
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
async fn grid_page(
    state: State<'_, AppState>,
    experiment_id: u32,
    repetition: u32,
    first_case: u32,
    case_count: u32,
) -> Result<Vec<CellView>, AppError> {
    state
        .with_store(move |store| {
            store
                .grid_page(i64::from(experiment_id), Some(repetition), first_case, case_count)?
                .into_iter()
                .map(CellView::new)
                .collect()
        })
        .await
}

#[tauri::command]
#[specta::specta]
async fn run_output(state: State<'_, AppState>, run_id: u32) -> Result<String, AppError> {
    state
        .with_store(move |store| Ok(store.run_output(i64::from(run_id))?))
        .await
}

/// A diff of two recorded runs' full outputs.
#[tauri::command]
#[specta::specta]
async fn diff_runs(
    state: State<'_, AppState>,
    baseline_run_id: u32,
    other_run_id: u32,
    granularity: DiffGranularity,
) -> Result<DiffView, AppError> {
    state
        .with_store(move |store| {
            let baseline = store.run_output(i64::from(baseline_run_id))?;
            let other = store.run_output(i64::from(other_run_id))?;
            let granularity = match granularity {
                DiffGranularity::Word => Granularity::Word,
                DiffGranularity::Char => Granularity::Char,
            };
            Ok(diff(&baseline, &other, granularity).into())
        })
        .await
}

/// The config `objective` picks (JSON; empty: the experiment's own objective), with the
/// runner-up, the margin and its interval, exclusions and the Pareto front.
#[tauri::command]
#[specta::specta]
async fn winner(
    state: State<'_, AppState>,
    experiment_id: u32,
    objective: String,
) -> Result<WinnerView, AppError> {
    state
        .with_store(move |store| {
            let (export, config) = decision::winner_of(store, i64::from(experiment_id), &objective)?;
            Ok(WinnerView::new(&export, config))
        })
        .await
}

/// Every command, for the app and for the bindings export. A macro because specta's
/// `collect_commands!` cannot take a generic runtime parameter.
macro_rules! specta_builder_for {
    ($runtime:ty) => {
        Builder::<$runtime>::new().commands(collect_commands![
            list_experiments,
            quickstart_file,
            open_experiment,
            read_experiment,
            save_experiment,
            plan_experiment,
            run_experiment,
            resume::resume_experiment,
            cancel_run,
            results,
            compare_configs,
            grid_page,
            run_output,
            diff_runs,
            exports::export_config,
            exports::default_export_path,
            winner,
            exports::export_winner,
            list_models,
            add_model_source,
            quantize_model,
            list_endpoints,
            save_endpoint,
            delete_endpoint,
            test_endpoint,
            key_status,
            set_api_key,
            prices,
            save_price_overrides,
            delete_api_key,
            file_access::pick_save_path,
            file_access::pick_open_path,
            local_inference::local_inference,
        ])
    };
}

/// The model library: the data folder's models and every registered file or folder.
#[tauri::command]
#[specta::specta]
async fn list_models(state: State<'_, AppState>) -> Result<Vec<ModelView>, AppError> {
    state
        .with_store(|store| Ok(store.model_library(false)?.iter().map(ModelView::new).collect()))
        .await
}

/// Registers a GGUF file or a folder of them; returns the library.
#[tauri::command]
#[specta::specta]
async fn add_model_source(state: State<'_, AppState>, path: String) -> Result<Vec<ModelView>, AppError> {
    state
        .with_store(move |store| {
            store.add_model_source(&file_access::readable_file_or_folder(path.trim())?)?;
            Ok(store.model_library(false)?.iter().map(ModelView::new).collect())
        })
        .await
}

/// Quantizes `source` into each of `types` in a `tradeoff` child process; returns the files
/// written, which are in the library from then on.
#[tauri::command]
#[specta::specta]
async fn quantize_model(
    state: State<'_, AppState>,
    source: String,
    types: Vec<String>,
    allow_requantize: bool,
    on_event: Channel<QuantizeProgress>,
) -> Result<Vec<String>, AppError> {
    let db = state.db.clone();
    blocking(move || {
        let emit = |event: QuantizeProgress| {
            let _ = on_event.send(event);
        };
        quantizer::quantize(
            &executor::tradeoff_binary(),
            &db,
            &source,
            &types,
            allow_requantize,
            &emit,
        )
    })
    .await
}

/// The remote endpoints the user keeps, by name.
#[tauri::command]
#[specta::specta]
async fn list_endpoints(state: State<'_, AppState>) -> Result<Vec<EndpointView>, AppError> {
    state
        .with_store(|store| Ok(store.endpoints()?.into_iter().map(EndpointView::from).collect()))
        .await
}

/// Adds or replaces an endpoint (checked as experiment files check targets); returns the list.
#[tauri::command]
#[specta::specta]
async fn save_endpoint(
    state: State<'_, AppState>,
    endpoint: EndpointView,
) -> Result<Vec<EndpointView>, AppError> {
    let (endpoint, _) = endpoints::validated(endpoint)?;
    state
        .with_store(move |store| {
            store.save_endpoint(&endpoint)?;
            Ok(store.endpoints()?.into_iter().map(EndpointView::from).collect())
        })
        .await
}

#[tauri::command]
#[specta::specta]
async fn delete_endpoint(state: State<'_, AppState>, name: String) -> Result<Vec<EndpointView>, AppError> {
    state
        .with_store(move |store| {
            if !store.delete_endpoint(&name)? {
                return Err(AppError::new("not_found", format!("no endpoint named {name}")));
            }
            Ok(store.endpoints()?.into_iter().map(EndpointView::from).collect())
        })
        .await
}

/// Asks the endpoint's server for its models: proves URL, key and API shape in one request.
#[tauri::command]
#[specta::specta]
async fn test_endpoint(endpoint: EndpointView) -> Result<ProbeView, AppError> {
    let (_, target) = endpoints::validated(endpoint)?;
    endpoints::probe(target).await
}

/// The price table in force: built-in facts with the user's overrides, and the override file.
#[tauri::command]
#[specta::specta]
async fn prices() -> Result<prices::PricesView, AppError> {
    blocking(prices::prices).await
}

/// Replaces the user's price overrides with `text` (a price file; empty removes them) once it
/// reads as one.
#[tauri::command]
#[specta::specta]
async fn save_price_overrides(text: String) -> Result<prices::PricesView, AppError> {
    blocking(move || prices::save(&text)).await
}

/// Where each variable's key would come from (environment, keyring, missing); never the key.
#[tauri::command]
#[specta::specta]
async fn key_status(variables: Vec<String>) -> Result<Vec<KeyStatus>, AppError> {
    blocking(move || Ok(variables.iter().map(|v| endpoints::key_status(v)).collect())).await
}

/// Stores a key in the OS keyring under a variable name.
#[tauri::command]
#[specta::specta]
async fn set_api_key(variable: String, key: String) -> Result<KeyStatus, AppError> {
    blocking(move || endpoints::set_key(&variable, &key)).await
}

#[tauri::command]
#[specta::specta]
async fn delete_api_key(variable: String) -> Result<KeyStatus, AppError> {
    blocking(move || endpoints::delete_key(&variable)).await
}

pub fn specta_builder() -> Builder<tauri::Wry> {
    specta_builder_for!(tauri::Wry)
}

/// Writes the TypeScript bindings (`ui/src/bindings.ts`).
pub fn export_bindings(path: &Path) -> Result<(), String> {
    specta_builder()
        .export(
            specta_typescript::Typescript::default()
                .header("// Generated by tauri-specta from src-tauri; do not edit. Regenerate: cargo test -p tradeoff-app.\n// @ts-nocheck\n/* eslint-disable */"),
            path,
        )
        .map_err(|e| e.to_string())
}

pub fn run() {
    let builder = specta_builder();
    let result = tauri::Builder::default()
        // Its Rust side only: the page gets no dialog permission, the backend shows the dialogs
        // and so knows which paths the user chose (see `file_access`).
        .plugin(tauri_plugin_dialog::init())
        .manage(AppState::from_env())
        .invoke_handler(builder.invoke_handler())
        .setup(move |app| {
            use tauri::Manager as _;
            builder.mount_events(app);
            let state = app.state::<AppState>();
            state
                .files
                .set_picker(Box::new(file_access::NativePicker(app.handle().clone())));
            local_inference::start(Arc::clone(&state.local_inference), executor::tradeoff_binary());
            Ok(())
        })
        .run(tauri::generate_context!());
    if let Err(error) = result {
        eprintln!("error: the Tradeoff window could not start: {error}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_boundaries;
