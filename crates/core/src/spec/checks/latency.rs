//! `latency_ms`: the run took at most `value` milliseconds.

use super::{Check, CheckError, CheckResult, Params, Subject, verdict};

#[derive(Debug)]
struct Latency {
    limit_ms: f64,
}

pub(super) fn parse(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    let limit_ms = params.number("value")?;
    if limit_ms.is_nan() || limit_ms <= 0.0 {
        return Err(CheckError::new(
            "`value` must be a positive number of milliseconds",
        ));
    }
    Ok(Box::new(Latency { limit_ms }))
}

impl Check for Latency {
    fn evaluate(&self, subject: &Subject<'_>) -> CheckResult {
        let latency = subject.metrics.map(|m| m.latency_ms);
        verdict(
            format!("latency_ms {}", self.limit_ms),
            latency.is_some_and(|ms| ms <= self.limit_ms),
            || match latency {
                Some(ms) => format!("{ms:.1} ms"),
                None => "the run has no latency".into(),
            },
        )
    }
}
