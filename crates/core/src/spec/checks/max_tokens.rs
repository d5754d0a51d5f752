//! `max_tokens`: the run generated at most `value` tokens.

use super::{Check, CheckError, CheckResult, Params, Subject, verdict};

#[derive(Debug)]
struct MaxTokens {
    limit: u32,
}

pub(super) fn parse(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    let limit = params.number("value")?;
    if !(limit >= 0.0 && limit.fract() == 0.0 && limit <= f64::from(u32::MAX)) {
        return Err(CheckError::new("`value` must be a whole number of tokens"));
    }
    Ok(Box::new(MaxTokens { limit: limit as u32 }))
}

impl Check for MaxTokens {
    fn evaluate(&self, subject: &Subject<'_>) -> CheckResult {
        let used = subject.metrics.map(|m| m.output_tokens);
        verdict(
            format!("max_tokens {}", self.limit),
            used.is_some_and(|n| n <= self.limit),
            || match used {
                Some(n) => format!("{n} tokens"),
                None => "the run has no token count".into(),
            },
        )
    }
}
