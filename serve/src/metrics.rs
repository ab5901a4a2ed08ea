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
    /// Observations counted into cumulative buckets (`_bucket{le=…}`, `_sum`, `_count`),
    /// with the bucket bounds of [`buckets`].
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Bucket upper bounds for latencies, in seconds: 250 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Bucket upper bounds for batch sizes: 1 to 1024.
pub const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The bucket bounds of histogram family `name` (sizes for `…_batch_size`, latencies
/// otherwise).
pub fn buckets(name: &str) -> &'static [f64] {
    if name.ends_with("_batch_size") {
        SIZE_BUCKETS
    } else {
        LATENCY_BUCKETS
    }
}

/// One histogram series: lock-free counts per bucket, the sum (in millionths) and the
/// count. Observing is a few atomic adds; get a handle once with
/// [`Metrics::histogram`] on a hot path.
#[derive(Debug)]
pub struct HistogramCell {
    bounds: &'static [f64],
    counts: Vec<std::sync::atomic::AtomicU64>,
    sum_micros: std::sync::atomic::AtomicU64,
    count: std::sync::atomic::AtomicU64,
}

impl HistogramCell {
    fn new(bounds: &'static [f64]) -> Self {
        HistogramCell {
            bounds,
            counts: (0..bounds.len())
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            sum_micros: std::sync::atomic::AtomicU64::new(0),
            count: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Counts one observation (seconds for latencies, items for sizes; negative counts as 0).
    pub fn observe(&self, value: f64) {
        use std::sync::atomic::Ordering::Relaxed;
        let value = value.max(0.0);
        // Non-cumulative per bucket; rendering sums them up.
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.sum_micros
            .fetch_add((value * 1_000_000.0).round() as u64, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// Counts one duration, in seconds.
    pub fn observe_duration(&self, d: std::time::Duration) {
        self.observe(d.as_secs_f64());
    }

    /// How many observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A histogram series made on its first observation (so a series nothing observed is not
/// rendered) and observed without a lock or an allocation after that.
#[derive(Debug)]
pub(crate) struct LazyHistogram {
    name: &'static str,
    labels: Vec<(&'static str, &'static str)>,
    cell: std::sync::OnceLock<Arc<HistogramCell>>,
}

impl LazyHistogram {
    pub(crate) fn new(name: &'static str, labels: &[(&'static str, &'static str)]) -> Self {
        LazyHistogram {
            name,
            labels: labels.to_vec(),
            cell: std::sync::OnceLock::new(),
        }
    }

    /// The series in `metrics` (the same `metrics` every time).
    pub(crate) fn cell(&self, metrics: &Metrics) -> &HistogramCell {
        self.cell
            .get_or_init(|| metrics.histogram(self.name, &self.labels))
    }
}

/// Every metric family the gateway exports: name, type, help.
pub const FAMILIES: &[(&str, Kind, &str)] = &[
    (
        "telephony_webhook_duration_seconds",
        Kind::Histogram,
        "Time from a provider webhook's request to the gateway's answer, by route and outcome (as telephony_webhooks_total).",
    ),
    (
        "telephony_voice_answer_duration_seconds",
        Kind::Histogram,
        "Time the gateway took to decide and give a call's answer (TwiML rendered, or Call Control commands accepted), by provider and event.",
    ),
    (
        "telephony_provider_request_duration_seconds",
        Kind::Histogram,
        "Time of one request to the provider's API, by provider, operation and outcome (ok, error).",
    ),
    (
        "telephony_outbox_wait_seconds",
        Kind::Histogram,
        "Time an outbound message waited in the outbox, from queued to its first send attempt.",
    ),
    (
        "telephony_store_commit_duration_seconds",
        Kind::Histogram,
        "Time of one group commit of inbound messages, from BEGIN to COMMIT (or ROLLBACK), by outcome (committed, rolled_back).",
    ),
    (
        "telephony_store_commit_batch_size",
        Kind::Histogram,
        "Inbound messages per group commit (committed or rolled back).",
    ),
    (
        "telephony_realtime_frame_in_seconds",
        Kind::Histogram,
        "Time from a real-time frame read off the provider's WebSocket to its event handed to the application, by kind (stream, relay).",
    ),
    (
        "telephony_realtime_frame_out_seconds",
        Kind::Histogram,
        "Time from the application's command taken off its queue to the frame written to the provider's WebSocket, by kind (stream, relay).",
    ),
    (
        "telephony_relay_first_token_seconds",
        Kind::Histogram,
        "Time from a caller's final prompt (ConversationRelay) to the application's first text token or play back to the provider.",
    ),
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
    histograms: Mutex<BTreeMap<&'static str, BTreeMap<Labels, Arc<HistogramCell>>>>,
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

/// Whether a stored series' labels are `labels`, compared without allocating.
fn same(stored: &Labels, labels: &[(&'static str, &str)]) -> bool {
    stored.len() == labels.len()
        && stored
            .iter()
            .zip(labels)
            .all(|((k1, v1), (k2, v2))| k1 == k2 && v1 == v2)
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
        let series = c.entry(name).or_default();
        // Found without allocating (the hot path: a webhook's count); a new series once.
        match series.iter_mut().find(|(k, _)| same(k, labels)) {
            Some((_, v)) => *v += by.max(0.0),
            None => {
                series.insert(key(labels), by.max(0.0));
            }
        }
    }

    /// The histogram series `name` with `labels` (created on first use): keep the handle
    /// where a path observes often, so observing costs a few atomic adds and no lock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use telephony_serve::metrics::Metrics;
    ///
    /// let m = Metrics::new();
    /// let h = m.histogram("telephony_webhook_duration_seconds", &[("route", "message"), ("outcome", "accepted")]);
    /// h.observe_duration(Duration::from_micros(700));
    /// h.observe(0.003);
    /// let text = m.render(&[]);
    /// assert!(text.contains("# TYPE telephony_webhook_duration_seconds histogram\n"));
    /// assert!(text.contains("telephony_webhook_duration_seconds_bucket{route=\"message\",outcome=\"accepted\",le=\"0.0005\"} 0\n"));
    /// assert!(text.contains("telephony_webhook_duration_seconds_bucket{route=\"message\",outcome=\"accepted\",le=\"0.001\"} 1\n"));
    /// assert!(text.contains("telephony_webhook_duration_seconds_bucket{route=\"message\",outcome=\"accepted\",le=\"+Inf\"} 2\n"));
    /// assert!(text.contains("telephony_webhook_duration_seconds_sum{route=\"message\",outcome=\"accepted\"} 0.0037\n"));
    /// assert!(text.contains("telephony_webhook_duration_seconds_count{route=\"message\",outcome=\"accepted\"} 2\n"));
    /// ```
    pub fn histogram(
        &self,
        name: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Arc<HistogramCell> {
        debug_assert!(
            family(name).is_some_and(|f| f.1 == Kind::Histogram),
            "{name} is not a declared histogram"
        );
        let mut h = telephony_core::sync::lock(&self.histograms);
        let series = h.entry(name).or_default();
        if let Some((_, cell)) = series.iter().find(|(k, _)| same(k, labels)) {
            return cell.clone();
        }
        series
            .entry(key(labels))
            .or_insert_with(|| Arc::new(HistogramCell::new(buckets(name))))
            .clone()
    }

    /// Counts one observation in histogram series `name` with `labels`.
    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.histogram(name, labels).observe(value);
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
        let histograms = telephony_core::sync::lock(&self.histograms);
        let mut out = String::new();
        for (name, kind, help) in FAMILIES {
            if *kind == Kind::Histogram {
                let Some(series) = histograms.get(name).filter(|s| !s.is_empty()) else {
                    continue;
                };
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} histogram");
                let constant = constant(name);
                for (labels, cell) in series {
                    render_histogram(&mut out, name, &constant, labels, cell);
                }
                continue;
            }
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
                Kind::Histogram => Vec::new(),
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

fn write_labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", escape(v));
    }
    out.push('}');
}

/// One histogram series: cumulative `_bucket`s (then `+Inf`), `_sum`, `_count`.
fn render_histogram(
    out: &mut String,
    name: &str,
    constant: &Labels,
    labels: &Labels,
    cell: &HistogramCell,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let base: Vec<(&str, &str)> = constant
        .iter()
        .chain(labels.iter())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let count = cell.count.load(Relaxed);
    let mut cumulative = 0;
    for (bound, n) in cell.bounds.iter().zip(&cell.counts) {
        cumulative += n.load(Relaxed);
        let le = number(*bound);
        let mut l = base.clone();
        l.push(("le", &le));
        let _ = write!(out, "{name}_bucket");
        write_labels(out, &l);
        let _ = writeln!(out, " {cumulative}");
    }
    let mut l = base.clone();
    l.push(("le", "+Inf"));
    let _ = write!(out, "{name}_bucket");
    write_labels(out, &l);
    let _ = writeln!(out, " {count}");
    let _ = write!(out, "{name}_sum");
    write_labels(out, &base);
    let _ = writeln!(
        out,
        " {}",
        number(cell.sum_micros.load(Relaxed) as f64 / 1e6)
    );
    let _ = write!(out, "{name}_count");
    write_labels(out, &base);
    let _ = writeln!(out, " {count}");
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
