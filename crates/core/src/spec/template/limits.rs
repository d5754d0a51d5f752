//! What rendering one template may cost. Templates come from experiment files, which may come
//! from anyone, and they are rendered in the editor's live plan view as well as before each run,
//! so a template must not be able to spin or to fill memory.
//!
//! - **Steps:** minijinja's fuel stops a render after [`TEMPLATE_FUEL`] VM instructions (nested
//!   loops over a case's list, a loop that never ends).
//! - **Rendered size:** a rendered prompt (every message of it together) is at most
//!   [`MAX_RENDERED_BYTES`]; the text goes through a writer that refuses to grow past it, so a
//!   huge value stops at the limit while it is being written, not after.
//! - **Filters:** every builtin filter that walks a list or builds text runs behind a guard:
//!   at most [`MAX_ITEMS`] items and [`MAX_RENDERED_BYTES`] of text in, at most as much out,
//!   widths and counts (`indent`, `tojson(indent)`, `format`'s `%N`, `batch`, `slice`) at most
//!   [`MAX_WIDTH`] or [`MAX_ITEMS`], and `replace`, `indent` and `join` refused *before* they
//!   build a result over the limit. Several of these build their result in one allocation
//!   (`Vec::with_capacity(count)`, `" ".repeat(width)`), which aborts the process instead of
//!   failing when the number is absurd. A filter call costs one unit of fuel however long its
//!   list, so what the filters of one render handle together is bounded too
//!   ([`MAX_FILTER_ITEMS`], [`MAX_FILTER_BYTES`]).
//! - **Operators:** minijinja itself refuses a string repeated (`'x' * n`) to more than
//!   100,000,000 bytes in one step (since 2.24.0). Operators have no hook in minijinja, so a
//!   string doubled by `~` or `+` (`{% set s = s ~ s %}` over and over) is seen only when it is
//!   written or handed to a filter: fuel bounds how often it can double, not how large it gets.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use minijinja::value::{Object, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Template};
use serde::Serialize;

use crate::format::thousands;

/// VM instructions one template render may execute: a loop over 100,000 items (minijinja's own
/// `range` limit) with a body of a few dozen instructions.
/// Running out of it took 2 s in an unoptimized test build on a busy 2-core machine: a hostile
/// template costs seconds, not minutes, and no real prompt comes near it.
pub const TEMPLATE_FUEL: u64 = 5_000_000;

/// The largest rendered prompt, all messages together: ~1M tokens, more than any model's
/// context window.
pub const MAX_RENDERED_BYTES: usize = 4 << 20;

/// The most items a filter takes or makes (minijinja's `range` makes at most as many).
pub const MAX_ITEMS: usize = 100_000;

/// The largest indent, JSON indent or `format` width/precision: layout, not content.
pub const MAX_WIDTH: usize = 100;

/// Items the filters of one render may take and make together: a hundred passes over a list
/// of [`MAX_ITEMS`].
pub const MAX_FILTER_ITEMS: usize = 10_000_000;

/// Bytes of text the filters of one render may take and make together.
pub const MAX_FILTER_BYTES: usize = 256 << 20;

/// Why a template did not render within its limits, or at all.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the rendered prompt is over {} MiB (the limit)", MAX_RENDERED_BYTES >> 20)]
    TooLarge,
    #[error(
        "the template stopped after {} steps (the limit): nested loops or a loop over too many items",
        thousands(TEMPLATE_FUEL)
    )]
    OutOfFuel { line: Option<usize> },
    #[error("{}", describe(.0))]
    Template(minijinja::Error),
    /// minijinja panicked (see `unwind.rs`); the text is the panic's message and place.
    #[error(
        "the template engine (minijinja) crashed on this template: {0}. Slicing an empty list or \
         text with a negative step (`x[::-1]`) does this; `x | reverse` does not"
    )]
    EnginePanicked(String),
}

impl RenderError {
    /// The template line the render stopped at, when minijinja knows it.
    pub fn line(&self) -> Option<usize> {
        match self {
            RenderError::TooLarge | RenderError::EnginePanicked(_) => None,
            RenderError::OutOfFuel { line } => *line,
            RenderError::Template(error) => error.line(),
        }
    }
}

impl From<minijinja::Error> for RenderError {
    fn from(error: minijinja::Error) -> Self {
        if error.kind() == ErrorKind::OutOfFuel {
            RenderError::OutOfFuel { line: error.line() }
        } else {
            RenderError::Template(error)
        }
    }
}

/// minijinja's own message without the internal template name it appends.
pub(crate) fn describe(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// Puts the limits on an environment: fuel and the guarded builtin filters.
pub(crate) fn install(env: &mut Environment<'static>) {
    env.set_fuel(Some(TEMPLATE_FUEL));
    for (name, builtin) in guarded_builtins() {
        env.add_filter(name, move |state: &State, args: Rest<Value>| {
            let work = state.get_or_set_temp_object(FILTER_WORK, FilterWork::default);
            work.charge(name, check_arguments(name, &args)?)?;
            let result = builtin.call(state, &args)?;
            work.charge(name, check_result(name, &result)?)?;
            Ok(result)
        });
    }
}

/// Renders `template` into at most `limit` bytes.
pub(crate) fn render<S: Serialize>(
    template: &Template<'_, '_>,
    context: S,
    limit: usize,
) -> Result<String, RenderError> {
    let mut out = BoundedWriter {
        text: Vec::new(),
        limit,
        exceeded: false,
    };
    let rendered = super::unwind::catch_panic(|| template.render_captured_to(context, &mut out))
        .map_err(RenderError::EnginePanicked)?;
    if out.exceeded {
        return Err(RenderError::TooLarge);
    }
    rendered?;
    String::from_utf8(out.text).map_err(|_| {
        RenderError::Template(Error::new(
            ErrorKind::WriteFailure,
            "the rendered text is not UTF-8",
        ))
    })
}

/// Collects rendered text and fails the write that would take it past `limit`, which stops
/// the render right there (minijinja turns the failed write into an error).
struct BoundedWriter {
    text: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl io::Write for BoundedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.text.len().saturating_add(buf.len()) > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("the rendered prompt is over its limit"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The builtin filters that walk a list or build text, under their template names. `default`,
/// `length`, `first`, `attr`, `bool`, `int`, `float`, `abs` and `round` neither walk nor build,
/// so they keep minijinja's own functions.
fn guarded_builtins() -> Vec<(&'static str, Value)> {
    use minijinja::filters as f;
    vec![
        ("safe", Value::from_function(f::safe)),
        ("escape", Value::from_function(f::escape)),
        ("e", Value::from_function(f::escape)),
        ("lower", Value::from_function(f::lower)),
        ("upper", Value::from_function(f::upper)),
        ("title", Value::from_function(f::title)),
        ("capitalize", Value::from_function(f::capitalize)),
        ("replace", Value::from_function(f::replace)),
        ("dictsort", Value::from_function(f::dictsort)),
        ("items", Value::from_function(f::items)),
        ("reverse", Value::from_function(f::reverse)),
        ("trim", Value::from_function(f::trim)),
        ("join", Value::from_function(f::join)),
        ("split", Value::from_function(f::split)),
        ("lines", Value::from_function(f::lines)),
        ("last", Value::from_function(f::last)),
        ("min", Value::from_function(f::min)),
        ("max", Value::from_function(f::max)),
        ("sort", Value::from_function(f::sort)),
        ("list", Value::from_function(f::list)),
        ("string", Value::from_function(f::string)),
        ("batch", Value::from_function(f::batch)),
        ("slice", Value::from_function(f::slice)),
        ("sum", Value::from_function(f::sum)),
        ("indent", Value::from_function(f::indent)),
        ("select", Value::from_function(f::select)),
        ("reject", Value::from_function(f::reject)),
        ("selectattr", Value::from_function(f::selectattr)),
        ("rejectattr", Value::from_function(f::rejectattr)),
        ("map", Value::from_function(f::map)),
        ("groupby", Value::from_function(f::groupby)),
        ("unique", Value::from_function(f::unique)),
        ("chain", Value::from_function(f::chain)),
        ("zip", Value::from_function(f::zip)),
        ("pprint", Value::from_function(f::pprint)),
        ("format", Value::from_function(f::format)),
        ("tojson", Value::from_function(f::tojson)),
    ]
}

fn refuse(filter: &str, why: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("`{filter}` {why}"))
}

/// What a filter call handles: items of lists and bytes of text, in and out.
#[derive(Debug, Default, Clone, Copy)]
struct Work {
    items: usize,
    bytes: usize,
}

/// The render-local name of [`FilterWork`]; temps are not template variables.
const FILTER_WORK: &str = "tradeoff.filter_work";

/// What the filters of one render have handled so far (a minijinja temp lives for one render,
/// macro calls included).
#[derive(Debug, Default)]
struct FilterWork {
    items: AtomicUsize,
    bytes: AtomicUsize,
}

impl Object for FilterWork {}

impl FilterWork {
    fn charge(&self, filter: &str, work: Work) -> Result<(), Error> {
        let items = self
            .items
            .fetch_add(work.items, Ordering::Relaxed)
            .saturating_add(work.items);
        let bytes = self
            .bytes
            .fetch_add(work.bytes, Ordering::Relaxed)
            .saturating_add(work.bytes);
        if items > MAX_FILTER_ITEMS || bytes > MAX_FILTER_BYTES {
            return Err(refuse(
                filter,
                format!(
                    "is past what the filters of one render may handle together: {} items or \
                     {} MiB of text (the limit)",
                    thousands(MAX_FILTER_ITEMS as u64),
                    MAX_FILTER_BYTES >> 20
                ),
            ));
        }
        Ok(())
    }
}

/// Refuses arguments over the limits and says how much work they are.
fn check_arguments(filter: &str, args: &[Value]) -> Result<Work, Error> {
    let mut work = Work::default();
    for arg in args.iter().filter(|a| !a.is_kwargs()) {
        if let Some(text) = arg.as_str() {
            if text.len() > MAX_RENDERED_BYTES {
                return Err(refuse(
                    filter,
                    format!(
                        "got {} bytes of text; the limit is {} MiB",
                        thousands(text.len() as u64),
                        MAX_RENDERED_BYTES >> 20
                    ),
                ));
            }
            work.bytes = work.bytes.saturating_add(text.len());
        }
        work.items = work.items.saturating_add(check_items(filter, arg, "got")?);
    }
    let checked = match filter {
        "indent" => check_indent(args),
        "tojson" => {
            let indent = positional(args, 1).or_else(|| keyword(args, "indent"));
            // `indent=true` means 2.
            match indent.filter(|v| v.kind() == ValueKind::Number) {
                Some(width) => check_width(filter, "indent", &width),
                None => Ok(()),
            }
        }
        "batch" | "slice" => match positional(args, 1).and_then(|c| c.as_usize()) {
            Some(count) if count > MAX_ITEMS => Err(refuse(
                filter,
                format!(
                    "into {} parts; the limit is {}",
                    thousands(count as u64),
                    thousands(MAX_ITEMS as u64)
                ),
            )),
            _ => Ok(()),
        },
        "replace" => check_replace(args),
        "join" => check_join(args),
        "format" => check_format(args),
        _ => Ok(()),
    };
    checked.map(|()| work)
}

/// Refuses a result over the limits and says how much work it is.
fn check_result(filter: &str, result: &Value) -> Result<Work, Error> {
    let bytes = result.as_str().map_or(0, str::len);
    if bytes > MAX_RENDERED_BYTES {
        return Err(refuse(
            filter,
            format!(
                "made more than {} MiB of text (the limit)",
                MAX_RENDERED_BYTES >> 20
            ),
        ));
    }
    let items = check_items(filter, result, "made")?;
    Ok(Work { items, bytes })
}

/// A list longer than [`MAX_ITEMS`] is refused; a lazy one (`range(n) * m`) is counted only up
/// to the limit, so counting costs no more than the limit.
fn check_items(filter: &str, value: &Value, verb: &str) -> Result<usize, Error> {
    if !matches!(
        value.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
    ) {
        return Ok(0);
    }
    let count = match value.len() {
        Some(len) => len,
        None => value
            .try_iter()
            .map(|items| items.take(MAX_ITEMS + 1).count())
            .unwrap_or(0),
    };
    if count > MAX_ITEMS {
        let shown = if value.len().is_some() {
            thousands(count as u64)
        } else {
            format!("more than {}", thousands(MAX_ITEMS as u64))
        };
        return Err(refuse(
            filter,
            format!(
                "{verb} {shown} items; the limit is {}",
                thousands(MAX_ITEMS as u64)
            ),
        ));
    }
    Ok(count)
}

fn positional(args: &[Value], index: usize) -> Option<Value> {
    args.get(index).filter(|v| !v.is_kwargs()).cloned()
}

fn keyword(args: &[Value], name: &str) -> Option<Value> {
    args.last()
        .filter(|v| v.is_kwargs())
        .and_then(|kwargs| kwargs.get_attr(name).ok())
        .filter(|v| !v.is_undefined())
}

fn check_width(filter: &str, what: &str, width: &Value) -> Result<(), Error> {
    // Negative and fractional widths are minijinja's to refuse; only a large one is ours.
    let too_wide = match width.as_i64() {
        Some(n) => n > MAX_WIDTH as i64,
        None => f64::try_from(width.clone()).is_ok_and(|n| n > MAX_WIDTH as f64),
    };
    if too_wide {
        return Err(refuse(
            filter,
            format!("{what} {width} is over {MAX_WIDTH} (the limit)"),
        ));
    }
    Ok(())
}

/// `indent` adds `width` bytes to every line: refused before it builds more than the limit.
fn check_indent(args: &[Value]) -> Result<(), Error> {
    let Some(width) = positional(args, 1).or_else(|| keyword(args, "width")) else {
        return Ok(());
    };
    check_width("indent", "width", &width)?;
    let (Some(width), Some(text)) = (width.as_usize(), args.first().and_then(Value::as_str)) else {
        return Ok(());
    };
    let lines = text.bytes().filter(|b| *b == b'\n').count() + 1;
    if text.len().saturating_add(lines.saturating_mul(width)) > MAX_RENDERED_BYTES {
        return Err(refuse(
            "indent",
            format!(
                "would make more than {} MiB of text (the limit)",
                MAX_RENDERED_BYTES >> 20
            ),
        ));
    }
    Ok(())
}

/// Text of a scalar argument; a list or map has none that a filter should build on.
fn scalar_text(value: &Value) -> Option<String> {
    match value.kind() {
        ValueKind::String => value.as_str().map(str::to_string),
        ValueKind::Number | ValueKind::Bool | ValueKind::None => Some(value.to_string()),
        _ => None,
    }
}

/// `replace` can multiply its input (every `x` becomes a megabyte): its result size is known
/// from the counts before it is built.
fn check_replace(args: &[Value]) -> Result<(), Error> {
    let texts: Option<Vec<String>> = args.iter().take(3).map(scalar_text).collect();
    let Some([text, from, to]) = texts.as_deref() else {
        return Err(refuse("replace", "works on text and numbers".into()));
    };
    let hits = if from.is_empty() {
        text.chars().count() + 1
    } else {
        text.matches(from.as_str()).count()
    };
    let size = text.len().saturating_add(hits.saturating_mul(to.len()));
    if size > MAX_RENDERED_BYTES {
        return Err(refuse(
            "replace",
            format!(
                "would make {} bytes of text; the limit is {} MiB",
                thousands(size as u64),
                MAX_RENDERED_BYTES >> 20
            ),
        ));
    }
    Ok(())
}

/// `join` of many long strings is refused before it is built: the items' sizes are summed
/// (at most [`MAX_ITEMS`] of them, as `check_items` made sure).
fn check_join(args: &[Value]) -> Result<(), Error> {
    let Some(items) = args.first().and_then(|v| v.try_iter().ok()) else {
        return Ok(());
    };
    let joiner = positional(args, 1)
        .and_then(|j| scalar_text(&j))
        .unwrap_or_default();
    let mut size = 0usize;
    for item in items.take(MAX_ITEMS + 1) {
        let item_len = match item.as_str() {
            Some(text) => text.len(),
            None => scalar_text(&item).map_or(0, |t| t.len()),
        };
        size = size.saturating_add(item_len).saturating_add(joiner.len());
        if size > MAX_RENDERED_BYTES {
            return Err(refuse(
                "join",
                format!(
                    "would make more than {} MiB of text (the limit)",
                    MAX_RENDERED_BYTES >> 20
                ),
            ));
        }
    }
    Ok(())
}

/// `format`'s `%Nd` and `%.Nf` pad or print N characters in one allocation.
fn check_format(args: &[Value]) -> Result<(), Error> {
    let Some(spec) = args.first().and_then(Value::as_str) else {
        return Ok(());
    };
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        while chars.peek().is_some_and(|c| "-+ #0,'".contains(*c)) {
            chars.next();
        }
        for _ in 0..2 {
            let mut number = 0usize;
            while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
                number = number.saturating_mul(10).saturating_add(digit as usize);
                chars.next();
            }
            if number > MAX_WIDTH {
                return Err(refuse(
                    "format",
                    format!(
                        "width or precision {} is over {MAX_WIDTH} (the limit)",
                        thousands(number as u64)
                    ),
                ));
            }
            if chars.peek() != Some(&'.') {
                break;
            }
            chars.next();
        }
    }
    Ok(())
}
