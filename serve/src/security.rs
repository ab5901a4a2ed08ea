//! The security part: what a request to the public listener must pass before the gateway
//! acts on it. The URL the provider signed ([`Security::signed_url`]: the public URL, or
//! forwarding headers from trusted proxies for allowed hosts, or the `Host` header on a
//! loopback-only listener), whether signatures are checked at all, the body limit, the
//! invalid-request limiter ([`crate::limits`]) and the webhook rate limits
//! ([`crate::rate_limit`]: inbound messages per sender, status callbacks per account).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderMap, header};

use crate::client_ip::TrustedProxies;
use crate::limits::{DEFAULT_INVALID_REQUESTS, InvalidRequestLimiter, Quota};
use crate::rate_limit::RateLimits;
use crate::rate_limit::webhooks::WebhookLimiters;
use crate::shared::Shared;

/// Signature, proxy and invalid-request settings (set on the builder).
#[derive(Debug, Clone)]
pub(crate) struct SecuritySettings {
    pub(crate) skip_signature_verification: bool,
    pub(crate) host_header_fallback: bool,
    pub(crate) trust_forwarding_headers: bool,
    pub(crate) allowed_hosts: Vec<String>,
    /// Peers whose forwarding headers are believed (`webhookSecurity.trustedProxies`).
    pub(crate) trusted_proxies: TrustedProxies,
    pub(crate) body_limit: usize,
    /// Invalid webhook requests per client IP before 429s (`None`: no limit).
    pub(crate) invalid_requests: Option<Quota>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            skip_signature_verification: false,
            host_header_fallback: false,
            trust_forwarding_headers: false,
            allowed_hosts: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
            body_limit: 64 * 1024,
            invalid_requests: Some(DEFAULT_INVALID_REQUESTS),
        }
    }
}

/// The checks and limits of the public listener.
pub(crate) struct Security {
    shared: Arc<Shared>,
    settings: SecuritySettings,
    /// `None` when `rateLimits.invalidRequests` is off.
    invalid_requests: Option<InvalidRequestLimiter>,
    webhooks: WebhookLimiters,
    /// Whether the missing client addresses were reported (once).
    warned_unknown_peer: AtomicBool,
}

/// The invalid-request limiter's key for requests without a peer address: `::`, which no
/// real client has, so they share one budget of their own.
pub(crate) const UNKNOWN_PEER: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

impl Security {
    pub(crate) fn new(
        shared: Arc<Shared>,
        settings: SecuritySettings,
        limits: &RateLimits,
    ) -> Self {
        Security {
            invalid_requests: settings.invalid_requests.map(InvalidRequestLimiter::new),
            webhooks: WebhookLimiters::new(limits),
            warned_unknown_peer: AtomicBool::new(false),
            shared,
            settings,
        }
    }

    /// Accept webhooks without checking signatures (loopback-only listeners).
    pub(crate) fn skips_signatures(&self) -> bool {
        self.settings.skip_signature_verification
    }

    /// Largest accepted webhook body.
    pub(crate) fn body_limit(&self) -> usize {
        self.settings.body_limit
    }

    /// Whose forwarding headers are believed.
    pub(crate) fn trusted_proxies(&self) -> &TrustedProxies {
        &self.settings.trusted_proxies
    }

    /// The invalid-request limiter, unless it is off.
    pub(crate) fn invalid_requests(&self) -> Option<&InvalidRequestLimiter> {
        self.invalid_requests.as_ref()
    }

    /// The client key for a request without a peer address ([`UNKNOWN_PEER`]); the first
    /// time, warns that client addresses are missing and how to provide them.
    pub(crate) fn unknown_peer(&self) -> IpAddr {
        if !self.warned_unknown_peer.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "webhook requests arrive without the client's address: every client shares one rateLimits.invalidRequests budget; serve the router with `into_make_service_with_connect_info::<SocketAddr>()` to limit each client on its own"
            );
        }
        UNKNOWN_PEER
    }

    /// Inbound messages per sender and status callbacks per account.
    pub(crate) fn webhook_limiters(&self) -> &WebhookLimiters {
        &self.webhooks
    }

    /// The URL the provider signed (for providers that sign it): the public origin + the
    /// original path + the raw query, byte for byte.
    ///
    /// The origin is, in order:
    ///
    /// 1. `publicUrl` as configured (scheme, userinfo, host and port kept exactly; its
    ///    `#fragment` was dropped by [`GatewayBuilder::public_url`](crate::GatewayBuilder::public_url));
    /// 2. with `webhookSecurity.trustForwardingHeaders`: `{proto}://{host}`, where `host` is
    ///    the last `X-Forwarded-Host` entry (else `Host`) and must match
    ///    `webhookSecurity.allowedHosts`, and `proto` the last `X-Forwarded-Proto` entry
    ///    (`http` or `https`, default `https`). When `webhookSecurity.trustedProxies` is set,
    ///    the `X-Forwarded-*` headers are read only from a peer in it; from any other peer,
    ///    or when the peer is unknown (`peer` is `None`), only `Host` counts;
    /// 3. on a loopback-only listener, `http://{Host}`.
    ///
    /// Anything else is an error naming what is missing.
    pub(crate) fn signed_url(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
        path_and_query: &str,
    ) -> Result<String, String> {
        let s = &self.settings;
        if let Some(base) = self.shared.public_url() {
            return Ok(format!("{base}{path_and_query}"));
        }
        if s.trust_forwarding_headers {
            let forwarded = forwarded_headers_believed(&s.trusted_proxies, peer);
            let forwarded_host = last_entry(headers, "x-forwarded-host");
            let forwarded_proto = last_entry(headers, "x-forwarded-proto");
            if !forwarded && (forwarded_host.is_some() || forwarded_proto.is_some()) {
                tracing::warn!(
                    peer = ?peer,
                    "X-Forwarded-Host/X-Forwarded-Proto ignored: the peer is not in webhookSecurity.trustedProxies"
                );
            }
            let host = forwarded_host
                .filter(|_| forwarded)
                .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()));
            if let Some(host) = host {
                if host_allowed(&s.allowed_hosts, host) {
                    let proto = forwarded_proto
                        .filter(|_| forwarded)
                        .filter(|p| *p == "http" || *p == "https")
                        .unwrap_or("https");
                    return Ok(format!("{proto}://{host}{path_and_query}"));
                }
                return Err(format!(
                    "forwarded host {host:?} is not in webhookSecurity.allowedHosts"
                ));
            }
        }
        if s.host_header_fallback {
            if let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
                return Ok(format!("http://{host}{path_and_query}"));
            }
            return Err("request has no Host header".into());
        }
        Err("the gateway has no publicUrl configured, so it cannot check webhook signatures".into())
    }
}

/// Whether `X-Forwarded-*` headers from `peer` are believed: always when no trusted proxy
/// is configured, otherwise only from a trusted proxy (never from an unknown peer).
fn forwarded_headers_believed(proxies: &TrustedProxies, peer: Option<IpAddr>) -> bool {
    proxies.is_empty() || peer.is_some_and(|ip| proxies.trusts(ip))
}

/// The last comma-separated entry of every `name` header (the one the nearest proxy
/// wrote), trimmed; `None` when absent, empty or not text.
fn last_entry<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|e| !e.is_empty())
}

/// `host` (`name` or `name:port`) matches an `allowedHosts` entry: the names equal
/// ignoring ASCII case, and the ports equal when the entry has one (an entry without a
/// port allows any). A port must be digits; anything else never matches.
fn host_allowed(allowed: &[String], host: &str) -> bool {
    fn split(h: &str) -> Option<(&str, Option<&str>)> {
        match h.rsplit_once(':') {
            None => Some((h, None)),
            Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                Some((name, Some(port)))
            }
            Some(_) => None,
        }
    }
    let Some((name, port)) = split(host) else {
        return false;
    };
    allowed.iter().any(|entry| match split(entry) {
        Some((allowed_name, allowed_port)) => {
            allowed_name.eq_ignore_ascii_case(name) && allowed_port.is_none_or(|p| Some(p) == port)
        }
        None => false,
    })
}
