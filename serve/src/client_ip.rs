//! Who is on the other end: the client IP a limiter keys on, and whether forwarding
//! headers may be believed (`webhookSecurity.trustedProxies`).
//!
//! The socket's peer address is the client unless the peer is a trusted proxy; then the
//! client is the rightmost `X-Forwarded-For` entry that is not itself a trusted proxy
//! (entries to its left are written by whoever sent the request and prove nothing).
//!
//! ```
//! use telephony_serve::client_ip::TrustedProxies;
//!
//! let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "127.0.0.1".into()]).unwrap();
//! let mut headers = axum::http::HeaderMap::new();
//! headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.2.3".parse().unwrap());
//! // Through the trusted proxy: the rightmost untrusted hop.
//! assert_eq!(
//!     proxies.client_ip("10.0.0.1".parse().unwrap(), &headers).to_string(),
//!     "203.0.113.7"
//! );
//! // From anywhere else the header is ignored.
//! assert_eq!(
//!     proxies.client_ip("198.51.100.9".parse().unwrap(), &headers).to_string(),
//!     "198.51.100.9"
//! );
//! ```

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// `webhookSecurity.trustedProxies`: addresses and CIDR ranges whose forwarding headers
/// are believed. Empty trusts nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// A `trustedProxies` entry that is neither an IP address nor a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} is not an IP address or CIDR range (e.g. 10.0.0.0/8, 192.168.1.5, ::1)")]
pub struct BadProxy {
    /// The entry as written.
    pub entry: String,
}

impl TrustedProxies {
    /// Parses addresses (`192.168.1.5`, `::1`) and ranges (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse(entries: &[String]) -> Result<Self, BadProxy> {
        let mut nets = Vec::with_capacity(entries.len());
        for e in entries {
            let t = e.trim();
            let net = match t.parse::<IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => match t.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => return Err(BadProxy { entry: e.clone() }),
                },
            };
            nets.push(net);
        }
        Ok(TrustedProxies { nets })
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is a trusted proxy (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address for a request that came from `peer` (see the module docs).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        // Every X-Forwarded-For header, in order, is one comma-separated list.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    let ip = canonical(ip);
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                // A hop that is not an address ends what can be believed.
                Err(_) => break,
            }
        }
        client
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn parses_addresses_and_ranges_and_names_a_bad_entry() {
        let p = TrustedProxies::parse(&["10.1.2.3/8".into(), " ::1 ".into()]).unwrap();
        assert!(p.trusts("10.200.0.1".parse().unwrap()));
        assert!(p.trusts("::1".parse().unwrap()));
        assert!(!p.trusts("11.0.0.1".parse().unwrap()));
        assert_eq!(
            TrustedProxies::parse(&["10.0.0.0/33".into()])
                .unwrap_err()
                .to_string(),
            "\"10.0.0.0/33\" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 192.168.1.5, ::1)"
        );
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop_and_only_behind_a_trusted_peer() {
        let p = TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            p.client_ip(lo, &xff("1.1.1.1, 2.2.2.2")),
            "2.2.2.2".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            p.client_ip(lo, &xff("1.1.1.1, 10.0.0.5")),
            "1.1.1.1".parse::<IpAddr>().unwrap()
        );
        // Garbage in the chain: the last believable hop.
        assert_eq!(
            p.client_ip(lo, &xff("1.1.1.1, junk, 10.0.0.5")),
            "10.0.0.5".parse::<IpAddr>().unwrap()
        );
        assert_eq!(p.client_ip(lo, &HeaderMap::new()), lo);
        // An IPv4-mapped peer is the IPv4 loopback.
        assert_eq!(
            p.client_ip("::ffff:127.0.0.1".parse().unwrap(), &xff("3.3.3.3")),
            "3.3.3.3".parse::<IpAddr>().unwrap()
        );
        let nobody = TrustedProxies::default();
        assert_eq!(nobody.client_ip(lo, &xff("1.1.1.1")), lo);
    }
}
