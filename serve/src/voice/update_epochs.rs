//! Per-call live-update epochs, kept in the store with the call
//! ([`CallRecord::update_epoch`]) so every replica orders its handler answers with the
//! updates any replica made. Apart from `call_control` so the answering code uses them
//! without depending on the gateway's call-control code.
//!
//! The rules (see `call_control`): an update bumps the call's epoch before the provider
//! is asked (and puts the bump back if the provider refused and no other update came);
//! a handler's answer is stamped with the epoch the turn started under (taken from the
//! call record the turn loads anyway) and checked with one primary-key read just before
//! it is delivered or kept for a hold.
//!
//! [`CallRecord::update_epoch`]: telephony_core::store::CallRecord::update_epoch

use telephony_core::store::CallStore;
use telephony_core::{StoreError, error_chain};

/// True when the call's epoch has moved past `epoch`: a live update came after the
/// turn started, and the answer worked out for that turn must be dropped.
///
/// Fail-safe on a store failure: the answer goes ahead (`false`, logged). Dropping it
/// without knowing that an update came would leave the caller with nothing (Twilio ends
/// a call answered with an empty response); letting it through at worst runs the
/// handler's answer after an update, which is what a single answer does when the store
/// cannot order it. A call the store no longer knows (forgotten) was not updated either.
pub(crate) async fn superseded(store: &dyn CallStore, call_id: &str, epoch: u64) -> bool {
    match store.call_update_epoch(call_id).await {
        Ok(now) => now != epoch,
        Err(e) if e.is_not_found() => false,
        Err(e) => {
            tracing::warn!(call_sid = %call_id, epoch, error = %error_chain(&e), "could not check the call for live updates; the handler's answer goes ahead");
            false
        }
    }
}

/// Moves the call's epoch on before an update is sent; the new epoch.
pub(crate) async fn bump(store: &dyn CallStore, call_id: &str) -> Result<u64, StoreError> {
    store.bump_call_update_epoch(call_id).await
}

/// Puts the epoch back when the update it was bumped for failed and no other update
/// came meanwhile (so the handler's answer is not dropped for nothing). A store failure
/// is logged: the handler's answer for the turn in progress is then dropped although
/// nothing replaced it, which the caller hears as the call's next step missing.
pub(crate) async fn undo(store: &dyn CallStore, call_id: &str, bumped: u64) {
    match store.undo_call_update_epoch(call_id, bumped).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(call_sid = %call_id, epoch = bumped, "another live update came meanwhile; the failed update's epoch stays");
        }
        Err(e) => {
            tracing::warn!(call_sid = %call_id, epoch = bumped, error = %error_chain(&e), "could not put back the epoch of a failed live update");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telephony_core::MemoryStore;
    use telephony_core::store::{NewCall, StatusSource};
    use telephony_core::voice::{CallDirection, CallStatus};

    async fn store_with_call() -> MemoryStore {
        let store = MemoryStore::new();
        let call = NewCall {
            call_id: "CA1".into(),
            direction: CallDirection::Inbound,
            from: "+15557654321".into(),
            to: "+15005550006".into(),
            status: CallStatus::InProgress,
            source: StatusSource::Answer,
            session: true,
            at: time::OffsetDateTime::UNIX_EPOCH,
            note: None,
        };
        store.begin_call(&call, None).await.unwrap();
        store
    }

    #[tokio::test]
    async fn an_answer_is_superseded_only_after_an_update_that_stayed() {
        let store = store_with_call().await;
        assert!(!superseded(&store, "CA1", 0).await);
        let e = bump(&store, "CA1").await.unwrap();
        assert_eq!(e, 1);
        assert!(superseded(&store, "CA1", 0).await);
        assert!(!superseded(&store, "CA1", 1).await);
        // The update failed: the turn that started before it is not superseded.
        undo(&store, "CA1", e).await;
        assert!(!superseded(&store, "CA1", 0).await);
        // A forgotten call was not updated.
        assert!(!superseded(&store, "CA404", 0).await);
        assert!(bump(&store, "CA404").await.unwrap_err().is_not_found());
    }
}
