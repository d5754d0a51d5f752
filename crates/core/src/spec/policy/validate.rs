//! Turns written policies into [`Policy`]s against an experiment's plan (or, to serve one, against
//! the configs its winner file carries), refusing with the field path of what is wrong
//! (`policies[0].cascade[1].escalate_when[2]`).

use std::collections::{BTreeMap, HashSet};

use super::condition::{Condition, Measure, RouteCondition};
use super::rule::Rule;
use super::{ConfigRef, Policy, PolicyPlan, Route, Stage};
use crate::spec::experiment::{Experiment, ExperimentError};
use crate::spec::file::policies::{PolicySpec, RouteSpec, StageSpec};
use crate::spec::matrix::Plan;
use crate::spec::target::LocalSettings;

/// Bounds on what a file may ask for: every policy is simulated over every recorded request.
pub const MAX_POLICIES: usize = 64;
pub const MAX_STAGES: usize = 16;
struct Place<'a> {
    origin: &'a str,
}

impl Place<'_> {
    fn problem(&self, field: impl Into<String>, message: impl Into<String>) -> ExperimentError {
        ExperimentError::invalid(self.origin, field, message)
    }
}

/// The policies an experiment's file states, validated against its plan (none for an
/// experiment recorded before files were kept).
pub fn policies_of(experiment: &Experiment) -> Result<Vec<Policy>, ExperimentError> {
    let Some(written) = &experiment.written else {
        return Ok(Vec::new());
    };
    if written.file.policies.is_empty() {
        return Ok(Vec::new());
    }
    validate_policies(
        &written.file.policies,
        experiment,
        &Plan::new(experiment),
        &written.origin,
    )
}

/// Validates the `policies` of a file named `origin` against the experiment's plan.
pub fn validate_policies(
    specs: &[PolicySpec],
    experiment: &Experiment,
    plan: &Plan,
    origin: &str,
) -> Result<Vec<Policy>, ExperimentError> {
    let place = Place { origin };
    if specs.len() > MAX_POLICIES {
        return Err(place.problem(
            "policies",
            format!("has {} policies; at most {MAX_POLICIES}", specs.len()),
        ));
    }
    let configs = Configs::of_plan(experiment, plan);
    let mut seen = HashSet::new();
    specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let at = format!("policies[{index}]");
            if !seen.insert(spec.id.as_str()) {
                return Err(place.problem(
                    format!("{at}.id"),
                    format!("`{}` is used by another policy", spec.id),
                ));
            }
            validate_one(&place, &at, spec, &configs)
        })
        .collect()
}

/// The policy a winner file holds, against the configs it carries (`ConfigRef::index` is the
/// place in `configs`). A served request brings its own variables, so no case is asked for them.
pub fn policy_over_configs(
    spec: &PolicySpec,
    configs: Vec<ConfigCandidate>,
    origin: &str,
) -> Result<Policy, ExperimentError> {
    validate_one(
        &Place { origin },
        "winner.policy",
        spec,
        &Configs::of_candidates(configs),
    )
}

fn validate_one(
    place: &Place,
    at: &str,
    spec: &PolicySpec,
    configs: &Configs,
) -> Result<Policy, ExperimentError> {
    if spec.id.trim().is_empty() {
        return Err(place.problem(format!("{at}.id"), "must not be empty"));
    }
    let plan = match (&spec.cascade, &spec.route) {
        (Some(stages), None) => PolicyPlan::Cascade(cascade(place, at, stages, configs)?),
        (None, Some(routes)) => PolicyPlan::Route(route(place, at, routes, configs)?),
        _ => return Err(place.problem(at, "needs either `cascade` or `route` (one of them)")),
    };
    Ok(Policy {
        id: spec.id.clone(),
        spec: spec.clone(),
        plan,
    })
}

fn bounded<T>(place: &Place, at: &str, items: &[T]) -> Result<(), ExperimentError> {
    if items.len() < 2 {
        return Err(place.problem(
            at,
            "needs at least two entries: one config alone is compared already",
        ));
    }
    if items.len() > MAX_STAGES {
        return Err(place.problem(at, format!("has {} entries; at most {MAX_STAGES}", items.len())));
    }
    Ok(())
}

fn cascade(
    place: &Place,
    at: &str,
    stages: &[StageSpec],
    configs: &Configs,
) -> Result<Vec<Stage>, ExperimentError> {
    let at = format!("{at}.cascade");
    bounded(place, &at, stages)?;
    let last = stages.len() - 1;
    stages
        .iter()
        .enumerate()
        .map(|(index, stage)| {
            let at = format!("{at}[{index}]");
            if let Some(rule) = &stage.rule {
                if stage.variant.is_some() || stage.target.is_some() || stage.settings.is_some() {
                    return Err(place.problem(at, "a `rule` stage has no variant, target or settings"));
                }
                if !stage.escalate_when.is_empty() {
                    return Err(place.problem(
                        format!("{at}.escalate_when"),
                        "a rule hands on exactly the requests its regex does not match",
                    ));
                }
                if index == last {
                    return Err(place.problem(at, "a rule cannot be the last stage: a request it does not match needs a stage after it"));
                }
                if !configs.has_var(&rule.var) {
                    return Err(place.problem(format!("{at}.rule.var"), format!("no case has a variable `{}`", rule.var)));
                }
                let rule = Rule::new(rule).map_err(|e| place.problem(format!("{at}.rule.{}", e.field), e.message))?;
                return Ok(Stage::Rule(rule));
            }
            let (Some(variant), Some(target)) = (&stage.variant, &stage.target) else {
                return Err(place.problem(at, "a stage names a config (`variant` and `target`) or is a `rule`"));
            };
            let config = configs.find(place, &at, variant, target, stage.settings.as_ref())?;
            if index == last && !stage.escalate_when.is_empty() {
                return Err(place.problem(
                    format!("{at}.escalate_when"),
                    "the last stage has nowhere to escalate to: its answer is the policy's",
                ));
            }
            let escalate_when = stage
                .escalate_when
                .iter()
                .enumerate()
                .map(|(i, condition)| {
                    Condition::parse(condition).map_err(|message| place.problem(format!("{at}.escalate_when[{i}]"), message))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if index < last && escalate_when.is_empty() {
                return Err(place.problem(
                    format!("{at}.escalate_when"),
                    "a stage before the last needs at least one condition; without one, the stages after it never run",
                ));
            }
            Ok(Stage::Model { config, escalate_when })
        })
        .collect()
}

fn route(
    place: &Place,
    at: &str,
    routes: &[RouteSpec],
    configs: &Configs,
) -> Result<Vec<Route>, ExperimentError> {
    let at = format!("{at}.route");
    bounded(place, &at, routes)?;
    let last = routes.len() - 1;
    routes
        .iter()
        .enumerate()
        .map(|(index, route)| {
            let at = format!("{at}[{index}]");
            let config = configs.find(place, &at, &route.variant, &route.target, route.settings.as_ref())?;
            let when = match (&route.when, index == last) {
                (Some(_), true) => {
                    return Err(place.problem(
                        format!("{at}.when"),
                        "the last route is the default: it has no `when`",
                    ));
                }
                (None, false) => {
                    return Err(
                        place.problem(format!("{at}.when"), "every route but the last needs a `when`")
                    );
                }
                (None, true) => None,
                (Some(text), false) => {
                    let condition =
                        RouteCondition::parse(text).map_err(|m| place.problem(format!("{at}.when"), m))?;
                    if let Measure::Chars(name) = &condition.measure
                        && !configs.has_var(name)
                    {
                        return Err(
                            place.problem(format!("{at}.when"), format!("no case has a variable `{name}`"))
                        );
                    }
                    Some(condition)
                }
            };
            Ok(Route { when, config })
        })
        .collect()
}

/// The configs a policy may call, with their labels, found by variant, target and settings.
struct Configs {
    candidates: Vec<ConfigCandidate>,
    variants: Vec<String>,
    targets: Vec<String>,
    /// The variables requests carry (`None`: whatever a served request brings).
    vars: Option<HashSet<String>>,
}

/// A config a policy may name, as a winner file carries it.
#[derive(Debug, Clone)]
pub struct ConfigCandidate {
    pub variant: String,
    pub target: String,
    pub settings: Option<LocalSettings>,
    pub remote: bool,
    /// How people read it (`fewshot · gemma-270m-q4 · n_ctx 512`).
    pub label: String,
}

impl Configs {
    fn of_plan(experiment: &Experiment, plan: &Plan) -> Configs {
        let labels = plan.config_labels(experiment);
        Configs {
            candidates: plan
                .configs
                .iter()
                .zip(labels)
                .map(|(config, label)| {
                    let target = &experiment.targets[config.target];
                    ConfigCandidate {
                        variant: experiment.variants[config.variant].id.clone(),
                        target: target.id.clone(),
                        settings: config.settings,
                        remote: target.local().is_none(),
                        label,
                    }
                })
                .collect(),
            variants: experiment.variants.iter().map(|v| v.id.clone()).collect(),
            targets: experiment.targets.iter().map(|t| t.id.clone()).collect(),
            vars: Some(
                experiment
                    .cases
                    .iter()
                    .flat_map(|case| case.vars.keys().cloned())
                    .collect(),
            ),
        }
    }

    fn of_candidates(candidates: Vec<ConfigCandidate>) -> Configs {
        let mut variants: Vec<String> = Vec::new();
        let mut targets: Vec<String> = Vec::new();
        for candidate in &candidates {
            if !variants.contains(&candidate.variant) {
                variants.push(candidate.variant.clone());
            }
            if !targets.contains(&candidate.target) {
                targets.push(candidate.target.clone());
            }
        }
        Configs {
            candidates,
            variants,
            targets,
            vars: None,
        }
    }

    fn has_var(&self, name: &str) -> bool {
        self.vars.as_ref().is_none_or(|vars| vars.contains(name))
    }

    fn find(
        &self,
        place: &Place,
        at: &str,
        variant: &str,
        target: &str,
        settings: Option<&BTreeMap<String, serde_json::Value>>,
    ) -> Result<ConfigRef, ExperimentError> {
        if !self.variants.iter().any(|v| v == variant) {
            return Err(place.problem(
                format!("{at}.variant"),
                format!(
                    "no variant `{variant}`; the variants are {}",
                    self.variants.join(", ")
                ),
            ));
        }
        if !self.targets.iter().any(|t| t == target) {
            return Err(place.problem(
                format!("{at}.target"),
                format!(
                    "no target `{target}`; the targets are {}",
                    self.targets.join(", ")
                ),
            ));
        }
        let mut matching: Vec<usize> = (0..self.candidates.len())
            .filter(|&i| self.candidates[i].variant == variant && self.candidates[i].target == target)
            .collect();
        if let Some(wanted) = settings {
            if matching.first().is_some_and(|&i| self.candidates[i].remote) {
                return Err(place.problem(format!("{at}.settings"), "a remote target has no swept settings"));
            }
            for (name, value) in wanted {
                let known = matching
                    .first()
                    .and_then(|&i| self.settings_json(i))
                    .is_some_and(|s| s.contains_key(name));
                if !known {
                    return Err(place.problem(
                        format!("{at}.settings.{name}"),
                        "is not a setting; use n_ctx, threads, batch, kv_type, n_gpu_layers, parallel or prefix_cache",
                    ));
                }
                matching.retain(|&i| {
                    self.settings_json(i).and_then(|s| s.get(name).cloned()).as_ref() == Some(value)
                });
            }
        }
        match matching.as_slice() {
            [index] => {
                let candidate = &self.candidates[*index];
                Ok(ConfigRef {
                    variant: variant.to_string(),
                    target: target.to_string(),
                    settings: candidate.settings,
                    index: *index,
                    label: candidate.label.clone(),
                })
            }
            [] => Err(place.problem(
                format!("{at}.settings"),
                format!("no config of `{variant}` on `{target}` has these settings"),
            )),
            several => {
                let names: Vec<&str> = several
                    .iter()
                    .map(|&i| self.candidates[i].label.as_str())
                    .collect();
                Err(place.problem(
                    format!("{at}.settings"),
                    format!(
                        "`{target}` sweeps its settings: name one config with `settings` ({})",
                        names.join("; ")
                    ),
                ))
            }
        }
    }

    fn settings_json(&self, index: usize) -> Option<serde_json::Map<String, serde_json::Value>> {
        match serde_json::to_value(self.candidates[index].settings?) {
            Ok(serde_json::Value::Object(map)) => Some(map),
            _ => None,
        }
    }
}
