//! `serve.maxConnections` slots, and who gives theirs up when they run out.
//!
//! A connection is *unspoken* while it has not sent a complete request head: just
//! accepted, sending a head (slowly or not), or idle between keep-alive requests. A
//! connection whose request is being processed, or that was upgraded to a WebSocket, is not.
//! When every slot is taken, a new connection takes the slot of an unspoken one (evicted:
//! closed without an answer), and only when none is unspoken is the new one refused (503).
//!
//! The victim is the one unspoken the longest of the client address that holds the most
//! unspoken connections (the oldest overall when addresses hold as many). A flood from one
//! address evicts its own connections first, however fast it reconnects; a flood from many
//! addresses, or through a tunnel or proxy that brings every client from one address,
//! evicts the oldest first. A provider sends its request as soon as it connects, so its
//! connection is unspoken for a moment, at the young end of the order. Evicted connections close on their task's next poll; until then they hold no
//! slot, and at most `maxConnections` of them exist at once (beyond that, new connections
//! are refused), so the listener holds at most twice `maxConnections` sockets.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Why a connection was evicted (the `reason` label of `telephony_listener_evicted_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Eviction {
    /// It had sent nothing since it was accepted.
    Silent,
    /// It had sent part of a request head.
    PartialHead,
    /// A keep-alive connection idle between requests.
    Idle,
}

impl Eviction {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Eviction::Silent => "silent",
            Eviction::PartialHead => "partial_head",
            Eviction::Idle => "idle",
        }
    }
}

const SILENT: u8 = 0;
const PARTIAL: u8 = 1;
const IDLE: u8 = 2;

/// Open and unspoken connections of the public listener, for `/metrics`
/// (`telephony_listener_connections`, `telephony_listener_unspoken_connections`).
#[derive(Debug, Default)]
pub struct Occupancy {
    open: AtomicUsize,
    unspoken: AtomicUsize,
}

impl Occupancy {
    /// Connections holding a `maxConnections` slot (upgraded WebSockets included).
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Of those, the ones that have not sent a complete request head (new, sending a
    /// head, or idle between keep-alive requests).
    pub fn unspoken(&self) -> usize {
        self.unspoken.load(Ordering::Relaxed)
    }
}

/// One connection's entry.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) peer: SocketAddr,
    /// Its key in the unspoken order (0: not listed). Changed under the slots' lock.
    key: std::sync::atomic::AtomicU64,
    evicted: AtomicBool,
    stage: AtomicU8,
    /// Wakes the connection's task when it is evicted.
    pub(super) notify: Notify,
}

impl Conn {
    pub(super) fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Its head is under way (its first byte arrived).
    pub(super) fn mark_partial(&self) {
        self.stage.store(PARTIAL, Ordering::Relaxed);
    }
}

/// What [`Slots::admit`] decided.
pub(super) enum Admit {
    /// A free slot.
    Open(Arc<Conn>),
    /// The slot of an evicted connection (`victim` its peer).
    Evicted {
        conn: Arc<Conn>,
        victim: SocketAddr,
        why: Eviction,
    },
    /// Every slot held by a connection with a request in progress (or upgraded).
    Full,
}

#[derive(Debug, Default)]
struct Inner {
    open: usize,
    /// Evicted connections not closed yet.
    closing: usize,
    next_key: u64,
    /// Unspoken connections by client address, oldest first.
    by_addr: HashMap<IpAddr, BTreeMap<u64, Arc<Conn>>>,
    /// One entry per address in `by_addr`: (its unspoken count, its oldest key reversed,
    /// the address); the last is the next victim's address.
    rank: BTreeSet<(usize, Reverse<u64>, IpAddr)>,
    unspoken: usize,
}

impl Inner {
    fn rank_of(&self, ip: IpAddr) -> Option<(usize, Reverse<u64>, IpAddr)> {
        let conns = self.by_addr.get(&ip)?;
        let (oldest, _) = conns.first_key_value()?;
        Some((conns.len(), Reverse(*oldest), ip))
    }

    /// Runs `change` on `ip`'s unspoken connections, keeping `rank` in step.
    fn change<R>(
        &mut self,
        ip: IpAddr,
        change: impl FnOnce(&mut BTreeMap<u64, Arc<Conn>>) -> R,
    ) -> R {
        if let Some(r) = self.rank_of(ip) {
            self.rank.remove(&r);
        }
        let conns = self.by_addr.entry(ip).or_default();
        let before = conns.len();
        let out = change(conns);
        let after = conns.len();
        if after == 0 {
            self.by_addr.remove(&ip);
        }
        self.unspoken = self.unspoken + after - before;
        if let Some(r) = self.rank_of(ip) {
            self.rank.insert(r);
        }
        out
    }

    fn list(&mut self, conn: &Arc<Conn>) {
        self.next_key += 1;
        let key = self.next_key;
        conn.key.store(key, Ordering::Relaxed);
        self.change(conn.peer.ip(), |c| c.insert(key, conn.clone()));
    }

    fn unlist(&mut self, conn: &Conn) {
        let key = conn.key.swap(0, Ordering::Relaxed);
        if key != 0 {
            self.change(conn.peer.ip(), |c| c.remove(&key));
        }
    }

    /// The next victim, unlisted.
    fn pop_victim(&mut self) -> Option<Arc<Conn>> {
        let &(_, _, ip) = self.rank.last()?;
        let (_, victim) = self.change(ip, |c| c.pop_first())?;
        victim.key.store(0, Ordering::Relaxed);
        Some(victim)
    }
}

/// The slots (see the [module docs](self)).
#[derive(Debug)]
pub(super) struct Slots {
    cap: usize,
    inner: Mutex<Inner>,
    occupancy: Arc<Occupancy>,
}

impl Slots {
    pub(super) fn new(cap: usize, occupancy: Arc<Occupancy>) -> Self {
        Slots {
            cap,
            inner: Mutex::new(Inner::default()),
            occupancy,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        telephony_core::sync::lock(&self.inner)
    }

    fn publish(&self, inner: &Inner) {
        self.occupancy.open.store(inner.open, Ordering::Relaxed);
        self.occupancy
            .unspoken
            .store(inner.unspoken, Ordering::Relaxed);
    }

    /// A slot for a new connection from `peer` (listed as unspoken), by eviction if need be.
    pub(super) fn admit(&self, peer: SocketAddr) -> Admit {
        let mut inner = self.lock();
        let mut evicted = None;
        if inner.open >= self.cap {
            if inner.closing >= self.cap {
                return Admit::Full;
            }
            let Some(victim) = inner.pop_victim() else {
                return Admit::Full;
            };
            victim.evicted.store(true, Ordering::Release);
            victim.notify.notify_one();
            inner.closing += 1;
            inner.open -= 1;
            let why = match victim.stage.load(Ordering::Relaxed) {
                SILENT => Eviction::Silent,
                PARTIAL => Eviction::PartialHead,
                _ => Eviction::Idle,
            };
            evicted = Some((victim.peer, why));
        }
        inner.open += 1;
        let conn = Arc::new(Conn {
            peer,
            key: 0.into(),
            evicted: false.into(),
            stage: SILENT.into(),
            notify: Notify::new(),
        });
        inner.list(&conn);
        self.publish(&inner);
        match evicted {
            Some((victim, why)) => Admit::Evicted { conn, victim, why },
            None => Admit::Open(conn),
        }
    }

    /// `conn` sent a complete request head: no longer evictable. False when it was
    /// evicted first (its slot is gone; the request is refused).
    pub(super) fn spoke(&self, conn: &Conn) -> bool {
        let mut inner = self.lock();
        if conn.evicted() {
            return false;
        }
        inner.unlist(conn);
        self.publish(&inner);
        true
    }

    /// `conn` answered its request and waits for the next one: evictable again, as the
    /// youngest.
    pub(super) fn quiet(&self, conn: &Arc<Conn>) {
        let mut inner = self.lock();
        if conn.evicted() || conn.key.load(Ordering::Relaxed) != 0 {
            return;
        }
        conn.stage.store(IDLE, Ordering::Relaxed);
        inner.list(conn);
        self.publish(&inner);
    }

    /// `conn` closed: its slot (or its place among the evicted) is free.
    pub(super) fn closed(&self, conn: &Conn) {
        let mut inner = self.lock();
        inner.unlist(conn);
        if conn.evicted() {
            inner.closing -= 1;
        } else {
            inner.open -= 1;
        }
        self.publish(&inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    fn conn(a: Admit) -> Arc<Conn> {
        match a {
            Admit::Open(c) | Admit::Evicted { conn: c, .. } => c,
            Admit::Full => panic!("refused"),
        }
    }

    #[test]
    fn the_longest_unspoken_is_evicted_and_busy_ones_never() {
        let occ = Arc::new(Occupancy::default());
        let slots = Slots::new(3, occ.clone());
        let a = conn(slots.admit(peer()));
        let b = conn(slots.admit(peer()));
        let c = conn(slots.admit(peer()));
        assert_eq!((occ.open(), occ.unspoken()), (3, 3));
        // a is busy, then b answers and goes idle (the youngest now); c started a head.
        assert!(slots.spoke(&a));
        assert!(slots.spoke(&b));
        slots.quiet(&b);
        c.mark_partial();
        let Admit::Evicted { conn: d, why, .. } = slots.admit(peer()) else {
            panic!("not evicted")
        };
        assert_eq!(why, Eviction::PartialHead);
        assert!(c.evicted() && !b.evicted() && !a.evicted());
        let Admit::Evicted { why, .. } = slots.admit(peer()) else {
            panic!("not evicted")
        };
        assert_eq!(why, Eviction::Idle);
        assert!(b.evicted());
        let Admit::Evicted { why, .. } = slots.admit(peer()) else {
            panic!("not evicted")
        };
        assert_eq!(why, Eviction::Silent);
        assert!(d.evicted());
        // Evicted connections cannot speak; the evicted ones close.
        assert!(!slots.spoke(&c));
        for x in [&b, &c, &d] {
            slots.closed(x);
        }
        assert_eq!((occ.open(), occ.unspoken()), (3, 2));
        // Everyone left speaks: full.
        let rest: Vec<_> = slots
            .lock()
            .by_addr
            .values()
            .flat_map(|c| c.values().cloned())
            .collect();
        for x in &rest {
            assert!(slots.spoke(x));
        }
        assert_eq!(occ.unspoken(), 0);
        assert!(matches!(slots.admit(peer()), Admit::Full));
        slots.closed(&a);
        assert!(matches!(slots.admit(peer()), Admit::Open(_)));
    }

    #[test]
    fn the_address_holding_the_most_unspoken_connections_loses_its_oldest() {
        let slots = Slots::new(4, Arc::new(Occupancy::default()));
        let provider: SocketAddr = "198.51.100.1:1".parse().unwrap();
        let flooder: SocketAddr = "203.0.113.9:1".parse().unwrap();
        let p = conn(slots.admit(provider));
        let f: Vec<_> = (0..3).map(|_| conn(slots.admit(flooder))).collect();
        // The provider's is the oldest, but the flooder holds three: its oldest goes.
        for oldest in &f {
            let Admit::Evicted { victim, .. } = slots.admit(flooder) else {
                panic!("not evicted")
            };
            assert_eq!(victim, flooder);
            assert!(oldest.evicted());
        }
        assert!(!p.evicted());
        // Two addresses with one each: the oldest goes.
        let slots = Slots::new(2, Arc::new(Occupancy::default()));
        let a = conn(slots.admit(flooder));
        let b = conn(slots.admit(provider));
        let Admit::Evicted { victim, .. } = slots.admit(provider) else {
            panic!("not evicted")
        };
        assert_eq!(victim, flooder);
        assert!(a.evicted() && !b.evicted());
    }

    #[test]
    fn evicted_connections_not_yet_closed_are_bounded_by_the_cap() {
        let slots = Slots::new(2, Arc::new(Occupancy::default()));
        let _keep: Vec<_> = (0..4).map(|_| conn(slots.admit(peer()))).collect();
        // Two open, two evicted and not closed: no more evictions.
        assert!(matches!(slots.admit(peer()), Admit::Full));
    }
}
