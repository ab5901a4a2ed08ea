//! Dispatch outcomes grouped into set-based statements for PostgreSQL, whose leases are in
//! the rows: one `UPDATE` per (claim token, final state, note) and per claim token for
//! releases, one per retry (each has its own error and due time). Retries and releases
//! are rare; a batch of accepted messages from one claim is one statement. SQLite, whose
//! claims are in memory, groups its own (`sqlite::claims`); both report lost outcomes
//! with [`lost`].

use std::collections::HashSet;

#[cfg(feature = "postgres")]
use telephony_core::InboxState;
use telephony_core::MessageId;
use telephony_core::store::DispatchOutcome;
#[cfg(feature = "postgres")]
use telephony_core::store::DispatchResult;

#[cfg(feature = "postgres")]
/// A final state for the messages `ids`, all claimed under `token`.
pub(crate) struct DoneGroup<'a> {
    pub token: i64,
    pub state: InboxState,
    pub note: Option<&'a str>,
    pub ids: Vec<&'a str>,
}

#[cfg(feature = "postgres")]
/// One message back to `queued`, due at `at_ms`, with `error` as its note.
pub(crate) struct RetryOne<'a> {
    pub token: i64,
    pub id: &'a str,
    pub error: &'a str,
    pub at_ms: i64,
}

#[cfg(feature = "postgres")]
/// Messages claimed under `token` and released untried.
pub(crate) struct ReleaseGroup<'a> {
    pub token: i64,
    pub ids: Vec<&'a str>,
}

#[cfg(feature = "postgres")]
/// The outcomes of a batch, grouped.
pub(crate) struct Grouped<'a> {
    pub done: Vec<DoneGroup<'a>>,
    pub retries: Vec<RetryOne<'a>>,
    pub releases: Vec<ReleaseGroup<'a>>,
}

#[cfg(feature = "postgres")]
pub(crate) fn group(outcomes: &[DispatchOutcome]) -> Grouped<'_> {
    let mut g = Grouped {
        done: Vec::new(),
        retries: Vec::new(),
        releases: Vec::new(),
    };
    for o in outcomes {
        let token = o.lease.as_i64();
        let id = o.id.as_str();
        match &o.result {
            DispatchResult::Done { state, note } => {
                let note = note.as_deref();
                match g
                    .done
                    .iter_mut()
                    .find(|d| d.token == token && d.state == *state && d.note == note)
                {
                    Some(d) => d.ids.push(id),
                    None => g.done.push(DoneGroup {
                        token,
                        state: *state,
                        note,
                        ids: vec![id],
                    }),
                }
            }
            DispatchResult::Retry { error, at } => g.retries.push(RetryOne {
                token,
                id,
                error,
                at_ms: crate::codec::to_ms(*at),
            }),
            DispatchResult::Release => match g.releases.iter_mut().find(|r| r.token == token) {
                Some(r) => r.ids.push(id),
                None => g.releases.push(ReleaseGroup {
                    token,
                    ids: vec![id],
                }),
            },
        }
    }
    g
}

/// The outcomes whose id no statement changed, in order, each once.
pub(crate) fn lost(outcomes: &[DispatchOutcome], applied: &HashSet<String>) -> Vec<MessageId> {
    let mut seen = HashSet::new();
    outcomes
        .iter()
        .filter(|o| !applied.contains(o.id.as_str()) && seen.insert(o.id.as_str()))
        .map(|o| o.id.clone())
        .collect()
}
