//! The application's side: [`MessageHandler`] receives accepted inbound messages.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use telephony_core::{InboundMessage, Receipt};

use crate::dispatch::Deliver;
use crate::gateway::Gateway;
use crate::handler_error::HandlerError;
use crate::outbox::{SendError, Sent};

/// Lets a handler answer the sender of the message it is handling.
#[derive(Clone, Debug)]
pub struct Replier {
    gateway: Gateway,
    to: String,
}

impl Replier {
    fn new(gateway: Gateway, to: String) -> Self {
        Replier { gateway, to }
    }

    /// Sends `text` back to the sender through the durable outbox (chunked when long).
    pub async fn send(&self, text: impl Into<String>) -> Result<Sent, SendError> {
        self.gateway.send(&self.to, text).await
    }

    /// The gateway, for anything else.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }
}

/// Receives inbound messages the gateway accepted, one ordered lane per sender.
///
/// Implemented for async closures `Fn(InboundMessage, Replier) -> impl Future<Output = Result<(), HandlerError>>`:
///
/// ```
/// use telephony_serve::{HandlerError, MessageHandler, Replier};
/// use telephony_core::InboundMessage;
///
/// fn echo() -> impl MessageHandler {
///     |msg: InboundMessage, reply: Replier| async move {
///         reply.send(format!("You said: {}", msg.body)).await?;
///         Ok::<(), HandlerError>(())
///     }
/// }
/// ```
#[async_trait]
pub trait MessageHandler: Send + Sync + 'static {
    /// Handles one message, at least once: an error (or a panic) is retried with backoff
    /// up to [`max_dispatch_attempts`](crate::GatewayBuilder::max_dispatch_attempts)
    /// (default 5) while the sender's later messages wait, then the message is
    /// dead-lettered (`telephony inbox --failed`). A message can also be handed over again
    /// after a crash or on another replica; `msg.id` is its stable event id, the same on
    /// every delivery, to drop repeats by.
    async fn on_message(&self, msg: InboundMessage, reply: Replier) -> Result<(), HandlerError>;

    /// Called when an outbound message's status moves forward; the default does nothing.
    async fn on_status(&self, receipt: &Receipt) {
        let _ = receipt;
    }
}

#[async_trait]
impl<F, Fut> MessageHandler for F
where
    F: Fn(InboundMessage, Replier) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    async fn on_message(&self, msg: InboundMessage, reply: Replier) -> Result<(), HandlerError> {
        (self)(msg, reply).await
    }
}

/// The application's handler as the dispatch part holds it.
pub(crate) struct AppHandler(pub(crate) Arc<dyn MessageHandler>);

#[async_trait]
impl Deliver<Gateway> for AppHandler {
    async fn on_message(&self, msg: InboundMessage, gateway: Gateway) -> Result<(), HandlerError> {
        let reply = Replier::new(gateway, msg.from.clone());
        self.0.on_message(msg, reply).await
    }

    async fn on_status(&self, receipt: &Receipt) {
        self.0.on_status(receipt).await
    }
}
