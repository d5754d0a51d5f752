//! [`RemoteCaller`]: one request at a time to a remote target, its text streamed as it arrives,
//! for a server that proxies requests to the target (`tradeoff serve` of a remote winner). The
//! same wire formats, key handling and redirect policy as experiment runs; no retries: a proxy's
//! client decides whether to try again.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;

use tradeoff_core::execute::engine::Generation;
use tradeoff_core::execute::remote::RemoteJob;
use tradeoff_core::run::RunError;
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_core::spec::target::remote::RemoteTarget;

use super::call::call_once;
use super::scheduler::{RemoteClientError, build_client};
use super::secrets::{ApiKey, Keyring, OsKeyring, Redactor, key_for};

#[derive(Debug)]
pub struct RemoteCaller {
    target: RemoteTarget,
    client: reqwest::Client,
    key: Option<ApiKey>,
    redactor: Redactor,
    connections: Mutex<HashSet<SocketAddr>>,
}

/// Why a caller could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    #[error(transparent)]
    Key(RunError),
    #[error(transparent)]
    Client(#[from] RemoteClientError),
}

impl RemoteCaller {
    /// A caller of `target` with its key from the environment or the OS keyring.
    pub fn new(target: &RemoteTarget) -> Result<RemoteCaller, CallerError> {
        RemoteCaller::with_keyring(target, &OsKeyring)
    }

    pub fn with_keyring(target: &RemoteTarget, keyring: &dyn Keyring) -> Result<RemoteCaller, CallerError> {
        let key = key_for(target.api_key_env.as_deref(), keyring).map_err(CallerError::Key)?;
        Ok(RemoteCaller {
            target: target.clone(),
            client: build_client(target)?,
            redactor: Redactor::new(key.clone()),
            key,
            connections: Mutex::default(),
        })
    }

    /// One request; `on_text` receives the output text as it arrives.
    pub async fn call(
        &self,
        prompt: RenderedPrompt,
        sampling: Sampling,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Generation, RunError> {
        let job = RemoteJob { prompt, sampling };
        call_once(
            &self.client,
            &self.target,
            &job,
            self.key.as_ref(),
            &self.redactor,
            &self.connections,
            on_text,
        )
        .await
        .outcome
    }
}
