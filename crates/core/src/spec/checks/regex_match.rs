//! `regex`: the output matches a regular expression (Rust `regex` syntax, compiled when the
//! experiment is loaded).

use regex::Regex;

use super::{Check, CheckError, CheckResult, Params, Subject, short, verdict};

#[derive(Debug)]
struct RegexMatch {
    pattern: Regex,
}

pub(super) fn parse(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    let source = params.string("value")?;
    let pattern =
        Regex::new(&source).map_err(|e| CheckError::new(format!("`value` is not a valid regex: {e}")))?;
    Ok(Box::new(RegexMatch { pattern }))
}

impl Check for RegexMatch {
    fn evaluate(&self, subject: &Subject<'_>) -> CheckResult {
        verdict(
            format!("regex {}", short(self.pattern.as_str())),
            self.pattern.is_match(subject.output),
            || "no match in the output".into(),
        )
    }
}
