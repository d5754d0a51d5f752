//! What answers a served request: the local model in a worker ([`LocalBackend`]) or the remote
//! API the winner ran on, called with its own settings and key ([`RemoteBackend`]). Either way a
//! request is a [`Submission`]: its text as it comes, then its end.

use std::sync::Arc;

use tokio::sync::mpsc;
use tradeoff_core::run::RunError;
use tradeoff_core::spec::experiment::Sampling;
use tradeoff_core::spec::prompt::RenderedPrompt;
use tradeoff_remote::RemoteCaller;
use tradeoff_worker::ServedEvent;

use crate::local::LocalBackend;

#[derive(Debug)]
pub enum Backend {
    Local(Box<LocalBackend>),
    Remote(RemoteBackend),
}

#[derive(Debug)]
pub struct RemoteBackend {
    caller: Arc<RemoteCaller>,
}

impl RemoteBackend {
    pub fn new(caller: RemoteCaller) -> RemoteBackend {
        RemoteBackend {
            caller: Arc::new(caller),
        }
    }
}

/// One request in flight: its events in order, and its cancellation when dropped before its end
/// (the client went away).
pub struct Submission {
    events: mpsc::UnboundedReceiver<ServedEvent>,
    cancel: Option<Box<dyn FnOnce() + Send + Sync>>,
    ended: bool,
}

impl std::fmt::Debug for Submission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submission")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Submission {
    pub(crate) fn new(
        events: mpsc::UnboundedReceiver<ServedEvent>,
        cancel: Box<dyn FnOnce() + Send + Sync>,
    ) -> Submission {
        Submission {
            events,
            cancel: Some(cancel),
            ended: false,
        }
    }

    /// The next event; after `Done` there is none.
    pub async fn next(&mut self) -> Option<ServedEvent> {
        let event = self.events.recv().await;
        if matches!(event, Some(ServedEvent::Done(_)) | None) {
            self.ended = true;
        }
        event
    }
}

impl Drop for Submission {
    fn drop(&mut self) {
        if !self.ended
            && let Some(cancel) = self.cancel.take()
        {
            cancel();
        }
    }
}

impl Backend {
    /// Starts a generation of `prompt` with `sampling`; the caller holds a slot.
    pub async fn submit(&self, prompt: RenderedPrompt, sampling: Sampling) -> Result<Submission, RunError> {
        match self {
            Backend::Local(local) => local.submit(prompt, sampling).await,
            Backend::Remote(remote) => {
                let (sender, events) = mpsc::unbounded_channel();
                let caller = Arc::clone(&remote.caller);
                let task = tokio::spawn(async move {
                    let text = sender.clone();
                    let mut on_text = move |piece: &str| {
                        let _ = text.send(ServedEvent::Text(piece.to_string()));
                    };
                    let result = caller.call(prompt, sampling, &mut on_text).await;
                    let _ = sender.send(ServedEvent::Done(Box::new(result)));
                });
                Ok(Submission::new(events, Box::new(move || task.abort())))
            }
        }
    }

    /// Workers started after one died (a remote backend has none).
    pub fn restarts(&self) -> u32 {
        match self {
            Backend::Local(local) => local.restarts(),
            Backend::Remote(_) => 0,
        }
    }

    /// Whether the model carries a chat template (`None`: the API's own business).
    pub fn has_chat_template(&self) -> Option<bool> {
        match self {
            Backend::Local(local) => Some(local.load_report().has_chat_template),
            Backend::Remote(_) => None,
        }
    }
}
