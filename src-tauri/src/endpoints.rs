//! The Targets and Settings screens' backend: remote endpoints kept in the database, a
//! connection test that lists the server's models, and API keys in the OS keyring. A key goes
//! from the UI to the keyring and nowhere else; nothing here ever sends one back.

use serde::Serialize;
use specta::Type;
use tradeoff_core::run::{ErrorClass, RunError};
use tradeoff_core::spec::target::is_variable_name;
use tradeoff_core::spec::target::remote::{self, RemoteTarget};
use tradeoff_remote::secrets::{ApiKey, KeySource, Keyring, OsKeyring, find_key};
use tradeoff_remote::{build_client, list_models};
use tradeoff_store::endpoints::Endpoint;

use crate::error::{AppCode, AppError};

/// What a connection test found.
#[derive(Debug, Clone, Serialize, Type)]
pub struct ProbeView {
    pub latency_ms: f64,
    pub models: Vec<String>,
    /// Whether the endpoint's model is among them.
    pub model_listed: bool,
}

/// Where a key variable's key would come from.
#[derive(Debug, Clone, Serialize, Type)]
pub struct KeyStatus {
    pub variable: String,
    pub source: KeyState,
    pub message: Option<String>,
}

/// Checks an endpoint as experiment files are checked and returns it normalized.
pub fn validated(given: Endpoint) -> Result<(Endpoint, RemoteTarget), AppError> {
    let name = given.name.trim().to_string();
    if name.is_empty() {
        return Err(AppError::new(AppCode::BadInput, "name: give the endpoint a name"));
    }
    let provider = given.provider;
    let base_url = remote::base_url(provider, Some(&given.base_url))
        .map_err(|m| AppError::new(AppCode::BadInput, format!("base URL: {m}")))?;
    let api_key_env = remote::key_variable(provider, &base_url, given.api_key_env.as_deref())
        .map_err(|m| AppError::new(AppCode::BadInput, format!("key variable: {m}")))?;
    let model = given
        .model
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty());
    let mut target = RemoteTarget::new(
        provider,
        model.clone().unwrap_or_default(),
        base_url.clone(),
        api_key_env.clone(),
    );
    target.include_usage = given.include_usage;
    let endpoint = Endpoint {
        name,
        provider,
        base_url,
        api_key_env,
        model,
        include_usage: given.include_usage,
    };
    Ok((endpoint, target))
}

/// Lists the endpoint's models with its key; runs on the app's async runtime.
pub async fn probe(target: RemoteTarget) -> Result<ProbeView, AppError> {
    let keyring = OsKeyring;
    let key = match target.api_key_env.as_deref() {
        Some(variable) => Some(
            find_key(variable, &keyring)
                .map_err(run_error)?
                .map(|(key, _)| key)
                .ok_or_else(|| {
                    AppError::new(
                        ErrorClass::Auth,
                        format!("no key: set `{variable}` in the environment or store it in Settings"),
                    )
                })?,
        ),
        None => None,
    };
    let client = build_client(&target).map_err(|e| AppError::new(AppCode::Remote, e.to_string()))?;
    let probe = list_models(&client, &target, key.as_ref())
        .await
        .map_err(run_error)?;
    Ok(ProbeView {
        latency_ms: probe.latency_ms,
        models: probe.models,
        model_listed: probe.model_listed,
    })
}

/// Where a variable's key would come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// The environment variable is set (it wins over the keyring).
    Environment,
    Keyring,
    Missing,
    /// The keyring cannot be reached; `message` says why.
    Unavailable,
}

pub fn key_status(variable: &str) -> KeyStatus {
    let keyring = OsKeyring;
    let (source, message) = match find_key(variable, &keyring) {
        Ok(Some((_, KeySource::Environment))) => (KeyState::Environment, None),
        Ok(Some((_, KeySource::Keyring))) => (KeyState::Keyring, None),
        Ok(None) => (KeyState::Missing, None),
        Err(error) => (KeyState::Unavailable, Some(error.message)),
    };
    KeyStatus {
        variable: variable.to_string(),
        source,
        message,
    }
}

pub fn set_key(variable: &str, key: &str) -> Result<KeyStatus, AppError> {
    check_variable(variable)?;
    let key = ApiKey::new(key);
    if key.expose().is_empty() {
        return Err(AppError::new(AppCode::BadInput, "the key is empty"));
    }
    OsKeyring.set(variable, key.expose()).map_err(|e| {
        AppError::new(
            AppCode::Keyring,
            format!("cannot store the key for {variable} in the OS keyring: {e}"),
        )
    })?;
    Ok(key_status(variable))
}

pub fn delete_key(variable: &str) -> Result<KeyStatus, AppError> {
    check_variable(variable)?;
    OsKeyring.delete(variable).map_err(|e| {
        AppError::new(
            AppCode::Keyring,
            format!("cannot remove the key for {variable}: {e}"),
        )
    })?;
    Ok(key_status(variable))
}

fn check_variable(variable: &str) -> Result<(), AppError> {
    if is_variable_name(variable) {
        Ok(())
    } else {
        Err(AppError::new(
            AppCode::BadInput,
            format!("`{variable}` is not a variable name (letters, digits and _)"),
        ))
    }
}

/// A remote failure keeps its class as the error code (`auth`, `connect`, `timeout_connect`…). A
/// failure to connect is said in one sentence with its last cause (`Connection refused`), the
/// whole chain kept as details.
fn run_error(error: RunError) -> AppError {
    let sentence = match error.class {
        ErrorClass::Connect | ErrorClass::TimeoutConnect => {
            // The message reads `<url>: <error>: <cause>: … : <root cause>`.
            let (url, chain) = error
                .message
                .split_once(": ")
                .unwrap_or(("the server", &error.message));
            let cause = chain.rsplit(": ").next().unwrap_or(chain);
            Some(if error.class == ErrorClass::Connect {
                format!(
                    "Nothing answers at {url} ({cause}): is the server running, and is the base URL right?"
                )
            } else {
                format!("{url} did not answer in time ({cause}): is the server up and reachable from here?")
            })
        }
        _ => None,
    };
    match sentence {
        Some(message) => AppError {
            details: Some(error.message),
            ..AppError::new(error.class, message)
        },
        None => AppError::new(error.class, error.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connection_is_one_sentence_with_its_cause_and_the_chain_kept_as_details() {
        let chain = "http://127.0.0.1:9/v1/models: error sending request for url (http://127.0.0.1:9/v1/models): client error (Connect): tcp connect error: Connection refused (os error 111)";
        let error = run_error(RunError::new(ErrorClass::Connect, chain));
        assert_eq!(
            error.message,
            "Nothing answers at http://127.0.0.1:9/v1/models (Connection refused (os error 111)): is the server running, and is the base URL right?"
        );
        assert_eq!(error.details.as_deref(), Some(chain));
        let auth = run_error(RunError::new(
            ErrorClass::Auth,
            "HTTP 401 from http://x/v1/models: bad key",
        ));
        assert_eq!(
            (auth.message.as_str(), auth.details),
            ("HTTP 401 from http://x/v1/models: bad key", None)
        );
    }
}
