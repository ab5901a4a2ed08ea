//! Forwarding to a non-Rust application (`forward.url`): every accepted inbound message and
//! every status change is stored as an event and POSTed as JSON, at least once, retried
//! with backoff across restarts ([`telephony_core::retry::backoff`]).
//!
//! Several replicas on one database share the queue: a claim leases events under a fencing
//! token, so no two replicas deliver an event at once, and a replica whose lease ran out
//! (and whose event another replica claimed again) cannot complete or reschedule it.
//!
//! Request: `POST {forward.url}` with `Content-Type: application/json`,
//! `X-Telephony-Event: message.received|message.status`, `X-Telephony-Event-Id: evt_…`
//! (stable: every attempt of an event, from any replica, carries the same id, built from
//! the message id — `evt_<message id>` for `message.received`,
//! `evt_<message id>_<status>` for `message.status` — so receivers drop ids they have
//! seen) and, with `forward.secret`,
//! `X-Telephony-Signature: sha256=<lowercase hex HMAC-SHA256 of the raw body>`.
//! Any 2xx answer completes the event.
//!
//! Body: a camelCase [`ForwardedEvent`]:
//! `{"id":"evt_…","createdAt":"RFC 3339","type":"message.received","data":{…}}`, where `data`
//! is an [`api::InboundMessage`](crate::api::InboundMessage) or an
//! [`api::StatusChange`](crate::api::StatusChange).

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use telephony_core::store::ClaimedForward;
use telephony_core::{ForwardEvent, InboundMessage, Receipt, Secret, StoreError, error_chain};
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};

use crate::api::ForwardedEvent;
use crate::shared::Shared;

/// Where to forward events (`forward`).
#[derive(Debug, Clone)]
pub struct ForwardSettings {
    /// Receiver URL.
    pub url: String,
    /// HMAC-SHA256 key; without it no signature header is sent.
    pub secret: Option<Secret>,
}

/// Events claimed at once, delivered one after the other.
const BATCH: usize = 16;

/// The receiver's time per request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How long a claimed batch is reserved for one delivery attempt each: longer than the
/// whole batch can take at the receiver's timeout (16 × 10 s), so a live replica never
/// loses the lease of an event it is about to deliver; a replica that dies delays its
/// events by at most this much.
const LEASE: Duration = Duration::from_secs(180);

/// The signature header value for a body: `sha256=<hex>`.
///
/// ```
/// let sig = telephony_serve::forward_signature(b"key", b"The quick brown fox jumps over the lazy dog");
/// assert_eq!(sig, "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
/// ```
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Stores events for the receiver and wakes the forwarding worker; does nothing without
/// `forward` settings.
pub(crate) struct Forwarder {
    shared: Arc<Shared>,
    settings: Option<ForwardSettings>,
    wake: Notify,
}

impl Forwarder {
    pub(crate) fn new(shared: Arc<Shared>, settings: Option<ForwardSettings>) -> Self {
        Forwarder {
            shared,
            settings,
            wake: Notify::new(),
        }
    }

    /// The receiver, when forwarding is on.
    pub(crate) fn settings(&self) -> Option<&ForwardSettings> {
        self.settings.as_ref()
    }

    /// The event as the store keeps it; `None` (logged) if it does not encode.
    fn stored(event: ForwardedEvent) -> Option<ForwardEvent> {
        let payload = match serde_json::to_value(&event) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(event_id = %event.id, error = %e, "forward event does not encode");
                return None;
            }
        };
        Some(ForwardEvent {
            id: event.id.clone(),
            kind: event.kind().to_string(),
            payload,
            created_at: event.created_at,
            attempts: 0,
            last_error: None,
        })
    }

    /// The `message.received` event of `msg`, to store with it
    /// ([`InboxStore::insert_inbound_forwarded`](telephony_core::InboxStore::insert_inbound_forwarded)).
    pub(crate) fn received_event(&self, msg: &InboundMessage) -> Option<ForwardEvent> {
        Self::stored(ForwardedEvent::message_received(
            msg,
            OffsetDateTime::now_utc(),
        ))
    }

    /// Tells the forwarding worker an event was stored.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    async fn enqueue_event(&self, event: ForwardedEvent) {
        if self.settings.is_none() {
            return;
        }
        let Some(stored) = Self::stored(event) else {
            return;
        };
        match self.shared.store().enqueue_forward(&stored).await {
            Ok(()) => self.wake.notify_one(),
            Err(e) => {
                tracing::error!(event_id = %stored.id, error = %error_chain(&e), "could not store forward event")
            }
        }
    }

    pub(crate) async fn forward_message(&self, msg: &InboundMessage) {
        let now = OffsetDateTime::now_utc();
        self.enqueue_event(ForwardedEvent::message_received(msg, now))
            .await;
    }

    pub(crate) async fn forward_machine_detection(
        &self,
        d: &telephony_core::voice::MachineDetected,
        to: Option<String>,
    ) {
        let now = OffsetDateTime::now_utc();
        self.enqueue_event(ForwardedEvent::machine_detection(d, to, now))
            .await;
    }

    pub(crate) async fn forward_recording(&self, rec: &telephony_core::voice::CallRecording) {
        let now = OffsetDateTime::now_utc();
        self.enqueue_event(ForwardedEvent::call_recording(rec, now))
            .await;
    }

    pub(crate) async fn forward_status(&self, receipt: &Receipt) {
        let now = OffsetDateTime::now_utc();
        self.enqueue_event(ForwardedEvent::message_status(receipt, now))
            .await;
    }
}

pub(crate) async fn run(fwd: Arc<Forwarder>, mut stop: watch::Receiver<bool>) {
    let Some(settings) = fwd.settings.clone() else {
        return;
    };
    let http = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the forwarding HTTP client; forwarding is off");
            return;
        }
    };
    let mut others = fwd
        .shared
        .store()
        .watch_work(telephony_core::store::WorkKind::Forward);
    loop {
        if *stop.borrow() {
            return;
        }
        let now = OffsetDateTime::now_utc();
        let batch = fwd.shared.store().claim_forwards(now, LEASE, BATCH).await;
        let events = match batch {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "claiming forward events failed");
                Vec::new()
            }
        };
        if events.is_empty() {
            tokio::select! {
                _ = fwd.wake.notified() => {}
                _ = others.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        // In order, so a receiver sees a message before its status changes.
        for claimed in events {
            deliver(&fwd.shared, &http, &settings, claimed).await;
        }
    }
}

async fn deliver(
    shared: &Shared,
    http: &reqwest::Client,
    s: &ForwardSettings,
    claimed: ClaimedForward,
) {
    let ClaimedForward { event: ev, lease } = claimed;
    // Events queued by an earlier version are re-encoded in today's shape; a payload that
    // is not an event we know is delivered exactly as stored.
    let wire = match ForwardedEvent::from_stored(&ev.payload) {
        Ok(e) => serde_json::to_vec(&e),
        Err(e) => {
            tracing::warn!(event_id = %ev.id, error = %e, "stored forward event has an unknown shape; delivered as stored");
            serde_json::to_vec(&ev.payload)
        }
    };
    let body = match wire {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(event_id = %ev.id, error = %e, "forward event does not encode");
            return;
        }
    };
    let mut req = http
        .post(&s.url)
        .header("content-type", "application/json")
        .header("x-telephony-event", &ev.kind)
        .header("x-telephony-event-id", &ev.id);
    if let Some(secret) = &s.secret {
        req = req.header(
            "x-telephony-signature",
            signature(secret.expose().as_bytes(), &body),
        );
    }
    let result = req.body(body).send().await;
    let error = match result {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("receiver answered HTTP {}", r.status().as_u16())),
        Err(e) => Some(format!("could not reach the receiver: {}", error_chain(&e))),
    };
    let store = shared.store();
    let now = OffsetDateTime::now_utc();
    let recorded = match &error {
        None => {
            tracing::debug!(event_id = %ev.id, "event forwarded");
            store.complete_forward(&ev.id, lease, now).await
        }
        Some(err) => {
            let wait = telephony_core::retry::backoff(ev.attempts);
            tracing::warn!(event_id = %ev.id, attempt = ev.attempts + 1, wait_ms = wait.as_millis() as u64, error = %err, "forwarding failed, will retry");
            store.retry_forward(&ev.id, lease, err, now + wait).await
        }
    };
    match recorded {
        Ok(()) => {}
        Err(StoreError::LeaseLost { .. }) => {
            tracing::warn!(event_id = %ev.id, "forward result not recorded: the lease ran out and another worker claimed the event")
        }
        Err(e) => {
            tracing::error!(event_id = %ev.id, error = %error_chain(&e), "could not record forward result")
        }
    }
}
