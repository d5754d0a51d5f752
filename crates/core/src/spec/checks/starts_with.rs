//! `starts_with`: the output (leading whitespace ignored) begins with `value`.

use super::{Check, CheckError, CheckResult, Params, Subject, short, verdict};

#[derive(Debug)]
struct StartsWith {
    value: String,
}

pub(super) fn parse(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    Ok(Box::new(StartsWith {
        value: params.string("value")?,
    }))
}

impl Check for StartsWith {
    fn evaluate(&self, subject: &Subject<'_>) -> CheckResult {
        let got = subject.output.trim_start();
        verdict(
            format!("starts_with {}", short(&self.value)),
            got.starts_with(&self.value),
            || format!("the output starts {}", short(got)),
        )
    }
}
