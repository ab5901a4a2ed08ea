//! The dispatch part: the application's message handler, the inbox wake-up, the sender
//! policy with its pairing counters ([`crate::sender_policy`]), and forwarding
//! ([`crate::worker::forward`]). The dispatch worker ([`crate::worker::dispatch`]) hands
//! stored inbound messages through it.
//!
//! The part does not know the gateway's type: it is generic over `G`, what the handler is
//! given with each message (the gateway), so the gateway can own it without the two
//! importing each other.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use telephony_core::{InboundMessage, InboxState, Receipt};
use tokio::sync::Notify;

use crate::handler_error::HandlerError;
use crate::sender_policy::{Decision, Early, SenderPolicy};
use crate::shared::Shared;
use crate::worker::forward::Forwarder;

/// The application's message handler as the dispatch part calls it: with the message and
/// the gateway (`G`) it was delivered through.
#[async_trait]
pub(crate) trait Deliver<G>: Send + Sync + 'static {
    /// Handles one accepted message.
    async fn on_message(&self, msg: InboundMessage, gateway: G) -> Result<(), HandlerError>;

    /// An outbound message's status moved forward.
    async fn on_status(&self, receipt: &Receipt);
}

/// How inbound messages are dispatched (builder knobs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DispatchSettings {
    /// Handler attempts per message before it is dead-lettered (`failed`).
    pub(crate) max_attempts: u32,
    /// How long a claimed batch is reserved for this gateway; a replica that dies holding
    /// it delays its messages by at most this much.
    pub(crate) lease: Duration,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            max_attempts: 5,
            lease: Duration::from_secs(60),
        }
    }
}

/// The handler, the inbox wake-up, the sender policy and forwarding.
pub(crate) struct Dispatch<G> {
    shared: Arc<Shared>,
    settings: DispatchSettings,
    handler: Option<Arc<dyn Deliver<G>>>,
    inbox_wake: Notify,
    policy: SenderPolicy,
    forward: Arc<Forwarder>,
}

impl<G: Send + 'static> Dispatch<G> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        settings: DispatchSettings,
        handler: Option<Arc<dyn Deliver<G>>>,
        policy: SenderPolicy,
        forward: Arc<Forwarder>,
    ) -> Self {
        Dispatch {
            shared,
            settings,
            handler,
            inbox_wake: Notify::new(),
            policy,
            forward,
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Attempts and lease.
    pub(crate) fn settings(&self) -> DispatchSettings {
        self.settings
    }

    /// The application's handler, if one is set.
    pub(crate) fn handler(&self) -> Option<Arc<dyn Deliver<G>>> {
        self.handler.clone()
    }

    /// What a verified inbound message can be stored as at once, because dispatching it
    /// later would only write its outcome (and its forward event). The sender policy
    /// decides it without writing anything ([`SenderPolicy::decide_early`]): a message no
    /// handler will see (refused, held for a code already sent, dropped over the pairing
    /// limits) is stored in that state with the note the dispatch worker would write,
    /// where that needs the sender's approval and the pending pairing requests through a
    /// gate the store decides with the insert (SQLite and PostgreSQL: one read per
    /// group-commit batch); an accepted one when no handler is set is stored `accepted`, with its
    /// `message.received` event in the same transaction when forwarding is on (one write
    /// instead of three). The dispatch worker never reads these. Anything else (a handler
    /// to call, an approved sender under `pairing`/`allowlist`, an opt-out keyword, a
    /// stranger a pairing code goes to) is stored `queued` for the worker.
    pub(crate) fn decided_at_insert(&self, msg: &InboundMessage) -> AtInsert {
        let decision = match self.policy.decide_early(msg) {
            None => return AtInsert::Queue,
            Some(Early::Gate(gate)) => return AtInsert::Gated(gate),
            Some(Early::Decided(d)) => d,
        };
        let (state, note) = match decision {
            Decision::Accept => return self.accepted_at_insert(msg),
            Decision::PendingPairing(note) => (InboxState::PendingPairing, note),
            Decision::Blocked(note) => (InboxState::Blocked, note),
            Decision::Dropped(note) => (InboxState::Dropped, note),
        };
        AtInsert::Decided(state, Some(note))
    }

    /// An accepted message: `queued` for the handler, else stored `accepted` (with its
    /// forward event when forwarding is on).
    fn accepted_at_insert(&self, msg: &InboundMessage) -> AtInsert {
        if self.handler.is_some() {
            return AtInsert::Queue;
        }
        if self.forward.settings().is_none() {
            return AtInsert::Decided(InboxState::Accepted, None);
        }
        match self.forward.received_event(msg) {
            Some(event) => AtInsert::Forwarded(InboxState::Accepted, Box::new(event)),
            // Logged; the worker forwards it (and logs again if it still cannot).
            None => AtInsert::Queue,
        }
    }

    /// Tells the dispatch worker a message was stored.
    pub(crate) fn wake(&self) {
        self.inbox_wake.notify_one();
    }

    /// Resolves when [`wake`](Self::wake) is called.
    pub(crate) fn woken(&self) -> tokio::sync::futures::Notified<'_> {
        self.inbox_wake.notified()
    }

    /// The sender policy and pairing.
    pub(crate) fn policy(&self) -> &SenderPolicy {
        &self.policy
    }

    /// Forwarding to `forward.url`.
    pub(crate) fn forwarder(&self) -> &Arc<Forwarder> {
        &self.forward
    }

    /// A status change of an outbound message: forwarded, and told to the handler (in its
    /// own task, so the webhook is not held up).
    pub(crate) async fn status_changed(&self, receipt: Receipt) {
        self.forward.forward_status(&receipt).await;
        if let Some(h) = self.handler() {
            tokio::spawn(async move { h.on_status(&receipt).await });
        }
    }
}

/// How the webhook stores a verified inbound message ([`Dispatch::decided_at_insert`]).
#[derive(Debug)]
pub(crate) enum AtInsert {
    /// `queued`, for the dispatch worker.
    Queue,
    /// In its final state, with the note the dispatch worker would have written: it would
    /// write nothing else.
    Decided(InboxState, Option<String>),
    /// In the state the store decides from the sender's approval and the pending pairing
    /// requests, read in the insert's transaction (`queued` when the worker has more to do).
    Gated(telephony_core::store::ApprovalGate),
    /// In its final state with its forward event, in one transaction: the dispatch worker
    /// would only have forwarded it.
    Forwarded(InboxState, Box<telephony_core::ForwardEvent>),
}
