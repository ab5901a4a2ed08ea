//! The provider as the gateway uses it: every API call timed into
//! `telephony_provider_request_duration_seconds{provider,operation,outcome}`.
//!
//! The gateway wraps the provider it is given once ([`TimedProvider`]), so every call
//! (the outbox's sends, voice control, the reaper's hang-ups, number setup) is timed
//! without each call site knowing. Every method of [`Provider`] is forwarded here: a
//! method added to the trait must be added here too, or the gateway would get its
//! default instead of the provider's.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use telephony_core::numbers::{NumberConfig, SettingChange, WebhookFailure, WebhookTargets};
use telephony_core::provider::{
    ProviderLimits, SendOptions, SignatureCheck, WebhookError, WebhookEvent, WebhookRequest,
    WebhookResponse,
};
use telephony_core::voice::{
    Call, CallRecording, CallUpdate, Digits, OutboundCall, Realtime, RecordingMedia, VoiceControl,
    VoiceError, VoiceResponse, VoiceRun,
};
use telephony_core::{OutboundMessage, PhoneNumber, Provider, ProviderError, ProviderReceipt};

use crate::metrics::{LazyHistogram, Metrics};

/// The provider's API operations, the `operation` label.
const OPERATIONS: [&str; 14] = [
    "send",
    "find_sent",
    "run_voice",
    "place_call",
    "stream_closed",
    "hang_up",
    "fetch_call",
    "number_config",
    "configure_number",
    "recent_webhook_failures",
    "update_call",
    "replace_call_response",
    "send_digits",
    "fetch_recording",
];

/// A provider whose API calls are timed (see the [module docs](self)).
#[derive(Debug)]
pub(crate) struct TimedProvider {
    inner: Arc<dyn Provider>,
    metrics: Arc<Metrics>,
    /// Per operation (as [`OPERATIONS`]), `ok` then `error`.
    cells: Vec<[LazyHistogram; 2]>,
}

impl TimedProvider {
    pub(crate) fn new(inner: Arc<dyn Provider>, metrics: Arc<Metrics>) -> Self {
        let provider = inner.name();
        let cells = OPERATIONS
            .iter()
            .map(|op| {
                ["ok", "error"].map(|outcome| {
                    LazyHistogram::new(
                        "telephony_provider_request_duration_seconds",
                        &[
                            ("provider", provider),
                            ("operation", op),
                            ("outcome", outcome),
                        ],
                    )
                })
            })
            .collect();
        TimedProvider {
            inner,
            metrics,
            cells,
        }
    }

    /// Counts one call of `operation` that started at `started`.
    fn observe<T, E>(&self, operation: &str, started: Instant, result: &Result<T, E>) {
        let i = OPERATIONS
            .iter()
            .position(|o| *o == operation)
            .expect("a listed operation");
        self.cells[i][usize::from(result.is_err())]
            .cell(&self.metrics)
            .observe_duration(started.elapsed());
    }
}

/// Runs `$call` on the inner provider and times it as `$op`.
macro_rules! timed {
    ($self:ident, $op:literal, $call:expr) => {{
        let started = Instant::now();
        let result = $call.await;
        $self.observe($op, started, &result);
        result
    }};
}

#[async_trait]
impl Provider for TimedProvider {
    async fn send(
        &self,
        msg: &OutboundMessage,
        opts: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        timed!(self, "send", self.inner.send(msg, opts))
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn limits(&self) -> ProviderLimits {
        self.inner.limits()
    }

    fn sender(&self, msg: &OutboundMessage) -> Option<String> {
        self.inner.sender(msg)
    }

    async fn find_sent(
        &self,
        msg: &OutboundMessage,
        since: time::OffsetDateTime,
    ) -> Result<Option<ProviderReceipt>, ProviderError> {
        timed!(self, "find_sent", self.inner.find_sent(msg, since))
    }

    fn handle_webhook(
        &self,
        req: &WebhookRequest,
        check: SignatureCheck,
    ) -> Result<WebhookEvent, WebhookError> {
        self.inner.handle_webhook(req, check)
    }

    fn webhook_ack(&self) -> WebhookResponse {
        self.inner.webhook_ack()
    }

    fn render_voice(&self, response: &VoiceResponse) -> Result<WebhookResponse, VoiceError> {
        self.inner.render_voice(response)
    }

    fn voice_control(&self) -> VoiceControl {
        self.inner.voice_control()
    }

    async fn run_voice(&self, call: &Call, plan: &[u8]) -> Result<VoiceRun, ProviderError> {
        timed!(self, "run_voice", self.inner.run_voice(call, plan))
    }

    async fn place_call(&self, call: &OutboundCall) -> Result<Call, ProviderError> {
        timed!(self, "place_call", self.inner.place_call(call))
    }

    fn realtime(&self) -> Option<&dyn Realtime> {
        self.inner.realtime()
    }

    async fn stream_closed(&self, call_id: &str, stream_id: &str) -> Result<(), ProviderError> {
        timed!(
            self,
            "stream_closed",
            self.inner.stream_closed(call_id, stream_id)
        )
    }

    async fn hang_up(&self, call_id: &str) -> Result<(), ProviderError> {
        timed!(self, "hang_up", self.inner.hang_up(call_id))
    }

    async fn fetch_call(&self, call_id: &str) -> Result<Call, ProviderError> {
        timed!(self, "fetch_call", self.inner.fetch_call(call_id))
    }

    async fn number_config(
        &self,
        number: &PhoneNumber,
    ) -> Result<Option<NumberConfig>, ProviderError> {
        timed!(self, "number_config", self.inner.number_config(number))
    }

    async fn configure_number(
        &self,
        number: &PhoneNumber,
        targets: &WebhookTargets,
    ) -> Result<Vec<SettingChange>, ProviderError> {
        timed!(
            self,
            "configure_number",
            self.inner.configure_number(number, targets)
        )
    }

    async fn recent_webhook_failures(
        &self,
        number: &PhoneNumber,
        look_back: u32,
    ) -> Result<Vec<WebhookFailure>, ProviderError> {
        timed!(
            self,
            "recent_webhook_failures",
            self.inner.recent_webhook_failures(number, look_back)
        )
    }

    async fn update_call(
        &self,
        call_id: &str,
        update: &CallUpdate,
    ) -> Result<VoiceRun, ProviderError> {
        timed!(self, "update_call", self.inner.update_call(call_id, update))
    }

    async fn replace_call_response(
        &self,
        call_id: &str,
        response: &VoiceResponse,
    ) -> Result<VoiceRun, ProviderError> {
        timed!(
            self,
            "replace_call_response",
            self.inner.replace_call_response(call_id, response)
        )
    }

    async fn send_digits(&self, call_id: &str, digits: &Digits) -> Result<(), ProviderError> {
        timed!(self, "send_digits", self.inner.send_digits(call_id, digits))
    }

    async fn fetch_recording(
        &self,
        recording: &CallRecording,
    ) -> Result<RecordingMedia, ProviderError> {
        timed!(
            self,
            "fetch_recording",
            self.inner.fetch_recording(recording)
        )
    }
}

#[cfg(test)]
mod tests {
    /// The names of the `fn`s declared at the top level of a trait or impl block that
    /// starts at `header` in `source` (by indentation: the block's items are indented by
    /// four spaces).
    fn methods(source: &str, header: &str) -> Vec<String> {
        let start = source.find(header).expect("the block is in the source");
        let mut names = Vec::new();
        for line in source[start..].lines().skip(1) {
            if line == "}" {
                break;
            }
            let Some(rest) = line
                .strip_prefix("    async fn ")
                .or_else(|| line.strip_prefix("    fn "))
            else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
        names.sort();
        names
    }

    /// A method added to `Provider` with a default body compiles without a forward here,
    /// and the gateway would then silently get the default ("unsupported") instead of the
    /// provider's own: this test names the method that is missing.
    #[test]
    fn every_provider_method_is_forwarded() {
        let the_trait = methods(
            include_str!("../../telephony-core/src/provider.rs"),
            "pub trait Provider: ",
        );
        let wrapper = methods(
            include_str!("timed_provider.rs"),
            "impl Provider for TimedProvider {",
        );
        assert!(the_trait.len() >= 19, "parsed the trait: {the_trait:?}");
        assert_eq!(wrapper, the_trait);
    }

    /// Every timed operation has a cell (the `OPERATIONS` list matches the forwards that
    /// use `timed!`).
    #[test]
    fn every_timed_operation_is_listed() {
        let source = include_str!("timed_provider.rs");
        let mut timed: Vec<&str> = source
            .match_indices("timed!(")
            .filter_map(|(i, _)| source[i..].split('"').nth(1))
            .filter(|op| !op.is_empty() && !op.contains(' '))
            .collect();
        timed.sort_unstable();
        timed.dedup();
        let mut listed = super::OPERATIONS.to_vec();
        listed.sort_unstable();
        assert_eq!(timed, listed);
    }
}
