//! What a run costs, so that local and hosted targets sit on one dollar axis: per token for
//! priced tokens (hosted APIs, or a target that sets token prices), per hour of machine time for
//! local inference (optionally plus electricity), or both.

use serde::{Deserialize, Serialize};

use crate::run::RunMetrics;

/// A target's prices, in US dollars. Every part is optional; a target without any has no cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_per_mtok: Option<f64>,
    /// For prompt tokens served from a cache (falls back to `input_per_mtok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_mtok: Option<f64>,
    /// The machine's price per hour, charged for the run's wall time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_hour: Option<f64>,
    /// Power draw (watts) and electricity price (per kWh), charged for the run's wall time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watts: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_kwh: Option<f64>,
}

impl Price {
    /// The first field that is not a finite, non-negative number, or a half-given power price.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let fields = [
            ("input_per_mtok", self.input_per_mtok),
            ("output_per_mtok", self.output_per_mtok),
            ("cached_input_per_mtok", self.cached_input_per_mtok),
            ("per_hour", self.per_hour),
            ("watts", self.watts),
            ("per_kwh", self.per_kwh),
        ];
        for (name, value) in fields {
            if let Some(v) = value
                && !(v.is_finite() && v >= 0.0)
            {
                return Some((name, format!("must be a number >= 0, found {v}")));
            }
        }
        match (self.watts, self.per_kwh) {
            (Some(_), None) => Some(("per_kwh", "is needed with `watts`".into())),
            (None, Some(_)) => Some(("watts", "is needed with `per_kwh`".into())),
            _ => None,
        }
    }

    /// Whether part of the cost is the run's time (machine hours or power), which only the run
    /// itself measures.
    pub fn charges_time(&self) -> bool {
        self.per_hour.is_some() || (self.watts.is_some() && self.per_kwh.is_some())
    }

    fn is_empty(&self) -> bool {
        *self == Price::default()
    }
}

/// The cost of one run in dollars; `None` when the target has no price.
pub fn run_cost(price: &Price, metrics: &RunMetrics) -> Option<f64> {
    if price.is_empty() {
        return None;
    }
    let per_token = |per_mtok: Option<f64>, tokens: u32| per_mtok.unwrap_or(0.0) * f64::from(tokens) / 1e6;
    let cached = metrics.cached_tokens.unwrap_or(0).min(metrics.input_tokens);
    let tokens = per_token(price.input_per_mtok, metrics.input_tokens - cached)
        + per_token(price.cached_input_per_mtok.or(price.input_per_mtok), cached)
        + per_token(price.output_per_mtok, metrics.output_tokens);
    // A run decoded with others in one batch occupied the machine for its share of the batch.
    let wall_ms = match (metrics.batch_sequences, metrics.batch_wall_ms) {
        (Some(n), Some(batch_ms)) if n > 0 => batch_ms / f64::from(n),
        _ => metrics.latency_ms,
    };
    let hours = wall_ms / 3_600_000.0;
    let machine = price.per_hour.unwrap_or(0.0) * hours;
    let power = match (price.watts, price.per_kwh) {
        (Some(watts), Some(per_kwh)) => watts / 1000.0 * hours * per_kwh,
        _ => 0.0,
    };
    Some(tokens + machine + power)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(latency_ms: f64, input: u32, output: u32) -> RunMetrics {
        RunMetrics::new(latency_ms, input, output)
    }

    #[test]
    fn token_prices_are_per_million_tokens_with_cached_input_cheaper() {
        let price = Price {
            input_per_mtok: Some(1.0),
            output_per_mtok: Some(2.0),
            cached_input_per_mtok: Some(0.5),
            ..Price::default()
        };
        // 1,000 in × $1/M + 500 out × $2/M = $0.001 + $0.001
        let cost = run_cost(&price, &metrics(100.0, 1000, 500)).unwrap();
        assert!((cost - 0.002).abs() < 1e-12, "{cost}");
        // 600 of the 1,000 input tokens cached: 400 × $1/M + 600 × $0.5/M + 500 × $2/M
        let mut warm = metrics(100.0, 1000, 500);
        warm.cached_tokens = Some(600);
        let cost = run_cost(&price, &warm).unwrap();
        assert!((cost - (0.0004 + 0.0003 + 0.001)).abs() < 1e-12, "{cost}");
    }

    #[test]
    fn machine_time_is_charged_by_the_hour_and_power_by_the_kilowatt_hour() {
        let price = Price {
            per_hour: Some(0.36),
            watts: Some(100.0),
            per_kwh: Some(0.30),
            ..Price::default()
        };
        // 10 s: $0.36/h × 10/3600 h = $0.001; 0.1 kW × 10/3600 h × $0.30 = $0.0000833…
        let cost = run_cost(&price, &metrics(10_000.0, 10, 10)).unwrap();
        assert!(
            (cost - (0.001 + 0.1 * 10.0 / 3600.0 * 0.30)).abs() < 1e-12,
            "{cost}"
        );
        // In a batch of 4 that took 10 s, a run occupied the machine for 2.5 s.
        let mut batched = metrics(9_000.0, 10, 10);
        batched.batch_sequences = Some(4);
        batched.batch_wall_ms = Some(10_000.0);
        let per_hour_only = Price {
            per_hour: Some(0.36),
            ..Price::default()
        };
        let cost = run_cost(&per_hour_only, &batched).unwrap();
        assert!((cost - 0.00025).abs() < 1e-12, "{cost}");
    }

    #[test]
    fn no_price_means_no_cost_and_bad_prices_are_named() {
        assert_eq!(run_cost(&Price::default(), &metrics(10.0, 1, 1)), None);
        let negative = Price {
            output_per_mtok: Some(-1.0),
            ..Price::default()
        };
        assert_eq!(negative.problem().unwrap().0, "output_per_mtok");
        let half = Price {
            watts: Some(65.0),
            ..Price::default()
        };
        assert_eq!(half.problem().unwrap().0, "per_kwh");
    }
}
