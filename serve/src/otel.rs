//! OpenTelemetry export of the gateway's traces (cargo feature `otel`): a
//! `tracing-subscriber` layer that turns the gateway's spans into OpenTelemetry spans and
//! sends them over OTLP/HTTP (JSON) in batches from a thread of its own.
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt as _;
//! use tracing_subscriber::util::SubscriberInitExt as _;
//!
//! let (layer, guard) = telephony_serve::otel::layer("http://127.0.0.1:4318").unwrap();
//! tracing_subscriber::registry().with(layer).init();
//! // … run the gateway; dropping the guard flushes the last spans.
//! drop(guard);
//! ```

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_subscriber::registry::LookupSpan;

/// The error of [`layer`]: the exporter could not be built (a bad endpoint).
pub type Error = opentelemetry_otlp::ExporterBuildError;

/// Keeps the exporter running; dropping it flushes the spans not sent yet and stops it.
#[derive(Debug)]
pub struct OtelGuard(SdkTracerProvider);

impl OtelGuard {
    /// Sends every finished span now (blocks until the collector answered or timed out).
    pub fn flush(&self) {
        if let Err(e) = self.0.force_flush() {
            tracing::warn!(error = %e, "could not flush the trace export");
        }
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        if let Err(e) = self.0.shutdown() {
            tracing::warn!(error = %e, "could not shut the trace export down");
        }
    }
}

/// A layer exporting the gateway's spans to the OTLP/HTTP collector at `endpoint`
/// (`http://host:4318`: spans go to `{endpoint}/v1/traces`), as service
/// `telephony-gateway`, and the guard that keeps the export running.
pub fn layer<S>(
    endpoint: &str,
) -> Result<
    (
        tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>,
        OtelGuard,
    ),
    Error,
>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("telephony-gateway")
                .build(),
        )
        .build();
    let tracer = provider.tracer("telephony");
    Ok((
        tracing_opentelemetry::layer().with_tracer(tracer),
        OtelGuard(provider),
    ))
}
