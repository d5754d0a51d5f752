//! Prompt templating: a variant's templates plus a case's variables become the text or messages
//! sent to a target.
//!
//! Templates use minijinja (`{{ var }}`, filters, conditionals) in strict mode, so a variable a
//! case does not define is an error, never an empty string silently sent to a model. The engine
//! and what a render may cost are `spec::template`.

use minijinja::Environment;

use crate::spec::template::limits::{self, MAX_RENDERED_BYTES, RenderError};
use crate::spec::template::strict_environment;
use serde::{Deserialize, Serialize};

use crate::spec::experiment::{Case, PromptTemplate, Variant};
use crate::spec::file::Role;

/// A prompt ready for a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum RenderedPrompt {
    Chat { messages: Vec<ChatMessage> },
    Raw { prompt: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl RenderedPrompt {
    /// The prompt as plain text, for a model that has no chat template: message contents in
    /// order, separated by blank lines, without role markers the model was never trained on.
    pub fn plain_text(&self) -> String {
        match self {
            RenderedPrompt::Raw { prompt } => prompt.clone(),
            RenderedPrompt::Chat { messages } => messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n\n"),
        }
    }
}

/// A template that could not be compiled or rendered, with the variant and field it came from
/// and, when it failed for one case, that case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "variant `{variant}` {field}{}{}: {message}",
    line.map(|l| format!(" line {l}")).unwrap_or_default(),
    case.as_ref().map(|c| format!(" (case `{c}`)")).unwrap_or_default()
)]
pub struct TemplateError {
    pub variant: String,
    /// `system`, `user`, `prompt` or `messages[N].content`.
    pub field: String,
    /// The case being rendered; `None` when the template itself is wrong.
    pub case: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

/// Compiled templates of a set of variants.
#[derive(Debug)]
pub struct PromptRenderer {
    env: Environment<'static>,
}

impl PromptRenderer {
    pub fn new(variants: &[Variant]) -> Result<Self, TemplateError> {
        let mut env = strict_environment();
        for variant in variants {
            for (field, source) in template_fields(&variant.template) {
                env.add_template_owned(template_name(&variant.id, &field), source.to_string())
                    .map_err(|e| template_error(&variant.id, &field, &e))?;
            }
        }
        Ok(PromptRenderer { env })
    }

    /// Renders a variant for a case. Every message counts against one [`MAX_RENDERED_BYTES`]:
    /// the limit is on what is sent.
    pub fn render(&self, variant: &Variant, case: &Case) -> Result<RenderedPrompt, TemplateError> {
        let mut budget = MAX_RENDERED_BYTES;
        let mut render = |field: &str| -> Result<String, TemplateError> {
            let failed = |error: RenderError| TemplateError {
                variant: variant.id.clone(),
                field: field.to_string(),
                case: Some(case.id.clone()),
                line: error.line(),
                message: error.to_string(),
            };
            let name = template_name(&variant.id, field);
            let template = self.env.get_template(&name).map_err(|e| failed(e.into()))?;
            let text = limits::render(&template, &case.vars, budget).map_err(failed)?;
            budget -= text.len();
            Ok(text)
        };
        match &variant.template {
            PromptTemplate::Raw { .. } => Ok(RenderedPrompt::Raw {
                prompt: render("prompt")?,
            }),
            PromptTemplate::Chat {
                system,
                messages,
                user,
            } => {
                let mut rendered = Vec::with_capacity(messages.len() + 2);
                if system.is_some() {
                    rendered.push(ChatMessage {
                        role: Role::System,
                        content: render("system")?,
                    });
                }
                for (index, message) in messages.iter().enumerate() {
                    rendered.push(ChatMessage {
                        role: message.role,
                        content: render(&format!("messages[{index}].content"))?,
                    });
                }
                if user.is_some() {
                    rendered.push(ChatMessage {
                        role: Role::User,
                        content: render("user")?,
                    });
                }
                Ok(RenderedPrompt::Chat { messages: rendered })
            }
        }
    }
}

/// Each template source of a variant with its field name.
pub fn template_fields(template: &PromptTemplate) -> Vec<(String, &str)> {
    match template {
        PromptTemplate::Raw { prompt } => vec![("prompt".to_string(), prompt.as_str())],
        PromptTemplate::Chat {
            system,
            messages,
            user,
        } => {
            let mut fields = Vec::new();
            if let Some(system) = system {
                fields.push(("system".to_string(), system.as_str()));
            }
            for (index, message) in messages.iter().enumerate() {
                fields.push((format!("messages[{index}].content"), message.content.as_str()));
            }
            if let Some(user) = user {
                fields.push(("user".to_string(), user.as_str()));
            }
            fields
        }
    }
}

fn template_name(variant: &str, field: &str) -> String {
    format!("{variant}\u{1f}{field}")
}

fn template_error(variant: &str, field: &str, error: &minijinja::Error) -> TemplateError {
    TemplateError {
        variant: variant.to_string(),
        field: field.to_string(),
        case: None,
        line: error.line(),
        message: limits::describe(error),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::spec::experiment::Message;
    use crate::spec::template::template_variables;

    fn case(vars: &[(&str, &str)]) -> Case {
        Case {
            id: "c".into(),
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
                .collect::<BTreeMap<_, _>>(),
            expected: None,
            checks: Vec::new(),
        }
    }

    fn chat() -> Variant {
        Variant {
            id: "v".into(),
            description: None,
            template: PromptTemplate::Chat {
                system: Some("Be brief.".into()),
                messages: vec![
                    Message {
                        role: Role::User,
                        content: "2+2".into(),
                    },
                    Message {
                        role: Role::Assistant,
                        content: "4".into(),
                    },
                ],
                user: Some("{{ a }}+{{ b }}".into()),
            },
            budget: None,
        }
    }

    #[test]
    fn chat_variants_render_every_message_in_order() {
        let variant = chat();
        let rendered = PromptRenderer::new(std::slice::from_ref(&variant))
            .unwrap()
            .render(&variant, &case(&[("a", "1"), ("b", "<2>")]))
            .unwrap();
        let RenderedPrompt::Chat { messages } = &rendered else {
            panic!("not chat")
        };
        let roles: Vec<Role> = messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::System, Role::User, Role::Assistant, Role::User]);
        // Nothing is HTML-escaped: prompts are text.
        assert_eq!(messages[3].content, "1+<2>");
        assert_eq!(rendered.plain_text(), "Be brief.\n\n2+2\n\n4\n\n1+<2>");
    }

    #[test]
    fn raw_prompts_keep_their_text_and_trailing_newline() {
        let variant = Variant {
            id: "raw".into(),
            description: None,
            template: PromptTemplate::Raw {
                prompt: "Q: {{ q | upper }}\nA:\n".into(),
            },
            budget: None,
        };
        let rendered = PromptRenderer::new(std::slice::from_ref(&variant))
            .unwrap()
            .render(&variant, &case(&[("q", "why")]))
            .unwrap();
        assert_eq!(
            rendered,
            RenderedPrompt::Raw {
                prompt: "Q: WHY\nA:\n".into()
            }
        );
    }

    #[test]
    fn a_missing_variable_at_render_time_is_an_error_naming_the_field() {
        let variant = chat();
        let error = PromptRenderer::new(std::slice::from_ref(&variant))
            .unwrap()
            .render(&variant, &case(&[("a", "1")]))
            .unwrap_err();
        assert_eq!((error.variant.as_str(), error.field.as_str()), ("v", "user"));
        assert!(error.to_string().contains("undefined"), "{error}");
    }

    #[test]
    fn template_variables_lists_what_a_template_reads() {
        let vars =
            template_variables("{% if x %}{{ y.z }}{% endif %}{% for i in items %}{{ i }}{% endfor %}")
                .unwrap();
        assert_eq!(vars.into_iter().collect::<Vec<_>>(), ["items", "x", "y"]);
    }

    fn raw(id: &str, prompt: &str) -> Variant {
        Variant {
            id: id.into(),
            description: None,
            template: PromptTemplate::Raw {
                prompt: prompt.into(),
            },
            budget: None,
        }
    }

    fn render_raw(prompt: &str, vars: serde_json::Value) -> Result<String, TemplateError> {
        let variant = raw("v", prompt);
        let case = Case {
            id: "c".into(),
            vars: serde_json::from_value(vars).unwrap(),
            expected: None,
            checks: Vec::new(),
        };
        let rendered = PromptRenderer::new(std::slice::from_ref(&variant))
            .unwrap()
            .render(&variant, &case)?;
        Ok(rendered.plain_text())
    }

    #[test]
    fn nested_loops_over_a_case_list_stop_at_the_step_limit_naming_the_variant_and_case() {
        let items: Vec<u32> = (0..1000).collect();
        let started = std::time::Instant::now();
        let error = render_raw(
            "{% for a in items %}{% for b in items %}{% for c in items %}{% endfor %}{% endfor %}{% endfor %}done",
            serde_json::json!({ "items": items }),
        )
        .unwrap_err();
        assert_eq!((error.variant.as_str(), error.case.as_deref()), ("v", Some("c")));
        let shown = error.to_string();
        assert!(
            shown.contains("variant `v`") && shown.contains("case `c`"),
            "{shown}"
        );
        assert!(shown.contains("5,000,000 steps"), "{shown}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn a_string_repeated_past_the_prompt_size_limit_is_refused_naming_the_variant_and_case() {
        let error = render_raw("{{ 'x' * 40000000 }}", serde_json::json!({})).unwrap_err();
        assert_eq!(error.case.as_deref(), Some("c"));
        assert!(error.to_string().contains("over 4 MiB"), "{error}");
        // minijinja itself refuses a repetition past 100 MB in one step.
        let error = render_raw("{{ 'x' * 400000000 }}", serde_json::json!({})).unwrap_err();
        assert!(error.to_string().contains("too large"), "{error}");
    }

    #[test]
    fn the_size_limit_is_on_the_whole_chat_prompt_not_each_message() {
        let three_mib = "x".repeat(3 << 20);
        let variant = Variant {
            id: "v".into(),
            description: None,
            template: PromptTemplate::Chat {
                system: Some("{{ doc }}".into()),
                messages: Vec::new(),
                user: Some("{{ doc }}".into()),
            },
            budget: None,
        };
        let error = PromptRenderer::new(std::slice::from_ref(&variant))
            .unwrap()
            .render(&variant, &case(&[("doc", &three_mib)]))
            .unwrap_err();
        assert_eq!(error.field, "user");
        assert!(error.message.contains("over 4 MiB"), "{error}");
    }

    #[test]
    fn filters_that_would_build_a_huge_result_are_refused_before_building_it() {
        for template in [
            "{{ 'a' | indent(1000000000000) }}",
            "{{ 'a' | indent(width=1000000000000) }}",
            "{{ ('line\\n' * 100000) | indent(100) }}",
            "{{ ('x' * 5000000) | upper }}",
            "{{ [1] | tojson(indent=1000000000000) }}",
            "{{ [1] | batch(1000000000000) | list }}",
            "{{ [1] | slice(1000000000000) | list }}",
            "{{ ('ab' * 1000000) | replace('a', 'b' * 100) }}",
            "{{ 'ab' | replace('', 'b' * 4000000) }}",
            "{{ range(100000) | map('string') | join('x' * 1000) }}",
            "{{ (range(100000) * 100000) | list | length }}",
            "{{ (range(100000) * 100000) | map('string') | first }}",
            "{{ (range(100000) * 100000) | join }}",
            "{{ '%.999999999f' | format(1.5) }}",
            "{{ '%999999999d' | format(1) }}",
        ] {
            let error = render_raw(template, serde_json::json!({})).unwrap_err();
            assert!(error.message.contains("limit"), "{template}: {error}");
        }
    }

    #[test]
    fn filters_called_in_a_loop_share_one_budget_per_render() {
        let items: Vec<u32> = (0..100_000).collect();
        let error = render_raw(
            "{% for i in range(1000) %}{{ items | last }}{% endfor %}",
            serde_json::json!({ "items": items }),
        )
        .unwrap_err();
        assert!(error.message.contains("10,000,000 items"), "{error}");
        // The budget is per render: the next render starts from nothing.
        render_raw("{{ items | last }}", serde_json::json!({ "items": items })).unwrap();
    }

    #[test]
    fn real_prompt_templates_render_within_the_limits() {
        let items: Vec<serde_json::Value> = (0..10_000)
            .map(|i| serde_json::json!({"name": format!(" item {i} "), "n": i}))
            .collect();
        let vars = serde_json::json!({"items": items, "doc": "a\nb", "data": {"k": 1}});
        let listed = render_raw(
            "{% for i in items %}{{ loop.index }}. {{ i.name | trim | upper }}\n{% endfor %}",
            vars.clone(),
        )
        .unwrap();
        assert!(
            listed.ends_with("10000. ITEM 9999\n"),
            "{}",
            &listed[listed.len() - 40..]
        );
        let rendered = render_raw(
            "{{ '-' * 40 }}|{{ items | map(attribute='n') | select('odd') | list | length }}|\
             {{ doc | indent(4) }}|{{ data | tojson(indent=2) }}|{{ '%5.1f' | format(2.5) }}|\
             {{ missing | default('none') }}|{{ items[:2] | map(attribute='n') | join(', ') }}",
            vars,
        )
        .unwrap();
        assert_eq!(
            rendered,
            format!(
                "{}|5000|a\n    b|{{\n  \"k\": 1\n}}|  2.5|none|0, 1",
                "-".repeat(40)
            )
        );
    }

    #[test]
    fn reversing_an_empty_list_or_text_is_a_template_error_naming_the_variant_and_case_not_a_panic() {
        for (template, vars) in [
            ("{{ text[::-1] }}", serde_json::json!({ "text": [] })),
            ("{{ text[::-1] }}", serde_json::json!({ "text": "" })),
            (
                "{% for x in [][::-1] %}{{ x }}{% endfor %}",
                serde_json::json!({}),
            ),
        ] {
            let error = render_raw(template, vars).unwrap_err();
            assert_eq!((error.variant.as_str(), error.case.as_deref()), ("v", Some("c")));
            // The place comes from the scoped panic hook, which kept the panic off stderr.
            assert!(
                error.message.contains("crashed") && error.message.contains("minijinja-2."),
                "{template}: {error}"
            );
            assert!(error.message.contains("| reverse"), "{error}");
        }
        // The same slice of a non-empty list works, and rendering goes on after a panic.
        assert_eq!(
            render_raw("{{ text[::-1] | join }}", serde_json::json!({ "text": [1, 2] })).unwrap(),
            "21"
        );
    }

    #[test]
    fn template_globals_such_as_range_are_not_case_variables() {
        let vars = template_variables(
            "{% set ns = namespace(n=0) %}{% for i in range(3) %}{{ loop.index }}{{ loop.cycle('a', 'b') }}\
             {% endfor %}{{ dict(a=x) }}",
        )
        .unwrap();
        assert_eq!(vars.into_iter().collect::<Vec<_>>(), ["x"]);
    }
}
