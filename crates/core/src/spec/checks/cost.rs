//! `cost_usd`: the run cost at most `value` dollars.

use super::{Check, CheckError, CheckResult, Params, Subject, verdict};

#[derive(Debug)]
struct Cost {
    limit_usd: f64,
}

pub(super) fn parse(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    let limit_usd = params.number("value")?;
    if limit_usd.is_nan() || limit_usd < 0.0 {
        return Err(CheckError::new("`value` must be a number of dollars >= 0"));
    }
    Ok(Box::new(Cost { limit_usd }))
}

impl Check for Cost {
    fn evaluate(&self, subject: &Subject<'_>) -> CheckResult {
        verdict(
            format!("cost_usd {}", self.limit_usd),
            subject.cost_usd.is_some_and(|c| c <= self.limit_usd),
            || match subject.cost_usd {
                Some(c) => format!("${c:.6}"),
                None => "the run has no cost (no price for its target)".into(),
            },
        )
    }
}
