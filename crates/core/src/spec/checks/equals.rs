//! `equals`: the output (trimmed) is exactly `value`, or the case's `expected` when no value
//! is given.

use super::{Check, CheckError, CheckResult, Params, Subject, short, verdict};

#[derive(Debug)]
struct Equals {
    value: Option<String>,
}

pub(super) fn parse(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    let value = match params.value("value") {
        Ok(_) => Some(params.string("value")?),
        Err(_) => None,
    };
    Ok(Box::new(Equals { value }))
}

impl Check for Equals {
    fn reads_expected(&self) -> bool {
        self.value.is_none()
    }

    fn evaluate(&self, subject: &Subject<'_>) -> CheckResult {
        let Some(wanted) = self.value.as_deref().or(subject.expected) else {
            return verdict("equals expected".into(), false, || {
                "no `value` and the case has no `expected`".into()
            });
        };
        let got = subject.output.trim();
        verdict(format!("equals {}", short(wanted)), got == wanted.trim(), || {
            format!("the output is {}", short(got))
        })
    }
}
