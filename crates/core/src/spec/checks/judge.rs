//! `judge`: a rubric graded by another model, a *grader* (any target, local or remote, declared
//! under `graders` in the experiment). The grader's calls are not the run's: they are recorded
//! as judgements with their own latency, tokens and cost, after every run of the experiment
//! has finished, so a local grader never shares the machine with a measured run.
//!
//! Until its grader answers, a judge check reads as not passed ("not graded"): a run must not
//! count as passing on a verdict nobody gave.

use std::collections::BTreeMap;

use minijinja::Environment;

use super::{Check, CheckError, CheckResult, Params, Subject, short};
use crate::spec::template::limits::{self, MAX_RENDERED_BYTES};
use crate::spec::template::{strict_environment, template_variables};

/// The grading prompt unless the check gives its own. Few-shot, so that base models without a
/// chat template answer in the same shape as chat models.
pub const DEFAULT_GRADING_PROMPT: &str =
    "Grade each answer against its rubric. Reply with PASS or FAIL, then a short reason.

Rubric: The answer names a colour.
Answer: The sky is blue.
Grade: PASS (blue is a colour)

Rubric: The answer is a number.
Answer: banana
Grade: FAIL (banana is not a number)

Rubric: {{ rubric }}
Answer: {{ output }}
Grade:";

/// A `judge` check: what to ask the grader and how to read its answer.
#[derive(Debug)]
pub struct Judge {
    /// What a good output does; a template over the case's variables.
    pub rubric: String,
    /// The grader's id; `None` when the experiment has exactly one grader.
    pub grader: Option<String>,
    /// The score at or above which the check passes.
    pub threshold: f64,
    env: Environment<'static>,
}

const RUBRIC: &str = "rubric";
const PROMPT: &str = "prompt";

pub(super) fn parse(params: &Params) -> Result<Box<dyn Check>, CheckError> {
    let rubric = params.string("rubric")?;
    if rubric.trim().is_empty() {
        return Err(CheckError::new("`rubric` must say what a good output does"));
    }
    let grader = match params.value("grader") {
        Ok(_) => Some(params.string("grader")?),
        Err(_) => None,
    };
    let prompt = match params.value("prompt") {
        Ok(_) => params.string("prompt")?,
        Err(_) => DEFAULT_GRADING_PROMPT.to_string(),
    };
    let shows_output = template_variables(&prompt)
        .map_err(|e| CheckError::new(format!("`prompt` is not a valid template: {e}")))?
        .contains("output");
    if !shows_output {
        return Err(CheckError::new(
            "`prompt` must show the grader the output: use {{ output }} (and {{ rubric }})",
        ));
    }
    let threshold = params.optional_number("threshold")?.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(CheckError::new("`threshold` must be between 0 and 1"));
    }
    let mut env = strict_environment();
    env.add_template_owned(RUBRIC, rubric.clone())
        .map_err(|e| CheckError::new(format!("`rubric` is not a valid template: {e}")))?;
    env.add_template_owned(PROMPT, prompt)
        .map_err(|e| CheckError::new(format!("`prompt` is not a valid template: {e}")))?;
    Ok(Box::new(Judge {
        rubric,
        grader,
        threshold,
        env,
    }))
}

impl Judge {
    pub fn label(&self) -> String {
        format!("judge {}", short(&self.rubric))
    }

    /// The text sent to the grader for one output: the prompt with `rubric` (rendered over the
    /// case's variables), `output`, `expected` and the case's variables filled in.
    pub fn grading_prompt(
        &self,
        output: &str,
        expected: Option<&str>,
        vars: &BTreeMap<String, serde_json::Value>,
    ) -> Result<String, String> {
        let rubric = self
            .render(RUBRIC, vars)
            .map_err(|e| format!("the rubric does not render for this case: {e}"))?;
        let mut context = serde_json::Map::new();
        for (name, value) in vars {
            context.insert(name.clone(), value.clone());
        }
        context.insert("rubric".into(), rubric.into());
        context.insert("output".into(), output.trim().into());
        context.insert("expected".into(), expected.unwrap_or_default().into());
        self.render(PROMPT, &context)
            .map_err(|e| format!("the grading prompt does not render for this case: {e}"))
    }

    /// A grading prompt is a prompt: it renders within the same limits as a variant's.
    fn render(&self, name: &str, context: impl serde::Serialize) -> Result<String, String> {
        let template = self.env.get_template(name).map_err(|e| e.to_string())?;
        limits::render(&template, context, MAX_RENDERED_BYTES).map_err(|e| match e.line() {
            Some(line) => format!("line {line}: {e}"),
            None => e.to_string(),
        })
    }

    /// Reads the grader's answer: a JSON object `{"pass": bool, "score": 0..1, "reason": "…"}`
    /// (promptfoo's shape) anywhere in it, or else a first line starting with PASS/FAIL
    /// (YES/NO), optionally after `Grade:`. Anything else is an answer that cannot be read.
    pub fn read_verdict(&self, answer: &str) -> Result<Verdict, String> {
        if let Some(verdict) = json_verdict(answer)? {
            let passed = verdict.pass.unwrap_or(true) && verdict.score >= self.threshold;
            return Ok(Verdict {
                passed,
                score: verdict.score,
                reason: verdict.reason,
            });
        }
        let line = answer
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let line = line.strip_prefix("Grade:").unwrap_or(line).trim_start();
        let word: String = line
            .trim_start_matches(|c: char| !c.is_alphanumeric())
            .chars()
            .take_while(|c| c.is_alphabetic())
            .collect();
        let score = match word.to_ascii_uppercase().as_str() {
            "PASS" | "YES" => 1.0,
            "FAIL" | "NO" => 0.0,
            _ => {
                return Err(format!(
                    "the grader's answer is neither PASS/FAIL nor a JSON verdict: {}",
                    short(answer.trim())
                ));
            }
        };
        let rest = line
            .trim_start_matches(|c: char| !c.is_alphanumeric())
            .get(word.len()..)
            .unwrap_or("")
            .trim_matches(|c: char| c.is_whitespace() || "()*:-.,".contains(c));
        Ok(Verdict {
            passed: score >= self.threshold,
            score,
            reason: (!rest.is_empty()).then(|| rest.to_string()),
        })
    }
}

/// A grader's reading of one output.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub passed: bool,
    pub score: f64,
    pub reason: Option<String>,
}

struct JsonVerdict {
    pass: Option<bool>,
    score: f64,
    reason: Option<String>,
}

/// The first `{…}` in the answer that parses as an object with `pass` or `score`.
fn json_verdict(answer: &str) -> Result<Option<JsonVerdict>, String> {
    let (Some(start), Some(end)) = (answer.find('{'), answer.rfind('}')) else {
        return Ok(None);
    };
    if end < start {
        return Ok(None);
    }
    let Ok(serde_json::Value::Object(object)) = serde_json::from_str(&answer[start..=end]) else {
        return Ok(None);
    };
    let pass = object.get("pass").and_then(serde_json::Value::as_bool);
    let score = match object.get("score") {
        None => None,
        Some(value) => match value.as_f64() {
            Some(score) if (0.0..=1.0).contains(&score) => Some(score),
            _ => {
                return Err(format!(
                    "the grader's score must be a number in [0, 1], found {value}"
                ));
            }
        },
    };
    let score = match (score, pass) {
        (Some(score), _) => score,
        (None, Some(pass)) => f64::from(u8::from(pass)),
        (None, None) => return Ok(None),
    };
    let reason = object
        .get("reason")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    Ok(Some(JsonVerdict { pass, score, reason }))
}

impl Check for Judge {
    fn reads_expected(&self) -> bool {
        true
    }

    fn evaluate(&self, _subject: &Subject<'_>) -> CheckResult {
        CheckResult {
            check: self.label(),
            passed: false,
            score: 0.0,
            detail: Some(NOT_GRADED.into()),
        }
    }

    fn as_judge(&self) -> Option<&Judge> {
        Some(self)
    }
}

/// The detail of a judge check whose grader has not answered (yet).
pub const NOT_GRADED: &str = "not graded";
