//! Real-time sockets not yet authenticated, counted per client address, so one address
//! cannot hold many sockets open without a valid start.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Pending (unauthenticated) sockets per client address.
#[derive(Debug, Default)]
pub(crate) struct PendingUpgrades(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl PendingUpgrades {
    /// Counts one more pending socket from `ip`, unless it already has `max`; the count
    /// goes down when the guard is dropped. A socket without a known address is never
    /// refused here.
    pub(crate) fn admit(&self, ip: Option<IpAddr>, max: usize) -> Option<PendingGuard> {
        if let Some(ip) = ip {
            let mut map = telephony_core::sync::lock(&self.0);
            let n = map.entry(ip).or_insert(0);
            if *n >= max {
                return None;
            }
            *n += 1;
        }
        Some(PendingGuard {
            map: self.0.clone(),
            ip,
        })
    }
}

/// One pending socket; released when dropped.
pub(crate) struct PendingGuard {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: Option<IpAddr>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut map = telephony_core::sync::lock(&self.map);
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}
