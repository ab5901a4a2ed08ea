//! Which marks of a stream were played and which were cleared (barge-in).
//!
//! Providers echo a mark once the audio before it has played, and echo every pending mark
//! at once when the application sends `clear` (Twilio and Telnyx alike), so the echo alone
//! does not say whether the caller heard the audio. The ledger remembers, in order, the
//! marks sent and not echoed yet; a `clear` moves them all to the cleared list, and their
//! echoes (which come before any mark sent after the clear) are reported as cleared.
//!
//! A mark whose played echo was still on its way to the gateway when the application
//! cleared counts as cleared: the report errs, by at most one network round trip of
//! audio, towards "not heard", never the other way.

use std::collections::VecDeque;

use tokio::sync::oneshot;

/// What became of a mark: the caller heard the audio before it, or the audio was cleared
/// (barge-in) before it played. Returned by
/// [`MarkPlayed::played`](crate::MarkPlayed::played).
///
/// ```
/// use telephony_serve::MarkOutcome;
/// assert_ne!(MarkOutcome::Played, MarkOutcome::Cleared);
/// assert!(MarkOutcome::Played.was_played());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MarkOutcome {
    /// The audio before the mark played to the end.
    Played,
    /// The audio before the mark was cleared before it finished playing.
    Cleared,
}

impl MarkOutcome {
    /// Whether the caller heard the audio before the mark.
    pub fn was_played(self) -> bool {
        self == MarkOutcome::Played
    }
}

/// Who waits for a mark's outcome (nobody, on the stream bridge).
pub(crate) type Waiter = Option<oneshot::Sender<MarkOutcome>>;

/// The marks of one stream, in the order they were sent.
#[derive(Debug, Default)]
pub(crate) struct MarkLedger {
    /// Sent, not echoed, not cleared.
    pending: VecDeque<(String, Waiter)>,
    /// Cleared, their echoes still to come.
    cleared: VecDeque<String>,
}

impl MarkLedger {
    /// A mark was sent after the audio sent so far.
    pub(crate) fn sent(&mut self, name: String, waiter: Waiter) {
        self.pending.push_back((name, waiter));
    }

    /// A `clear` was sent: every pending mark is cleared (its waiter told at once); their
    /// names, in the order they were sent.
    pub(crate) fn clear(&mut self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.pending.len());
        for (name, waiter) in self.pending.drain(..) {
            if let Some(w) = waiter {
                // The waiter may have given up; nothing to tell it then.
                let _ = w.send(MarkOutcome::Cleared);
            }
            self.cleared.push_back(name.clone());
            names.push(name);
        }
        names
    }

    /// The provider echoed mark `name`: whether it was played or cleared. A name the
    /// ledger never saw counts as played (the provider only echoes what it was sent).
    pub(crate) fn echoed(&mut self, name: &str) -> MarkOutcome {
        // Cleared marks come back before any mark sent after the clear.
        if let Some(i) = self.cleared.iter().position(|n| n == name) {
            self.cleared.remove(i);
            return MarkOutcome::Cleared;
        }
        if let Some(i) = self.pending.iter().position(|(n, _)| n == name) {
            if let Some((_, Some(w))) = self.pending.remove(i) {
                let _ = w.send(MarkOutcome::Played);
            }
        }
        MarkOutcome::Played
    }

    /// The stream is gone: waiters learn that their marks never came back.
    pub(crate) fn close(&mut self) {
        self.pending.clear();
        self.cleared.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_pending_at_a_clear_are_cleared_and_the_rest_played() {
        let mut l = MarkLedger::default();
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        l.sent("m1".into(), Some(tx1));
        l.sent("m2".into(), Some(tx2));
        l.sent("m3".into(), None);
        assert_eq!(l.echoed("m1"), MarkOutcome::Played);
        assert_eq!(rx1.try_recv(), Ok(MarkOutcome::Played));
        assert_eq!(l.clear(), ["m2", "m3"]);
        // The waiter knows at the clear, before the echo.
        assert_eq!(rx2.try_recv(), Ok(MarkOutcome::Cleared));
        // A mark of the same name sent after the clear: its echo comes after the cleared one.
        l.sent("m2".into(), None);
        assert_eq!(l.echoed("m2"), MarkOutcome::Cleared);
        assert_eq!(l.echoed("m3"), MarkOutcome::Cleared);
        assert_eq!(l.echoed("m2"), MarkOutcome::Played);
        assert_eq!(l.clear(), Vec::<String>::new());
        assert_eq!(l.echoed("never-sent"), MarkOutcome::Played);
    }

    #[test]
    fn closing_drops_the_waiters() {
        let mut l = MarkLedger::default();
        let (tx, mut rx) = oneshot::channel();
        l.sent("m1".into(), Some(tx));
        l.close();
        assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));
    }
}
