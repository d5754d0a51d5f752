//! `json_valid`: the output (trimmed) is one JSON value.

use super::{Check, CheckError, CheckResult, Params, Subject, verdict};

#[derive(Debug)]
struct JsonValid;

pub(super) fn parse(_: &Params) -> Result<Box<dyn Check>, CheckError> {
    Ok(Box::new(JsonValid))
}

impl Check for JsonValid {
    fn evaluate(&self, subject: &Subject<'_>) -> CheckResult {
        let parsed = serde_json::from_str::<serde_json::Value>(subject.output.trim());
        let error = parsed.as_ref().err().map(ToString::to_string);
        verdict("json_valid".into(), parsed.is_ok(), || {
            format!("not JSON: {}", error.unwrap_or_default())
        })
    }
}
