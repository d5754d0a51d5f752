//! Turns a parsed experiment file into a validated [`Experiment`]: everything that can be known
//! wrong before a model is loaded is refused here, with the field path that is wrong.

use std::collections::HashSet;
use std::path::Path;

use super::limits::{PlanLimits, check_plan_size};
use crate::spec::budget::ContextBudget;
use crate::spec::checks::ParsedCheck;
use crate::spec::experiment::{
    Case, ChatTemplateChoice, DEFAULT_BATCH, DEFAULT_MAX_TOKENS, DEFAULT_N_CTX, Experiment, ExperimentError,
    LocalTarget, Message, ModelRef, PromptTemplate, Sampling, Target, TargetKind, Variant, Written,
};
use crate::spec::file::{CaseSpec, CheckSpec, ExperimentFile, TargetSpec, VariantSpec};
use crate::spec::prompt::template_fields;
use crate::spec::surroundings::Surroundings;
use crate::spec::target::KvType;
use crate::spec::target::remote;
use crate::spec::target::remote::{
    DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_CONCURRENCY, ProviderKind, RemoteTarget, Timeouts,
};
use crate::spec::template::template_variables;

mod targets;

use targets::{target, threads_usable};

pub const SUPPORTED_SCHEMA: u32 = 1;

struct Checker<'a> {
    origin: &'a str,
}

impl Checker<'_> {
    fn problem(&self, field: impl Into<String>, message: impl Into<String>) -> ExperimentError {
        ExperimentError::invalid(self.origin, field, message)
    }
}

pub(super) fn validate(
    file: ExperimentFile,
    origin: &str,
    place: &Surroundings,
    limits: &PlanLimits,
) -> Result<Experiment, ExperimentError> {
    let written = file.clone();
    let check = Checker { origin };
    if file.schema != SUPPORTED_SCHEMA {
        return Err(check.problem(
            "schema",
            format!(
                "unsupported schema {}; this version of Tradeoff reads schema {SUPPORTED_SCHEMA}",
                file.schema
            ),
        ));
    }
    if file.repetitions == 0 {
        return Err(check.problem("repetitions", "must be at least 1"));
    }
    for (list, len) in [
        ("variants", file.variants.len()),
        ("cases", file.cases.len()),
        ("targets", file.targets.len()),
    ] {
        if len == 0 {
            return Err(check.problem(list, "needs at least one entry"));
        }
    }

    let variants = file
        .variants
        .into_iter()
        .enumerate()
        .map(|(i, v)| variant(&check, i, v))
        .collect::<Result<Vec<_>, _>>()?;
    unique_ids(&check, "variants", variants.iter().map(|v| v.id.as_str()))?;
    let budget = file
        .budget
        .as_ref()
        .map(|spec| spec.validate().map_err(|p| check.problem(p.field, p.message)))
        .transpose()?;
    let variants = match &budget {
        None => variants,
        Some(budget) => budgeted_variants(&check, variants, budget)?,
    };

    let cases = file
        .cases
        .into_iter()
        .enumerate()
        .map(|(i, c)| case(&check, i, c))
        .collect::<Result<Vec<_>, _>>()?;
    unique_ids(&check, "cases", cases.iter().map(|c| c.id.as_str()))?;
    if let Some(budget) = &budget {
        budget_variables_are_text(&check, budget, &cases)?;
    }

    let targets = file
        .targets
        .into_iter()
        .enumerate()
        .map(|(i, t)| target(&check, "targets", i, t, place))
        .collect::<Result<Vec<_>, _>>()?;
    unique_ids(&check, "targets", targets.iter().map(|t| t.id.as_str()))?;
    let graders = file
        .graders
        .into_iter()
        .enumerate()
        .map(|(i, t)| grader(&check, i, t, place))
        .collect::<Result<Vec<_>, _>>()?;
    unique_ids(&check, "graders", graders.iter().map(|t| t.id.as_str()))?;
    check_plan_size(variants.len(), &targets, cases.len(), file.repetitions, limits)
        .map_err(|too_large| check.problem(too_large.field, too_large.message))?;
    if let Some(most) = place.max_threads {
        threads_usable(&check, "targets", &targets, most)?;
        threads_usable(&check, "graders", &graders, most)?;
    }

    variables_defined(&check, &variants, &cases)?;
    let checks = parsed_checks(&check, "checks", file.checks)?;
    judges_have_graders(&check, "checks", &checks, &graders)?;
    for (index, case) in cases.iter().enumerate() {
        judges_have_graders(&check, &format!("cases[{index}].checks"), &case.checks, &graders)?;
    }
    if let Some(objective) = &file.objective {
        for (index, constraint) in objective.constraints.iter().enumerate() {
            crate::spec::objective::Constraint::parse(constraint)
                .map_err(|e| check.problem(format!("objective.constraints[{index}]"), e.to_string()))?;
        }
    }

    let name = file.name.unwrap_or_else(|| {
        Path::new(origin)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "experiment".to_string())
    });
    let cache = match file.cache.as_deref().map(str::trim) {
        None => crate::spec::experiment::CacheMode::Off,
        Some(text) => crate::spec::experiment::CacheMode::parse(text).ok_or_else(|| {
            check.problem(
                "cache",
                format!("`{text}` is not a cache mode; use off, read_write or refresh"),
            )
        })?,
    };
    let search = match &file.search {
        None => crate::spec::search::Search::default(),
        Some(spec) => spec.validate().map_err(|p| check.problem(p.field, p.message))?,
    };
    let experiment = Experiment {
        search,
        budget,
        written: Some(Written {
            file: written,
            origin: origin.to_string(),
            surroundings: place.clone(),
        }),
        name,
        description: file.description,
        source: None,
        variants,
        cases,
        targets,
        repetitions: file.repetitions,
        checks,
        objective: file.objective,
        cache,
        graders,
    };
    // Policies name configs of the plan, so they are checked once the rest is valid; they are
    // read from the written file whenever they are used (`spec::policy::policies_of`).
    if !file.policies.is_empty() {
        crate::spec::policy::policies_of(&experiment)?;
    }
    Ok(experiment)
}

/// Every check parses: a misspelt kind, a missing parameter or a bad regex is refused with
/// the check's place in the file. Parsed here, once; the runner evaluates what was parsed.
fn parsed_checks(
    check: &Checker,
    list: &str,
    specs: Vec<CheckSpec>,
) -> Result<Vec<ParsedCheck>, ExperimentError> {
    specs
        .into_iter()
        .enumerate()
        .map(|(index, spec)| {
            ParsedCheck::parse(spec).map_err(|e| check.problem(format!("{list}[{index}]"), e.message))
        })
        .collect()
}

/// A `judge` check must name one of the graders (or there must be exactly one).
fn judges_have_graders(
    check: &Checker,
    list: &str,
    checks: &[ParsedCheck],
    graders: &[Target],
) -> Result<(), ExperimentError> {
    for (index, parsed) in checks.iter().enumerate() {
        let Some(judge) = parsed.check().as_judge() else {
            continue;
        };
        let ids = || {
            graders
                .iter()
                .map(|g| format!("`{}`", g.id))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (&judge.grader, graders) {
            (_, []) => {
                return Err(check.problem(
                    format!("{list}[{index}]"),
                    "a judge check needs a grader: add one under `graders` (a target, local or remote)",
                ));
            }
            (None, [_]) => {}
            (None, _) => {
                return Err(check.problem(
                    format!("{list}[{index}].grader"),
                    format!("say which grader grades this check: one of {}", ids()),
                ));
            }
            (Some(id), _) if !graders.iter().any(|g| &g.id == id) => {
                return Err(check.problem(
                    format!("{list}[{index}].grader"),
                    format!("no grader `{id}`; the graders are {}", ids()),
                ));
            }
            (Some(_), _) => {}
        }
    }
    Ok(())
}

/// A grader is a target with one setting: it grades, it is not swept.
fn grader(
    check: &Checker,
    index: usize,
    spec: TargetSpec,
    place: &Surroundings,
) -> Result<Target, ExperimentError> {
    let target = target(check, "graders", index, spec, place)?;
    let Some(local) = target.local() else {
        return Ok(target);
    };
    if let Some((field, count)) = local.sweep_lengths().into_iter().find(|(_, count)| *count > 1) {
        return Err(check.problem(
            format!("graders[{index}].{field}"),
            format!("a grader runs with one setting; {count} values are a sweep, which only targets have"),
        ));
    }
    if local.parallel.first().is_some_and(|p| *p > 1) {
        return Err(check.problem(
            format!("graders[{index}].parallel"),
            "a grader grades one output at a time",
        ));
    }
    Ok(target)
}

fn unique_ids<'a>(
    check: &Checker,
    list: &str,
    ids: impl Iterator<Item = &'a str>,
) -> Result<(), ExperimentError> {
    let mut seen = HashSet::new();
    for (index, id) in ids.enumerate() {
        if !seen.insert(id) {
            return Err(check.problem(format!("{list}[{index}].id"), format!("id `{id}` is used twice")));
        }
    }
    Ok(())
}

fn id_ok(check: &Checker, field: String, id: &str) -> Result<(), ExperimentError> {
    if id.trim().is_empty() {
        return Err(check.problem(field, "must not be empty"));
    }
    Ok(())
}

fn variant(check: &Checker, index: usize, spec: VariantSpec) -> Result<Variant, ExperimentError> {
    let at = |field: &str| format!("variants[{index}].{field}");
    id_ok(check, at("id"), &spec.id)?;
    let chat_shaped = spec.system.is_some() || spec.user.is_some() || !spec.messages.is_empty();
    let template = match (spec.prompt, chat_shaped) {
        (Some(_), true) => {
            return Err(check.problem(
                at("prompt"),
                "a variant is either chat-shaped (system/messages/user) or a raw completion \
                 `prompt`, not both",
            ));
        }
        (Some(prompt), false) => PromptTemplate::Raw { prompt },
        (None, false) => {
            return Err(check.problem(
                at("user"),
                "a variant needs `user` (chat-shaped) or `prompt` (raw completion)",
            ));
        }
        (None, true) => {
            if spec.user.is_none() && spec.messages.is_empty() {
                return Err(check.problem(
                    at("user"),
                    "a chat-shaped variant needs `user` or `messages`, not only `system`",
                ));
            }
            PromptTemplate::Chat {
                system: spec.system,
                messages: spec
                    .messages
                    .into_iter()
                    .map(|m| Message {
                        role: m.role,
                        content: m.content,
                    })
                    .collect(),
                user: spec.user,
            }
        }
    };
    for (field, source) in template_fields(&template) {
        template_variables(source).map_err(|e| {
            let line = e
                .line()
                .map(|l| format!(" (template line {l})"))
                .unwrap_or_default();
            check.problem(
                at(&field),
                format!(
                    "template does not parse{line}: {}",
                    e.detail().unwrap_or("syntax error")
                ),
            )
        })?;
    }
    Ok(Variant {
        id: spec.id,
        description: spec.description,
        template,
        budget: None,
    })
}

fn case(check: &Checker, index: usize, spec: CaseSpec) -> Result<Case, ExperimentError> {
    let id = match spec.id {
        Some(id) => {
            id_ok(check, format!("cases[{index}].id"), &id)?;
            id
        }
        None => (index + 1).to_string(),
    };
    Ok(Case {
        id,
        vars: spec.vars,
        expected: spec.expected,
        checks: parsed_checks(check, &format!("cases[{index}].checks"), spec.checks)?,
    })
}

/// Every variable a variant's templates read must be defined by every case, or some runs
/// would fail only after the models are loaded and half the experiment has run.
/// One variant per file variant × budget (`fewshot document≤512`); a file variant that does not
/// use the budget's variable would only repeat itself, so the variable must be used by one.
fn budgeted_variants(
    check: &Checker,
    variants: Vec<Variant>,
    budget: &ContextBudget,
) -> Result<Vec<Variant>, ExperimentError> {
    let uses = |variant: &Variant| {
        template_fields(&variant.template)
            .into_iter()
            .any(|(_, source)| template_variables(source).is_ok_and(|used| used.contains(&budget.var)))
    };
    if !variants.iter().any(uses) {
        return Err(check.problem(
            "budget.var",
            format!("no variant uses `{}`: there is nothing to cut", budget.var),
        ));
    }
    Ok(variants
        .into_iter()
        .flat_map(|variant| {
            budget.choices.iter().map(move |&choice| Variant {
                id: format!("{} {}", variant.id, choice.label(&budget.var)),
                budget: Some(choice),
                ..variant.clone()
            })
        })
        .collect())
}

/// The cut variable and the query are text in every case.
fn budget_variables_are_text(
    check: &Checker,
    budget: &ContextBudget,
    cases: &[Case],
) -> Result<(), ExperimentError> {
    let fields = [
        ("budget.var", Some(&budget.var)),
        ("budget.query", budget.query.as_ref()),
    ];
    for (field, name) in fields {
        let Some(name) = name else { continue };
        for (index, case) in cases.iter().enumerate() {
            match case.vars.get(name) {
                Some(serde_json::Value::String(_)) => {}
                Some(_) => {
                    return Err(check.problem(
                        field,
                        format!(
                            "`{name}` of case `{}` (cases[{index}]) is not text: only text is cut or ranked",
                            case.id
                        ),
                    ));
                }
                None => {
                    return Err(check.problem(
                        field,
                        format!("case `{}` (cases[{index}]) does not define `{name}`", case.id),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn variables_defined(check: &Checker, variants: &[Variant], cases: &[Case]) -> Result<(), ExperimentError> {
    for (v_index, variant) in variants.iter().enumerate() {
        for (field, source) in template_fields(&variant.template) {
            let used = template_variables(source).unwrap_or_default();
            for (c_index, case) in cases.iter().enumerate() {
                if let Some(missing) = used.iter().find(|name| !case.vars.contains_key(*name)) {
                    let defined = if case.vars.is_empty() {
                        "none".to_string()
                    } else {
                        case.vars.keys().cloned().collect::<Vec<_>>().join(", ")
                    };
                    return Err(check.problem(
                        format!("variants[{v_index}].{field}"),
                        format!(
                            "uses variable `{missing}`, which case `{}` (cases[{c_index}]) does not \
                             define (it defines: {defined})",
                            case.id
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}
