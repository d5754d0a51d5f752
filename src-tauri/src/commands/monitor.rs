//! Serving and the Monitor: the winner card's Serve (`tradeoff serve` as the app's child, into
//! the app's database), and a served deployment's traffic over the last hour, day or week (the
//! store's per-minute aggregates) beside what the winner was measured at.

use serde::{Deserialize, Serialize};
use specta::Type;
use tradeoff_core::analyze::canary::wilson;
use tradeoff_core::analyze::trend::TrendPoint;
use tradeoff_core::analyze::winner::{Winner, read_winner};
use tradeoff_store::traffic::now_ms;

use std::sync::Arc;

use crate::serving::ServingView;
use crate::*;

/// Serves experiment `experiment_id`'s winner under `objective` (JSON; empty: the experiment's
/// own): writes its winner file into the data folder's exports and starts `tradeoff serve` on it,
/// replacing the server the app ran before. Returns once it listens.
#[tauri::command]
#[specta::specta]
pub async fn serve_winner(
    state: State<'_, AppState>,
    experiment_id: u32,
    objective: String,
) -> Result<ServingView, AppError> {
    let file = tradeoff_core::paths::data_dir()
        .join("exports")
        .join(format!("experiment-{experiment_id}-served-winner.json"));
    let winner = file.clone();
    state
        .with_store(move |store| {
            let export = crate::decision::winner_of(store, i64::from(experiment_id), &objective)?;
            crate::exports::write_json(&winner, &export)
        })
        .await?;
    let (serving, db) = (Arc::clone(&state.serving), state.db.clone());
    blocking(move || serving.start(&crate::executor::tradeoff_binary(), &db, &file)).await
}

/// Stops the server the app runs (after the requests in flight).
#[tauri::command]
#[specta::specta]
pub async fn stop_serving(state: State<'_, AppState>) -> Result<(), AppError> {
    let serving = Arc::clone(&state.serving);
    blocking(move || serving.stop()).await
}

/// The server the app runs, if it still runs.
#[tauri::command]
#[specta::specta]
pub async fn serving_status(state: State<'_, AppState>) -> Result<Option<ServingView>, AppError> {
    Ok(state.serving.status())
}

/// The span shown, and the bucket each point covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum MonitorWindow {
    /// 60 one-minute points.
    Hour,
    /// 96 fifteen-minute points.
    Day,
    /// 84 two-hour points.
    Week,
}

impl MonitorWindow {
    fn span_and_bucket_ms(self) -> (i64, i64) {
        match self {
            MonitorWindow::Hour => (3_600_000, 60_000),
            MonitorWindow::Day => (86_400_000, 900_000),
            MonitorWindow::Week => (7 * 86_400_000, 7_200_000),
        }
    }
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct DeploymentView {
    pub id: u32,
    pub label: String,
    pub model: String,
    pub winner_path: String,
    /// When it started, in Unix milliseconds.
    pub started_ms: f64,
}

/// What the winner was measured at: the bands the live figures are drawn against.
#[derive(Debug, Clone, Default, Serialize, Type)]
pub struct MeasuredView {
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    /// The measured pass rate's 95 % Wilson interval.
    pub pass_rate_low: Option<f64>,
    pub pass_rate_high: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct MonitorView {
    pub deployments: Vec<DeploymentView>,
    /// The deployment shown (the newest unless one was asked for); `None`: none logged yet.
    pub deployment: Option<u32>,
    pub points: Vec<TrendPoint>,
    pub measured: MeasuredView,
}

/// Deployment `deployment`'s (default: the newest's) traffic over `window`.
#[tauri::command]
#[specta::specta]
pub async fn monitor(
    state: State<'_, AppState>,
    deployment: Option<u32>,
    window: MonitorWindow,
) -> Result<MonitorView, AppError> {
    state
        .with_store(move |store| {
            let deployments = store.deployments()?;
            let shown = match deployment {
                Some(id) => Some(
                    deployments
                        .iter()
                        .find(|d| d.id == i64::from(id))
                        .ok_or_else(|| AppError::new(AppCode::NotFound, format!("no deployment {id}")))?,
                ),
                None => deployments.first(),
            };
            let (span, bucket) = window.span_and_bucket_ms();
            let now = now_ms();
            let points = match shown {
                Some(d) => store.traffic_trend(d.id, now - span, now, bucket)?,
                None => Vec::new(),
            };
            Ok(MonitorView {
                deployment: shown.map(|d| d.id as u32),
                measured: shown.map(|d| measured(&d.winner_json)).unwrap_or_default(),
                deployments: deployments
                    .iter()
                    .map(|d| DeploymentView {
                        id: d.id as u32,
                        label: d.label.clone(),
                        model: d.model_name.clone(),
                        winner_path: d.winner_path.clone(),
                        started_ms: d.started_ms as f64,
                    })
                    .collect(),
                points,
            })
        })
        .await
}

/// The measured figures of the winner a deployment serves (none for a file this version cannot
/// read: its traffic is still shown).
fn measured(winner_json: &str) -> MeasuredView {
    let Ok(export) = read_winner(winner_json) else {
        return MeasuredView::default();
    };
    let Winner::Config(config) = export.winner else {
        return MeasuredView::default();
    };
    let s = &config.summary;
    // Failed runs count as not passing in a summary's pass rate.
    let checked = s.runs;
    let interval = s
        .pass_rate
        .and_then(|rate| wilson((rate * checked as f64).round() as usize, checked));
    MeasuredView {
        latency_p50_ms: s.latency_p50_ms,
        latency_p95_ms: s.latency_p95_ms,
        ttft_p50_ms: s.ttft_p50_ms,
        ttft_p95_ms: s.ttft_p95_ms,
        pass_rate_low: interval.map(|(low, _)| low),
        pass_rate_high: interval.map(|(_, high)| high),
    }
}
