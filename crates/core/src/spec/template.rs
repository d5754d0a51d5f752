//! The template engine every template goes through (variants' prompts, judges' grading
//! prompts): minijinja in strict mode, never escaping, and within [`limits`] (steps, rendered
//! size, filter sizes; a panic inside minijinja is that render's error, [`unwind`]).

pub mod limits;
mod unwind;

use std::collections::BTreeSet;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// The top-level variables a template reads from its case, e.g. `{"text"}` for
/// `Summarize: {{ text | trim }}`. minijinja's own globals (`range`, `namespace`, `dict`, ...)
/// are not the case's to define, so they are left out.
pub fn template_variables(source: &str) -> Result<BTreeSet<String>, minijinja::Error> {
    let env = strict_environment();
    let template = env.template_from_str(source)?;
    let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
    Ok(template
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !globals.contains(name.as_str()))
        .collect())
}

/// The one template environment: strict, never escaping, and within [`limits`].
pub(crate) fn strict_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Prompts are text, not HTML: nothing may be escaped behind the user's back.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_keep_trailing_newline(true);
    limits::install(&mut env);
    env
}
