//! The Targets and Settings screens' backend: remote endpoints kept in the database, a
//! connection test that lists the server's models, and API keys in the OS keyring. A key goes
//! from the UI to the keyring and nowhere else; nothing here ever sends one back.

use serde::{Deserialize, Serialize};
use specta::Type;
use tradeoff_core::run::{ErrorClass, RunError};
use tradeoff_core::spec::target::is_variable_name;
use tradeoff_core::spec::target::remote::{self, ProviderKind, RemoteTarget};
use tradeoff_remote::secrets::{ApiKey, KeySource, Keyring, OsKeyring, find_key};
use tradeoff_remote::{build_client, list_models};
use tradeoff_store::endpoints::Endpoint;

use crate::error::{AppCode, AppError};

/// A remote endpoint as the Targets screen edits it.
#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct EndpointView {
    pub name: String,
    pub provider: ProviderKind,
    /// Empty: the provider's public API.
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub model: Option<String>,
    pub include_usage: bool,
}

impl TryFrom<Endpoint> for EndpointView {
    type Error = AppError;

    /// A stored endpoint whose provider this version does not know is refused, named.
    fn try_from(e: Endpoint) -> Result<Self, AppError> {
        let provider = ProviderKind::parse(&e.provider).ok_or_else(|| {
            AppError::new(
                AppCode::Database,
                format!("endpoint `{}`: unknown provider `{}`", e.name, e.provider),
            )
        })?;
        Ok(EndpointView {
            name: e.name,
            provider,
            base_url: e.base_url,
            api_key_env: e.api_key_env,
            model: e.model,
            include_usage: e.include_usage,
        })
    }
}

/// Every stored endpoint as the Targets screen shows it.
pub fn endpoint_views(store: &tradeoff_store::Store) -> Result<Vec<EndpointView>, AppError> {
    store
        .endpoints()?
        .into_iter()
        .map(EndpointView::try_from)
        .collect()
}

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
    /// `environment`, `keyring`, `missing` or `unavailable` (the keyring cannot be reached).
    pub source: String,
    pub message: Option<String>,
}

/// Checks an endpoint as experiment files are checked and returns it normalized.
pub fn validated(view: EndpointView) -> Result<(Endpoint, RemoteTarget), AppError> {
    let name = view.name.trim().to_string();
    if name.is_empty() {
        return Err(AppError::new(AppCode::BadInput, "name: give the endpoint a name"));
    }
    let provider = view.provider;
    let base_url = remote::base_url(provider, Some(&view.base_url))
        .map_err(|m| AppError::new(AppCode::BadInput, format!("base URL: {m}")))?;
    let api_key_env = remote::key_variable(provider, &base_url, view.api_key_env.as_deref())
        .map_err(|m| AppError::new(AppCode::BadInput, format!("key variable: {m}")))?;
    let model = view.model.map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
    let mut target = RemoteTarget::new(
        provider,
        model.clone().unwrap_or_default(),
        base_url.clone(),
        api_key_env.clone(),
    );
    target.include_usage = view.include_usage;
    let endpoint = Endpoint {
        name,
        provider: provider.as_str().to_string(),
        base_url,
        api_key_env,
        model,
        include_usage: view.include_usage,
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

pub fn key_status(variable: &str) -> KeyStatus {
    let keyring = OsKeyring;
    let (source, message) = match find_key(variable, &keyring) {
        Ok(Some((_, KeySource::Environment))) => ("environment", None),
        Ok(Some((_, KeySource::Keyring))) => ("keyring", None),
        Ok(None) => ("missing", None),
        Err(error) => ("unavailable", Some(error.message)),
    };
    KeyStatus {
        variable: variable.to_string(),
        source: source.to_string(),
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

/// A remote failure keeps its class as the error code (`auth`, `connect`, `timeout_connect`…).
fn run_error(error: RunError) -> AppError {
    AppError::new(error.class, error.message)
}
