//! Prompt templates: arbitrary template text (fragments of minijinja's syntax, well-formed or
//! not) rendered with arbitrary variables through `PromptRenderer`, and `template_variables`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::Value;
use tradeoff_core::spec::experiment::{Case, Message, PromptTemplate, Variant};
use tradeoff_core::spec::file::Role;
use tradeoff_core::spec::prompt::{PromptRenderer, RenderedPrompt};
use tradeoff_core::spec::template::limits::MAX_RENDERED_BYTES;
use tradeoff_core::spec::template::template_variables;

use super::driver::{Known, fuzz};
use super::values::{edit_text, json_value, text_edits};

const NAMES: &[&str] = &["text", "items", "n", "obj", "output"];
const WORDS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{%-",
    "-%}",
    "endfor",
    "endif",
    "|",
    "(",
    ")",
    "loop.index",
    "x",
];

/// Known issues owned elsewhere (none now: a panic inside minijinja is a render error).
const KNOWN: &[Known] = &[];

/// Expressions where an engine meets its edge cases: integer overflow, division by zero, huge
/// slices and paddings, recursion, unknown names and filters.
const EXPRESSIONS: &[&str] = &[
    "9223372036854775807 + 1",
    "-9223372036854775808 - 1",
    "-9223372036854775808 // -1",
    "2 ** 64",
    "2 ** 100000",
    "1 / 0",
    "1 // 0",
    "1 % 0",
    "'ab' * 1000",
    "'ab' * -1",
    "text * 3",
    "text[0]",
    "text[-1]",
    "text[::-1]",
    "text[1:1000000000]",
    "items[1000000000]",
    "items | length",
    "items | join(text)",
    "items | sort | unique | list",
    "items | batch(3) | list",
    "items | slice(1000) | list",
    "obj | dictsort",
    "obj | items | list",
    "obj.text",
    "obj['n']",
    "n | int",
    "n | float",
    "n | round(400)",
    "n | abs",
    "text | int",
    "text | upper | lower | title | capitalize",
    "text | replace('a', text)",
    "text | trim | truncate(5)",
    "text | wordcount",
    "text | indent(1000)",
    "text | center(1000)",
    "text | tojson",
    "text | default('d')",
    "'%s-%d' | format(text, n)",
    "range(n)",
    "range(100000) | length",
    "range(0, 10, 0)",
    "undefined_name",
    "text | no_such_filter",
    "namespace(a=1)",
    "lipsum(1000)",
    "cycler(1, 2)",
    "debug()",
    "self",
    "loop",
];

#[derive(Debug, Clone)]
enum Fragment {
    Text(String),
    Var(&'static str),
    Expr(&'static str),
    If(&'static str, Vec<Fragment>),
    /// Over a variable or over `range(n)`; the generator keeps ranges and nesting small so that
    /// a case ends (the output limit is the property, not the render time).
    For(Result<&'static str, u8>, Vec<Fragment>),
    Set(&'static str, &'static str),
    Macro(u16),
    Raw(&'static str),
}

fn fragment() -> impl Strategy<Value = Fragment> {
    let leaf = prop_oneof![
        2 => "[a-zA-Z .,:\\n]{0,12}".prop_map(Fragment::Text),
        3 => prop::sample::select(NAMES).prop_map(Fragment::Var),
        3 => prop::sample::select(EXPRESSIONS).prop_map(Fragment::Expr),
        1 => (prop::sample::select(NAMES), prop::sample::select(EXPRESSIONS)).prop_map(|(n, e)| Fragment::Set(n, e)),
        1 => prop::sample::select(vec![10u16, 400, 5000]).prop_map(Fragment::Macro),
        1 => prop::sample::select(WORDS).prop_map(Fragment::Raw),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            (
                prop::sample::select(NAMES),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(n, body)| Fragment::If(n, body)),
            (
                prop_oneof![
                    prop::sample::select(NAMES).prop_map(Ok),
                    prop::sample::select(vec![0u8, 1, 3, 30]).prop_map(Err)
                ],
                prop::collection::vec(inner, 0..4)
            )
                .prop_map(|(over, body)| Fragment::For(over, body)),
        ]
    })
}

fn write(fragments: &[Fragment], out: &mut String) {
    for fragment in fragments {
        match fragment {
            Fragment::Text(text) => out.push_str(text),
            Fragment::Var(name) => out.push_str(&format!("{{{{ {name} }}}}")),
            Fragment::Expr(expr) => out.push_str(&format!("{{{{ {expr} }}}}")),
            Fragment::If(name, body) => {
                out.push_str(&format!("{{% if {name} %}}"));
                write(body, out);
                out.push_str("{% else %}-{% endif %}");
            }
            Fragment::For(over, body) => {
                match over {
                    Ok(name) => out.push_str(&format!("{{% for x in {name} %}}")),
                    Err(n) => out.push_str(&format!("{{% for x in range({n}) %}}")),
                }
                write(body, out);
                out.push_str("{{ loop.index }}{% endfor %}");
            }
            Fragment::Set(name, expr) => out.push_str(&format!("{{% set {name} = {expr} %}}")),
            Fragment::Macro(depth) => out.push_str(&format!(
                "{{% macro m(k) %}}{{% if k > 0 %}}{{{{ m(k - 1) }}}}{{% endif %}}{{% endmacro %}}{{{{ m({depth}) }}}}"
            )),
            Fragment::Raw(raw) => out.push_str(raw),
        }
    }
}

#[derive(Debug, Clone)]
struct Input {
    template: String,
    chat: bool,
    vars: BTreeMap<String, Value>,
}

fn inputs() -> impl Strategy<Value = Input> {
    let template =
        (prop::collection::vec(fragment(), 0..6), text_edits(WORDS)).prop_map(|(fragments, edits)| {
            let mut text = String::new();
            write(&fragments, &mut text);
            edit_text(&text, &edits)
        });
    let vars = prop::collection::btree_map(
        prop::sample::select(NAMES).prop_map(str::to_string),
        json_value(NAMES, WORDS),
        0..5,
    );
    (template, any::<bool>(), vars).prop_map(|(template, chat, vars)| Input { template, chat, vars })
}

fn check(input: &Input) -> Result<&'static str, String> {
    if let Ok(names) = template_variables(&input.template)
        && let Some(name) = names.iter().find(|n| !input.template.contains(n.as_str()))
    {
        return Err(format!(
            "template_variables found `{name}`, which the template does not contain"
        ));
    }
    let template = if input.chat {
        PromptTemplate::Chat {
            system: Some(input.template.clone()),
            messages: vec![Message {
                role: Role::User,
                content: input.template.clone(),
            }],
            user: None,
        }
    } else {
        PromptTemplate::Raw {
            prompt: input.template.clone(),
        }
    };
    let variant = Variant {
        id: "v".into(),
        description: None,
        template,
        budget: None,
    };
    let Ok(renderer) = PromptRenderer::new(std::slice::from_ref(&variant)) else {
        return Ok("not compiled");
    };
    let case = Case {
        id: "c".into(),
        vars: input.vars.clone(),
        expected: None,
        checks: Vec::new(),
    };
    let Ok(rendered) = renderer.render(&variant, &case) else {
        return Ok("not rendered");
    };
    // Each template renders within the prompt limit, whatever its loops and variables.
    let sizes: Vec<usize> = match &rendered {
        RenderedPrompt::Raw { prompt } => vec![prompt.len()],
        RenderedPrompt::Chat { messages } => messages.iter().map(|m| m.content.len()).collect(),
    };
    if let Some(size) = sizes.iter().find(|size| **size > MAX_RENDERED_BYTES) {
        let input = input.template.len() + serde_json::to_string(&input.vars).map_or(0, |v| v.len());
        return Err(format!(
            "rendered {size} bytes from {input} bytes of template and variables"
        ));
    }
    Ok("rendered")
}

#[test]
fn templates_render_or_fail_cleanly_within_a_size_proportional_to_their_input() {
    fuzz("templates", inputs(), KNOWN, check);
}

#[test]
fn a_template_that_would_render_ten_megabytes_stops_at_the_prompt_limit() {
    let input = Input {
        template: "{% for a in range(1000) %}{% for b in range(1000) %}{{ text }}{% endfor %}{% endfor %}"
            .into(),
        chat: false,
        vars: BTreeMap::from([("text".to_string(), Value::String("x".repeat(10)))]),
    };
    let result = check(&input);
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn reversing_an_empty_list_in_a_template_is_an_error_or_a_prompt_not_a_panic() {
    let input = Input {
        template: "{{ text[::-1] }}".into(),
        chat: false,
        vars: BTreeMap::from([("text".to_string(), Value::Array(Vec::new()))]),
    };
    let result = check(&input);
    assert!(result.is_ok(), "{result:?}");
}
