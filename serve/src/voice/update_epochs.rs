//! Per-call live-update epochs, kept apart from `call_control` so the voice state
//! (`Voice`) holds them without depending on the gateway's call-control code.

use std::collections::HashMap;
use std::sync::Mutex;

/// Per-call update epochs: each live update of a call moves its epoch on, so a handler's
/// answer worked out across an update is recognised and dropped (see `call_control`).
#[derive(Debug, Default)]
pub(crate) struct UpdateEpochs {
    epochs: Mutex<HashMap<String, u64>>,
}

impl UpdateEpochs {
    /// The call's epoch now (0 until its first update).
    pub(crate) fn current(&self, call_id: &str) -> u64 {
        let map = self.epochs.lock().unwrap_or_else(|e| e.into_inner());
        map.get(call_id).copied().unwrap_or(0)
    }

    /// Moves the call's epoch on; returns the new one.
    pub(crate) fn bump(&self, call_id: &str) -> u64 {
        let mut map = self.epochs.lock().unwrap_or_else(|e| e.into_inner());
        let e = map.entry(call_id.to_string()).or_insert(0);
        *e += 1;
        *e
    }

    /// Puts the epoch back when the update it was bumped for failed and no other update
    /// came meanwhile (so the handler's answer is not dropped for nothing).
    pub(crate) fn undo(&self, call_id: &str, bumped: u64) {
        let mut map = self.epochs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get_mut(call_id) {
            if *e == bumped {
                *e -= 1;
            }
        }
    }

    /// Forgets an ended call.
    pub(crate) fn forget(&self, call_id: &str) {
        let mut map = self.epochs.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(call_id);
    }
}
