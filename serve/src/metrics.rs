//! The gateway's metrics, in the Prometheus text format (`GET /metrics` on the admin
//! listener).
//!
//! Each [`Gateway`](crate::Gateway) owns its [`Metrics`]: no global recorder, so two
//! gateways in one process (or one test binary) never mix their counts. Counters are
//! incremented where things happen; gauges that the store knows (outbox depth, forward
//! queue, live sessions) are read from it at scrape time, so every replica of a shared
//! store reports the same depth and nothing is counted twice on the hot path.
//!
//! Every family is declared in [`FAMILIES`] with its type and help text; a series is a
//! family name plus label pairs.
//!
//! `GET /metrics` ([`Metrics::render_for`]) puts a `replica` label first on every series
//! (the replica's id), then an `account` label on every family that is per account (all but
//! [`REPLICA_WIDE`]), so one scrape config covers every replica and account, and series of
//! two replicas never collide.
//!
//! ```
//! use telephony_serve::metrics::Metrics;
//!
//! let m = Metrics::new();
//! m.inc("telephony_webhooks_total", &[("route", "message"), ("outcome", "accepted")]);
//! m.inc("telephony_webhooks_total", &[("route", "message"), ("outcome", "accepted")]);
//! m.inc("telephony_webhooks_total", &[("route", "message"), ("outcome", "403")]);
//! assert_eq!(
//!     m.get("telephony_webhooks_total", &[("route", "message"), ("outcome", "accepted")]),
//!     2
//! );
//! let text = m.render(&[]);
//! assert!(text.contains(
//!     "telephony_webhooks_total{route=\"message\",outcome=\"403\"} 1\n"
//! ));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (`_total`).
    Counter,
    /// A value read at scrape time.
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// Every metric family the gateway exports: name, type, help.
pub const FAMILIES: &[(&str, Kind, &str)] = &[
    (
        "telephony_build_info",
        Kind::Gauge,
        "Build information (always 1): version and provider.",
    ),
    (
        "telephony_webhooks_total",
        Kind::Counter,
        "Provider webhooks on the public listener by route and outcome (accepted, duplicate, or the HTTP status of a refusal).",
    ),
    (
        "telephony_sends_total",
        Kind::Counter,
        "Outbound message status changes by status (queued, sent, delivered, failed, ...).",
    ),
    (
        "telephony_rate_limited_total",
        Kind::Counter,
        "Requests or sends a rate limiter made wait or refused, by limiter.",
    ),
    (
        "telephony_rate_limit_wait_seconds_total",
        Kind::Counter,
        "Seconds sends spent waiting for their rate-limit slot, by limiter.",
    ),
    (
        "telephony_signature_verification_skipped_total",
        Kind::Counter,
        "Webhooks accepted without a signature check (skipSignatureVerification).",
    ),
    (
        "telephony_listener_refused_total",
        Kind::Counter,
        "Connections or requests the public listener refused or cut off, by reason.",
    ),
    (
        "telephony_listener_evicted_total",
        Kind::Counter,
        "Connections the public listener closed to make room when serve.maxConnections was reached: the one longest without a complete request head, by reason (silent, partial_head, idle).",
    ),
    (
        "telephony_listener_connections",
        Kind::Gauge,
        "Connections open on the public listener (upgraded WebSockets included).",
    ),
    (
        "telephony_listener_unspoken_connections",
        Kind::Gauge,
        "Of the public listener's open connections, those without a complete request head (new, sending a head, or idle between keep-alive requests): the ones evicted first.",
    ),
    (
        "telephony_admin_refused_total",
        Kind::Counter,
        "Connections the admin listener closed: a peer outside admin.allowNetworks (network) or a failed TLS handshake (tls).",
    ),
    (
        "telephony_pruned_total",
        Kind::Counter,
        "Records deleted by retention pruning (store.retention), by kind (messages, sends, calls, forwards, pairing).",
    ),
    (
        "telephony_outbox_depth",
        Kind::Gauge,
        "Messages in the outbox (pending sends, held ones included).",
    ),
    (
        "telephony_outbox_oldest_age_seconds",
        Kind::Gauge,
        "Age of the oldest message in the outbox (0 when empty).",
    ),
    (
        "telephony_forward_queue_depth",
        Kind::Gauge,
        "Events waiting to be forwarded to forward.url.",
    ),
    (
        "telephony_live_sessions",
        Kind::Gauge,
        "Calls holding a session slot.",
    ),
    (
        "telephony_store_errors_total",
        Kind::Counter,
        "Store errors since this process opened the store, by kind (disk_full, io, busy, unavailable, constraint, other); a batch of inbound messages that failed together counts once.",
    ),
    (
        "telephony_store_write_failing",
        Kind::Gauge,
        "1 while the store cannot commit (its last write failed and none committed since), else 0.",
    ),
    (
        "telephony_store_bytes",
        Kind::Gauge,
        "Bytes the store takes: SQLite's database file and WAL; PostgreSQL's tables, indexes and TOAST in the account's schema.",
    ),
];

/// Families that describe the replica (the process), not an account: they carry the
/// `replica` label only. The public and admin listeners are shared by every account, so
/// their refusals are the replica's.
pub const REPLICA_WIDE: &[&str] = &[
    "telephony_build_info",
    "telephony_listener_refused_total",
    "telephony_listener_evicted_total",
    "telephony_listener_connections",
    "telephony_listener_unspoken_connections",
    "telephony_admin_refused_total",
];

type Labels = Vec<(&'static str, String)>;

/// A value read at scrape time: family name, labels, value. Mostly gauges; a counter kept
/// elsewhere (the store's error counts) is passed the same way and rendered as a counter.
pub type Gauge = (&'static str, Vec<(&'static str, String)>, f64);

/// Values another part of the process keeps (the public listener's connection counts),
/// read at every scrape.
pub type Source = Arc<dyn Fn() -> Vec<Gauge> + Send + Sync>;

/// A gateway's counters (see the [module docs](self)).
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<&'static str, BTreeMap<Labels, f64>>>,
    sources: Mutex<Vec<Source>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

fn family(name: &str) -> Option<&'static (&'static str, Kind, &'static str)> {
    FAMILIES.iter().find(|(n, _, _)| *n == name)
}

fn key(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

impl Metrics {
    /// No counts yet.
    pub fn new() -> Self {
        Metrics::default()
    }

    /// Adds one to a counter series.
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1.0);
    }

    /// Adds `by` (≥ 0) to a counter series.
    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], by: f64) {
        debug_assert!(
            family(name).is_some_and(|f| f.1 == Kind::Counter),
            "{name} is not a declared counter"
        );
        let mut c = telephony_core::sync::lock(&self.counters);
        *c.entry(name).or_default().entry(key(labels)).or_insert(0.0) += by.max(0.0);
    }

    /// Adds values read at every scrape, rendered with the gauges passed to
    /// [`render`](Self::render) (each a declared family).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use telephony_serve::metrics::Metrics;
    ///
    /// let m = Metrics::new();
    /// m.add_source(Arc::new(|| vec![("telephony_listener_connections", vec![], 3.0)]));
    /// assert!(m.render(&[]).contains("telephony_listener_connections 3\n"));
    /// ```
    pub fn add_source(&self, source: Source) {
        telephony_core::sync::lock(&self.sources).push(source);
    }

    /// A counter series' value (0 when never incremented), for tests and status output.
    pub fn get(&self, name: &str, labels: &[(&'static str, &str)]) -> u64 {
        self.get_f64(name, labels) as u64
    }

    /// A counter series' value as a float.
    pub fn get_f64(&self, name: &str, labels: &[(&'static str, &str)]) -> f64 {
        let c = telephony_core::sync::lock(&self.counters);
        c.get(name)
            .and_then(|s| s.get(&key(labels)))
            .copied()
            .unwrap_or(0.0)
    }

    /// The Prometheus text exposition (format 0.0.4) of every counter, plus `gauges` read
    /// at scrape time (`(name, labels, value)`), each family with its `# HELP` and `# TYPE`.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        self.render_labeled(gauges, |_| Vec::new())
    }

    /// [`render`](Self::render) with `replica="…"` first on every series, then
    /// `account="…"` on every family not in [`REPLICA_WIDE`]: what `GET /metrics` serves.
    ///
    /// ```
    /// use telephony_serve::metrics::Metrics;
    ///
    /// let m = Metrics::new();
    /// m.inc("telephony_sends_total", &[("status", "sent")]);
    /// let text = m.render_for(&[("telephony_build_info", vec![("version", "1.0".into())], 1.0)], "gw-a", "sales");
    /// assert!(text.contains("telephony_sends_total{replica=\"gw-a\",account=\"sales\",status=\"sent\"} 1\n"));
    /// assert!(text.contains("telephony_build_info{replica=\"gw-a\",version=\"1.0\"} 1\n"));
    /// ```
    pub fn render_for(&self, gauges: &[Gauge], replica: &str, account: &str) -> String {
        self.render_labeled(gauges, |name| {
            let mut labels = vec![("replica", replica.to_string())];
            if !REPLICA_WIDE.contains(&name) {
                labels.push(("account", account.to_string()));
            }
            labels
        })
    }

    /// The text, each series' labels preceded by `constant(family)`.
    fn render_labeled(&self, gauges: &[Gauge], constant: impl Fn(&str) -> Labels) -> String {
        let sources: Vec<Source> = telephony_core::sync::lock(&self.sources).clone();
        let mut all: Vec<Gauge> = gauges.to_vec();
        for source in sources {
            all.extend(source());
        }
        let gauges = all.as_slice();
        let counters = telephony_core::sync::lock(&self.counters);
        let mut out = String::new();
        for (name, kind, help) in FAMILIES {
            let series: Vec<(&Labels, f64)> = match kind {
                Kind::Counter => counters
                    .get(name)
                    .map(|s| s.iter().map(|(l, v)| (l, *v)).collect::<Vec<_>>())
                    .unwrap_or_default()
                    .into_iter()
                    .chain(
                        gauges
                            .iter()
                            .filter(|(n, _, _)| n == name)
                            .map(|(_, l, v)| (l, *v)),
                    )
                    .collect(),
                Kind::Gauge => gauges
                    .iter()
                    .filter(|(n, _, _)| n == name)
                    .map(|(_, l, v)| (l, *v))
                    .collect(),
            };
            if series.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
            let constant = constant(name);
            for (labels, value) in series {
                out.push_str(name);
                if !labels.is_empty() || !constant.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in constant.iter().chain(labels.iter()).enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", number(value));
            }
        }
        out
    }
}

/// A label value escaped for the text format (backslash, double quote, newline).
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_text_format_with_help_type_and_escaped_labels() {
        let m = Metrics::new();
        m.inc("telephony_sends_total", &[("status", "delivered")]);
        m.add(
            "telephony_rate_limit_wait_seconds_total",
            &[("limiter", "outbound")],
            1.5,
        );
        m.inc(
            "telephony_listener_refused_total",
            &[("reason", "a \"quoted\"\\\nvalue")],
        );
        let text = m.render(&[
            ("telephony_outbox_depth", vec![], 3.0),
            (
                "telephony_build_info",
                vec![("version", "0.1.0".into()), ("provider", "twilio".into())],
                1.0,
            ),
        ]);
        assert_eq!(
            text,
            "# HELP telephony_build_info Build information (always 1): version and provider.\n\
             # TYPE telephony_build_info gauge\n\
             telephony_build_info{version=\"0.1.0\",provider=\"twilio\"} 1\n\
             # HELP telephony_sends_total Outbound message status changes by status (queued, sent, delivered, failed, ...).\n\
             # TYPE telephony_sends_total counter\n\
             telephony_sends_total{status=\"delivered\"} 1\n\
             # HELP telephony_rate_limit_wait_seconds_total Seconds sends spent waiting for their rate-limit slot, by limiter.\n\
             # TYPE telephony_rate_limit_wait_seconds_total counter\n\
             telephony_rate_limit_wait_seconds_total{limiter=\"outbound\"} 1.5\n\
             # HELP telephony_listener_refused_total Connections or requests the public listener refused or cut off, by reason.\n\
             # TYPE telephony_listener_refused_total counter\n\
             telephony_listener_refused_total{reason=\"a \\\"quoted\\\"\\\\\\nvalue\"} 1\n\
             # HELP telephony_outbox_depth Messages in the outbox (pending sends, held ones included).\n\
             # TYPE telephony_outbox_depth gauge\n\
             telephony_outbox_depth 3\n"
        );
    }

    #[test]
    fn every_series_gets_the_replica_and_per_account_ones_the_account() {
        let m = Metrics::new();
        m.inc("telephony_sends_total", &[("status", "delivered")]);
        m.inc("telephony_signature_verification_skipped_total", &[]);
        m.inc("telephony_listener_refused_total", &[("reason", "timeout")]);
        let text = m.render_for(
            &[
                ("telephony_outbox_depth", vec![], 3.0),
                (
                    "telephony_build_info",
                    vec![("version", "0.1.0".into()), ("provider", "twilio".into())],
                    1.0,
                ),
            ],
            "gw-a-\"1\"",
            "sales",
        );
        let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            series,
            [
                "telephony_build_info{replica=\"gw-a-\\\"1\\\"\",version=\"0.1.0\",provider=\"twilio\"} 1",
                "telephony_sends_total{replica=\"gw-a-\\\"1\\\"\",account=\"sales\",status=\"delivered\"} 1",
                "telephony_signature_verification_skipped_total{replica=\"gw-a-\\\"1\\\"\",account=\"sales\"} 1",
                "telephony_listener_refused_total{replica=\"gw-a-\\\"1\\\"\",reason=\"timeout\"} 1",
                "telephony_outbox_depth{replica=\"gw-a-\\\"1\\\"\",account=\"sales\"} 3",
            ]
        );
        // The families named as replica-wide exist.
        for name in REPLICA_WIDE {
            assert!(family(name).is_some(), "{name}");
        }
    }

    #[test]
    fn counters_read_at_scrape_time_render_as_counters() {
        let m = Metrics::new();
        let text = m.render(&[
            (
                "telephony_store_errors_total",
                vec![("kind", "disk_full".into())],
                3.0,
            ),
            ("telephony_store_bytes", vec![], 4096.0),
        ]);
        assert_eq!(
            text,
            "# HELP telephony_store_errors_total Store errors since this process opened the store, by kind (disk_full, io, busy, unavailable, constraint, other); a batch of inbound messages that failed together counts once.\n\
             # TYPE telephony_store_errors_total counter\n\
             telephony_store_errors_total{kind=\"disk_full\"} 3\n\
             # HELP telephony_store_bytes Bytes the store takes: SQLite's database file and WAL; PostgreSQL's tables, indexes and TOAST in the account's schema.\n\
             # TYPE telephony_store_bytes gauge\n\
             telephony_store_bytes 4096\n"
        );
    }

    #[test]
    fn counts_are_per_instance() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.inc("telephony_signature_verification_skipped_total", &[]);
        assert_eq!(
            a.get("telephony_signature_verification_skipped_total", &[]),
            1
        );
        assert_eq!(
            b.get("telephony_signature_verification_skipped_total", &[]),
            0
        );
    }
}
