//! The inbound sender policy, applied by the dispatch worker before the handler sees a
//! message, and the owner's operations on pairing requests and contacts.
//!
//! Opt-out keywords are handled first, for every sender: `STOP` (and Twilio's other
//! opt-out words) marks the number opted out, `START`/`YES`/`UNSTOP` clears it.
//! Then the policy decides:
//!
//! | policy | listed in `allowFrom` or approved | anyone else |
//! |---|---|---|
//! | `pairing` | accepted | first message: a pairing code by SMS (at most `maxPending` pending, and as many per hour); held (`pending_pairing`) until approved |
//! | `allowlist` | accepted | `blocked` |
//! | `open` | accepted | accepted |
//! | `disabled` | `blocked` | `blocked` |

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use telephony_core::optout::{self, Keyword};
use telephony_core::pairing::{self, PairingOutcome, PairingResolution};
use telephony_core::store::{ApprovalGate, Unapproved};
use telephony_core::{
    Admission, Channel, InboundMessage, PairingLimits, PairingRequest, PhoneNumber, Policy,
    StandardPolicy, Store, StoreError, Unlisted,
};
use time::OffsetDateTime;

use crate::api;
use crate::outbox::Outbox;

/// What the policy decided for one message (stored as the inbox state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Accept,
    PendingPairing(String),
    Blocked(String),
    Dropped(String),
}

/// The opt-out keyword a message is, if any. A call transcript is not a text: "stop" said
/// on a call is no opt-out.
fn keyword(msg: &InboundMessage) -> Option<Keyword> {
    if msg.channel == Channel::Voice {
        None
    } else {
        optout::classify(&msg.body)
    }
}

/// What [`SenderPolicy::pair`] did for an unknown sender.
#[derive(Debug)]
pub(crate) enum Pairing {
    /// A new request; its code was texted (or why not).
    Created {
        code: String,
        sms_error: Option<String>,
    },
    /// The sender already waits with this code.
    Waiting(String),
    /// Too many requests: nothing created, nothing sent.
    Limited(Decision),
}

/// Why an approve/reject did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PairingError {
    /// No request has this code.
    #[error("no pairing request with code {0:?}")]
    UnknownCode(String),
    /// The request expired.
    #[error(
        "pairing code {code:?} for {sender} expired at {expired_at}; the sender must text again for a new code"
    )]
    Expired {
        /// The code.
        code: String,
        /// The sender.
        sender: PhoneNumber,
        /// When it expired (RFC 3339).
        expired_at: String,
    },
    /// Already approved or rejected.
    #[error("pairing code {code:?} was already {status}")]
    AlreadyResolved {
        /// The code.
        code: String,
        /// `approved` or `rejected`.
        status: &'static str,
    },
    /// The store failed.
    #[error("could not update the pairing request")]
    Store(#[from] StoreError),
}

/// Pairing settings: limits and texts.
#[derive(Debug, Clone)]
pub struct PairingSettings {
    /// Code lifetime, pending cap, hourly cap.
    pub limits: PairingLimits,
    /// Text sent on approval; empty for none.
    pub approved_message: String,
}

impl Default for PairingSettings {
    fn default() -> Self {
        PairingSettings {
            limits: PairingLimits::default(),
            approved_message: "You're approved: you can now text this number.".into(),
        }
    }
}

/// The sender policy, shared (Debug prints its name).
#[derive(Clone)]
pub(crate) struct PolicyRef(pub(crate) Arc<dyn Policy>);

impl Default for PolicyRef {
    fn default() -> Self {
        PolicyRef(Arc::new(StandardPolicy::default()))
    }
}

impl fmt::Debug for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// What the policy read from the store for one dispatch batch, so the batch reads it once
/// instead of once per message: whether a sender is approved, and the pending pairing
/// requests (read again after this batch creates one). A batch is a snapshot of a few
/// milliseconds: an approval made while it runs counts from the next batch, as it would
/// had the batch run a moment earlier. [`Lookups::fresh`] (a default) remembers nothing
/// yet; every decision through it reads the store as of now.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    approved: std::sync::Mutex<HashMap<PhoneNumber, bool>>,
    pending: std::sync::Mutex<Option<Arc<Vec<PairingRequest>>>>,
}

impl Lookups {
    /// Nothing read yet.
    pub(crate) fn fresh() -> Self {
        Self::default()
    }

    async fn is_approved(&self, store: &dyn Store, n: &PhoneNumber) -> Result<bool, StoreError> {
        if let Some(known) = telephony_core::sync::lock(&self.approved).get(n) {
            return Ok(*known);
        }
        let approved = store.is_approved_sender(n).await?;
        telephony_core::sync::lock(&self.approved).insert(n.clone(), approved);
        Ok(approved)
    }

    async fn pending(
        &self,
        store: &dyn Store,
        now: OffsetDateTime,
    ) -> Result<Arc<Vec<PairingRequest>>, StoreError> {
        if let Some(known) = telephony_core::sync::lock(&self.pending).clone() {
            return Ok(known);
        }
        let pending = Arc::new(store.pending_pairings(now).await?);
        *telephony_core::sync::lock(&self.pending) = Some(pending.clone());
        Ok(pending)
    }

    /// Reads, in one query, whether each sender of `msgs` that the policy admits only
    /// once approved is approved (the rest need no lookup). A failed read is logged and
    /// left to the per-message lookups, which report it on the message.
    pub(crate) async fn prefetch(&self, policy: &SenderPolicy, msgs: &[&InboundMessage]) {
        let mut wanted: Vec<PhoneNumber> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for msg in msgs {
            let Some(n) = msg.from_address().map(|a| a.number().clone()) else {
                continue;
            };
            if seen.insert(n.clone())
                && matches!(policy.policy.0.admit(Some(&n)), Admission::IfApproved(_))
            {
                wanted.push(n);
            }
        }
        if wanted.is_empty() {
            return;
        }
        let store = policy.outbox.shared().store();
        match store.approved_senders_among(&wanted).await {
            Ok(approved) => {
                let mut known = telephony_core::sync::lock(&self.approved);
                for n in wanted {
                    let is = approved.contains(&n);
                    known.insert(n, is);
                }
            }
            Err(e) => {
                tracing::warn!(senders = wanted.len(), error = %telephony_core::error_chain(&e), "reading the batch's approved senders failed; looking them up one by one")
            }
        }
    }

    /// A request was created: the pending list is read again when next needed.
    fn forget_pending(&self) {
        *telephony_core::sync::lock(&self.pending) = None;
    }
}

/// What the webhook decided without the dispatch worker ([`SenderPolicy::decide_early`]).
#[derive(Debug)]
pub(crate) enum Early {
    /// Decided from the policy alone.
    Decided(Decision),
    /// Decided by the store from the sender's approval and the pending requests, in the
    /// insert's transaction.
    Gate(ApprovalGate),
}

/// The note of a message dropped over the pairing limits.
fn limited_note(limits: &PairingLimits) -> String {
    format!(
        "too many pairing requests (at most {} pending and {} per hour); no SMS sent",
        limits.max_pending, limits.max_per_hour
    )
}

const WAITING: &str = "waiting for pairing approval (code already sent)";

/// The policy, the pairing settings, and the counters that keep pairing warnings to one a
/// minute. Pairing codes and approval texts go out through the outbox.
pub(crate) struct SenderPolicy {
    policy: PolicyRef,
    pairing: PairingSettings,
    outbox: Arc<Outbox>,
    /// Pairing drops since the last warning, and when that was (unix seconds): a flood of
    /// strangers gets one warning a minute, not one per message.
    pairing_drops: AtomicU64,
    pairing_warned_at: AtomicI64,
    /// What an unapproved stranger's message becomes at the webhook under `pairing`
    /// ([`decide_early`](Self::decide_early)), built once.
    pair_gate: Arc<Unapproved>,
}

impl SenderPolicy {
    pub(crate) fn new(policy: PolicyRef, pairing: PairingSettings, outbox: Arc<Outbox>) -> Self {
        let pair_gate = Arc::new(Unapproved::Pair {
            max_pending: pairing.limits.max_pending,
            max_per_hour: pairing.limits.max_per_hour,
            waiting: WAITING.into(),
            limited: limited_note(&pairing.limits),
        });
        SenderPolicy {
            policy,
            pairing,
            outbox,
            pairing_drops: AtomicU64::new(0),
            pairing_warned_at: AtomicI64::new(i64::MIN),
            pair_gate,
        }
    }

    /// The policy deciding who reaches the handlers.
    pub(crate) fn policy(&self) -> &dyn Policy {
        self.policy.0.as_ref()
    }

    /// What the webhook can store `msg` as without the dispatch worker, decided without
    /// writing anything: `Decided` when the policy needs nothing from the store (a sender
    /// it admits outright, one it refuses); `Gate` when it needs the sender's approval and
    /// pairing state, which the store reads in the insert's transaction
    /// ([`telephony_core::store::insert_inbound_gated`]): held for a code already sent,
    /// dropped while every pending slot is taken, refused by `allowlist`, and otherwise
    /// `queued` (an approved sender, or a stranger a code is texted to). `None`: an opt-out
    /// keyword (it changes stored state first) or a policy's answer this does not know.
    /// Where it decides, [`decide`](Self::decide) decides the same.
    pub(crate) fn decide_early(&self, msg: &InboundMessage) -> Option<Early> {
        if keyword(msg).is_some() {
            return None;
        }
        let sender = msg.from_address().map(|a| a.number().clone());
        let unlisted = match self.policy.0.admit(sender.as_ref()) {
            Admission::Accept => return Some(Early::Decided(Decision::Accept)),
            Admission::Block(why) => return Some(Early::Decided(Decision::Blocked(why))),
            Admission::IfApproved(unlisted) => unlisted,
            _ => return None,
        };
        let Some(n) = sender else {
            return Some(Early::Decided(Decision::Blocked(format!(
                "sender {:?} is not a phone number",
                msg.from
            ))));
        };
        let unapproved = match unlisted {
            Unlisted::Pair => self.pair_gate.clone(),
            Unlisted::Block(why) => Arc::new(Unapproved::Block(why)),
            _ => return None,
        };
        Some(Early::Gate(ApprovalGate {
            sender: n,
            unapproved,
        }))
    }

    /// A message the webhook stored `dropped` over the pairing limits: counted for the
    /// once-a-minute warning, as the dispatch worker counts its own.
    pub(crate) fn dropped_at_insert(&self, msg: &InboundMessage) {
        if let Some(n) = msg.from_address().map(|a| a.number().clone()) {
            self.pairing_limited(&n);
        }
    }

    /// The decision for `msg`, reading what it needs from the store through `lookups`
    /// (shared by the messages of one dispatch batch).
    pub(crate) async fn decide(
        &self,
        msg: &InboundMessage,
        lookups: &Lookups,
    ) -> Result<Decision, StoreError> {
        let store = self.outbox.shared().store();
        let sender = msg.from_address().map(|a| a.number().clone());
        let keyword = keyword(msg);
        let now = OffsetDateTime::now_utc();
        if let (Some(n), Some(k)) = (&sender, keyword) {
            match k {
                Keyword::OptOut => {
                    store.set_opted_out(n, true, now).await?;
                    tracing::info!(sender = %n.redacted(), "sender opted out");
                }
                Keyword::OptIn => {
                    store.set_opted_out(n, false, now).await?;
                    tracing::info!(sender = %n.redacted(), "sender opted back in");
                }
                Keyword::Help => {}
            }
        }
        let n = match self.policy.0.admit(sender.as_ref()) {
            Admission::Accept => return Ok(Decision::Accept),
            Admission::Block(why) => return Ok(Decision::Blocked(why)),
            Admission::IfApproved(unlisted) => {
                let Some(n) = sender else {
                    return Ok(Decision::Blocked(format!(
                        "sender {:?} is not a phone number",
                        msg.from
                    )));
                };
                if lookups.is_approved(store.as_ref(), &n).await? {
                    return Ok(Decision::Accept);
                }
                match unlisted {
                    Unlisted::Block(why) => return Ok(Decision::Blocked(why)),
                    _ => n,
                }
            }
            _ => return Ok(Decision::Blocked("the policy refused the sender".into())),
        };
        // Pairing.
        if keyword == Some(Keyword::OptOut) {
            return Ok(Decision::Dropped(
                "opt-out keyword from an unknown sender; no pairing code sent".into(),
            ));
        }
        Ok(match self.pair(&n, now, lookups).await? {
            Pairing::Created {
                sms_error: None, ..
            } => Decision::PendingPairing("pairing code sent".into()),
            Pairing::Created {
                sms_error: Some(e), ..
            } => Decision::PendingPairing(format!(
                "pairing requested; the code SMS was not sent: {e}"
            )),
            Pairing::Waiting(_) => Decision::PendingPairing(WAITING.into()),
            Pairing::Limited(d) => d,
        })
    }

    /// Starts (or finds) a pairing request for an unknown sender or caller: a new request
    /// texts the code to the number. The pending requests are read through `lookups`.
    pub(crate) async fn pair(
        &self,
        n: &PhoneNumber,
        now: OffsetDateTime,
        lookups: &Lookups,
    ) -> Result<Pairing, StoreError> {
        let limits = &self.pairing.limits;
        let store = self.outbox.shared().store();
        // Read-only fast path: a sender already waiting, or a stranger while every pending
        // slot is taken, is answered without the write lock. The store's atomic check
        // below stays the authority for creating requests.
        let pending = lookups.pending(store.as_ref(), now).await?;
        if let Some(known) = self.pairing_without_a_request(n, &pending) {
            return Ok(known);
        }
        let code = pairing::new_code();
        match store.pairing_request(n, &code, limits, now).await? {
            PairingOutcome::Created(req) => {
                lookups.forget_pending();
                let minutes = limits.ttl.as_secs().div_ceil(60);
                let text = format!(
                    "Your pairing code is {}. The owner of this number must approve {} before your messages are answered. The code expires in {} minutes.",
                    req.code, n, minutes
                );
                let sms_error = match self.outbox.send(n.as_str(), text).await {
                    Ok(_) => {
                        tracing::info!(sender = %n.redacted(), "pairing request created, code sent");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(sender = %n.redacted(), error = %e, "pairing request created, but the code could not be sent");
                        Some(e.to_string())
                    }
                };
                Ok(Pairing::Created {
                    code: req.code,
                    sms_error,
                })
            }
            PairingOutcome::Existing(req) => Ok(Pairing::Waiting(req.code)),
            PairingOutcome::Limited => Ok(Pairing::Limited(self.pairing_limited(n))),
        }
    }

    /// What pairing answers `n` from the pending requests alone: waiting with its code, or
    /// limited while every pending slot is taken. `None`: a request would be created.
    fn pairing_without_a_request(
        &self,
        n: &PhoneNumber,
        pending: &[PairingRequest],
    ) -> Option<Pairing> {
        if let Some(p) = pending.iter().find(|p| p.sender == *n) {
            return Some(Pairing::Waiting(p.code.clone()));
        }
        if pending.len() >= self.pairing.limits.max_pending {
            return Some(Pairing::Limited(self.pairing_limited(n)));
        }
        None
    }

    fn pairing_limited(&self, n: &PhoneNumber) -> Decision {
        let limits = &self.pairing.limits;
        let drops = self.pairing_drops.fetch_add(1, Ordering::Relaxed) + 1;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let last = self.pairing_warned_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60
            && self
                .pairing_warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.pairing_drops.store(0, Ordering::Relaxed);
            tracing::warn!(sender = %n.redacted(), dropped = drops, max_pending = limits.max_pending, "too many pairing requests: messages from unknown senders dropped, no SMS sent (next warning in a minute at the earliest)");
        } else {
            tracing::debug!(sender = %n.redacted(), "too many pairing requests; message dropped, no SMS sent");
        }
        Decision::Dropped(limited_note(limits))
    }

    /// Approves (`approve`) or rejects a pairing code; an approved sender joins the stored
    /// allowlist and (unless the approval text is empty) is told by SMS.
    pub(crate) async fn resolve_pairing(
        &self,
        code: &str,
        approve: bool,
    ) -> Result<api::PairingDecision, PairingError> {
        let code = pairing::normalize_code(code);
        let now = OffsetDateTime::now_utc();
        let req = match self
            .outbox
            .shared()
            .store()
            .resolve_pairing(&code, approve, now)
            .await?
        {
            PairingResolution::Resolved(r) => r,
            PairingResolution::NotFound => return Err(PairingError::UnknownCode(code)),
            PairingResolution::Expired(r) => {
                return Err(PairingError::Expired {
                    code,
                    sender: r.sender,
                    expired_at: telephony_core::rfc3339::format(r.expires_at),
                });
            }
            PairingResolution::AlreadyResolved(r) => {
                return Err(PairingError::AlreadyResolved {
                    code,
                    status: r.status.as_str(),
                });
            }
        };
        tracing::info!(sender = %req.sender.redacted(), approved = approve, "pairing resolved");
        let text = &self.pairing.approved_message;
        let (notification, notification_error) = if approve && !text.trim().is_empty() {
            match self.outbox.send(req.sender.as_str(), text.clone()).await {
                Ok(sent) => (sent.receipts.into_iter().next(), None),
                Err(e) => (None, Some(e.to_string())),
            }
        } else {
            (None, None)
        };
        Ok(api::PairingDecision {
            request: api::PairingRequest::from(&req),
            notification: notification.as_ref().map(api::Receipt::from),
            notification_error,
        })
    }
}
