//! Policies as an experiment file (or a policy file of their own) writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CheckSpec;

/// A file of policies for `tradeoff route --policy FILE`: the same `policies:` list an
/// experiment file may hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub policies: Vec<PolicySpec>,
}

/// One policy: a `cascade` (try stages in order, escalate on conditions) or a `route` (pick one
/// config per request by a condition on the request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cascade: Option<Vec<StageSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Vec<RouteSpec>>,
}

/// A cascade stage: a config (`variant`, `target`, and `settings` when the target sweeps) with
/// the conditions that send a request on to the next stage, or a `rule` that answers without a
/// model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalate_when: Vec<ConditionSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleSpec>,
}

/// When a stage's answer is not taken: `error`, or one of `{check: …}`, `{confidence_below: x}`,
/// `{min_confidence_below: x}`, `{output_tokens_above: n}`, `{finish_reason: …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConditionSpec {
    Word(String),
    Keyed(BTreeMap<String, serde_json::Value>),
}

/// A check named in a condition: its kind alone (`json_valid`) or written out in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConditionCheck {
    Kind(String),
    Spec(CheckSpec),
}

/// Answers without a model: `regex` over the case variable `var`; on a match, `output` is
/// rendered with the named groups; no match sends the request to the next stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub var: String,
    pub regex: String,
    pub output: String,
}

/// A route: the config a request goes to when `when` holds; the last route has no `when`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub variant: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<BTreeMap<String, serde_json::Value>>,
}
