//! Prompt templating: a variant's templates plus a case's variables become the text or messages
//! sent to a target.
//!
//! Templates use minijinja (`{{ var }}`, filters, conditionals) in strict mode, so a variable a
//! case does not define is an error, never an empty string silently sent to a model.

use std::collections::BTreeSet;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::experiment::{Case, PromptTemplate, Role, Variant};

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

/// A template that could not be compiled or rendered, with the variant and field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("variant `{variant}` {field}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct TemplateError {
    pub variant: String,
    /// `system`, `user`, `prompt` or `messages[N].content`.
    pub field: String,
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

    pub fn render(&self, variant: &Variant, case: &Case) -> Result<RenderedPrompt, TemplateError> {
        let render = |field: &str| -> Result<String, TemplateError> {
            let name = template_name(&variant.id, field);
            self.env
                .get_template(&name)
                .and_then(|t| t.render(&case.vars))
                .map_err(|e| template_error(&variant.id, field, &e))
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

/// The top-level variables a template reads, e.g. `{"text"}` for `Summarize: {{ text | trim }}`.
pub fn template_variables(source: &str) -> Result<BTreeSet<String>, minijinja::Error> {
    let env = strict_environment();
    let template = env.template_from_str(source)?;
    Ok(template.undeclared_variables(false).into_iter().collect())
}

pub(crate) fn strict_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Prompts are text, not HTML: nothing may be escaped behind the user's back.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env
}

fn template_name(variant: &str, field: &str) -> String {
    format!("{variant}\u{1f}{field}")
}

fn template_error(variant: &str, field: &str, error: &minijinja::Error) -> TemplateError {
    let message = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    TemplateError {
        variant: variant.to_string(),
        field: field.to_string(),
        line: error.line(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::experiment::Message;

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
}
