//! What a cascade escalates on and what a route chooses by: only what a deployment knows when it
//! answers a request.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::run::{FinishReason, RunMetrics};
use crate::spec::checks::{ParsedCheck, Subject};

/// Sends a request past a cascade stage when it holds for the stage's answer.
#[derive(Debug, Clone)]
pub enum Condition {
    /// The call failed (timeout, HTTP error, context overflow…).
    Error,
    /// The answer fails this check (one that never reads `expected`).
    CheckFails(ParsedCheck),
    /// The mean log-probability of the answer's tokens is below this.
    ConfidenceBelow(f64),
    /// Some token of the answer has a log-probability below this.
    MinConfidenceBelow(f64),
    OutputTokensAbove(u32),
    FinishReason(Vec<FinishReason>),
}

/// The confidence a condition reads, and a threshold sweep moves.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// `confidence_below`: the mean log-probability of the answer's tokens.
    Confidence,
    /// `min_confidence_below`: the lowest one.
    MinConfidence,
}

/// A stage's answer as the policy sees it at request time. There is no `expected` here on
/// purpose: nothing a policy decides on can read it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub output: &'a str,
    pub failed: bool,
    pub metrics: Option<&'a RunMetrics>,
    pub finish_reason: Option<FinishReason>,
    pub cost_usd: Option<f64>,
}

/// A condition that needs a measurement the recorded run does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingSignal {
    Confidence,
    Metrics,
}

impl fmt::Display for MissingSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MissingSignal::Confidence => {
                "no confidence was recorded (runs of a version before 0.2 do not have it, nor remote \
                 targets without `logprobs: true`)"
            }
            MissingSignal::Metrics => "the run recorded no measurements",
        })
    }
}

/// Whether any of a stage's conditions sends this answer on.
pub fn escalates(conditions: &[Condition], answer: &Answer<'_>) -> Result<bool, MissingSignal> {
    for condition in conditions {
        if condition.holds(answer)? {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Condition {
    /// The confidence signal a condition escalates on, if it is one.
    pub fn confidence_signal(&self) -> Option<Signal> {
        match self {
            Condition::ConfidenceBelow(_) => Some(Signal::Confidence),
            Condition::MinConfidenceBelow(_) => Some(Signal::MinConfidence),
            _ => None,
        }
    }

    /// Escalates when `signal` is below `threshold`.
    pub fn confidence_below(signal: Signal, threshold: f64) -> Condition {
        match signal {
            Signal::Confidence => Condition::ConfidenceBelow(threshold),
            Signal::MinConfidence => Condition::MinConfidenceBelow(threshold),
        }
    }

    /// Whether the condition sends this answer on. A failed call escalates only on `error`;
    /// the other conditions judge answers that exist.
    pub fn holds(&self, answer: &Answer<'_>) -> Result<bool, MissingSignal> {
        if answer.failed {
            return Ok(matches!(self, Condition::Error));
        }
        let metrics = || answer.metrics.ok_or(MissingSignal::Metrics);
        Ok(match self {
            Condition::Error => false,
            Condition::CheckFails(check) => {
                let subject = Subject {
                    output: answer.output,
                    expected: None,
                    metrics: answer.metrics,
                    cost_usd: answer.cost_usd,
                };
                !check.check().evaluate(&subject).passed
            }
            // An answer of no tokens has no confidence to read, and nothing to keep.
            Condition::ConfidenceBelow(_) | Condition::MinConfidenceBelow(_)
                if metrics()?.output_tokens == 0 =>
            {
                true
            }
            Condition::ConfidenceBelow(bound) => {
                metrics()?.logprob_mean.ok_or(MissingSignal::Confidence)? < *bound
            }
            Condition::MinConfidenceBelow(bound) => {
                metrics()?.logprob_min.ok_or(MissingSignal::Confidence)? < *bound
            }
            Condition::OutputTokensAbove(limit) => metrics()?.output_tokens > *limit,
            Condition::FinishReason(reasons) => answer.finish_reason.is_some_and(|r| reasons.contains(&r)),
        })
    }

    /// Parses one `escalate_when` entry; the error is the message for its place.
    pub(super) fn parse(spec: &crate::spec::file::policies::ConditionSpec) -> Result<Condition, String> {
        use crate::spec::file::policies::{ConditionCheck, ConditionSpec};
        let keyed = match spec {
            ConditionSpec::Word(word) if word == "error" => return Ok(Condition::Error),
            ConditionSpec::Word(word) => return Err(format!("unknown condition `{word}`; {}", CONDITIONS)),
            ConditionSpec::Keyed(map) => map,
        };
        let mut entries = keyed.iter();
        let (Some((key, value)), None) = (entries.next(), entries.next()) else {
            return Err(format!("a condition has one key; {CONDITIONS}"));
        };
        match key.as_str() {
            "check" => {
                let check: ConditionCheck = serde_json::from_value(value.clone())
                    .map_err(|_| "`check` is a check's kind (`json_valid`) or a check written out ({type: regex, value: …})".to_string())?;
                let spec = match check {
                    ConditionCheck::Kind(kind) => crate::spec::file::CheckSpec {
                        kind,
                        params: Default::default(),
                    },
                    ConditionCheck::Spec(spec) => spec,
                };
                let parsed = ParsedCheck::parse(spec).map_err(|e| format!("check {}", e.message))?;
                if parsed.check().as_judge().is_some() {
                    return Err(
                        "a `judge` check cannot decide an escalation: it reads the case's `expected` \
                                output and calls another model"
                            .into(),
                    );
                }
                if parsed.check().reads_expected() {
                    return Err(format!(
                        "`{}` without a `value` compares with the case's `expected` output, which a \
                         deployment does not have when it answers: escalating on it would leak the answer \
                         into the policy. Give the check a fixed `value`, or escalate on json_valid, \
                         json_schema, regex, contains, confidence…",
                        parsed.spec().kind
                    ));
                }
                Ok(Condition::CheckFails(parsed))
            }
            "confidence_below" | "min_confidence_below" => {
                let bound = logprob(value).ok_or_else(|| {
                    format!("`{key}` is a log-probability: a number ≤ 0 (−0.35 is about 70 % per token)")
                })?;
                Ok(if key == "confidence_below" {
                    Condition::ConfidenceBelow(bound)
                } else {
                    Condition::MinConfidenceBelow(bound)
                })
            }
            "output_tokens_above" => value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Condition::OutputTokensAbove)
                .ok_or_else(|| "`output_tokens_above` is a whole number of tokens".into()),
            "finish_reason" => {
                let names: Vec<&Value> = match value {
                    Value::Array(items) => items.iter().collect(),
                    single => vec![single],
                };
                let reasons = names
                    .iter()
                    .map(|name| name.as_str().and_then(FinishReason::parse))
                    .collect::<Option<Vec<_>>>()
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| {
                        "`finish_reason` is one or a list of: stop, end_of_text, max_tokens, context_full"
                            .to_string()
                    })?;
                Ok(Condition::FinishReason(reasons))
            }
            other => Err(format!("unknown condition `{other}`; {CONDITIONS}")),
        }
    }
}

const CONDITIONS: &str = "use `error`, {check: …}, {confidence_below: x}, {min_confidence_below: x}, \
                          {output_tokens_above: n} or {finish_reason: …}";

fn logprob(value: &Value) -> Option<f64> {
    value.as_f64().filter(|v| v.is_finite() && *v <= 0.0)
}

/// What a route's `when` measures about a request before any model answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// The prompt's tokens for that route's config, as its tokenizer counts them.
    InputTokens,
    /// The characters of a case variable: `len(document)`.
    Chars(String),
}

impl Measure {
    /// What it measures from a case's variables alone: a variable's characters (an absent one
    /// has none); `None` for input tokens, which only a tokenizer (or a recorded run) knows.
    pub fn of_vars(&self, vars: &BTreeMap<String, Value>) -> Option<f64> {
        match self {
            Measure::InputTokens => None,
            Measure::Chars(name) => Some(vars.get(name).map_or(0, |value| match value {
                Value::String(text) => text.chars().count(),
                other => other.to_string().chars().count(),
            }) as f64),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteCondition {
    pub measure: Measure,
    pub op: Op,
    pub value: f64,
    pub written: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Above,
    AtLeast,
    Below,
    AtMost,
    Equal,
    NotEqual,
}

impl RouteCondition {
    /// `input_tokens > 300`, `len(document) <= 2000`.
    pub fn parse(text: &str) -> Result<RouteCondition, String> {
        let wrong = || {
            format!(
                "`{text}` is not a route condition: write `input_tokens > 300` or `len(VARIABLE) >= 80` \
                 (operators > >= < <= == !=)"
            )
        };
        let ops = [
            (">=", Op::AtLeast),
            ("<=", Op::AtMost),
            ("==", Op::Equal),
            ("!=", Op::NotEqual),
            (">", Op::Above),
            ("<", Op::Below),
        ];
        let (at, symbol, op) = ops
            .iter()
            .filter_map(|(symbol, op)| text.find(symbol).map(|at| (at, *symbol, *op)))
            .min_by_key(|(at, symbol, _)| (*at, usize::MAX - symbol.len()))
            .ok_or_else(wrong)?;
        let left = text[..at].trim();
        let right = text[at + symbol.len()..].trim();
        let value: f64 = right
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(wrong)?;
        let measure = if left == "input_tokens" {
            Measure::InputTokens
        } else if let Some(name) = left.strip_prefix("len(").and_then(|rest| rest.strip_suffix(')')) {
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(wrong());
            }
            Measure::Chars(name.to_string())
        } else {
            return Err(wrong());
        };
        Ok(RouteCondition {
            measure,
            op,
            value,
            written: text.trim().to_string(),
        })
    }

    pub fn holds(&self, measured: f64) -> bool {
        match self.op {
            Op::Above => measured > self.value,
            Op::AtLeast => measured >= self.value,
            Op::Below => measured < self.value,
            Op::AtMost => measured <= self.value,
            Op::Equal => measured == self.value,
            Op::NotEqual => measured != self.value,
        }
    }
}
