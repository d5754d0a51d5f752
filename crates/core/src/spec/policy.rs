//! Routing policies: instead of one config for every request, a `cascade` (a cheap config first,
//! the next one only when the answer is not good enough by what is known at request time) or a
//! `route` (a config chosen per request by a condition on the request). `analyze::routing`
//! simulates them on recorded runs.
//!
//! What a policy may look at is limited to what a deployment knows when it answers: errors,
//! checks that do not read the case's `expected` output, the model's confidence, the output's
//! length and why it ended. A policy that escalates on `expected` would leak the answer into the
//! decision and is refused with its place.

mod condition;
mod rule;
mod validate;

use serde::Serialize;

use crate::spec::target::LocalSettings;

pub use condition::{Answer, Condition, Measure, MissingSignal, RouteCondition, Signal, escalates};
pub use rule::{Rule, RuleError};
pub use validate::{
    ConfigCandidate, MAX_POLICIES, MAX_STAGES, policies_of, policy_over_configs, validate_policies,
};

/// A validated policy. `spec` is what was written (kept to show and export it).
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: String,
    pub spec: crate::spec::file::policies::PolicySpec,
    pub plan: PolicyPlan,
}

#[derive(Debug, Clone)]
pub enum PolicyPlan {
    /// Stages tried in order; the last one always answers.
    Cascade(Vec<Stage>),
    /// The first route whose condition holds answers; the last one has none.
    Route(Vec<Route>),
}

#[derive(Debug, Clone)]
pub enum Stage {
    Model {
        config: ConfigRef,
        /// Any of these holding sends the request on (none on the last stage).
        escalate_when: Vec<Condition>,
    },
    Rule(Rule),
}

#[derive(Debug, Clone)]
pub struct Route {
    /// `None` on the last route: the default.
    pub when: Option<RouteCondition>,
    pub config: ConfigRef,
}

/// One config of the experiment's plan, as its runs are labelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigRef {
    pub variant: String,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<LocalSettings>,
    /// Its index in `Plan::configs`.
    #[serde(skip)]
    pub index: usize,
    /// How people read it (`fewshot · q4 · n_ctx 512`).
    pub label: String,
}

/// Two policies are the same when they are written the same (as checks compare), within one
/// experiment: the configs they name follow from what is written.
impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Stage {
    /// The stage's name in reports: its config's label, or `rule on <var>`.
    pub fn label(&self) -> String {
        match self {
            Stage::Model { config, .. } => config.label.clone(),
            Stage::Rule(rule) => format!("rule on {}", rule.var()),
        }
    }
}

impl Policy {
    /// Why the policy cannot answer requests live as written, in a sentence (`None`: it can).
    /// `records_confidence` says whether a config's calls give token log-probabilities.
    pub fn cannot_run_live(&self, records_confidence: impl Fn(&ConfigRef) -> bool) -> Option<String> {
        match &self.plan {
            PolicyPlan::Route(routes) => routes.iter().find_map(|route| {
                let measure = &route.when.as_ref()?.measure;
                (*measure == Measure::InputTokens).then(|| {
                    format!(
                        "route `{}` chooses by input_tokens, which a live run would have to count before each \
                         call; simulate it (`tradeoff route`) or route by len(VARIABLE)",
                        route.config.label
                    )
                })
            }),
            PolicyPlan::Cascade(stages) => stages.iter().find_map(|stage| {
                let Stage::Model {
                    config,
                    escalate_when,
                } = stage
                else {
                    return None;
                };
                let wants_confidence = escalate_when.iter().any(|c| c.confidence_signal().is_some());
                (wants_confidence && !records_confidence(config)).then(|| {
                    format!(
                        "stage {} escalates on confidence, but target `{}` records none: set `logprobs: true` \
                         on it (OpenAI-compatible servers)",
                        config.label, config.target
                    )
                })
            }),
        }
    }

    /// Whether the policy decides by the request's variables (a rule, or a route on one): then
    /// it answers only requests that carry them.
    pub fn reads_vars(&self) -> Option<String> {
        match &self.plan {
            PolicyPlan::Cascade(stages) => stages.iter().find_map(|stage| match stage {
                Stage::Rule(rule) => Some(rule.var().to_string()),
                Stage::Model { .. } => None,
            }),
            PolicyPlan::Route(routes) => {
                routes
                    .iter()
                    .find_map(|route| match &route.when.as_ref()?.measure {
                        Measure::Chars(name) => Some(name.clone()),
                        Measure::InputTokens => None,
                    })
            }
        }
    }

    /// The configs whose recorded runs the policy reads, in stage order.
    pub fn configs(&self) -> Vec<&ConfigRef> {
        match &self.plan {
            PolicyPlan::Cascade(stages) => stages
                .iter()
                .filter_map(|stage| match stage {
                    Stage::Model { config, .. } => Some(config),
                    Stage::Rule(_) => None,
                })
                .collect(),
            PolicyPlan::Route(routes) => routes.iter().map(|route| &route.config).collect(),
        }
    }
}
