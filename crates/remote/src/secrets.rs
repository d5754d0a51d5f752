//! API keys: found in the environment variable a target names or in the OS keyring under that
//! name, held only in memory, and cut out of anything that is recorded.
//!
//! A key never reaches SQLite, exports, reports or logs: experiment files name the variable,
//! never the key; requests mark the header that carries it sensitive; every error message from
//! a remote call passes through [`Redactor::redact`] before it leaves this module, because
//! providers echo keys back in error bodies.

use std::ops::Range;

use tradeoff_core::run::{ErrorClass, RunError};

/// The service name under which keys are kept in the OS keyring; the entry's user name is the
/// variable name (`OPENAI_API_KEY`).
pub const KEYRING_SERVICE: &str = "tradeoff";

/// A key. Its `Debug` shows no characters of it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into().trim().to_string())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey([{} characters])", self.0.chars().count())
    }
}

/// Where a key was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    Keyring,
}

/// The OS keyring, or a stand-in where none can be reached. Reading never fails loudly: a
/// keyring that is not available is the same as a keyring without the entry, and the error
/// message says where the key was looked for.
pub trait Keyring: Send + Sync {
    fn get(&self, variable: &str) -> Result<Option<String>, String>;
    fn set(&self, variable: &str, key: &str) -> Result<(), String>;
    fn delete(&self, variable: &str) -> Result<(), String>;
}

/// The platform's keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on
/// Windows) through the `keyring` crate.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsKeyring;

impl OsKeyring {
    fn entry(variable: &str) -> Result<keyring::Entry, String> {
        keyring::Entry::new(KEYRING_SERVICE, variable).map_err(|e| e.to_string())
    }
}

impl Keyring for OsKeyring {
    fn get(&self, variable: &str) -> Result<Option<String>, String> {
        match Self::entry(variable)?.get_password() {
            Ok(key) => Ok(Some(key)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }

    fn set(&self, variable: &str, key: &str) -> Result<(), String> {
        Self::entry(variable)?
            .set_password(key)
            .map_err(|e| e.to_string())
    }

    fn delete(&self, variable: &str) -> Result<(), String> {
        match Self::entry(variable)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(error) => Err(error.to_string()),
        }
    }
}

/// The key for a variable: the environment first (so CI and scripts win), then the keyring.
/// `Ok(None)` when neither has it.
pub fn find_key(variable: &str, keyring: &dyn Keyring) -> Result<Option<(ApiKey, KeySource)>, RunError> {
    if let Ok(value) = std::env::var(variable)
        && !value.trim().is_empty()
    {
        return Ok(Some((ApiKey::new(value), KeySource::Environment)));
    }
    match keyring.get(variable) {
        Ok(Some(value)) if !value.trim().is_empty() => Ok(Some((ApiKey::new(value), KeySource::Keyring))),
        Ok(_) => Ok(None),
        Err(error) => Err(RunError::new(
            ErrorClass::Auth,
            format!("`{variable}` is not set and the OS keyring cannot be read ({error})"),
        )),
    }
}

/// The key a target needs: `None` for a target that names no variable (a local server).
pub fn key_for(variable: Option<&str>, keyring: &dyn Keyring) -> Result<Option<ApiKey>, RunError> {
    let Some(variable) = variable else {
        return Ok(None);
    };
    match find_key(variable, keyring)? {
        Some((key, _)) => Ok(Some(key)),
        None => Err(RunError::new(
            ErrorClass::Auth,
            format!(
                "no API key: set the environment variable `{variable}` or store the key under that name \
                 (app: Settings → API keys; CLI: `tradeoff keys set {variable}`)"
            ),
        )),
    }
}

/// Cuts known keys out of text.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    keys: Vec<ApiKey>,
}

pub const REDACTED: &str = "[redacted]";

/// The longest error message kept from a remote call: room for any provider's message, while a
/// server cannot make one run's record megabytes long.
pub const MAX_ERROR_CHARS: usize = 1000;

/// A key's start this long at the very end of a text is cut out too: text read up to a limit can
/// end inside a key, and that start no longer matches the whole key. Shorter starts reveal
/// almost nothing, and cutting them would redact ordinary endings.
const MIN_KEY_START: usize = 4;

/// Percent-encoding is undone this many times over, so a key encoded twice (`%252D`) still matches.
const DECODE_LEVELS: usize = 3;

impl Redactor {
    pub fn new(keys: impl IntoIterator<Item = ApiKey>) -> Redactor {
        // Very short "keys" would redact ordinary words; no real key is that short.
        Redactor {
            keys: keys.into_iter().filter(|k| k.0.len() >= 8).collect(),
        }
    }

    /// `text` without any known key: as sent, percent-encoded (any mix of encoded and plain
    /// characters, up to [`DECODE_LEVELS`] times over), or its start where the text ends.
    pub fn redact(&self, text: &str) -> String {
        if self.keys.is_empty() {
            return text.to_string();
        }
        let mut spans = Vec::new();
        // The text at each decoding level, with the span of the original text each byte came
        // from, so a key found in decoded text is cut out of the text as it came.
        let mut decoded = text.as_bytes().to_vec();
        let mut origin: Vec<Range<usize>> = (0..decoded.len()).map(|i| i..i + 1).collect();
        for level in 0..=DECODE_LEVELS {
            for key in &self.keys {
                key_spans(&decoded, &origin, key.expose().as_bytes(), &mut spans);
            }
            if level == DECODE_LEVELS {
                break;
            }
            match percent_decode(&decoded, &origin) {
                Some((next, next_origin)) => (decoded, origin) = (next, next_origin),
                None => break,
            }
        }
        cut_out(text, spans)
    }

    /// Text from a server made fit to keep: redacted whole, and only then shortened to
    /// `max_chars` (with an ellipsis). The other order would let a key that the shortening cut
    /// in two survive, since its remaining start no longer matches.
    pub fn redact_and_shorten(&self, text: &str, max_chars: usize) -> String {
        let redacted = self.redact(text);
        match redacted.char_indices().nth(max_chars) {
            Some((at, _)) => format!("{}…", &redacted[..at]),
            None => redacted,
        }
    }

    /// A failed remote call's error as it is recorded: every message from a remote call is made
    /// here, so none skips redaction or is shortened before it.
    pub fn error(&self, class: ErrorClass, message: &str) -> RunError {
        RunError::new(class, self.redact_and_shorten(message, MAX_ERROR_CHARS))
    }
}

/// Adds the spans of `text` (as mapped by `origin`) holding `key`, or a start of it that ends
/// the text.
fn key_spans(decoded: &[u8], origin: &[Range<usize>], key: &[u8], spans: &mut Vec<Range<usize>>) {
    let span = |from: usize, to: usize| origin[from].start..origin[to - 1].end;
    let mut at = 0;
    while let Some(found) = decoded
        .get(at..)
        .and_then(|rest| rest.windows(key.len()).position(|w| w == key))
    {
        spans.push(span(at + found, at + found + key.len()));
        at += found + key.len();
    }
    let longest_start = (MIN_KEY_START..key.len())
        .rev()
        .find(|&len| decoded.ends_with(&key[..len]));
    if let Some(len) = longest_start {
        spans.push(span(decoded.len() - len, decoded.len()));
    }
}

/// `text` with every `%XX` decoded, each byte with the span of the original text it came
/// from; `None` when there was nothing to decode.
fn percent_decode(text: &[u8], origin: &[Range<usize>]) -> Option<(Vec<u8>, Vec<Range<usize>>)> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut decoded = Vec::with_capacity(text.len());
    let mut decoded_origin = Vec::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < text.len() {
        let escape = (text[i] == b'%')
            .then(|| Some((hex(*text.get(i + 1)?)?, hex(*text.get(i + 2)?)?)))
            .flatten();
        match escape {
            Some((high, low)) => {
                // Two hex digits make at most 255.
                decoded.push((high * 16 + low) as u8);
                decoded_origin.push(origin[i].start..origin[i + 2].end);
                changed = true;
                i += 3;
            }
            None => {
                decoded.push(text[i]);
                decoded_origin.push(origin[i].clone());
                i += 1;
            }
        }
    }
    changed.then_some((decoded, decoded_origin))
}

/// `text` with each span (widened to whole characters, overlaps merged) replaced by [`REDACTED`].
fn cut_out(text: &str, spans: Vec<Range<usize>>) -> String {
    let widen = |span: Range<usize>| {
        let mut start = span.start.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = span.end.min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        start..end
    };
    let mut spans: Vec<Range<usize>> = spans.into_iter().map(widen).collect();
    spans.sort_by_key(|s| s.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for span in merged {
        out.push_str(&text[copied..span.start]);
        out.push_str(REDACTED);
        copied = span.end;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoKeyring;
    impl Keyring for NoKeyring {
        fn get(&self, _: &str) -> Result<Option<String>, String> {
            Err("no secret service".into())
        }
        fn set(&self, _: &str, _: &str) -> Result<(), String> {
            Err("no secret service".into())
        }
        fn delete(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
    }

    #[test]
    fn a_key_is_never_shown_by_debug_and_is_cut_out_of_messages() {
        let key = ApiKey::new("sk-test-0123456789abcdef");
        assert!(!format!("{key:?}").contains("0123"));
        let redactor = Redactor::new([key]);
        assert_eq!(
            redactor.redact("Incorrect API key provided: sk-test-0123456789abcdef."),
            "Incorrect API key provided: [redacted]."
        );
    }

    #[test]
    fn a_percent_encoded_echo_of_a_key_is_redacted_whether_encoded_wholly_partly_or_twice() {
        let redactor = Redactor::new([ApiKey::new("sk-test-0123456789abcdef")]);
        for echo in [
            "sk%2Dtest%2D0123456789abcdef",
            "sk%2dtest-0123456789abcdef",
            "%73%6B%2D%74%65%73%74%2D%30%31%32%33%34%35%36%37%38%39%61%62%63%64%65%66",
            "sk%252Dtest%252D0123456789abcdef",
        ] {
            assert_eq!(
                redactor.redact(&format!("GET /v1?key={echo}&x=1 refused")),
                "GET /v1?key=[redacted]&x=1 refused",
                "{echo}"
            );
        }
    }

    #[test]
    fn the_start_of_a_key_where_the_text_ends_is_redacted_as_a_body_read_up_to_a_limit_can_end_inside_one() {
        let redactor = Redactor::new([ApiKey::new("sk-test-0123456789abcdef")]);
        assert_eq!(redactor.redact("bad key sk-test-0123"), "bad key [redacted]");
        assert_eq!(redactor.redact("bad key sk%2Dtest%2D01"), "bad key [redacted]");
        // A start too short to reveal anything is ordinary text.
        assert_eq!(redactor.redact("ask"), "ask");
    }

    #[test]
    fn shortening_comes_after_redaction_so_a_key_the_cut_falls_in_leaves_no_fragment() {
        let key = "sk-test-0123456789abcdef";
        let redactor = Redactor::new([ApiKey::new(key)]);
        let text = format!("{}{key} and more", "x".repeat(490));
        let shortened = redactor.redact_and_shorten(&text, 500);
        assert!(!shortened.contains("sk-test-01"), "{shortened}");
        assert!(shortened.ends_with("[redacted]…"), "{shortened}");
        assert_eq!(redactor.redact_and_shorten("short", 500), "short");
    }

    #[test]
    fn a_missing_key_names_the_variable_and_where_to_set_it() {
        let error = key_for(Some("TRADEOFF_TEST_SURELY_UNSET"), &NoKeyring).unwrap_err();
        assert_eq!(error.class, ErrorClass::Auth);
        assert!(error.message.contains("TRADEOFF_TEST_SURELY_UNSET"), "{error}");
        assert_eq!(key_for(None, &NoKeyring).unwrap(), None);
    }
}
