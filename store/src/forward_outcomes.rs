//! Forward outcomes ([`ForwardStore::record_forwards`]): for PostgreSQL, whose leases are
//! in the rows, grouped into set-based statements — one `UPDATE` per claim token for
//! deliveries, one per (claim token, due time) for releases, one per retry (each has its
//! own error and due time), so a batch of deliveries from one claim is one statement, and
//! so is the rest of a contact's lane released after a failure. For both backends (SQLite's
//! leases are in memory, see `sqlite::forward_claims`): the outcomes that changed nothing.
//!
//! [`ForwardStore::record_forwards`]: telephony_core::ForwardStore::record_forwards

use std::collections::HashSet;

use telephony_core::store::ForwardOutcome;
#[cfg(feature = "postgres")]
use telephony_core::store::ForwardResult;

#[cfg(feature = "postgres")]
use crate::codec;

#[cfg(feature = "postgres")]
/// Delivered events `ids`, all claimed under `token`.
pub(crate) struct DeliveredGroup<'a> {
    pub token: i64,
    pub ids: Vec<&'a str>,
}

#[cfg(feature = "postgres")]
/// One failed event, due again at `at_ms`, with `error` as its last error.
pub(crate) struct RetryOne<'a> {
    pub token: i64,
    pub id: &'a str,
    pub error: &'a str,
    pub at_ms: i64,
}

#[cfg(feature = "postgres")]
/// Events claimed under `token`, released untried, due again at `at_ms`.
pub(crate) struct ReleaseGroup<'a> {
    pub token: i64,
    pub at_ms: i64,
    pub ids: Vec<&'a str>,
}

#[cfg(feature = "postgres")]
/// The outcomes of a batch, grouped.
pub(crate) struct Grouped<'a> {
    pub delivered: Vec<DeliveredGroup<'a>>,
    pub retries: Vec<RetryOne<'a>>,
    pub releases: Vec<ReleaseGroup<'a>>,
}

#[cfg(feature = "postgres")]
pub(crate) fn group(outcomes: &[ForwardOutcome]) -> Grouped<'_> {
    let mut g = Grouped {
        delivered: Vec::new(),
        retries: Vec::new(),
        releases: Vec::new(),
    };
    for o in outcomes {
        let token = o.lease.as_i64();
        let id = o.id.as_str();
        match &o.result {
            ForwardResult::Delivered => match g.delivered.iter_mut().find(|d| d.token == token) {
                Some(d) => d.ids.push(id),
                None => g.delivered.push(DeliveredGroup {
                    token,
                    ids: vec![id],
                }),
            },
            ForwardResult::Retry { error, at } => g.retries.push(RetryOne {
                token,
                id,
                error,
                at_ms: codec::to_ms(*at),
            }),
            ForwardResult::Release { at } => {
                let at_ms = codec::to_ms(*at);
                match g
                    .releases
                    .iter_mut()
                    .find(|r| r.token == token && r.at_ms == at_ms)
                {
                    Some(r) => r.ids.push(id),
                    None => g.releases.push(ReleaseGroup {
                        token,
                        at_ms,
                        ids: vec![id],
                    }),
                }
            }
        }
    }
    g
}

/// The ids of the outcomes that changed nothing (not in `applied`), in the order given.
pub(crate) fn lost(outcomes: &[ForwardOutcome], applied: &HashSet<String>) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| !applied.contains(&o.id))
        .map(|o| o.id.clone())
        .collect()
}
