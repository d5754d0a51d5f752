//! Routing policies as files state them: in an experiment file, or a policy file of their own.
use std::path::Path;

use super::{FileFormat, parse_str, read_policy_file};
use crate::spec::experiment::{Experiment, ExperimentError};
use crate::spec::policy::{Measure, Policy, PolicyPlan, RouteCondition, Stage, policies_of};

const EXPERIMENT: &str = r#"
schema: 1
variants:
  - {id: fewshot, prompt: "S: {{ sentence }}\nJSON:"}
  - {id: bare, prompt: "{{ sentence }}"}
cases:
  - {id: berlin, vars: {sentence: "The Berlin Wall fell in 1989."}, expected: '{"city": "Berlin", "year": 1989}'}
targets:
  - {id: q4, model: small.gguf, n_ctx: [512, 2048]}
  - {id: q8, model: big.gguf}
checks: [{type: json_valid}, {type: equals}]
"#;

fn experiment(policies: &str) -> Result<Experiment, ExperimentError> {
    parse_str(
        &format!("{EXPERIMENT}{policies}"),
        FileFormat::Yaml,
        "x.yaml",
        Path::new("/m"),
    )
}

fn refused(policies: &str) -> (String, String) {
    match experiment(policies) {
        Err(ExperimentError::Invalid(problem)) => (problem.field.unwrap_or_default(), problem.message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_cascade_a_route_and_a_rule_are_read_with_their_configs() {
    let e = experiment(
        r#"
policies:
  - id: small-first
    cascade:
      - {variant: fewshot, target: q4, settings: {n_ctx: 512}, escalate_when: [error, {check: json_valid}, {confidence_below: -0.35}]}
      - {variant: fewshot, target: q8}
  - id: by-length
    route:
      - {when: "input_tokens > 300", variant: fewshot, target: q8}
      - {variant: bare, target: q4, settings: {n_ctx: 2048}}
  - id: rule-then-model
    cascade:
      - {rule: {var: sentence, regex: '(?P<city>[A-Z][a-z]+) [A-Z][a-z]+ fell in (?P<year>\d{4})', output: '{"city": "{{ city }}", "year": {{ year }}}'}}
      - {variant: fewshot, target: q8}
"#,
    )
    .unwrap();
    let policies: Vec<Policy> = policies_of(&e).unwrap();
    let ids: Vec<&str> = policies.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["small-first", "by-length", "rule-then-model"]);
    let labels: Vec<&str> = policies[0].configs().iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["fewshot · q4 · n_ctx 512", "fewshot · q8 · n_ctx 2048"]);
    assert!(matches!(policies[1].plan, PolicyPlan::Route(_)));
    let PolicyPlan::Cascade(stages) = &policies[2].plan else {
        panic!()
    };
    let Stage::Rule(rule) = &stages[0] else { panic!() };
    let vars = &e.cases[0].vars;
    assert_eq!(
        rule.answer(vars).unwrap().as_deref(),
        Some(r#"{"city": "Berlin", "year": 1989}"#)
    );
}

#[test]
fn escalating_on_a_check_that_reads_expected_is_refused_as_a_leak_with_its_place() {
    let (field, message) = refused(
        "policies:\n  - id: leaky\n    cascade:\n      - {variant: fewshot, target: q8, escalate_when: [error, {check: equals}]}\n      - {variant: bare, target: q8}\n",
    );
    assert_eq!(field, "policies[0].cascade[0].escalate_when[1]");
    assert!(message.contains("leak the answer"), "{message}");
    let (_, message) = refused(
        "policies:\n  - id: leaky\n    cascade:\n      - {variant: fewshot, target: q8, escalate_when: [{check: {type: similarity, threshold: 0.8}}]}\n      - {variant: bare, target: q8}\n",
    );
    assert!(message.contains("leak"), "{message}");
    // The same check with a fixed value reads nothing of the case: allowed.
    experiment(
        "policies:\n  - id: fixed\n    cascade:\n      - {variant: fewshot, target: q8, escalate_when: [{check: {type: equals, value: '{}'}}]}\n      - {variant: bare, target: q8}\n",
    )
    .unwrap();
}

#[test]
fn wrong_policies_are_refused_with_the_field_that_is_wrong() {
    let cases = [
        (
            "  - {id: p, cascade: [{variant: fewshot, target: q4, escalate_when: [error]}, {variant: fewshot, target: q8}]}\n",
            "policies[0].cascade[0].settings",
            "sweeps",
        ),
        (
            "  - {id: p, cascade: [{variant: nope, target: q8, escalate_when: [error]}, {variant: fewshot, target: q8}]}\n",
            "policies[0].cascade[0].variant",
            "fewshot, bare",
        ),
        (
            "  - {id: p, cascade: [{variant: bare, target: q8}, {variant: fewshot, target: q8}]}\n",
            "policies[0].cascade[0].escalate_when",
            "never run",
        ),
        (
            "  - {id: p, cascade: [{variant: bare, target: q8, escalate_when: [error]}, {variant: fewshot, target: q8, escalate_when: [error]}]}\n",
            "policies[0].cascade[1].escalate_when",
            "nowhere to escalate",
        ),
        (
            "  - {id: p, cascade: [{variant: bare, target: q8, escalate_when: [{confidence_below: 0.5}]}, {variant: fewshot, target: q8}]}\n",
            "policies[0].cascade[0].escalate_when[0]",
            "≤ 0",
        ),
        (
            "  - {id: p, cascade: [{variant: bare, target: q8, escalate_when: [sometimes]}, {variant: fewshot, target: q8}]}\n",
            "policies[0].cascade[0].escalate_when[0]",
            "unknown condition",
        ),
        (
            "  - {id: p, route: [{when: 'tokens > 3', variant: bare, target: q8}, {variant: fewshot, target: q8}]}\n",
            "policies[0].route[0].when",
            "input_tokens > 300",
        ),
        (
            "  - {id: p, route: [{variant: bare, target: q8}, {variant: fewshot, target: q8}]}\n",
            "policies[0].route[0].when",
            "needs a `when`",
        ),
        (
            "  - {id: p, cascade: [{rule: {var: sentence, regex: '(?P<c>x)', output: '{{ city }}'}}, {variant: fewshot, target: q8}]}\n",
            "policies[0].cascade[0].rule.output",
            "not a named group",
        ),
        (
            "  - {id: p, cascade: [{rule: {var: sentnce, regex: 'x', output: 'y'}}, {variant: fewshot, target: q8}]}\n",
            "policies[0].cascade[0].rule.var",
            "sentnce",
        ),
        (
            "  - {id: p, cascade: [{variant: fewshot, target: q8, escalate_when: [error]}, {rule: {var: sentence, regex: 'x', output: 'y'}}]}\n",
            "policies[0].cascade[1]",
            "cannot be the last",
        ),
        (
            "  - {id: p, cascade: [{variant: fewshot, target: q8}]}\n",
            "policies[0].cascade",
            "at least two",
        ),
    ];
    for (policy, field, words) in cases {
        let (got, message) = refused(&format!("policies:\n{policy}"));
        assert_eq!(got, field, "{policy}: {message}");
        assert!(message.contains(words), "{policy}: {message}");
    }
    let (field, message) = refused(
        "policies:\n  - {id: p, route: [{when: 'input_tokens > 3', variant: bare, target: q8}, {variant: fewshot, target: q8}]}\n  - {id: p, route: [{when: 'input_tokens > 3', variant: bare, target: q8}, {variant: fewshot, target: q8}]}\n",
    );
    assert_eq!(field, "policies[1].id");
    assert!(message.contains("another policy"), "{message}");
}

#[test]
fn a_policy_file_is_read_against_a_recorded_experiment_and_named_in_its_errors() {
    let e = experiment("").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("policies.yaml");
    std::fs::write(
        &good,
        "policies:\n  - {id: small-first, cascade: [{variant: bare, target: q8, escalate_when: [{check: json_valid}]}, {variant: fewshot, target: q8}]}\n",
    )
    .unwrap();
    assert_eq!(read_policy_file(&good, &e).unwrap()[0].id, "small-first");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"policies": [{"id": "p", "cascade": [], "extra": 1}]}"#).unwrap();
    let error = read_policy_file(&bad, &e).unwrap_err().to_string();
    assert!(error.contains("bad.json") && error.contains("extra"), "{error}");
}

#[test]
fn route_conditions_read_operators_and_variable_lengths() {
    let c = RouteCondition::parse("input_tokens >= 300").unwrap();
    assert_eq!(
        (c.measure.clone(), c.holds(300.0), c.holds(299.0)),
        (Measure::InputTokens, true, false)
    );
    let c = RouteCondition::parse(" len(document) < 80 ").unwrap();
    assert_eq!(c.measure, Measure::Chars("document".into()));
    assert!(c.holds(79.0) && !c.holds(80.0));
    assert!(RouteCondition::parse("len() > 3").is_err());
    assert!(RouteCondition::parse("input_tokens > lots").is_err());
}
