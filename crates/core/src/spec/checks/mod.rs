//! Checks: what a run's output must satisfy, each kind in a file of its own behind one registry
//! (as promptfoo's assertions). A check gives pass/fail and a score in [0, 1]; a run passes when
//! all its checks pass and scores their mean.
//!
//! Checks are written per case (`cases[].checks`) or for every case (`checks` at the top); both
//! apply. They are parsed and validated with the experiment file, so a misspelt kind or a bad
//! regex is refused before anything runs.

mod contains;
mod cost;
mod equals;
mod json_schema;
mod json_valid;
pub mod judge;
mod latency;
mod max_tokens;
mod regex_match;
mod similarity;
mod starts_with;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::spec::file::CheckSpec;

use crate::run::RunMetrics;

/// What a check looks at.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub output: &'a str,
    pub expected: Option<&'a str>,
    pub metrics: Option<&'a RunMetrics>,
    pub cost_usd: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The kind and its main parameter, e.g. `contains "Berlin"`.
    pub check: String,
    pub passed: bool,
    /// In [0, 1]: 1 or 0 for yes/no checks, graded for `similarity`.
    pub score: f64,
    /// Why it failed (or what it measured), for people.
    pub detail: Option<String>,
}

/// A parsed check, ready to evaluate.
pub trait Check: fmt::Debug + Send + Sync {
    fn evaluate(&self, subject: &Subject<'_>) -> CheckResult;

    /// A `judge` check, graded by another model after the runs; others are evaluated at once.
    fn as_judge(&self) -> Option<&judge::Judge> {
        None
    }

    /// Whether it compares with the case's `expected` output, which a deployment does not have
    /// when it answers (routing policies may not escalate on such a check).
    fn reads_expected(&self) -> bool {
        false
    }
}

/// A parameter problem, named by parameter; the experiment loader adds where the check is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CheckError {
    pub message: String,
}

impl CheckError {
    fn new(message: impl Into<String>) -> Self {
        CheckError {
            message: message.into(),
        }
    }
}

type Parser = fn(&Params) -> Result<Box<dyn Check>, CheckError>;

/// Every check kind and its parser.
const REGISTRY: [(&str, Parser); 13] = [
    ("contains", contains::contains),
    ("not_contains", contains::not_contains),
    ("icontains", contains::icontains),
    ("equals", equals::parse),
    ("starts_with", starts_with::parse),
    ("regex", regex_match::parse),
    ("json_valid", json_valid::parse),
    ("json_schema", json_schema::parse),
    ("max_tokens", max_tokens::parse),
    ("similarity", similarity::parse),
    ("latency_ms", latency::parse),
    ("cost_usd", cost::parse),
    ("judge", judge::parse),
];

pub fn kinds() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|(name, _)| *name)
}

/// Parses a check from its spec; every parameter must be used by the kind.
pub fn parse(spec: &CheckSpec) -> Result<Box<dyn Check>, CheckError> {
    let Some((_, parser)) = REGISTRY.iter().find(|(name, _)| *name == spec.kind) else {
        return Err(CheckError::new(format!(
            "unknown check type `{}`; use one of {}",
            spec.kind,
            kinds().collect::<Vec<_>>().join(", ")
        )));
    };
    let params = Params::new(&spec.params);
    let check = parser(&params)?;
    params.all_used()?;
    Ok(check)
}

/// A validated check: what the file says (what is kept, persisted and shown) and the check it
/// parsed into. Parsed once: when the experiment is validated, or read back from a database.
#[derive(Clone)]
pub struct ParsedCheck {
    spec: CheckSpec,
    check: Arc<dyn Check>,
}

impl ParsedCheck {
    pub fn parse(spec: CheckSpec) -> Result<ParsedCheck, CheckError> {
        let check = Arc::from(parse(&spec)?);
        Ok(ParsedCheck { spec, check })
    }

    pub fn spec(&self) -> &CheckSpec {
        &self.spec
    }

    pub fn check(&self) -> &dyn Check {
        self.check.as_ref()
    }
}

impl fmt::Debug for ParsedCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.spec.fmt(f)
    }
}

impl PartialEq for ParsedCheck {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Serialize for ParsedCheck {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.spec.serialize(serializer)
    }
}

/// A recorded experiment is read back whatever this version thinks of its checks: its results
/// stay viewable, and a check that no longer parses is kept as written and fails, with the
/// reason, if it is ever evaluated again (`run --resume`).
impl<'de> Deserialize<'de> for ParsedCheck {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spec = CheckSpec::deserialize(deserializer)?;
        Ok(match parse(&spec) {
            Ok(check) => ParsedCheck {
                spec,
                check: Arc::from(check),
            },
            Err(error) => ParsedCheck {
                check: Arc::new(Unreadable {
                    check: spec.kind.clone(),
                    reason: error.message,
                }),
                spec,
            },
        })
    }
}

/// A recorded check this version cannot parse.
#[derive(Debug)]
struct Unreadable {
    check: String,
    reason: String,
}

impl Check for Unreadable {
    fn evaluate(&self, _: &Subject<'_>) -> CheckResult {
        CheckResult {
            check: self.check.clone(),
            passed: false,
            score: 0.0,
            detail: Some(format!(
                "this version cannot use the check as recorded: {}",
                self.reason
            )),
        }
    }
}

/// Evaluates every check; a run passes when all pass, and scores their mean.
pub fn evaluate(checks: &[&dyn Check], subject: &Subject<'_>) -> Vec<CheckResult> {
    checks.iter().map(|c| c.evaluate(subject)).collect()
}

/// A check's parameters, tracking which were read so that unknown ones are refused.
pub(crate) struct Params<'a> {
    values: &'a BTreeMap<String, serde_json::Value>,
    used: std::cell::RefCell<Vec<&'a str>>,
}

impl<'a> Params<'a> {
    fn new(values: &'a BTreeMap<String, serde_json::Value>) -> Self {
        Params {
            values,
            used: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn get(&self, name: &'a str) -> Option<&'a serde_json::Value> {
        self.used.borrow_mut().push(name);
        self.values.get(name)
    }

    pub(crate) fn string(&self, name: &'a str) -> Result<String, CheckError> {
        match self.get(name) {
            Some(serde_json::Value::String(text)) => Ok(text.clone()),
            Some(other) => Err(CheckError::new(format!("`{name}` must be text, found {other}"))),
            None => Err(CheckError::new(format!("needs `{name}`"))),
        }
    }

    pub(crate) fn number(&self, name: &'a str) -> Result<f64, CheckError> {
        match self.get(name) {
            Some(value) => value
                .as_f64()
                .ok_or_else(|| CheckError::new(format!("`{name}` must be a number, found {value}"))),
            None => Err(CheckError::new(format!("needs `{name}`"))),
        }
    }

    pub(crate) fn optional_number(&self, name: &'a str) -> Result<Option<f64>, CheckError> {
        if self.values.contains_key(name) {
            self.number(name).map(Some)
        } else {
            self.get(name);
            Ok(None)
        }
    }

    pub(crate) fn value(&self, name: &'a str) -> Result<&'a serde_json::Value, CheckError> {
        self.get(name)
            .ok_or_else(|| CheckError::new(format!("needs `{name}`")))
    }

    fn all_used(&self) -> Result<(), CheckError> {
        let used = self.used.borrow();
        match self.values.keys().find(|k| !used.contains(&k.as_str())) {
            Some(unknown) => Err(CheckError::new(format!("unknown parameter `{unknown}`"))),
            None => Ok(()),
        }
    }
}

/// A yes/no result.
pub(crate) fn verdict(check: String, passed: bool, detail: impl FnOnce() -> String) -> CheckResult {
    CheckResult {
        check,
        passed,
        score: if passed { 1.0 } else { 0.0 },
        detail: (!passed).then(detail),
    }
}

/// Text shortened for a check's label or detail.
pub(crate) fn short(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head:?}…")
    }
}

#[cfg(test)]
mod tests;
