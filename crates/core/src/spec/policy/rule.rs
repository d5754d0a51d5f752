//! A rule stage: deterministic logic before any model. A regular expression over one case
//! variable; on a match the output template is rendered with the named groups, and without one
//! the request goes to the next stage. It costs nothing and answers in microseconds.

use std::collections::BTreeMap;

use minijinja::Environment;
use regex::{Regex, RegexBuilder};

use crate::spec::template::limits::{self, RenderError};
use crate::spec::template::{strict_environment, template_variables};

/// Compiled regexes are bounded like the checks' (the `regex` crate's own size limit), so a
/// hostile pattern fails to compile instead of taking the memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// A rule's answer is a short structured output, not a document.
const MAX_RULE_OUTPUT_BYTES: usize = 64 << 10;
const OUTPUT: &str = "output";

#[derive(Debug, Clone)]
pub struct Rule {
    var: String,
    regex: Regex,
    env: Environment<'static>,
}

/// Where in `rule` something is wrong, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub field: &'static str,
    pub message: String,
}

impl Rule {
    pub(super) fn new(spec: &crate::spec::file::policies::RuleSpec) -> Result<Rule, RuleError> {
        let wrong = |field, message: String| RuleError { field, message };
        let regex = RegexBuilder::new(&spec.regex)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| wrong("regex", format!("is not a valid regex: {e}")))?;
        let groups: Vec<&str> = regex.capture_names().flatten().collect();
        let used = template_variables(&spec.output).map_err(|e| wrong("output", limits::describe(&e)))?;
        if let Some(unknown) = used.iter().find(|name| !groups.contains(&name.as_str())) {
            return Err(wrong(
                "output",
                format!(
                    "uses `{unknown}`, which is not a named group of the regex (named groups: {}); \
                     name one with (?P<{unknown}>…)",
                    if groups.is_empty() {
                        "none".to_string()
                    } else {
                        groups.join(", ")
                    }
                ),
            ));
        }
        let mut env = strict_environment();
        env.add_template_owned(OUTPUT, spec.output.clone())
            .map_err(|e| wrong("output", limits::describe(&e)))?;
        Ok(Rule {
            var: spec.var.clone(),
            regex,
            env,
        })
    }

    pub fn var(&self) -> &str {
        &self.var
    }

    /// The rule's answer for a case's variables: `None` when the variable is absent or the
    /// regex does not match it.
    pub fn answer(&self, vars: &BTreeMap<String, serde_json::Value>) -> Result<Option<String>, RenderError> {
        let Some(value) = vars.get(&self.var) else {
            return Ok(None);
        };
        let text = match value {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let Some(captures) = self.regex.captures(&text) else {
            return Ok(None);
        };
        let groups: BTreeMap<&str, &str> = self
            .regex
            .capture_names()
            .flatten()
            .map(|name| (name, captures.name(name).map_or("", |m| m.as_str())))
            .collect();
        let template = self.env.get_template(OUTPUT)?;
        limits::render(&template, groups, MAX_RULE_OUTPUT_BYTES).map(Some)
    }
}
