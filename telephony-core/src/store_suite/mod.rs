//! The conformance suite every store implementation must pass, split like the store
//! traits: [`inbox`], [`outbox`], [`policy`], [`contacts`], [`forwarding`], [`calls`],
//! [`cluster`], [`retention`].
//!
//! Backends call a macro with an async function that returns a fresh store and a guard
//! (e.g. a temporary directory) to keep alive: [`store_suite_tests!`](crate::store_suite_tests)
//! for a complete [`Store`](crate::Store), or the macro of each trait they implement
//! ([`inbox_store_tests!`](crate::inbox_store_tests),
//! [`outbox_store_tests!`](crate::outbox_store_tests),
//! [`policy_store_tests!`](crate::policy_store_tests),
//! [`contact_store_tests!`](crate::contact_store_tests),
//! [`forward_store_tests!`](crate::forward_store_tests),
//! [`call_store_tests!`](crate::call_store_tests),
//! [`cluster_store_tests!`](crate::cluster_store_tests),
//! [`retention_store_tests!`](crate::retention_store_tests)):
//!
//! ```ignore
//! async fn fresh() -> (MyStore, tempfile::TempDir) { open_my_store().await }
//! telephony_core::store_suite_tests!(fresh);
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use crate::address::{Address, Channel};
use crate::message::{
    ErrorInfo, InboundMessage, Media, MessageId, OutboundMessage, ProviderReceipt, StatusUpdate,
};
use crate::status::DeliveryStatus;
pub(crate) use crate::store::{
    CappedEnqueue, ContactStore, ForwardStore, InboxQuery, InboxState, InboxStore, InsertOutcome,
    OutboxStore, PolicyStore, SendCap, StatusOutcome, StoreError,
};

pub mod calls;
pub mod cluster;
pub mod contacts;
pub mod erasure;
pub mod export;
pub mod forwarding;
pub mod health;
pub mod inbox;
pub mod outbox;
pub mod policy;
pub mod retention;

/// A fixed instant so expected values are exact (2026-01-02T03:04:05Z).
pub fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_323_045).expect("valid timestamp")
}

/// A sample inbound message with the given provider SID, `secs` seconds after [`t0`].
pub fn inbound(sid: &str, from: &str, body: &str, secs: i64) -> InboundMessage {
    let mut extra = BTreeMap::new();
    extra.insert("FromCity".to_string(), "CHICOPEE".to_string());
    InboundMessage {
        id: MessageId::from_string(format!("msg_in_{sid}")),
        provider_sid: sid.to_string(),
        account_sid: Some("AC00000000000000000000000000000001".into()),
        channel: Channel::Sms,
        from: from.to_string(),
        to: "+15550001234".into(),
        body: body.to_string(),
        media: vec![Media {
            url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1".into(),
            content_type: Some("image/jpeg".into()),
            size: Some(48213),
        }],
        num_segments: Some(1),
        received_at: t0() + Duration::from_secs(secs as u64),
        extra,
    }
}

fn outbound(body: &str) -> OutboundMessage {
    OutboundMessage::new(
        Address::parse("+15550005678").expect("valid"),
        body.to_string(),
    )
    .with_media("https://example.com/a.png")
}

fn accepted(sid: &str) -> ProviderReceipt {
    ProviderReceipt {
        sid: sid.to_string(),
        status: DeliveryStatus::Queued,
        from: Some("+15550001234".into()),
        num_segments: Some(2),
        price: None,
        price_unit: Some("USD".into()),
    }
}

fn status(sid: &str, s: DeliveryStatus) -> StatusUpdate {
    StatusUpdate::new(sid, s)
}

fn num(s: &str) -> crate::PhoneNumber {
    crate::PhoneNumber::parse(s).expect("valid")
}

/// What a suite's `$fresh` function returns: `(store, guard)`, or `Option<(store, guard)>`
/// for a backend that needs an external server, where `None` means "not available here"
/// and the case returns without testing anything (the function says so, e.g. prints a
/// skip message, or panics where skipping is not allowed, as in CI).
pub trait Fixture {
    /// The store under test.
    type Store;
    /// Kept alive for the test (a temporary directory, a schema to drop, …).
    type Guard;
    /// The store and its guard, or `None` to skip the case.
    fn into_fixture(self) -> Option<(Self::Store, Self::Guard)>;
}

impl<S, G> Fixture for (S, G) {
    type Store = S;
    type Guard = G;
    fn into_fixture(self) -> Option<(S, G)> {
        Some(self)
    }
}

impl<S, G> Fixture for Option<(S, G)> {
    type Store = S;
    type Guard = G;
    fn into_fixture(self) -> Option<(S, G)> {
        self
    }
}

/// Runs every conformance case against a complete [`Store`](crate::Store): one
/// `#[tokio::test]` per case. `$fresh` is an async fn returning `(store, guard)` (or an
/// `Option` of it, see [`Fixture`](crate::store_suite::Fixture)); the guard is kept alive
/// for the test.
#[macro_export]
macro_rules! store_suite_tests {
    ($fresh:path) => {
        $crate::inbox_store_tests!($fresh);
        $crate::outbox_store_tests!($fresh);
        $crate::policy_store_tests!($fresh);
        $crate::contact_store_tests!($fresh);
        $crate::forward_store_tests!($fresh);
        $crate::call_store_tests!($fresh);
        $crate::cluster_store_tests!($fresh);
        $crate::retention_store_tests!($fresh);
        $crate::erasure_store_tests!($fresh);
        $crate::export_store_tests!($fresh);
        $crate::health_store_tests!($fresh);
    };
    (@case $fresh:path, $module:ident, $name:ident) => {
        #[tokio::test]
        async fn $name() {
            let Some((store, _guard)) = $crate::store_suite::Fixture::into_fixture($fresh().await)
            else {
                return;
            };
            $crate::store_suite::$module::$name(&store).await;
        }
    };
    // A case that shares the store between tasks: it takes the store, on two worker threads.
    (@owned_case $fresh:path, $module:ident, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some((store, _guard)) = $crate::store_suite::Fixture::into_fixture($fresh().await)
            else {
                return;
            };
            $crate::store_suite::$module::$name(store).await;
        }
    };
}

/// Runs the [`RetentionStore`](crate::RetentionStore) conformance cases.
#[macro_export]
macro_rules! retention_store_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, retention, old_messages_are_pruned_but_queued_ones_stay);
        $crate::store_suite_tests!(@case $fresh, retention, old_sends_are_pruned_but_the_outbox_stays);
        $crate::store_suite_tests!(@case $fresh, retention, old_calls_are_pruned_but_live_ones_stay);
        $crate::store_suite_tests!(@case $fresh, retention, delivered_forwards_are_pruned_undelivered_stay);
        $crate::store_suite_tests!(@case $fresh, retention, resolved_pairings_are_pruned_pending_stay);
        $crate::store_suite_tests!(@case $fresh, retention, nothing_newer_than_the_cutoff_is_pruned);
    };
}

/// Runs the [`InboxStore`](crate::InboxStore) conformance cases.
#[macro_export]
macro_rules! inbox_store_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, inbox, inbound_duplicates_are_recognized);
        $crate::store_suite_tests!(@case $fresh, inbox, queued_inbound_in_order);
        $crate::store_suite_tests!(@case $fresh, inbox, inbox_since_and_limit);
        $crate::store_suite_tests!(@case $fresh, inbox, throttled_messages_are_kept_not_queued);
        $crate::store_suite_tests!(@case $fresh, inbox, forwarded_messages_are_stored_with_their_event);
        $crate::store_suite_tests!(@case $fresh, inbox, gated_messages_are_stored_in_the_state_the_policy_state_decides);
        $crate::store_suite_tests!(@case $fresh, inbox, claims_lease_and_record_outcomes);
        $crate::store_suite_tests!(@case $fresh, inbox, record_and_claim_in_one_step);
        $crate::store_suite_tests!(@case $fresh, inbox, sender_order_holds_across_a_retry);
        $crate::store_suite_tests!(@case $fresh, inbox, expired_inbound_lease_is_reclaimed_and_fenced);
        $crate::store_suite_tests!(@case $fresh, inbox, dead_letters_are_listed_and_requeued);
        $crate::store_suite_tests!(@owned_case $fresh, inbox, concurrent_claims_keep_senders_apart);
    };
}

/// Runs the [`OutboxStore`](crate::OutboxStore) conformance cases.
#[macro_export]
macro_rules! outbox_store_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, outbox, outbound_lifecycle_and_forward_only_status);
        $crate::store_suite_tests!(@case $fresh, outbox, expired_lease_is_reclaimed);
        $crate::store_suite_tests!(@case $fresh, outbox, retry_and_permanent_failure);
        $crate::store_suite_tests!(@case $fresh, outbox, oldest_entry_age);
        $crate::store_suite_tests!(@case $fresh, outbox, deferral_keeps_a_recipients_order);
        $crate::store_suite_tests!(@case $fresh, outbox, deferral_does_not_count_an_attempt);
        $crate::store_suite_tests!(@case $fresh, outbox, next_due_is_the_earliest_claimable_time);
        $crate::store_suite_tests!(@case $fresh, outbox, early_status_is_applied_when_sid_appears);
        $crate::store_suite_tests!(@case $fresh, outbox, stale_lease_is_refused);
        $crate::store_suite_tests!(@case $fresh, outbox, interrupted_claims_are_reported);
        $crate::store_suite_tests!(@case $fresh, outbox, send_slots_follow_the_rate);
    };
}

/// Runs the [`PolicyStore`](crate::PolicyStore) conformance cases.
#[macro_export]
macro_rules! policy_store_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, policy, pairing_lifecycle);
        $crate::store_suite_tests!(@case $fresh, policy, opt_out_and_in);
    };
}

/// Runs the [`ContactStore`](crate::ContactStore) (with [`InboxStore`](crate::InboxStore) and [`OutboxStore`](crate::OutboxStore)) conformance cases.
#[macro_export]
macro_rules! contact_store_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, contacts, contacts_and_held_sends);
        $crate::store_suite_tests!(@case $fresh, contacts, send_log_and_counts);
        $crate::store_suite_tests!(@case $fresh, contacts, capped_enqueue);
    };
}

/// Runs the [`ForwardStore`](crate::ForwardStore) conformance cases.
#[macro_export]
macro_rules! forward_store_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, forwarding, forward_queue);
        $crate::store_suite_tests!(@case $fresh, forwarding, superseded_forward_claim_is_fenced);
        $crate::store_suite_tests!(@case $fresh, forwarding, batch_outcomes_apply_in_one_call);
        $crate::store_suite_tests!(@case $fresh, forwarding, lost_forward_leases_are_reported_while_the_rest_apply);
    };
}

/// Runs the [`CallStore`](crate::CallStore) conformance cases.
#[macro_export]
macro_rules! call_store_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, calls, begin_call_records_and_recognizes_repeats);
        $crate::store_suite_tests!(@case $fresh, calls, begin_call_full_at_max_live);
        $crate::store_suite_tests!(@case $fresh, calls, terminal_status_frees_the_slot);
        $crate::store_suite_tests!(@case $fresh, calls, call_status_moves_forward_only);
        $crate::store_suite_tests!(@case $fresh, calls, unknown_call_status_is_an_orphan);
        $crate::store_suite_tests!(@case $fresh, calls, live_sessions_oldest_first);
        $crate::store_suite_tests!(@case $fresh, calls, rename_call_moves_record_and_answer);
        $crate::store_suite_tests!(@case $fresh, calls, call_turns_keep_order);
        $crate::store_suite_tests!(@case $fresh, calls, recordings_stay_with_their_call);
        $crate::store_suite_tests!(@case $fresh, calls, call_notes_and_touch);
        $crate::store_suite_tests!(@case $fresh, calls, call_answered_by_kept);
        $crate::store_suite_tests!(@case $fresh, calls, call_update_epoch_bumps_and_undoes);
        $crate::store_suite_tests!(@case $fresh, calls, calls_since_and_limit);
        $crate::store_suite_tests!(@case $fresh, calls, pending_answer_is_taken_once);
        $crate::store_suite_tests!(@case $fresh, calls, stream_token_is_good_once);
        $crate::store_suite_tests!(@owned_case $fresh, calls, concurrent_begin_call_respects_max_live);
        $crate::store_suite_tests!(@owned_case $fresh, calls, concurrent_update_epoch_bumps_are_distinct);
    };
}

/// Runs the [`ClusterStore`](crate::ClusterStore) conformance cases.
#[macro_export]
macro_rules! cluster_store_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, cluster, ping_answers);
        $crate::store_suite_tests!(@case $fresh, cluster, heartbeats_list_live_replicas_and_leave);
        $crate::store_suite_tests!(@case $fresh, cluster, singleton_lease_has_one_holder_until_expiry);
    };
}

/// Runs the [`ErasureStore`](crate::store::ErasureStore) conformance cases.
#[macro_export]
macro_rules! erasure_store_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, erasure, forget_removes_inbound_messages);
        $crate::store_suite_tests!(@case $fresh, erasure, forget_removes_sends_and_their_history);
        $crate::store_suite_tests!(@case $fresh, erasure, forget_removes_calls_and_transcripts);
        $crate::store_suite_tests!(@case $fresh, erasure, forget_removes_pairing_and_approvals);
        $crate::store_suite_tests!(@case $fresh, erasure, forget_removes_forward_events);
        $crate::store_suite_tests!(@case $fresh, erasure, opt_out_survives_forget);
        $crate::store_suite_tests!(@case $fresh, erasure, forget_unknown_number_is_empty);
    };
}

/// Runs the [`ExportStore`](crate::store::ExportStore) conformance cases.
#[macro_export]
macro_rules! export_store_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, export, inbox_pages_follow_time_and_id);
        $crate::store_suite_tests!(@case $fresh, export, receipts_pages_follow_time_and_id);
        $crate::store_suite_tests!(@case $fresh, export, calls_pages_follow_time_and_id);
    };
}

/// The [`HealthStore`](crate::store::HealthStore) cases (part of
/// [`store_suite_tests!`](crate::store_suite_tests)).
#[macro_export]
macro_rules! health_store_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, health, a_fresh_store_is_healthy_and_its_probe_commits);
        $crate::store_suite_tests!(@case $fresh, health, size_grows_with_what_is_stored);
    };
}

#[cfg(test)]
mod memory_store {
    async fn fresh() -> (crate::MemoryStore, ()) {
        (crate::MemoryStore::new(), ())
    }
    crate::store_suite_tests!(fresh);
}
