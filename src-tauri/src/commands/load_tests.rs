//! The Load screen: a load test run as `tradeoff load`'s child, the recorded tests, one test's
//! levels, knee and capacity plan, and the capacity calculator over its knee.

use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::ipc::Channel;
use tradeoff_core::analyze::load_test::{CapacityPlan, Knee, LevelSummary, Traffic, plan_capacity};
use tradeoff_core::spec::pricing::PriceTable;
use tradeoff_core::spec::slo::Slo;

use crate::load_runner::LoadRunRequest;
use crate::*;

#[derive(Debug, Clone, Serialize, Type)]
pub struct LoadTestItem {
    pub id: u32,
    /// Unix milliseconds.
    pub created_ms: f64,
    pub label: String,
    pub levels: u32,
}

/// One recorded test as the screen draws it (its requests stay in the database).
#[derive(Debug, Clone, Serialize, Type)]
pub struct LoadTestView {
    pub id: u32,
    pub label: String,
    pub prompts_from: String,
    pub slo: Option<Slo>,
    pub levels: Vec<LevelSummary>,
    pub knee: Option<Knee>,
    pub capacity: Option<CapacityPlan>,
}

/// The capacity calculator's inputs: a steady rate, or requests a day with a peak factor.
#[derive(Debug, Clone, Deserialize, Type)]
pub struct CapacityRequest {
    pub rps: Option<f64>,
    pub daily: Option<f64>,
    pub peak_factor: f64,
    pub price_per_hour: Option<f64>,
    /// `openai:gpt-4o-mini`; empty: no hosted comparison.
    pub hosted: String,
}

/// Runs a load test; each finished level's line goes to `on_event`; returns the test's id.
#[tauri::command]
#[specta::specta]
pub async fn run_load_test(
    state: State<'_, AppState>,
    request: LoadRunRequest,
    on_event: Channel<String>,
) -> Result<u32, AppError> {
    let db = state.db.clone();
    blocking(move || {
        crate::load_runner::run(&crate::executor::tradeoff_binary(), &db, &request, &|line| {
            let _ = on_event.send(line);
        })
    })
    .await
}

/// Recorded load tests, newest first.
#[tauri::command]
#[specta::specta]
pub async fn list_load_tests(state: State<'_, AppState>) -> Result<Vec<LoadTestItem>, AppError> {
    state
        .with_store(|store| {
            Ok(store
                .load_tests()?
                .into_iter()
                .map(|t| LoadTestItem {
                    id: u32::try_from(t.id).unwrap_or(u32::MAX),
                    created_ms: t.created_ms as f64,
                    label: t.label,
                    levels: u32::try_from(t.levels).unwrap_or(u32::MAX),
                })
                .collect())
        })
        .await
}

#[tauri::command]
#[specta::specta]
pub async fn load_test(state: State<'_, AppState>, id: u32) -> Result<LoadTestView, AppError> {
    state
        .with_store(move |store| {
            let test = store.load_test(i64::from(id), false)?;
            Ok(LoadTestView {
                id,
                label: test.label,
                prompts_from: test.prompts_from,
                slo: test.slo,
                levels: test.levels,
                knee: test.knee,
                capacity: test.capacity,
            })
        })
        .await
}

/// The capacity plan at test `id`'s knee for the traffic asked (`None`: the test has no knee).
#[tauri::command]
#[specta::specta]
pub async fn plan_load_capacity(
    state: State<'_, AppState>,
    id: u32,
    request: CapacityRequest,
) -> Result<Option<CapacityPlan>, AppError> {
    let traffic = match (request.rps, request.daily) {
        (Some(rps), None) if rps > 0.0 => Traffic::steady(rps),
        (None, Some(daily)) if daily > 0.0 && request.peak_factor >= 1.0 => {
            Traffic::daily(daily, request.peak_factor)
        }
        _ => {
            return Err(AppError::new(
                AppCode::BadInput,
                "give requests per second, or requests a day with a peak factor of at least 1",
            ));
        }
    };
    let hosted = match request.hosted.trim() {
        "" => None,
        name => Some(
            PriceTable::load()
                .map_err(|e| AppError::new(AppCode::BadInput, e.to_string()))?
                .find_named(name)
                .ok_or_else(|| {
                    AppError::new(AppCode::BadInput, format!("`{name}` is not in the price table"))
                })?,
        ),
    };
    state
        .with_store(move |store| {
            let test = store.load_test(i64::from(id), false)?;
            Ok(plan_capacity(
                &test,
                traffic,
                request.price_per_hour,
                hosted.as_ref().map(|(name, price)| (name.as_str(), price)),
            ))
        })
        .await
}
