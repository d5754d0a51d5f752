//! `similarity`: how close the output is to the case's `expected` (or `value`), as the word-level
//! similarity ratio of the diff view; passes at `threshold` (default 0.8). The score is the ratio.

use super::{Check, CheckError, CheckResult, Params, Subject};
use crate::diff::{Granularity, diff};

#[derive(Debug)]
struct Similarity {
    value: Option<String>,
    threshold: f64,
}

pub(super) fn parse(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    let value = match params.value("value") {
        Ok(_) => Some(params.string("value")?),
        Err(_) => None,
    };
    let threshold = params.optional_number("threshold")?.unwrap_or(0.8);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(CheckError::new("`threshold` must be between 0 and 1"));
    }
    Ok(Box::new(Similarity { value, threshold }))
}

impl Check for Similarity {
    fn reads_expected(&self) -> bool {
        self.value.is_none()
    }

    fn evaluate(&self, subject: &Subject<'_>) -> CheckResult {
        let check = format!("similarity >= {}", self.threshold);
        let Some(reference) = self.value.as_deref().or(subject.expected) else {
            return CheckResult {
                check,
                passed: false,
                score: 0.0,
                detail: Some("no `value` and the case has no `expected`".into()),
            };
        };
        let score = diff(reference.trim(), subject.output.trim(), Granularity::Word).similarity;
        CheckResult {
            check,
            passed: score >= self.threshold,
            score,
            detail: Some(format!("similarity {score:.3}")),
        }
    }
}
