//! `contains`, `not_contains`, `icontains`: a piece of text in the output (or not).

use super::{Check, CheckError, CheckResult, Params, Subject, short, verdict};

#[derive(Debug)]
struct Contains {
    value: String,
    negate: bool,
    ignore_case: bool,
}

pub(super) fn contains(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    build(params, false, false)
}

pub(super) fn not_contains(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    build(params, true, false)
}

pub(super) fn icontains(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    build(params, false, true)
}

fn build(params: &Params, negate: bool, ignore_case: bool) -> Result<Box<dyn Check>, CheckError> {
    let value = params.string("value")?;
    if value.is_empty() {
        return Err(CheckError::new("`value` must not be empty"));
    }
    Ok(Box::new(Contains {
        value,
        negate,
        ignore_case,
    }))
}

impl Check for Contains {
    fn evaluate(&self, subject: &Subject<'_>) -> CheckResult {
        let found = if self.ignore_case {
            subject.output.to_lowercase().contains(&self.value.to_lowercase())
        } else {
            subject.output.contains(&self.value)
        };
        let name = match (self.negate, self.ignore_case) {
            (true, _) => "not_contains",
            (false, true) => "icontains",
            (false, false) => "contains",
        };
        verdict(
            format!("{name} {}", short(&self.value)),
            found != self.negate,
            || {
                if self.negate {
                    format!("the output contains {}", short(&self.value))
                } else {
                    format!("{} is not in the output", short(&self.value))
                }
            },
        )
    }
}
