//! `json_schema`: the output is JSON that validates against `schema` (JSON Schema, any draft
//! the `jsonschema` crate knows; the schema itself is checked when the experiment is loaded).

use super::{Check, CheckError, CheckResult, Params, Subject, verdict};

#[derive(Debug)]
struct JsonSchema {
    validator: jsonschema::Validator,
}

pub(super) fn parse(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    let schema = params.value("schema")?;
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| CheckError::new(format!("`schema` is not a valid JSON Schema: {e}")))?;
    Ok(Box::new(JsonSchema { validator }))
}

impl Check for JsonSchema {
    fn evaluate(&self, subject: &Subject<'_>) -> CheckResult {
        let problem = match serde_json::from_str::<serde_json::Value>(subject.output.trim()) {
            Err(e) => Some(format!("not JSON: {e}")),
            Ok(value) => self
                .validator
                .iter_errors(&value)
                .next()
                .map(|e| format!("{} (at {})", e, e.instance_path())),
        };
        let passed = problem.is_none();
        verdict("json_schema".into(), passed, || problem.unwrap_or_default())
    }
}
