//! The Tradeoff desktop app: a thin shell. Commands translate between the UI's wire types and
//! the engine (`tradeoff-core`, `tradeoff-store`, and the adapters `tradeoff-remote` and
//! `tradeoff-worker`); experiments run in a `tradeoff` child process
//! (see `executor`). No business logic lives here.

mod child;
mod commands;
mod decision;
mod draft;
mod dto;
mod endpoints;
mod error;
mod executor;
mod exports;
mod file_access;
mod load_runner;
mod local_inference;
mod planner;
mod prices;
mod quantizer;
mod serving;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tauri::State;
use tauri::ipc::Channel;
use tauri_specta::{Builder, collect_commands};
use tradeoff_core::analyze::ranking::{Candidate, decide};
use tradeoff_core::diff::{Diff, Granularity, diff};
use tradeoff_core::execute::preflight::Preflight;
use tradeoff_core::spec::file::ExperimentFile;
use tradeoff_core::spec::objective::Objective;
use tradeoff_core::spec::target::KvType;
use tradeoff_core::spec::target::remote::ProviderKind;
use tradeoff_store::endpoints::Endpoint;
use tradeoff_store::{GridCell, Store};

use crate::decision::WinnerView;
use crate::draft::ExperimentDraft;
use crate::dto::{
    BudgetView, ComparisonView, ConfigView, DifferenceView, ExperimentItem, ExperimentView, ModelView,
    ProgressEvent, QuantizeProgress, ResultsView, RunOutcomeView,
};
use crate::endpoints::{KeyStatus, ProbeView};
use crate::error::{AppCode, AppError};
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
    /// The winner the app serves, if any (`tradeoff serve` as a child).
    serving: Arc<serving::Serving>,
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
            serving: Arc::new(serving::Serving::default()),
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
                None => Err(AppError::new(
                    AppCode::Database,
                    "the database could not be opened",
                )),
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
        .map_err(|e| AppError::new(AppCode::Executor, format!("background task failed: {e}")))?
}

/// Every command, for the app and for the bindings export. A macro because specta's
/// `collect_commands!` cannot take a generic runtime parameter.
macro_rules! specta_builder_for {
    ($runtime:ty) => {
        Builder::<$runtime>::new()
            .commands(collect_commands![
                commands::experiments::list_experiments,
                commands::experiments::quickstart_file,
                commands::experiments::open_experiment,
                commands::experiments::read_experiment,
                commands::experiments::save_experiment,
                commands::experiments::plan_experiment,
                commands::runs::run_experiment,
                commands::runs::resume_experiment,
                commands::runs::cancel_run,
                commands::results::results,
                commands::results::compare_configs,
                commands::results::grid_page,
                commands::results::run_output,
                commands::results::diff_runs,
                exports::export_config,
                exports::default_export_path,
                commands::results::winner,
                exports::export_winner,
                commands::results::experiment_history,
                commands::load_tests::run_load_test,
                commands::load_tests::list_load_tests,
                commands::load_tests::load_test,
                commands::load_tests::plan_load_capacity,
                commands::routing::simulate_routing,
                commands::routing::export_policies,
                commands::routing::default_policy_path,
                commands::monitor::monitor,
                commands::monitor::serve_winner,
                commands::monitor::stop_serving,
                commands::monitor::serving_status,
                commands::models::list_models,
                commands::models::add_model_source,
                commands::models::quantize_model,
                commands::endpoints::list_endpoints,
                commands::endpoints::save_endpoint,
                commands::endpoints::delete_endpoint,
                commands::endpoints::test_endpoint,
                commands::endpoints::key_status,
                commands::endpoints::set_api_key,
                commands::prices::prices,
                commands::prices::save_price_overrides,
                commands::endpoints::delete_api_key,
                file_access::pick_save_path,
                file_access::pick_open_path,
                local_inference::local_inference,
            ])
            // The engine's own lists, so the UI's menus cannot fall behind them.
            .constant("PROVIDERS", $crate::provider_options())
            .constant("KV_TYPES", KvType::ALL)
    };
}

/// A provider as the UI's menus offer it, from the engine's own list (`PROVIDERS` in the bindings).
#[derive(serde::Serialize)]
struct ProviderOption {
    id: ProviderKind,
    label: &'static str,
    default_base_url: &'static str,
    /// The variable a key is looked up under for the provider's own API.
    default_key_variable: Option<&'static str>,
}

fn provider_options() -> Vec<ProviderOption> {
    ProviderKind::ALL
        .into_iter()
        .map(|id| ProviderOption {
            id,
            label: id.label(),
            default_base_url: id.default_base_url(),
            default_key_variable: id.default_key_variable(id.default_base_url()),
        })
        .collect()
}

pub fn specta_builder() -> Builder<tauri::Wry> {
    specta_builder_for!(tauri::Wry)
}

/// Writes the TypeScript bindings (`ui/src/bindings.ts`).
pub fn export_bindings(path: &Path) -> Result<(), String> {
    specta_builder()
        .export(
            specta_typescript::Typescript::default()
                .header("// Generated by tauri-specta from src-tauri; do not edit. Regenerate: make test (the bindings test rewrites it when stale).\n// @ts-nocheck\n/* eslint-disable */"),
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
