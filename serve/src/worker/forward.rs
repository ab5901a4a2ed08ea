//! Forwarding to a non-Rust application (`forward.url`): every accepted inbound message and
//! every status change is stored as an event and POSTed as JSON, at least once, retried
//! with backoff across restarts ([`telephony_core::retry::backoff`]).
//!
//! Order is kept per contact while nothing fails: the worker claims up to 256 due events
//! (oldest first; batched, up to 8 × `max_batch`, at most 1,024: [`claim_size`]), splits
//! them into lanes by contact — the other party's number (`from` of
//! `message.received`, `to` of `message.status`) or the call (`call.*` events); an event
//! whose contact is unknown is a lane of its own — and delivers up to 32 lanes in
//! parallel, each lane's events one after the other. Contacts have no order between them.
//! When an event fails, the later events of its lane are given back untried, due at its
//! retry time, so they go after it; an event of that contact stored meanwhile is due
//! earlier and is not held back. Two replicas' claims are not ordered against each other.
//! The outcomes of a claim are recorded with one store write
//! ([`ForwardStore::record_forwards`](telephony_core::ForwardStore::record_forwards)).
//! After a claim that was not full the worker waits [`LINGER`] (5 ms) before claiming
//! again, so under load claims are fuller; an event stored while it is idle wakes it at
//! once.
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
//! Batched (`forward.maxBatch` > 1, [`ForwardSettings::max_batch`]): the lanes of a claim
//! are packed, whole, into groups of about `max_batch` events, delivered like lanes (in
//! parallel, each group's POSTs one after the other); each POST's body is a JSON array of up
//! to `max_batch` events with `X-Telephony-Event-Count` (and the signature over the array).
//! A 2xx completes every event in it; a failure retries them together and holds back the
//! rest of the group.
//!
//! Body: a camelCase [`ForwardedEvent`]:
//! `{"id":"evt_…","createdAt":"RFC 3339","type":"message.received","data":{…}}`, where `data`
//! is an [`api::InboundMessage`](crate::api::InboundMessage) or an
//! [`api::StatusChange`](crate::api::StatusChange).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use telephony_core::store::{ClaimedForward, ForwardOutcome, ForwardResult};
use telephony_core::{ForwardEvent, InboundMessage, Receipt, Secret, error_chain};
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::api::{EventData, ForwardedEvent};
use crate::shared::Shared;

/// Where to forward events (`forward`).
///
/// ```
/// let one_per_post = telephony_serve::ForwardSettings::new("https://app.example.com/events");
/// assert_eq!(one_per_post.max_batch, 1);
/// let batched = one_per_post.with_max_batch(100);
/// assert_eq!((batched.url.as_str(), batched.max_batch), ("https://app.example.com/events", 100));
/// ```
#[derive(Debug, Clone)]
pub struct ForwardSettings {
    /// Receiver URL.
    pub url: String,
    /// HMAC-SHA256 key; without it no signature header is sent.
    pub secret: Option<Secret>,
    /// The most events in one POST (`forward.maxBatch`). `1` (the default): every POST
    /// carries one event, its body the event's JSON object. Above 1: every POST's body is a
    /// JSON **array** of 1 to `max_batch` events (even a single one), with
    /// `X-Telephony-Event-Count` instead of the per-event headers. `0` counts as 1.
    pub max_batch: usize,
}

impl ForwardSettings {
    /// Forwarding to `url`, unsigned, one event per POST.
    pub fn new(url: impl Into<String>) -> Self {
        ForwardSettings {
            url: url.into(),
            secret: None,
            max_batch: 1,
        }
    }

    /// Signs every POST with `secret` (`X-Telephony-Signature`).
    pub fn with_secret(mut self, secret: Secret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Up to `max_batch` events per POST, as a JSON array (see
    /// [`max_batch`](Self::max_batch)).
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch;
        self
    }

    /// True when POSTs carry JSON arrays.
    fn batched(&self) -> bool {
        self.max_batch > 1
    }
}

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
            encoded: None,
        })
    }

    /// The `message.received` event of `msg`, to store with it
    /// ([`InboxStore::insert_inbound_forwarded`](telephony_core::InboxStore::insert_inbound_forwarded)):
    /// encoded once, here, as the JSON text the receiver gets
    /// ([`ForwardEvent::encoded`]), so it is not decoded and encoded again on the way.
    pub(crate) fn received_event(&self, msg: &InboundMessage) -> Option<ForwardEvent> {
        let now = OffsetDateTime::now_utc();
        let id = format!("evt_{}", msg.id);
        let text = match crate::api::events::message_received_json(msg, &id, now) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(event_id = %id, error = %e, "forward event does not encode");
                return None;
            }
        };
        Some(ForwardEvent {
            kind: "message.received".to_string(),
            id,
            payload: serde_json::Value::Null,
            created_at: now,
            attempts: 0,
            last_error: None,
            encoded: Some(text.into()),
        })
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
    let claim = claim_size(settings.max_batch);
    loop {
        if *stop.borrow() {
            return;
        }
        // Taken before the claim, so the deadline is never later than the lease allows.
        let deadline = Instant::now() + (LEASE - TIMEOUT - MARGIN);
        let now = OffsetDateTime::now_utc();
        let batch = fwd.shared.store().claim_forwards(now, LEASE, claim).await;
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
        let claimed = events.len();
        let lanes = groups(lanes(events), settings.max_batch);
        let lane_count = lanes.len();
        let outcomes: Vec<ForwardOutcome> = futures_util::stream::iter(lanes)
            .map(|lane| deliver_lane(&http, &settings, lane, deadline, &stop))
            .buffer_unordered(LANES)
            .flat_map(futures_util::stream::iter)
            .collect()
            .await;
        record(&fwd.shared, &outcomes, claimed, lane_count).await;
        if claimed < claim {
            // Under load, let the next claim gather more than what came in during this
            // one's POSTs: each claim costs a read, a record write and a POST per group
            // however few events it carries. An event stored while the worker is idle is
            // still claimed at once (the wait above ends on the wake).
            tokio::select! {
                _ = tokio::time::sleep(LINGER) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// How long the worker waits after a claim that was not full before it claims again.
const LINGER: Duration = Duration::from_millis(5);

/// Events claimed at once, split into lanes by contact (one event per POST).
const BATCH: usize = 256;

/// Most events claimed at once with batched POSTs.
const MAX_BATCHED_CLAIM: usize = 1024;

/// How many events one claim takes: [`BATCH`] (256) with one event per POST; batched, enough
/// for about 8 full POSTs (`8 × max_batch`), at least [`BATCH`] and at most
/// [`MAX_BATCHED_CLAIM`] (1,024).
///
/// Each claim costs a read, a record write and the worker's wake-ups however many events it
/// carries, so batched claims are larger. They stay within the lease's arithmetic
/// ([`LEASE`]: 8 POSTs one after the other per lane): from `max_batch` 32 up, a claim
/// makes about 8 groups of `max_batch` events, fewer than [`LANES`], so each group sends one
/// or two POSTs; below 32 a claim holds 256 events as unbatched, and grouping them only
/// lowers the POSTs per lane. (A contact with many events makes a longer group, as it makes
/// a longer lane unbatched; the deadline covers both.)
fn claim_size(max_batch: usize) -> usize {
    if max_batch <= 1 {
        BATCH
    } else {
        max_batch.saturating_mul(8).clamp(BATCH, MAX_BATCHED_CLAIM)
    }
}

/// Lanes delivered at once, over the one HTTP client (its connection pool keeps a
/// connection per lane alive between batches).
const LANES: usize = 32;

/// The receiver's time per request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Time kept at the end of a lease to record the batch's outcomes.
const MARGIN: Duration = Duration::from_secs(5);

/// How long a claimed batch is reserved for one delivery attempt each. With the batch's
/// events spread evenly, each of the [`LANES`] lanes at once delivers `BATCH / LANES` (8)
/// of them one after the other, so the batch takes at most 8 × [`TIMEOUT`] (80 s) at the
/// receiver's timeout; the lease adds one more timeout and the [`MARGIN`]: 95 s. An uneven
/// batch (one contact with many events, or more contacts than lanes that queue for a
/// lane) can take longer, so the batch has a deadline: no request starts later than
/// `LEASE − TIMEOUT − MARGIN` after the claim, and a lane that reaches it releases the
/// rest of its events untried, at their place in the queue. So a live replica's every
/// request ends (at the latest at its timeout) and its outcomes are recorded before its
/// lease runs out; a replica that dies delays its events by at most this much.
const LEASE: Duration =
    Duration::from_secs(TIMEOUT.as_secs() * (BATCH / LANES) as u64 + TIMEOUT.as_secs())
        .saturating_add(MARGIN);

/// A claimed event, read and encoded for the receiver.
struct Prepared {
    claimed: ClaimedForward,
    /// The body to POST, or why the event cannot be encoded.
    body: Result<Vec<u8>, String>,
}

/// Splits a claimed batch into lanes by contact ([`contact`]), each lane in the order of
/// the claim (oldest due first); the lanes are in the order of their first event. An event
/// whose contact is not known is a lane of its own.
fn lanes(events: Vec<ClaimedForward>) -> Vec<Vec<Prepared>> {
    let mut lanes: Vec<Vec<Prepared>> = Vec::new();
    let mut by_contact: HashMap<String, usize> = HashMap::new();
    for claimed in events {
        if let Some(text) = &claimed.event.encoded {
            // Encoded in today's shape when it was made: sent as is.
            let key = encoded_contact(text);
            let body = Ok(text.as_bytes().to_vec());
            lane_for(&mut lanes, &mut by_contact, key, Prepared { claimed, body });
            continue;
        }
        // Events queued by an earlier version are re-encoded in today's shape; a payload
        // that is not an event we know is delivered exactly as stored.
        let (key, wire) = match ForwardedEvent::from_stored(&claimed.event.payload) {
            Ok(e) => (contact(&e), serde_json::to_vec(&e)),
            Err(e) => {
                tracing::warn!(event_id = %claimed.event.id, error = %e, "stored forward event has an unknown shape; delivered as stored");
                (None, serde_json::to_vec(&claimed.event.payload))
            }
        };
        let body = wire.map_err(|e| format!("the event does not encode as JSON: {e}"));
        lane_for(&mut lanes, &mut by_contact, key, Prepared { claimed, body });
    }
    lanes
}

/// Appends `prepared` to its contact's lane (a new lane for a new contact, or for an
/// unknown one).
fn lane_for(
    lanes: &mut Vec<Vec<Prepared>>,
    by_contact: &mut HashMap<String, usize>,
    key: Option<String>,
    prepared: Prepared,
) {
    match key {
        Some(key) => match by_contact.get(&key) {
            Some(&i) => lanes[i].push(prepared),
            None => {
                by_contact.insert(key, lanes.len());
                lanes.push(vec![prepared]);
            }
        },
        None => lanes.push(vec![prepared]),
    }
}

/// The contact of an event given encoded ([`contact`]): read straight from the gateway's
/// own `message.received` text, else decoded; `None` (a lane of its own) if it is not an
/// event we know.
fn encoded_contact(text: &str) -> Option<String> {
    // The gateway's own `message.received` text, as `ForwardedEvent` serializes it: the
    // `type` right before `data`, whose keys before `from` (`id`, `providerSid`,
    // `accountSid`, `channel`) hold plain strings. A quote that is not escaped never
    // occurs inside a JSON string, so these sequences can only be the keys themselves.
    if let Some((_, data)) = text.split_once(r#","type":"message.received","data":{"#)
        && let Some((_, from)) = data.split_once(r#""from":""#)
        && let Some((number, _)) = from.split_once('"')
        && !number.contains('\\')
    {
        return Some(format!("number {number}"));
    }
    // Anything else: decoded whole, the contact as for a stored event.
    serde_json::from_str::<ForwardedEvent>(text)
        .ok()
        .as_ref()
        .and_then(contact)
}

/// Packs lanes into groups for batched delivery (`max_batch` > 1): lanes in order, each
/// whole in one group, a group closed once it holds `max_batch` events or more. A group is
/// delivered like a lane (one POST after the other, a failure holding back the rest), its
/// POSTs carrying up to `max_batch` events each; so each contact's events stay in one
/// group, in order. With `max_batch` ≤ 1 the lanes are returned as they are.
fn groups(lanes: Vec<Vec<Prepared>>, max_batch: usize) -> Vec<Vec<Prepared>> {
    if max_batch <= 1 {
        return lanes;
    }
    let mut groups: Vec<Vec<Prepared>> = Vec::new();
    let mut current: Vec<Prepared> = Vec::new();
    for lane in lanes {
        current.extend(lane);
        if current.len() >= max_batch {
            groups.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// The contact an event is about, which names its lane: the other party's number for
/// messages (the sender of `message.received`, the recipient of `message.status`), the
/// call for `call.*` events.
fn contact(ev: &ForwardedEvent) -> Option<String> {
    match &ev.data {
        EventData::MessageReceived(m) => Some(format!("number {}", m.from)),
        EventData::MessageStatus(s) => Some(format!("number {}", s.to)),
        EventData::CallMachineDetection(d) => Some(format!("call {}", d.call_id)),
        EventData::CallRecording(r) => Some(format!("call {}", r.call_id)),
    }
}

/// Delivers one lane's (or group's) events in order, up to `max_batch` per POST, and says
/// what became of each. The first failure ends the lane: the failed POST's events are
/// retried together, due at one time (the backoff of the most-tried of them), and the
/// lane's later events are released untried, due then too, so they do not overtake them.
/// At the deadline, or when the worker is stopping, the events not tried yet are released
/// at their place in the queue. An event that does not encode fails alone, after the
/// events before it are sent.
async fn deliver_lane(
    http: &reqwest::Client,
    s: &ForwardSettings,
    lane: Vec<Prepared>,
    deadline: Instant,
    stop: &watch::Receiver<bool>,
) -> Vec<ForwardOutcome> {
    let max = s.max_batch.max(1);
    let mut out = Vec::with_capacity(lane.len());
    let mut events = lane.into_iter().peekable();
    while events.peek().is_some() {
        if *stop.borrow() || Instant::now() >= deadline {
            tracing::debug!(
                untried = events.len(),
                "forward batch out of time or stopping; rest of the lane released"
            );
            for p in events {
                let at = p.claimed.due;
                out.push(outcome(p.claimed, ForwardResult::Release { at }));
            }
            break;
        }
        let mut chunk: Vec<Prepared> = Vec::with_capacity(max.min(events.len()));
        while chunk.len() < max {
            // An event that does not encode goes alone: it fails without its neighbours.
            match events.peek() {
                Some(p) if p.body.is_ok() || chunk.is_empty() => {
                    let bad = p.body.is_err();
                    chunk.extend(events.next());
                    if bad {
                        break;
                    }
                }
                _ => break,
            }
        }
        match deliver(http, s, &chunk).await {
            Ok(()) => {
                for p in chunk {
                    tracing::debug!(event_id = %p.claimed.event.id, "event forwarded");
                    out.push(outcome(p.claimed, ForwardResult::Delivered));
                }
            }
            Err(error) => {
                let attempts = chunk.iter().map(|p| p.claimed.event.attempts).max();
                let attempts = attempts.unwrap_or(0);
                let wait = telephony_core::retry::backoff(attempts);
                let at = OffsetDateTime::now_utc() + wait;
                // One line per failed POST: its first event names it.
                let first = chunk.first().map_or("", |p| p.claimed.event.id.as_str());
                tracing::warn!(event_id = %first, events = chunk.len(), attempt = attempts + 1, wait_ms = wait.as_millis() as u64, held_back = events.len(), error = %error, "forwarding failed, will retry");
                for p in chunk {
                    let result = ForwardResult::Retry {
                        error: error.clone(),
                        at,
                    };
                    out.push(outcome(p.claimed, result));
                }
                for p in events {
                    out.push(outcome(p.claimed, ForwardResult::Release { at }));
                }
                break;
            }
        }
    }
    out
}

fn outcome(claimed: ClaimedForward, result: ForwardResult) -> ForwardOutcome {
    ForwardOutcome {
        id: claimed.event.id,
        lease: claimed.lease,
        result,
    }
}

/// POSTs `chunk`: its one event as an object, or (batched) its events as an array; `Err`
/// says why it was not accepted.
async fn deliver(
    http: &reqwest::Client,
    s: &ForwardSettings,
    chunk: &[Prepared],
) -> Result<(), String> {
    let mut req = http.post(&s.url).header("content-type", "application/json");
    let body = if s.batched() {
        let mut body = Vec::with_capacity(
            2 + chunk
                .iter()
                .map(|p| p.body.as_ref().map_or(0, |b| b.len() + 1))
                .sum::<usize>(),
        );
        body.push(b'[');
        for (i, p) in chunk.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(p.body.as_ref().map_err(Clone::clone)?);
        }
        body.push(b']');
        req = req.header("x-telephony-event-count", chunk.len());
        body
    } else {
        let [p] = chunk else {
            return Err(format!("{} events in one unbatched POST", chunk.len()));
        };
        let ev = &p.claimed.event;
        req = req
            .header("x-telephony-event", &ev.kind)
            .header("x-telephony-event-id", &ev.id);
        p.body.clone()?
    };
    if let Some(secret) = &s.secret {
        req = req.header(
            "x-telephony-signature",
            signature(secret.expose().as_bytes(), &body),
        );
    }
    match req.body(body).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("receiver answered HTTP {}", r.status().as_u16())),
        Err(e) => Err(format!("could not reach the receiver: {}", error_chain(&e))),
    }
}

/// Records a batch's outcomes in one store write.
async fn record(shared: &Shared, outcomes: &[ForwardOutcome], claimed: usize, lanes: usize) {
    let delivered = outcomes
        .iter()
        .filter(|o| o.result == ForwardResult::Delivered)
        .count();
    match shared
        .store()
        .record_forwards(outcomes, OffsetDateTime::now_utc())
        .await
    {
        Ok(lost) => {
            for id in &lost {
                tracing::warn!(event_id = %id, "forward result not recorded: the lease ran out and another worker claimed the event");
            }
            tracing::debug!(
                claimed,
                lanes,
                delivered,
                not_recorded = lost.len(),
                "forward batch recorded"
            );
        }
        Err(e) => {
            tracing::error!(claimed, delivered, error = %error_chain(&e), "could not record forward results; the events are delivered again once their lease runs out")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telephony_core::store::LeaseToken;

    fn claimed(id: &str, payload: serde_json::Value, due_secs: i64) -> ClaimedForward {
        ClaimedForward {
            event: ForwardEvent {
                id: id.into(),
                kind: "message.received".into(),
                payload,
                created_at: OffsetDateTime::UNIX_EPOCH,
                attempts: 2,
                last_error: None,
                encoded: None,
            },
            lease: LeaseToken::from_i64(7),
            due: OffsetDateTime::from_unix_timestamp(due_secs).unwrap(),
        }
    }

    fn received(id: &str, from: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id, "createdAt": "2026-01-02T03:04:05Z", "type": "message.received",
            "data": {"id": "msg_1", "providerSid": "SM1", "channel": "sms", "from": from,
                     "to": "+15550001234", "body": "hi", "receivedAt": "2026-01-02T03:04:05Z"}
        })
    }

    fn status(id: &str, to: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id, "createdAt": "2026-01-02T03:04:05Z", "type": "message.status",
            "data": {"messageId": "msg_2", "to": to, "status": "sent", "providerSids": ["SM2"]}
        })
    }

    fn recording(id: &str, call: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id, "createdAt": "2026-01-02T03:04:05Z", "type": "call.recording",
            "data": {"id": "RE1", "callId": call, "channels": "single", "format": "wav",
                     "createdAt": "2026-01-02T03:04:05Z"}
        })
    }

    fn amd(id: &str, call: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id, "createdAt": "2026-01-02T03:04:05Z", "type": "call.machine_detection",
            "data": {"callId": call, "answeredBy": "human", "to": "+15557650001"}
        })
    }

    #[test]
    fn lanes_follow_the_contact_in_claim_order() {
        let lanes = lanes(vec![
            claimed("e1", received("e1", "+15557650001"), 1),
            claimed("e2", status("e2", "+15557650002"), 2),
            claimed("e3", status("e3", "+15557650001"), 3),
            claimed("e4", serde_json::json!({"not": "an event"}), 4),
            claimed("e5", recording("e5", "CA1"), 5),
            claimed("e6", serde_json::json!({"not": "an event"}), 6),
            claimed("e7", amd("e7", "CA1"), 7),
            claimed("e8", received("e8", "+15557650002"), 8),
        ]);
        let ids: Vec<Vec<&str>> = lanes
            .iter()
            .map(|l| l.iter().map(|p| p.claimed.event.id.as_str()).collect())
            .collect();
        // The call's events share a lane (by call id, not by the callee's number); each
        // payload of an unknown shape is a lane of its own.
        assert_eq!(
            ids,
            [
                vec!["e1", "e3"],
                vec!["e2", "e8"],
                vec!["e4"],
                vec!["e5", "e7"],
                vec!["e6"]
            ]
        );
        // An unknown shape is delivered exactly as stored.
        assert_eq!(
            lanes[2][0].body.as_deref().unwrap(),
            br#"{"not":"an event"}"#
        );
    }

    /// `claimed`, with the body given encoded (as the gateway makes `message.received`).
    fn encoded(id: &str, payload: serde_json::Value, due_secs: i64) -> ClaimedForward {
        let mut c = claimed(id, serde_json::Value::Null, due_secs);
        c.event.encoded = Some(payload.to_string().into());
        c
    }

    #[test]
    fn encoded_events_find_their_lane_and_go_out_byte_for_byte() {
        let text = received("e1", "+15557650001").to_string();
        let lanes = lanes(vec![
            encoded("e1", received("e1", "+15557650001"), 1),
            claimed("e2", status("e2", "+15557650001"), 2),
            encoded("e3", amd("e3", "CA1"), 3),
            encoded("e4", serde_json::json!({"not": "an event"}), 4),
            encoded("e5", recording("e5", "CA1"), 5),
        ]);
        let ids: Vec<Vec<&str>> = lanes
            .iter()
            .map(|l| l.iter().map(|p| p.claimed.event.id.as_str()).collect())
            .collect();
        assert_eq!(ids, [vec!["e1", "e2"], vec!["e3", "e5"], vec!["e4"]]);
        assert_eq!(lanes[0][0].body.as_deref().unwrap(), text.as_bytes());
        assert_eq!(
            encoded_contact(&text).as_deref(),
            Some("number +15557650001")
        );
        assert_eq!(encoded_contact("not json"), None);
        // The gateway's own text (fields in its order) takes the short path, with the
        // same answer as the whole parse.
        let own = serde_json::to_string(
            &ForwardedEvent::from_stored(&received("e1", "+15557650001")).unwrap(),
        )
        .unwrap();
        assert!(own.contains(r#","type":"message.received","data":{"#));
        assert_eq!(
            encoded_contact(&own).as_deref(),
            Some("number +15557650001")
        );
    }

    #[test]
    fn batched_claims_hold_about_eight_posts() {
        let sizes: Vec<usize> = [0, 1, 2, 32, 33, 100, 128, 1000, usize::MAX]
            .into_iter()
            .map(claim_size)
            .collect();
        assert_eq!(sizes, [256, 256, 256, 256, 264, 800, 1024, 1024, 1024]);
    }

    #[test]
    fn groups_hold_whole_lanes_and_close_at_the_batch_size() {
        let events: Vec<ClaimedForward> = [1, 1, 1, 2, 3, 3, 3, 3, 3, 4, 5]
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let id = format!("e{i}");
                let from = format!("+1555765000{c}");
                claimed(&id, received(&id, &from), i as i64)
            })
            .collect();
        let ids = |groups: Vec<Vec<Prepared>>| -> Vec<Vec<String>> {
            groups
                .iter()
                .map(|g| g.iter().map(|p| p.claimed.event.id.clone()).collect())
                .collect()
        };
        // Lanes of 3, 1, 5, 1 and 1 events; a group closes at 4 or more.
        assert_eq!(
            ids(groups(lanes(events.clone()), 4)),
            [
                vec!["e0", "e1", "e2", "e3"],
                vec!["e4", "e5", "e6", "e7", "e8"],
                vec!["e9", "e10"],
            ]
        );
        // One event per POST: the lanes themselves.
        assert_eq!(ids(groups(lanes(events.clone()), 1)), ids(lanes(events)));
    }

    #[tokio::test]
    async fn a_lane_past_its_deadline_or_stopping_is_released_at_its_place() {
        let http = reqwest::Client::new();
        // Nothing listens on port 1: a request would fail, and none is made.
        let s = ForwardSettings::new("http://127.0.0.1:1/hook");
        let lane = || {
            lanes(vec![
                claimed("e1", received("e1", "+15557650001"), 10),
                claimed("e2", received("e2", "+15557650001"), 20),
            ])
            .remove(0)
        };
        let released = |secs| ForwardResult::Release {
            at: OffsetDateTime::from_unix_timestamp(secs).unwrap(),
        };
        let expected = vec![
            ForwardOutcome {
                id: "e1".into(),
                lease: LeaseToken::from_i64(7),
                result: released(10),
            },
            ForwardOutcome {
                id: "e2".into(),
                lease: LeaseToken::from_i64(7),
                result: released(20),
            },
        ];
        let (_tx, running) = watch::channel(false);
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(
            deliver_lane(&http, &s, lane(), past, &running).await,
            expected
        );
        let (_tx, stopping) = watch::channel(true);
        let later = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            deliver_lane(&http, &s, lane(), later, &stopping).await,
            expected
        );
    }

    #[tokio::test]
    async fn a_failure_holds_back_the_rest_of_its_lane_until_its_retry() {
        let http = reqwest::Client::new();
        let s = ForwardSettings::new("http://127.0.0.1:1/hook");
        let lane = lanes(vec![
            claimed("e1", received("e1", "+15557650001"), 10),
            claimed("e2", received("e2", "+15557650001"), 20),
            claimed("e3", received("e3", "+15557650001"), 30),
        ])
        .remove(0);
        let (_tx, running) = watch::channel(false);
        let before = OffsetDateTime::now_utc();
        let later = Instant::now() + Duration::from_secs(60);
        let out = deliver_lane(&http, &s, lane, later, &running).await;
        let after = OffsetDateTime::now_utc();
        let ids: Vec<&str> = out.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["e1", "e2", "e3"]);
        let ForwardResult::Retry { error, at } = &out[0].result else {
            panic!("{out:?}")
        };
        assert!(
            error.starts_with("could not reach the receiver: "),
            "{error}"
        );
        // Two failures before this claim: the third waits 4 s.
        let wait = Duration::from_secs(4);
        assert!(*at >= before + wait && *at <= after + wait, "{at}");
        for o in &out[1..] {
            assert_eq!(o.result, ForwardResult::Release { at: *at });
        }
    }
}
