//! Remote targets over HTTP: the [`RemoteEngine`] the CLI and the app use, plus model listing
//! and API keys (environment and OS keyring).
//!
//! One module per wire format (`openai`, `anthropic`, `gemini`) turns a rendered prompt into a
//! request and the provider's stream of server-sent events into [`StreamItem`]s (`request` picks
//! the module for a target); `call` makes one
//! attempt and measures it; `scheduler` runs a target's requests concurrently within its limits,
//! with retries; `secrets` finds API keys and keeps them out of everything recorded.
//!
//! The target (`tradeoff_core::spec::target::remote`) and the job, its result, its attempts and the
//! trait (`tradeoff_core::execute::remote`) are the engine's;
//! this crate is the adapter that owns the network, TLS, the async runtime and the keyring, so
//! that the engine links none of them (ARCHITECTURE.md, "the dependency rule").

mod anthropic;
mod body;
mod call;
mod caller;
mod classify;
mod gemini;
#[cfg(test)]
mod hostile_servers;
mod openai;
mod probe;
mod provider;
mod redirect;
mod request;
mod scheduler;
pub mod secrets;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod wrong_streams;

// The engine's names for the things this crate moves, visible to every module as `super::…`.
use tradeoff_core::execute::remote::{Attempt, RemoteEngine, RemoteEvent, RemoteJob, RemoteResult};
use tradeoff_core::spec::target::remote::{ProviderKind, RemoteTarget};

pub use caller::{CallerError, RemoteCaller};
pub use probe::{Probe, list_models};
pub use provider::StreamItem;
pub use scheduler::{HttpRemote, RemoteClientError, build_client};
