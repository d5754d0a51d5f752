use serde_json::json;

use super::*;

fn check(spec: serde_json::Value) -> Box<dyn Check> {
    parse(&serde_json::from_value(spec).unwrap()).unwrap()
}

fn refused(spec: serde_json::Value) -> String {
    parse(&serde_json::from_value(spec).unwrap()).unwrap_err().message
}

fn on(output: &str) -> Subject<'_> {
    Subject {
        output,
        expected: Some(r#"{"city": "Berlin", "year": 1989}"#),
        metrics: None,
        cost_usd: None,
    }
}

fn passes(spec: serde_json::Value, output: &str) -> bool {
    check(spec).evaluate(&on(output)).passed
}

#[test]
fn text_checks_pass_and_fail_as_their_names_say() {
    assert!(passes(
        json!({"type": "contains", "value": "Berlin"}),
        "in Berlin"
    ));
    assert!(!passes(
        json!({"type": "contains", "value": "berlin"}),
        "in Berlin"
    ));
    assert!(passes(
        json!({"type": "icontains", "value": "berlin"}),
        "in Berlin"
    ));
    assert!(passes(
        json!({"type": "not_contains", "value": "Paris"}),
        "in Berlin"
    ));
    assert!(!passes(
        json!({"type": "not_contains", "value": "Berlin"}),
        "in Berlin"
    ));
    assert!(passes(
        json!({"type": "starts_with", "value": "{"}),
        "  {\"a\": 1}"
    ));
    assert!(!passes(
        json!({"type": "starts_with", "value": "{"}),
        "Sure! {\"a\": 1}"
    ));
    assert!(passes(
        json!({"type": "regex", "value": "\\b19\\d\\d\\b"}),
        "year 1989"
    ));
    assert!(!passes(json!({"type": "regex", "value": "^\\d+$"}), "12a"));
}

#[test]
fn equals_compares_with_the_value_or_the_cases_expected_output() {
    assert!(passes(json!({"type": "equals", "value": "yes"}), " yes\n"));
    assert!(!passes(json!({"type": "equals", "value": "yes"}), "yes!"));
    assert!(passes(
        json!({"type": "equals"}),
        r#" {"city": "Berlin", "year": 1989}"#
    ));
    let result = check(json!({"type": "equals"})).evaluate(&on("Berlin"));
    assert!(!result.passed);
    assert_eq!(result.detail.as_deref(), Some(r#"the output is "Berlin""#));
}

#[test]
fn json_checks_parse_the_output_and_validate_it_against_a_schema() {
    assert!(passes(json!({"type": "json_valid"}), r#" {"city": "Berlin"} "#));
    assert!(!passes(json!({"type": "json_valid"}), r#"{"city": "Berlin""#));
    let schema = json!({
        "type": "json_schema",
        "schema": {"type": "object", "required": ["city", "year"],
                   "properties": {"city": {"type": "string"}, "year": {"type": "integer"}}}
    });
    assert!(passes(schema.clone(), r#"{"city": "Berlin", "year": 1989}"#));
    let result = check(schema).evaluate(&on(r#"{"city": "Berlin", "year": "1989"}"#));
    assert!(!result.passed);
    assert!(result.detail.unwrap().contains("/year"));
}

#[test]
fn similarity_scores_the_closeness_to_expected_and_passes_at_the_threshold() {
    let spec = json!({"type": "similarity", "threshold": 0.7});
    let exact = check(spec.clone()).evaluate(&on(r#"{"city": "Berlin", "year": 1989}"#));
    assert_eq!((exact.passed, exact.score), (true, 1.0));
    let close = check(spec.clone()).evaluate(&on(r#"{"city": "Berlin", "year": 1990}"#));
    assert!(
        close.passed && close.score < 1.0 && close.score > 0.7,
        "{close:?}"
    );
    let far = check(spec).evaluate(&on("I cannot answer that."));
    assert!(!far.passed && far.score < 0.3, "{far:?}");
}

#[test]
fn metric_checks_read_tokens_latency_and_cost() {
    let metrics = RunMetrics::new(420.0, 10, 12);
    let subject = Subject {
        output: "x",
        expected: None,
        metrics: Some(&metrics),
        cost_usd: Some(0.002),
    };
    let eval = |spec| check(spec).evaluate(&subject).passed;
    assert!(eval(json!({"type": "max_tokens", "value": 12})));
    assert!(!eval(json!({"type": "max_tokens", "value": 11})));
    assert!(eval(json!({"type": "latency_ms", "value": 500})));
    assert!(!eval(json!({"type": "latency_ms", "value": 400})));
    assert!(eval(json!({"type": "cost_usd", "value": 0.01})));
    assert!(!eval(json!({"type": "cost_usd", "value": 0.001})));
    let no_cost = Subject {
        cost_usd: None,
        ..subject
    };
    assert!(
        !check(json!({"type": "cost_usd", "value": 1}))
            .evaluate(&no_cost)
            .passed
    );
}

#[test]
fn bad_checks_are_refused_with_what_is_wrong() {
    assert!(refused(json!({"type": "containz", "value": "x"})).contains("unknown check type `containz`"));
    assert_eq!(refused(json!({"type": "contains"})), "needs `value`");
    assert_eq!(
        refused(json!({"type": "contains", "value": "x", "valeu": 1})),
        "unknown parameter `valeu`"
    );
    assert!(refused(json!({"type": "regex", "value": "("})).contains("not a valid regex"));
    assert!(
        refused(json!({"type": "json_schema", "schema": {"type": 12}})).contains("not a valid JSON Schema")
    );
    assert!(refused(json!({"type": "similarity", "threshold": 2})).contains("between 0 and 1"));
    assert_eq!(refused(json!({"type": "judge"})), "needs `rubric`");
    assert!(refused(json!({"type": "judge", "rubric": " "})).contains("must say what a good output does"));
    assert!(refused(json!({"type": "judge", "rubric": "x", "threshold": 1.5})).contains("between 0 and 1"));
    assert!(refused(json!({"type": "judge", "rubric": "{{ x"})).contains("`rubric` is not a valid template"));
    assert!(
        refused(json!({"type": "judge", "rubric": "x", "prompt": "Grade {{ rubric }}"}))
            .contains("{{ output }}")
    );
    assert!(
        refused(json!({"type": "judge", "rubric": "x", "prompt": "Grade the output: {{ rubric }}"}))
            .contains("{{ output }}"),
        "the word alone is not the variable"
    );
}

#[test]
fn a_judge_reads_pass_fail_lines_and_json_verdicts_and_refuses_anything_else() {
    let parsed = check(json!({"type": "judge", "rubric": "names a city"}));
    let judge = parsed.as_judge().unwrap();
    let read = |answer: &str| judge.read_verdict(answer);
    let pass = read(" PASS (Berlin is a city)\n\nRubric: more").unwrap();
    assert!(pass.passed);
    assert_eq!(pass.score, 1.0);
    assert_eq!(pass.reason.as_deref(), Some("Berlin is a city"));
    assert!(!read("Grade: **FAIL** - no city").unwrap().passed);
    assert_eq!(
        read("Grade: **FAIL** - no city").unwrap().reason.as_deref(),
        Some("no city")
    );
    assert!(read("yes").unwrap().passed);
    assert!(!read("No.").unwrap().passed);
    let json = read(r#"Here: {"pass": true, "score": 0.75, "reason": "close"}"#).unwrap();
    assert_eq!(
        (json.passed, json.score, json.reason.as_deref()),
        (true, 0.75, Some("close"))
    );
    assert!(
        !read(r#"{"pass": false, "score": 0.9}"#).unwrap().passed,
        "pass false wins"
    );
    assert!(
        !read(r#"{"score": 0.25}"#).unwrap().passed,
        "below the default threshold 0.5"
    );
    assert!(read(r#"{"score": 7}"#).unwrap_err().contains("[0, 1]"));
    assert!(read("Passing grade").unwrap_err().contains("neither PASS/FAIL"));
    assert!(read("").is_err());

    let strict = check(json!({"type": "judge", "rubric": "x", "threshold": 0.8}));
    assert!(
        !strict
            .as_judge()
            .unwrap()
            .read_verdict(r#"{"score": 0.7}"#)
            .unwrap()
            .passed
    );
}

#[test]
fn a_judge_fills_its_prompt_with_the_rubric_output_expected_and_case_variables() {
    let custom = check(json!({
        "type": "judge",
        "rubric": "mentions {{ city }}",
        "prompt": "Q about {{ city }}. Rubric: {{ rubric }}. Expected: {{ expected }}. Output: {{ output }}"
    }));
    let vars = [("city".to_string(), json!("Berlin"))].into_iter().collect();
    let prompt = custom
        .as_judge()
        .unwrap()
        .grading_prompt("  in Berlin \n", Some("Berlin"), &vars)
        .unwrap();
    assert_eq!(
        prompt,
        "Q about Berlin. Rubric: mentions Berlin. Expected: Berlin. Output: in Berlin"
    );
    let missing = custom
        .as_judge()
        .unwrap()
        .grading_prompt("x", None, &Default::default())
        .unwrap_err();
    assert!(missing.contains("rubric does not render"), "{missing}");
    // A judge check never passes on its own: until graded it is "not graded".
    let pending = custom.evaluate(&on("in Berlin"));
    assert!(!pending.passed);
    assert_eq!(pending.detail.as_deref(), Some(judge::NOT_GRADED));
}

#[test]
fn a_judge_grading_prompt_is_held_to_the_same_template_limits_as_a_variant() {
    let huge = check(json!({"type": "judge", "rubric": "{{ 'x' * 40000000 }}"}));
    let error = huge
        .as_judge()
        .unwrap()
        .grading_prompt("x", None, &Default::default())
        .unwrap_err();
    assert!(
        error.contains("rubric does not render") && error.contains("over 4 MiB"),
        "{error}"
    );

    let spinning = check(json!({
        "type": "judge",
        "rubric": "fine",
        "prompt": "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}{{ output }}"
    }));
    let error = spinning
        .as_judge()
        .unwrap()
        .grading_prompt("x", None, &Default::default())
        .unwrap_err();
    assert!(
        error.contains("grading prompt does not render") && error.contains("steps"),
        "{error}"
    );
}

#[test]
fn a_parsed_check_is_stored_as_written_and_parsed_again_when_read_back_even_once_it_no_longer_parses() {
    let parsed: ParsedCheck = serde_json::from_str(r#"{"type": "contains", "value": "Berlin"}"#).unwrap();
    assert_eq!(
        serde_json::to_value(&parsed).unwrap(),
        serde_json::json!({"type": "contains", "value": "Berlin"})
    );
    assert!(parsed.check().evaluate(&on("Berlin, 1989")).passed);
    // A recorded check this version refuses is kept as written (the results stay readable) and
    // fails with the reason when evaluated.
    let recorded = serde_json::from_str::<ParsedCheck>(r#"{"type": "regex", "pattern": "("}"#).unwrap();
    assert_eq!(recorded.spec().kind, "regex");
    let result = recorded.check().evaluate(&on("anything"));
    assert!(!result.passed);
    assert!(result.detail.is_some_and(|d| d.contains("cannot use the check")));
}
