//! Where a simulator delivers what it signs for a public URL.
//!
//! A provider signs the URL it was given (`https://sms.example.com/telephony/status`) and
//! sends the request there. A sandbox on a laptop has no such host: its simulator signs the
//! public URL all the same, but delivers to the gateway's listener on loopback, as a
//! reverse proxy in front of the gateway would (the public URL's path prefix, if any, is
//! the proxy's and is dropped). [`Reroutes`] is that table, shared by the simulators.

use std::sync::{Arc, RwLock};

/// A table of public bases (`https://sms.example.com`, `https://example.com/gw`) and the
/// local origins (`http://127.0.0.1:3335`) that serve them. Cloning shares the table.
///
/// WebSocket URLs follow their HTTP twins: `wss://sms.example.com/telephony/stream` goes
/// to `ws://127.0.0.1:3335/telephony/stream` under the route for `https://sms.example.com`.
///
/// ```
/// use telephony_core::reroute::Reroutes;
///
/// let routes = Reroutes::default();
/// routes.add("https://sms.example.com/", "http://127.0.0.1:3335");
/// assert_eq!(
///     routes.target("https://sms.example.com/telephony/status?x=1"),
///     "http://127.0.0.1:3335/telephony/status?x=1"
/// );
/// assert_eq!(
///     routes.target("wss://sms.example.com/telephony/stream"),
///     "ws://127.0.0.1:3335/telephony/stream"
/// );
/// // Other hosts, and hosts that only start the same, are left alone.
/// assert_eq!(routes.target("https://sms.example.com.evil/x"), "https://sms.example.com.evil/x");
/// assert_eq!(routes.target("http://127.0.0.1:9000/app"), "http://127.0.0.1:9000/app");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Reroutes {
    routes: Arc<RwLock<Vec<(String, String)>>>,
}

impl Reroutes {
    /// From now on, URLs under `public_base` (an `http(s)://` origin, optionally with a
    /// path prefix) are delivered to `local_origin` (`http://host:port`) instead. A later
    /// route for the same base replaces the earlier one; a base equal to its origin adds
    /// nothing.
    pub fn add(&self, public_base: &str, local_origin: &str) {
        let base = public_base.trim_end_matches('/').to_string();
        let local = local_origin.trim_end_matches('/').to_string();
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes.retain(|(b, _)| *b != base);
        if base != local {
            routes.push((base, local));
        }
    }

    /// Where to deliver a request for `url`: under a route's public base, the local origin
    /// with the rest of the URL; otherwise `url` itself.
    pub fn target(&self, url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_string();
        };
        let (http_scheme, websocket) = match scheme.to_ascii_lowercase().as_str() {
            "ws" => ("http", true),
            "wss" => ("https", true),
            "http" => ("http", false),
            "https" => ("https", false),
            _ => return url.to_string(),
        };
        let as_http = format!("{http_scheme}://{rest}");
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        for (base, local) in routes.iter() {
            let Some(tail) = as_http.strip_prefix(base.as_str()) else {
                continue;
            };
            if !(tail.is_empty() || tail.starts_with('/') || tail.starts_with('?')) {
                continue;
            }
            let tail = if tail.is_empty() || tail.starts_with('?') {
                format!("/{tail}")
            } else {
                tail.to_string()
            };
            let local = if websocket {
                match local.split_once("://") {
                    Some(("https", host)) => format!("wss://{host}"),
                    Some((_, host)) => format!("ws://{host}"),
                    None => local.clone(),
                }
            } else {
                local.clone()
            };
            return format!("{local}{tail}");
        }
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_prefix_is_the_proxys_and_is_dropped() {
        let r = Reroutes::default();
        r.add("https://example.com/gw", "http://127.0.0.1:1");
        assert_eq!(
            r.target("https://example.com/gw/telephony/webhook"),
            "http://127.0.0.1:1/telephony/webhook"
        );
        assert_eq!(r.target("https://example.com/gw"), "http://127.0.0.1:1/");
        assert_eq!(
            r.target("https://example.com/gw?a=b"),
            "http://127.0.0.1:1/?a=b"
        );
        // Not under the prefix.
        assert_eq!(
            r.target("https://example.com/gwx/telephony/webhook"),
            "https://example.com/gwx/telephony/webhook"
        );
        assert_eq!(r.target("https://example.com/"), "https://example.com/");
    }

    #[test]
    fn a_later_route_replaces_the_earlier_and_a_loopback_base_adds_none() {
        let r = Reroutes::default();
        r.add("https://a.example", "http://127.0.0.1:1");
        r.add("https://a.example/", "http://127.0.0.1:2/");
        assert_eq!(r.target("https://a.example/x"), "http://127.0.0.1:2/x");
        r.add("http://127.0.0.1:2", "http://127.0.0.1:2");
        assert_eq!(r.target("http://127.0.0.1:2/x"), "http://127.0.0.1:2/x");
        assert_eq!(r.target("not a url"), "not a url");
        assert_eq!(r.target("ftp://a.example/x"), "ftp://a.example/x");
    }
}
