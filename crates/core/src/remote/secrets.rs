//! API keys: found in the environment variable a target names or in the OS keyring under that
//! name, held only in memory, and cut out of anything that is recorded.
//!
//! A key never reaches SQLite, exports, reports or logs: experiment files name the variable,
//! never the key; requests mark the header that carries it sensitive; every error message from
//! a remote call passes through [`Redactor::redact`] before it leaves this module, because
//! providers echo keys back in error bodies.

use crate::run::{ErrorClass, RunError};

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

impl Redactor {
    pub fn new(keys: impl IntoIterator<Item = ApiKey>) -> Redactor {
        // Very short "keys" would redact ordinary words; no real key is that short.
        Redactor {
            keys: keys.into_iter().filter(|k| k.0.len() >= 8).collect(),
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for key in &self.keys {
            if text.contains(key.expose()) {
                text = text.replace(key.expose(), REDACTED);
            }
        }
        text
    }
}

/// Whether a target's `api_key_env` looks like a key pasted where a variable name belongs.
pub fn looks_like_a_key(text: &str) -> bool {
    let name_like = text
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    !name_like && (text.len() >= 20 || text.starts_with("sk-") || text.starts_with("AIza"))
}

/// Whether text is a usable environment variable name.
pub fn is_variable_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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
    fn a_missing_key_names_the_variable_and_where_to_set_it() {
        let error = key_for(Some("TRADEOFF_TEST_SURELY_UNSET"), &NoKeyring).unwrap_err();
        assert_eq!(error.class, ErrorClass::Auth);
        assert!(error.message.contains("TRADEOFF_TEST_SURELY_UNSET"), "{error}");
        assert_eq!(key_for(None, &NoKeyring).unwrap(), None);
    }

    #[test]
    fn pasted_keys_are_told_apart_from_variable_names() {
        assert!(looks_like_a_key("sk-proj-abcdefghijklmnopqrstuvwxyz"));
        assert!(!looks_like_a_key("OPENAI_API_KEY"));
        assert!(is_variable_name("OPENAI_API_KEY"));
        assert!(!is_variable_name("1ABC"));
    }
}
