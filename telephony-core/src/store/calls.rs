//! Calls and call sessions: every call the gateway saw or placed, its status history and
//! transcript, and which calls hold a session slot (`maxConcurrentSessions`).

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::voice::{AnsweredBy, CallDirection, CallRecording, CallStatus};

use super::StoreError;

/// Where a call status change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatusSource {
    /// The provider's voice webhook (the call's first request).
    Webhook,
    /// The gateway's own answer (it answered the call: `in-progress`).
    Answer,
    /// A provider status callback.
    Callback,
    /// The reaper asked the provider for the call's state.
    Reaper,
    /// The provider's API (the create response of an outbound call, or a refused create).
    Api,
}

impl StatusSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusSource::Webhook => "webhook",
            StatusSource::Answer => "answer",
            StatusSource::Callback => "callback",
            StatusSource::Reaper => "reaper",
            StatusSource::Api => "api",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            StatusSource::Webhook,
            StatusSource::Answer,
            StatusSource::Callback,
            StatusSource::Reaper,
            StatusSource::Api,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// One status a call reached.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallStatusChange {
    /// The status.
    pub status: CallStatus,
    /// When the gateway recorded it.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who said so.
    pub source: StatusSource,
}

/// One turn of a call's conversation: what the caller said or typed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CallTurn {
    /// When the gateway received it.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The speech transcript, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech: Option<String>,
    /// The recognizer's confidence (0.0–1.0), when the provider sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Keys pressed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<String>,
}

/// A call the gateway saw (inbound) or placed (outbound), as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CallRecord {
    /// The provider's call id; for an outbound call whose create has not returned yet, the
    /// gateway's reservation id (`pending_…`).
    pub call_id: String,
    /// Who placed it.
    pub direction: CallDirection,
    /// The caller.
    pub from: String,
    /// The callee.
    pub to: String,
    /// The latest status (it only moves forward).
    pub status: CallStatus,
    /// True when the call holds a session slot while it is live; calls the gateway refused
    /// (policy, over the limit) are recorded without one.
    pub session: bool,
    /// When the gateway first saw (or placed) it.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it was answered.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    /// When it ended.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// When the gateway last heard of it (webhook, callback, turn, reaper check).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The provider's duration in seconds (on the terminal status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u64>,
    /// Why the gateway treated it the way it did (refused, hung up, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Every status it reached, oldest first.
    #[serde(default)]
    pub history: Vec<CallStatusChange>,
    /// What the caller said or typed, oldest first.
    #[serde(default)]
    pub transcript: Vec<CallTurn>,
    /// Who answered, as the provider's answering-machine detection found (the latest
    /// result: a call waiting for the beep may first be `machine`, then `machine_beep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<AnsweredBy>,
    /// How many live updates changed the call ([`CallStore::bump_call_update_epoch`]):
    /// a handler answer worked out under an older epoch is dropped. 0 until the first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub update_epoch: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CallRecord {
    /// True while the call holds a session slot (a session whose status is not terminal).
    pub fn is_live_session(&self) -> bool {
        self.session && !self.status.is_terminal()
    }
}

/// A call to record with [`CallStore::begin_call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    /// The provider's call id (or a reservation id for an outbound call being placed).
    pub call_id: String,
    /// Who placed it.
    pub direction: CallDirection,
    /// The caller.
    pub from: String,
    /// The callee.
    pub to: String,
    /// Its status now.
    pub status: CallStatus,
    /// Where that status came from.
    pub source: StatusSource,
    /// Whether it takes a session slot (subject to `max_live`).
    pub session: bool,
    /// When the gateway saw it.
    pub at: OffsetDateTime,
    /// A note to keep with it.
    pub note: Option<String>,
}

/// What [`CallStore::begin_call`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum BeginOutcome {
    /// Recorded (with a session slot when one was asked for).
    Started(CallRecord),
    /// A call with this id is already recorded (a repeated webhook): nothing changed.
    Existing(CallRecord),
    /// A session was asked for but `max_live` sessions are live: the call is recorded
    /// without a slot, with the given note.
    Full {
        /// Sessions live at the time.
        live: usize,
        /// The call as recorded (no session).
        record: CallRecord,
    },
}

/// What [`CallStore::update_call_status`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CallStatusOutcome {
    /// The status moved forward (and joined the history).
    Applied(CallRecord),
    /// The call is already at or past that status: nothing changed but `updated_at`.
    Stale(CallRecord),
    /// No call with this id is recorded: the update is kept in the orphan log
    /// ([`CallStore::orphan_call_statuses`]) and nothing else changes.
    Unknown,
}

/// A status update for a call the store does not know.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrphanCallStatus {
    /// The call id the provider sent.
    pub call_id: String,
    /// The status it reported.
    pub status: CallStatus,
    /// When it arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Which calls to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallQuery {
    /// Only calls started at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// At most this many (newest last); 0 means the default of 100.
    pub limit: usize,
}

/// A voice answer produced after the provider's deadline, kept until the call's hold
/// redirect fetches it (see [`CallStore::set_pending_answer`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingAnswer {
    /// The provider markup's content type (`text/xml` for TwiML).
    pub content_type: String,
    /// The rendered document.
    pub body: String,
}

/// Calls and call sessions.
///
/// Part of [`Store`](super::Store); its conformance cases are in
/// [`store_suite::calls`](crate::store_suite::calls). Sessions live here, not in the
/// gateway's memory, so a restart (or another replica) sees the same live calls.
#[async_trait]
pub trait CallStore: Send + Sync + 'static {
    /// Records a new call, atomically with the session count: if `call.session` and
    /// `max_live` is `Some(n)` and `n` sessions are live, the call is recorded without a
    /// session (`Full`). An id already recorded is `Existing` and nothing changes.
    /// The history starts with `call.status` (from `call.source`); an `in-progress` status
    /// sets `answered_at`, a terminal one `ended_at`.
    async fn begin_call(
        &self,
        call: &NewCall,
        max_live: Option<usize>,
    ) -> Result<BeginOutcome, StoreError>;

    /// Replaces a reservation id with the provider's call id (an outbound call's slot is
    /// reserved before the API call). `NotFound` if `from_id` is not recorded.
    async fn rename_call(&self, from_id: &str, to_id: &str) -> Result<(), StoreError>;

    /// Moves a call's status forward ([`CallStatus::can_advance_to`]), appending to its
    /// history: `in-progress` sets `answered_at` (if unset), a terminal status sets
    /// `ended_at` and `duration_secs` (when given). Always bumps `updated_at`.
    async fn update_call_status(
        &self,
        call_id: &str,
        status: CallStatus,
        duration_secs: Option<u64>,
        source: StatusSource,
        at: OffsetDateTime,
    ) -> Result<CallStatusOutcome, StoreError>;

    /// Sets (replaces) a call's note. `NotFound` if unknown.
    async fn set_call_note(&self, call_id: &str, note: &str) -> Result<(), StoreError>;

    /// Appends a turn to a call's transcript and bumps `updated_at`. `NotFound` if unknown.
    async fn add_call_turn(&self, call_id: &str, turn: &CallTurn) -> Result<(), StoreError>;

    /// Keeps the answering-machine detection's result on a call (replacing an earlier
    /// one) and bumps `updated_at`; returns the call as stored. `NotFound` if unknown.
    async fn set_call_answered_by(
        &self,
        call_id: &str,
        answered_by: AnsweredBy,
        at: OffsetDateTime,
    ) -> Result<CallRecord, StoreError>;

    /// Bumps `updated_at` (the reaper saw the call still live). `NotFound` if unknown.
    async fn touch_call(&self, call_id: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    /// The call's update epoch ([`CallRecord::update_epoch`]): one primary-key read, for
    /// checking that no live update came while a handler worked. `NotFound` if unknown.
    async fn call_update_epoch(&self, call_id: &str) -> Result<u64, StoreError>;

    /// Moves the call's update epoch on, atomically (one statement: concurrent bumps from
    /// any replica each get their own value), and returns the new epoch: 1 after the
    /// first update. `NotFound` if unknown.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use telephony_core::store::{CallStore, NewCall, StatusSource};
    /// use telephony_core::voice::{CallDirection, CallStatus};
    /// let store = telephony_core::MemoryStore::new();
    /// let call = NewCall {
    ///     call_id: "CA1".into(),
    ///     direction: CallDirection::Inbound,
    ///     from: "+15557654321".into(),
    ///     to: "+15005550006".into(),
    ///     status: CallStatus::InProgress,
    ///     source: StatusSource::Answer,
    ///     session: true,
    ///     at: time::OffsetDateTime::UNIX_EPOCH,
    ///     note: None,
    /// };
    /// store.begin_call(&call, None).await.unwrap();
    /// assert_eq!(store.bump_call_update_epoch("CA1").await.unwrap(), 1);
    /// assert_eq!(store.bump_call_update_epoch("CA1").await.unwrap(), 2);
    /// // A failed update puts its bump back only if no other came meanwhile.
    /// assert!(!store.undo_call_update_epoch("CA1", 1).await.unwrap());
    /// assert!(store.undo_call_update_epoch("CA1", 2).await.unwrap());
    /// assert_eq!(store.call_update_epoch("CA1").await.unwrap(), 1);
    /// # });
    /// ```
    async fn bump_call_update_epoch(&self, call_id: &str) -> Result<u64, StoreError>;

    /// Puts back a bump whose update failed, compare-and-set: the epoch goes from `bumped`
    /// to `bumped - 1` only if it is still `bumped` (no other update came meanwhile).
    /// `true` when it was put back, `false` (nothing changed) when the epoch has moved.
    /// `NotFound` if unknown.
    async fn undo_call_update_epoch(&self, call_id: &str, bumped: u64) -> Result<bool, StoreError>;

    /// One call with its history and transcript.
    async fn call(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError>;

    /// Calls holding a session slot ([`CallRecord::is_live_session`]), oldest first.
    async fn live_sessions(&self) -> Result<Vec<CallRecord>, StoreError>;

    /// Calls, oldest first (the newest `limit`).
    async fn calls(&self, query: &CallQuery) -> Result<Vec<CallRecord>, StoreError>;

    /// Status updates that arrived for unknown call ids, oldest first (the newest `limit`;
    /// 0 means 100).
    async fn orphan_call_statuses(&self, limit: usize)
    -> Result<Vec<OrphanCallStatus>, StoreError>;

    /// Keeps an answer for a call that is on hold (replacing any kept before).
    /// `NotFound` if the call is unknown.
    async fn set_pending_answer(
        &self,
        call_id: &str,
        answer: &PendingAnswer,
    ) -> Result<(), StoreError>;

    /// Takes (removes and returns) the answer kept for a call, atomically: two requests
    /// never both get it.
    async fn take_pending_answer(&self, call_id: &str)
    -> Result<Option<PendingAnswer>, StoreError>;

    /// Keeps a one-time token for a call's real-time socket (stream or relay): the
    /// token's SHA-256 in hex, never the token. Valid until `expires_at`.
    async fn put_stream_token(
        &self,
        call_id: &str,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Consumes a token, atomically: `true` once, when `token_hash` is one kept for
    /// `call_id` and has not expired at `now`. A matching token is removed either way, so
    /// it can never be used twice.
    async fn take_stream_token(
        &self,
        call_id: &str,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Stores a finished recording's metadata with its call. `true` when it is new;
    /// the same `recording_id` again (a redelivered callback) replaces the metadata and
    /// is `false`. `NotFound` (kind `call`) if the call is unknown: nothing is stored.
    async fn add_recording(&self, recording: &CallRecording) -> Result<bool, StoreError>;

    /// Recordings, oldest first: one call's (`call_id`) or every call's, the newest
    /// `limit` (0 means 100).
    async fn recordings(
        &self,
        call_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CallRecording>, StoreError>;

    /// One recording by the provider's id.
    async fn recording(&self, recording_id: &str) -> Result<Option<CallRecording>, StoreError>;
}
