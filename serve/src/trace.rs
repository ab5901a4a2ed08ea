//! One trace per message or call (cargo feature `otel`): the gateway's steps are
//! `tracing` spans, and [`TraceLinks`] carries a message's trace from one task to the next
//! (webhook → store → dispatch → handler → send → status callback), keyed by the
//! message's id, then by the provider's message id; a call's webhooks join the trace of
//! its first. Every step's span has a `trace_id` field, so log lines inside it name the
//! trace. Exporting (OTLP) is [`crate::otel`]'s.
//!
//! Without the feature every function here is a no-op and [`root`] gives
//! [`Span::none`](tracing::Span::none): the default build creates no span per request.
//!
//! Links live in this process (a bounded map, oldest dropped first): a step that runs on
//! another replica, or after a restart, starts a trace of its own.

use tracing::Span;

/// A new trace's root span `name` for a webhook on `route`.
pub(crate) fn root(name: &'static str, route: &'static str) -> Span {
    #[cfg(feature = "otel")]
    {
        let span = tracing::info_span!(
            "telephony",
            otel.name = name,
            route,
            trace_id = tracing::field::Empty
        );
        imp::record_trace_id(&span);
        span
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = (name, route);
        Span::none()
    }
}

/// The traces of messages and calls in flight, by key (see the [module docs](self)).
#[derive(Debug, Default)]
pub(crate) struct TraceLinks {
    #[cfg(feature = "otel")]
    links: std::sync::Mutex<imp::Links>,
}

impl TraceLinks {
    /// Remembers the current span's trace under `key`.
    pub(crate) fn link_current(&self, key: &str) {
        #[cfg(feature = "otel")]
        imp::link(&self.links, key, imp::current());
        #[cfg(not(feature = "otel"))]
        let _ = key;
    }

    /// Remembers `span`'s trace under `key`.
    pub(crate) fn link(&self, key: &str, span: &Span) {
        #[cfg(feature = "otel")]
        imp::link(&self.links, key, imp::of(span));
        #[cfg(not(feature = "otel"))]
        let _ = (key, span);
    }

    /// A span `name` in the trace linked to `key` (a new trace if none), with `id` as its
    /// `key` field; `take` forgets the link (a step that happens once).
    pub(crate) fn step(&self, name: &'static str, key: &str, take: bool) -> Span {
        #[cfg(feature = "otel")]
        {
            let span = tracing::info_span!(
                parent: None,
                "telephony",
                otel.name = name,
                key,
                trace_id = tracing::field::Empty
            );
            if let Some(cx) = imp::get(&self.links, key, take) {
                imp::set_parent(&span, cx);
            }
            imp::record_trace_id(&span);
            span
        }
        #[cfg(not(feature = "otel"))]
        {
            let _ = (name, key, take);
            Span::none()
        }
    }

    /// A span `name` in the trace linked to `key` (a status callback joins its send's
    /// trace, a call's later webhooks its first one's); with no link, a span of the
    /// current trace that, if `remember`, becomes `key`'s link.
    pub(crate) fn follow(&self, name: &'static str, key: &str, remember: bool) -> Span {
        #[cfg(feature = "otel")]
        {
            let span = tracing::info_span!(
                "telephony",
                otel.name = name,
                key,
                trace_id = tracing::field::Empty
            );
            match imp::get(&self.links, key, false) {
                Some(cx) => imp::set_parent(&span, cx),
                None if remember => imp::link(&self.links, key, imp::of(&span)),
                None => {}
            }
            imp::record_trace_id(&span);
            span
        }
        #[cfg(not(feature = "otel"))]
        {
            let _ = (name, key, remember);
            Span::none()
        }
    }
}

/// A child span `name` of the current one (a step inside a request or task).
pub(crate) fn child(name: &'static str) -> Span {
    #[cfg(feature = "otel")]
    {
        tracing::info_span!("telephony", otel.name = name)
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = name;
        Span::none()
    }
}

#[cfg(feature = "otel")]
mod imp {
    use std::collections::{HashMap, VecDeque};
    use std::sync::Mutex;

    use opentelemetry::Context;
    use opentelemetry::trace::TraceContextExt as _;
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    /// Most links kept; the oldest goes first.
    const MAX_LINKS: usize = 16_384;

    #[derive(Debug, Default)]
    pub(super) struct Links {
        by_key: HashMap<String, Context>,
        order: VecDeque<String>,
    }

    pub(super) fn current() -> Option<Context> {
        of(&Span::current())
    }

    /// `span`'s context, if it belongs to a trace.
    pub(super) fn of(span: &Span) -> Option<Context> {
        let cx = span.context();
        cx.span().span_context().is_valid().then_some(cx)
    }

    pub(super) fn link(links: &Mutex<Links>, key: &str, cx: Option<Context>) {
        let Some(cx) = cx else { return };
        let mut l = telephony_core::sync::lock(links);
        if l.by_key.insert(key.to_string(), cx).is_none() {
            l.order.push_back(key.to_string());
        }
        while l.order.len() > MAX_LINKS {
            if let Some(old) = l.order.pop_front() {
                l.by_key.remove(&old);
            }
        }
    }

    pub(super) fn get(links: &Mutex<Links>, key: &str, take: bool) -> Option<Context> {
        let mut l = telephony_core::sync::lock(links);
        if take {
            // Its place in `order` stays until it comes up for eviction (a no-op then).
            l.by_key.remove(key)
        } else {
            l.by_key.get(key).cloned()
        }
    }

    pub(super) fn set_parent(span: &Span, cx: Context) {
        let _ = span.set_parent(cx);
    }

    /// Puts the span's trace id in its `trace_id` field (for the logs).
    pub(super) fn record_trace_id(span: &Span) {
        let trace_id = span.context().span().span_context().trace_id();
        span.record("trace_id", tracing::field::display(trace_id));
    }
}
