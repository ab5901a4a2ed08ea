//! The [`Gateway`]: a facade over the parts that own the gateway's state. It holds one
//! handle per part and delegates:
//!
//! - [`Shared`]: the provider, the store, the counters, the gateway's URLs;
//! - [`Outbox`]: the send path, receipt waiters, the outbox wake-up, the outbound limiter;
//! - [`Dispatch`]: the message handler, the inbox wake-up, the sender policy and pairing,
//!   forwarding;
//! - [`Voice`]: voice settings, the call, stream and relay handlers, late answers, pending
//!   real-time sockets;
//! - [`Security`]: signature, proxy and host settings, the body limit, the invalid-request
//!   and webhook limiters.
//!
//! The routes and workers reach a part through the gateway's accessors, and call its
//! methods; no part knows the gateway's type. [`GatewayBuilder`](crate::GatewayBuilder)
//! builds the parts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use telephony_core::store::{CallQuery, CallRecord};
use telephony_core::voice::{CallAnswer, OutboundCall};
use telephony_core::{
    Address, MessageId, OutboundMessage, PairingRequest, PhoneNumber, Provider, ProviderError,
    Receipt, Store, StoreError,
};
use time::OffsetDateTime;

use crate::api;
use crate::dispatch::Dispatch;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, SendError, Sent};
use crate::security::Security;
use crate::sender_policy::PairingError;
use crate::shared::Shared;
use crate::voice::{CallError, Voice, VoiceSettings};

/// The telephony gateway: webhook routes, admin routes, durable inbox and outbox.
///
/// Cheap to clone. Build one with [`Gateway::builder`], mount [`router`](Gateway::router)
/// in an axum app (or run the standalone server, crate `telephony`), and start the workers with
/// [`spawn_workers`](Gateway::spawn_workers).
///
/// ```
/// use std::sync::Arc;
/// use telephony_core::{MemoryStore, StubProvider, InboundMessage};
/// use telephony_serve::{Gateway, HandlerError, Replier};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let gateway = Gateway::builder(Arc::new(StubProvider::new_ok()), Arc::new(MemoryStore::new()))
///     .public_url("https://sms.example.com")
///     .handler(|msg: InboundMessage, reply: Replier| async move {
///         reply.send(format!("echo: {}", msg.body)).await?;
///         Ok::<(), HandlerError>(())
///     })
///     .build();
/// let app = axum::Router::new().merge(gateway.router());
/// let sent = gateway.send("+15550005678", "hello").await.unwrap();
/// assert_eq!(sent.receipts[0].status.as_str(), "pending");
/// # let _ = app;
/// # });
/// ```
#[derive(Clone)]
pub struct Gateway {
    parts: Arc<Parts>,
}

/// One handle per part.
pub(crate) struct Parts {
    pub(crate) shared: Arc<Shared>,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) dispatch: Arc<Dispatch<Gateway>>,
    pub(crate) voice: Arc<Voice<Gateway>>,
    pub(crate) security: Arc<Security>,
    pub(crate) pruner: Arc<crate::worker::prune::Pruner>,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.parts.shared;
        f.debug_struct("Gateway")
            .field("provider", &shared.provider().name())
            .field("public_url", &shared.public_url())
            .field("webhook_path", &shared.webhook_path())
            .field("status_path", &shared.status_path())
            .finish_non_exhaustive()
    }
}

/// The parts, for the routes and workers.
impl Gateway {
    pub(crate) fn from_parts(parts: Parts) -> Self {
        Gateway {
            parts: Arc::new(parts),
        }
    }

    /// The provider, the store, the counters and the URLs.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.parts.shared
    }

    /// The send path.
    pub(crate) fn outbox(&self) -> &Arc<Outbox> {
        &self.parts.outbox
    }

    /// The message handler, the sender policy, forwarding.
    pub(crate) fn dispatch(&self) -> &Arc<Dispatch<Gateway>> {
        &self.parts.dispatch
    }

    /// Voice settings, handlers and sockets.
    pub(crate) fn voice(&self) -> &Arc<Voice<Gateway>> {
        &self.parts.voice
    }

    /// Signature checks and the public listener's limits.
    pub(crate) fn security(&self) -> &Arc<Security> {
        &self.parts.security
    }

    /// The retention pruner.
    pub(crate) fn pruner(&self) -> &Arc<crate::worker::prune::Pruner> {
        &self.parts.pruner
    }
}

impl Gateway {
    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.shared().store()
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn Provider> {
        self.shared().provider()
    }

    /// The configured public base URL, if any.
    pub fn public_url(&self) -> Option<&str> {
        self.shared().public_url()
    }

    /// The webhook path.
    pub fn webhook_path(&self) -> &str {
        self.shared().webhook_path()
    }

    /// The status callback path.
    pub fn status_path(&self) -> &str {
        self.shared().status_path()
    }

    /// Records the base URL the public listener is reachable at locally (used for status
    /// callbacks when no public URL is configured and the bind is loopback).
    pub fn set_local_base_url(&self, url: impl Into<String>) {
        self.shared().set_local_base_url(url.into());
    }

    /// The URL the provider should send status callbacks to, if one is known.
    pub fn status_callback_url(&self) -> Option<String> {
        self.shared().status_callback_url()
    }

    /// This replica's id ([`GatewayBuilder::replica_id`](crate::GatewayBuilder::replica_id)).
    pub fn replica_id(&self) -> &str {
        self.shared().replica()
    }

    /// The account this gateway serves ([`GatewayBuilder::account_name`](crate::GatewayBuilder::account_name)).
    pub fn account_name(&self) -> &str {
        self.shared().account()
    }

    /// The replicas sharing this gateway's store whose heartbeat is recent (within
    /// [`LIVE_FOR`](crate::cluster::LIVE_FOR)), by id; this one among them once its
    /// workers run.
    pub async fn replicas(&self) -> Result<Vec<telephony_core::store::ReplicaBeat>, StoreError> {
        crate::worker::heartbeat::live_replicas(self.shared()).await
    }

    /// How long the store keeps each kind of record
    /// ([`GatewayBuilder::retention`](crate::GatewayBuilder::retention)).
    pub fn retention(&self) -> &telephony_core::store::RetentionPolicy {
        self.pruner().policy()
    }

    /// This gateway's counters.
    pub fn metrics(&self) -> &Metrics {
        self.shared().metrics()
    }

    /// The `/metrics` text: the counters, `telephony_build_info`, and the gauges the store
    /// knows now (outbox depth and oldest age, forward queue, live sessions).
    pub async fn metrics_text(&self) -> Result<String, StoreError> {
        self.shared().metrics_text().await
    }

    /// Queues a text message to `to` (`+1555…`, `sms:+1…`, `whatsapp:+1…`, …).
    ///
    /// Markdown is flattened and long texts are chunked (`sms.*`); each chunk is one SMS
    /// with its own receipt.
    pub async fn send(&self, to: &str, text: impl Into<String>) -> Result<Sent, SendError> {
        self.outbox().send(to, text).await
    }

    /// The recipient of sends that name none ([`GatewayBuilder::default_to`](crate::GatewayBuilder::default_to)).
    pub fn default_to(&self) -> Option<&Address> {
        self.outbox().default_to()
    }

    /// Queues a text message to the configured default recipient (`defaultTo`), through
    /// the same policy as [`send`](Self::send); an error when none is configured.
    pub async fn send_to_default(&self, text: impl Into<String>) -> Result<Sent, SendError> {
        let to = self.default_to().cloned().ok_or_else(|| {
            SendError::InvalidMessage("no recipient given and no defaultTo is configured".into())
        })?;
        self.send_message(OutboundMessage::new(to, text)).await
    }

    /// Queues a message in the durable outbox; the outbox worker sends it.
    ///
    /// In order: opted-out recipients are refused (no provider call); markdown is
    /// flattened and the text chunked; `outboundPolicy.maxPerDay` is enforced; a first
    /// contact is held when `outboundPolicy.requireApprovalForNewContacts` is on.
    /// Returns `pending` receipts; follow them with [`receipt`](Self::receipt).
    pub async fn send_message(&self, msg: OutboundMessage) -> Result<Sent, SendError> {
        self.outbox().send_message(msg).await
    }

    /// A receipt by id.
    pub async fn receipt(&self, id: &MessageId) -> Result<Option<Receipt>, StoreError> {
        self.store().receipt(id).await
    }

    /// Waits until the outbox worker has made its first attempt at `id` (or `timeout` passes),
    /// and returns the receipt as it stands.
    pub async fn wait_first_attempt(
        &self,
        id: &MessageId,
        timeout: Duration,
    ) -> Result<Option<Receipt>, StoreError> {
        self.outbox().wait_first_attempt(id, timeout).await
    }

    /// Pending pairing requests, oldest first.
    pub async fn pending_pairings(&self) -> Result<Vec<PairingRequest>, StoreError> {
        self.store()
            .pending_pairings(OffsetDateTime::now_utc())
            .await
    }

    /// Approves a pairing code: the sender joins the stored allowlist and (unless the
    /// approval text is empty) is told by SMS.
    pub async fn approve_pairing(&self, code: &str) -> Result<api::PairingDecision, PairingError> {
        self.dispatch().policy().resolve_pairing(code, true).await
    }

    /// Rejects a pairing code; nothing is sent.
    pub async fn reject_pairing(&self, code: &str) -> Result<api::PairingDecision, PairingError> {
        self.dispatch().policy().resolve_pairing(code, false).await
    }

    /// Approves a contact for outbound messages and releases its held sends.
    pub async fn approve_contact(
        &self,
        number: &PhoneNumber,
    ) -> Result<Vec<MessageId>, StoreError> {
        self.outbox().approve_contact(number).await
    }

    /// Sends waiting for contact approval.
    pub async fn held_sends(&self) -> Result<Vec<Receipt>, StoreError> {
        self.store().held_outbound().await
    }

    /// The voice settings.
    pub fn voice_settings(&self) -> &VoiceSettings {
        self.voice().settings()
    }

    /// The URL calls should fetch instructions from and post gathers to (public URL, or
    /// the local listener's), without a query; `None` when neither is known.
    pub fn voice_url(&self) -> Option<String> {
        self.shared().voice_url()
    }

    /// Places an outbound call to `to`, answered with `answer`.
    ///
    /// A session slot is reserved before the provider is asked, so `maxConcurrentSessions`
    /// holds exactly (over the limit: [`CallError::TooManySessions`], no provider call).
    /// The call gets the gateway's status callback URL and `voice.maxDurationSeconds` as
    /// its time limit; a [`Gather`](telephony_core::voice::Gather) without an `action` in a
    /// [`CallAnswer::Response`] posts back to the gateway. Returns the call as recorded
    /// (status `queued` usually); follow it with [`call_record`](Self::call_record).
    pub async fn call(&self, to: &str, answer: CallAnswer) -> Result<CallRecord, CallError> {
        self.place_call(OutboundCall::new(to, answer)).await
    }

    /// Places an outbound call with every option of [`OutboundCall`]; the gateway fills in
    /// the status callback and time limit when they are unset.
    pub async fn place_call(&self, call: OutboundCall) -> Result<CallRecord, CallError> {
        self.voice().place_call(call).await
    }

    /// Ends a call through the provider (a call that already ended is a success).
    pub async fn hang_up(&self, call_id: &str) -> Result<(), ProviderError> {
        self.provider().hang_up(call_id).await
    }

    /// One call with its status history and transcript.
    pub async fn call_record(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        self.store().call(call_id).await
    }

    /// Calls, oldest first.
    pub async fn calls(&self, query: &CallQuery) -> Result<Vec<CallRecord>, StoreError> {
        self.store().calls(query).await
    }

    /// Recordings' metadata, oldest first: one call's (`Some(id)`; an unknown call is
    /// [`StoreError::NotFound`]) or every call's, the newest `limit` (0 means 100).
    ///
    /// ```no_run
    /// # async fn run(gateway: telephony_serve::Gateway) -> Result<(), telephony_core::StoreError> {
    /// for rec in gateway.recordings(Some("CA1"), 0).await? {
    ///     println!("{} {}s {}", rec.recording_id, rec.duration_secs.unwrap_or(0), rec.channels);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn recordings(
        &self,
        call_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<telephony_core::voice::CallRecording>, StoreError> {
        if let Some(id) = call_id {
            if self.store().call(id).await?.is_none() {
                return Err(StoreError::NotFound {
                    kind: "call",
                    id: id.to_string(),
                });
            }
        }
        self.store().recordings(call_id, limit).await
    }

    /// A stored recording's audio, fetched from the provider with its credentials
    /// ([`Provider::fetch_recording`](telephony_core::Provider::fetch_recording)); `None`
    /// when no recording has this id.
    ///
    /// ```no_run
    /// # async fn run(gateway: telephony_serve::Gateway) -> Result<(), Box<dyn std::error::Error>> {
    /// if let Some(audio) = gateway.fetch_recording("RE1").await? {
    ///     std::fs::write(format!("RE1.{}", audio.extension()), &audio.bytes)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn fetch_recording(
        &self,
        recording_id: &str,
    ) -> Result<
        Option<telephony_core::voice::RecordingMedia>,
        crate::voice::recordings::RecordingError,
    > {
        let Some(rec) = self.store().recording(recording_id).await? else {
            return Ok(None);
        };
        let media = self.provider().fetch_recording(&rec).await?;
        tracing::info!(call_sid = %rec.call_id, recording_sid = %rec.recording_id, bytes = media.bytes.len(), "recording fetched from the provider");
        Ok(Some(media))
    }

    /// Checks every live session now, as the voice worker does on start (where it checks
    /// those recorded before the start): calls past `voice.maxDurationSeconds` are hung
    /// up, and each session's call is looked up at the provider, so sessions whose call
    /// ended give their slot back. Live calls are never ended by it.
    pub async fn check_sessions(&self) {
        use crate::voice::worker::{Check, sweep};
        sweep(
            self.voice(),
            Check::RecordedBefore(OffsetDateTime::now_utc()),
        )
        .await;
    }

    /// Calls holding a session slot now.
    pub async fn live_sessions(&self) -> Result<Vec<CallRecord>, StoreError> {
        self.store().live_sessions().await
    }
}
