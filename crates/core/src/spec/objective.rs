//! Objectives as an experiment states them: constraints (`pass_rate >= 0.9`, `p95_latency_ms <=
//! 800`) that exclude configs and order words (`cheapest`, `fastest`, `best_score`) that rank the
//! rest, earlier words first. Applying them to measured configs is `analyze::ranking`.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    #[serde(default)]
    pub constraints: Vec<String>,
    #[serde(default = "default_order")]
    pub order: Vec<OrderWord>,
}

impl Default for Objective {
    fn default() -> Self {
        Objective {
            constraints: Vec::new(),
            order: default_order(),
        }
    }
}

/// As a person reads it: `pass_rate >= 0.9, p95_latency_ms <= 800; then best score, cheapest,
/// fastest` (the winner card and reports show this rather than the JSON).
impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let constraints: Vec<&str> = self.constraints.iter().map(|c| c.trim()).collect();
        if constraints.is_empty() {
            f.write_str("no constraints")?;
        } else {
            f.write_str(&constraints.join(", "))?;
        }
        let order: Vec<&str> = self.order.iter().map(|w| w.describe()).collect();
        if !order.is_empty() {
            write!(f, "; then {}", order.join(", "))?;
        }
        Ok(())
    }
}

fn default_order() -> Vec<OrderWord> {
    vec![OrderWord::BestScore, OrderWord::Cheapest, OrderWord::Fastest]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderWord {
    /// Lowest mean cost per run.
    Cheapest,
    /// Lowest p95 latency.
    Fastest,
    /// Highest pass rate, then highest mean score.
    BestScore,
}

impl OrderWord {
    pub fn describe(self) -> &'static str {
        match self {
            OrderWord::Cheapest => "cheapest",
            OrderWord::Fastest => "fastest",
            OrderWord::BestScore => "best score",
        }
    }
}

/// A metric a constraint can name, read from a config's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    PassRate,
    ScoreMean,
    ErrorRate,
    P50LatencyMs,
    P95LatencyMs,
    P99LatencyMs,
    TtftP50Ms,
    TtftP95Ms,
    CostPerRunUsd,
    CostPer1kUsd,
    AggregateTokensPerS,
}

const METRICS: [(&str, Metric); 11] = [
    ("pass_rate", Metric::PassRate),
    ("score_mean", Metric::ScoreMean),
    ("error_rate", Metric::ErrorRate),
    ("p50_latency_ms", Metric::P50LatencyMs),
    ("p95_latency_ms", Metric::P95LatencyMs),
    ("p99_latency_ms", Metric::P99LatencyMs),
    ("p50_ttft_ms", Metric::TtftP50Ms),
    ("p95_ttft_ms", Metric::TtftP95Ms),
    ("cost_per_run_usd", Metric::CostPerRunUsd),
    ("cost_per_1k_usd", Metric::CostPer1kUsd),
    ("aggregate_tokens_per_s", Metric::AggregateTokensPerS),
];

impl Metric {
    pub fn name(self) -> &'static str {
        METRICS.iter().find(|(_, m)| *m == self).map_or("?", |(n, _)| n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constraint {
    pub metric: Metric,
    pub op: Op,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Le,
    Lt,
    Ge,
    Gt,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Gt => ">",
        };
        write!(f, "{} {op} {}", self.metric.name(), self.value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectiveError {
    #[error(
        "constraint `{text}`: write `<metric> <op> <number>` with op one of <=, <, >=, > and metric one of {}",
        METRICS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    )]
    Malformed { text: String },
}

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint, ObjectiveError> {
        let malformed = || ObjectiveError::Malformed {
            text: text.to_string(),
        };
        let mut parts = text.split_whitespace();
        let (Some(metric), Some(op), Some(value), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let metric = METRICS
            .iter()
            .find(|(n, _)| *n == metric)
            .map(|(_, m)| *m)
            .ok_or_else(malformed)?;
        let op = match op {
            "<=" => Op::Le,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            ">" => Op::Gt,
            _ => return Err(malformed()),
        };
        let value: f64 = value.parse().map_err(|_| malformed())?;
        if !value.is_finite() {
            return Err(malformed());
        }
        Ok(Constraint { metric, op, value })
    }
}

impl Objective {
    pub fn parsed_constraints(&self) -> Result<Vec<Constraint>, ObjectiveError> {
        self.constraints.iter().map(|c| Constraint::parse(c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_objective_reads_as_its_constraints_then_its_order() {
        let objective: Objective =
            serde_json::from_str(r#"{"constraints": ["pass_rate >= 0.9", " p95_latency_ms <= 800"], "order": ["cheapest", "fastest"]}"#)
                .unwrap();
        assert_eq!(
            objective.to_string(),
            "pass_rate >= 0.9, p95_latency_ms <= 800; then cheapest, fastest"
        );
        assert_eq!(
            Objective::default().to_string(),
            "no constraints; then best score, cheapest, fastest"
        );
    }
}
