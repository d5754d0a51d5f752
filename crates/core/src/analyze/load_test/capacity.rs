//! The capacity a load test's knee plans: replicas for the peak, their price a month, and the
//! same traffic on a hosted API priced by the tokens measured at the knee.

use serde::{Deserialize, Serialize};

use super::LoadTest;
use crate::spec::cost::Price;

/// Hours in a month, as cloud prices count them.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// The traffic to plan for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    pub mean_rps: f64,
    pub peak_rps: f64,
}

impl Traffic {
    /// `--traffic 20rps`: a steady rate, its own peak.
    pub fn steady(rps: f64) -> Traffic {
        Traffic {
            mean_rps: rps,
            peak_rps: rps,
        }
    }

    /// `--daily 500000 --peak-factor 3`: the day's mean rate, and its peak that many times higher.
    pub fn daily(requests: f64, peak_factor: f64) -> Traffic {
        let mean_rps = requests / 86_400.0;
        Traffic {
            mean_rps,
            peak_rps: mean_rps * peak_factor,
        }
    }
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityPlan {
    pub mean_rps: f64,
    pub peak_rps: f64,
    /// What one replica serves within the SLO: the knee's goodput.
    pub per_replica_rps: f64,
    pub replicas: u32,
    pub machine_per_hour_usd: Option<f64>,
    /// Replicas × price per hour × 730 hours.
    pub machines_per_month_usd: Option<f64>,
    pub requests_per_month: f64,
    pub hosted: Option<HostedAlternative>,
}

/// The same traffic sent to a hosted API instead, priced by its tokens.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostedAlternative {
    pub model: String,
    pub input_tokens_per_request: f64,
    pub output_tokens_per_request: f64,
    pub per_request_usd: f64,
    pub per_month_usd: f64,
}

/// Replicas for the peak at the knee's goodput, their monthly price, and the hosted API priced
/// with the tokens per request measured at the knee. `None` without a knee, or when it served
/// nothing.
pub fn plan_capacity(
    test: &LoadTest,
    traffic: Traffic,
    machine_per_hour_usd: Option<f64>,
    hosted: Option<(&str, &Price)>,
) -> Option<CapacityPlan> {
    let knee = test.knee.as_ref()?;
    let level = test.levels.get(knee.level)?;
    let tokens_per_request = (
        level.input_tokens_mean.unwrap_or(0.0),
        level.output_tokens_mean.unwrap_or(0.0),
    );
    if knee.goodput_rps.is_nan() || knee.goodput_rps <= 0.0 {
        return None;
    }
    let replicas = (traffic.peak_rps / knee.goodput_rps).ceil().max(1.0) as u32;
    let requests_per_month = traffic.mean_rps * HOURS_PER_MONTH * 3600.0;
    let hosted = hosted.map(|(model, price)| {
        let (input, output) = tokens_per_request;
        let per_request_usd = price.input_per_mtok.unwrap_or(0.0) * input / 1e6
            + price.output_per_mtok.unwrap_or(0.0) * output / 1e6;
        HostedAlternative {
            model: model.to_string(),
            input_tokens_per_request: input,
            output_tokens_per_request: output,
            per_request_usd,
            per_month_usd: per_request_usd * requests_per_month,
        }
    });
    Some(CapacityPlan {
        mean_rps: traffic.mean_rps,
        peak_rps: traffic.peak_rps,
        per_replica_rps: knee.goodput_rps,
        replicas,
        machine_per_hour_usd,
        machines_per_month_usd: machine_per_hour_usd.map(|p| p * f64::from(replicas) * HOURS_PER_MONTH),
        requests_per_month,
        hosted,
    })
}
