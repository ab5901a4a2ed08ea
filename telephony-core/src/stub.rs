//! A [`Provider`] test double that records messages instead of sending them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::message::{ErrorInfo, OutboundMessage, ProviderReceipt};
use crate::provider::{Provider, ProviderError, SendOptions};
use crate::status::DeliveryStatus;

#[derive(Debug, Clone)]
enum Mode {
    Ok,
    Error {
        status: u16,
        info: ErrorInfo,
        opted_out: bool,
    },
}

/// A provider for tests: records every message and answers as configured.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use telephony_core::{OutboundMessage, Provider, SendOptions, StubProvider};
///
/// let stub = StubProvider::new_ok();
/// let msg = OutboundMessage::new("+15550005678".parse().unwrap(), "hi");
/// let receipt = stub.send(&msg, &SendOptions::default()).await.unwrap();
/// assert_eq!(receipt.sid, "SMstub0000000000000000000000000001");
/// assert_eq!(stub.messages(), vec![msg]);
///
/// let failing = StubProvider::new_error(400, 21211, "The 'To' number is not a valid phone number.");
/// let err = failing.send(&OutboundMessage::new("+15550005678".parse().unwrap(), "x"), &SendOptions::default()).await.unwrap_err();
/// assert_eq!(err.code(), Some(21211));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct StubProvider {
    mode: Mode,
    sent: Arc<Mutex<Vec<Sent>>>,
    counter: Arc<AtomicU64>,
}

/// One message handed to the stub: what, with which options, when, and the receipt it
/// got (`None`: refused).
#[derive(Debug, Clone)]
struct Sent {
    message: OutboundMessage,
    options: SendOptions,
    at: OffsetDateTime,
    receipt: Option<ProviderReceipt>,
}

impl StubProvider {
    /// Accepts every message with status `queued`.
    pub fn new_ok() -> Self {
        StubProvider {
            mode: Mode::Ok,
            sent: Arc::default(),
            counter: Arc::default(),
        }
    }

    /// Rejects every message with this HTTP status and provider error.
    pub fn new_error(status: u16, code: i64, message: impl Into<String>) -> Self {
        StubProvider {
            mode: Mode::Error {
                status,
                info: ErrorInfo {
                    code: Some(code),
                    message: message.into(),
                    more_info: None,
                },
                opted_out: false,
            },
            sent: Arc::default(),
            counter: Arc::default(),
        }
    }

    /// Rejects every message as the provider does for a recipient who opted out
    /// ([`ProviderError::is_opted_out`] is true), with this HTTP status and error code.
    pub fn new_opted_out(status: u16, code: i64, message: impl Into<String>) -> Self {
        let mut stub = StubProvider::new_error(status, code, message);
        if let Mode::Error { opted_out, .. } = &mut stub.mode {
            *opted_out = true;
        }
        stub
    }

    /// Messages sent so far (including rejected ones), oldest first.
    pub fn messages(&self) -> Vec<OutboundMessage> {
        self.lock().iter().map(|s| s.message.clone()).collect()
    }

    /// Options passed with each message, oldest first.
    pub fn options(&self) -> Vec<SendOptions> {
        self.lock().iter().map(|s| s.options.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sent>> {
        crate::sync::lock(&self.sent)
    }
}

#[async_trait]
impl Provider for StubProvider {
    async fn send(
        &self,
        msg: &OutboundMessage,
        opts: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        let result = match &self.mode {
            Mode::Ok => {
                let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(ProviderReceipt {
                    sid: format!("SMstub{n:028}"),
                    status: DeliveryStatus::Queued,
                    from: Some("+15550001234".into()),
                    num_segments: Some(1),
                    price: None,
                    price_unit: None,
                })
            }
            Mode::Error {
                status,
                info,
                opted_out,
            } => Err(ProviderError::api("stub", *status, info.message.clone())
                .with_code(info.code)
                .with_more_info(info.more_info.clone())
                .with_opted_out(*opted_out)),
        };
        self.lock().push(Sent {
            message: msg.clone(),
            options: opts.clone(),
            at: OffsetDateTime::now_utc(),
            receipt: result.as_ref().ok().cloned(),
        });
        result
    }

    /// The earliest message the stub accepted that equals `msg`, handed to it at or after
    /// `since`.
    async fn find_sent(
        &self,
        msg: &OutboundMessage,
        since: OffsetDateTime,
    ) -> Result<Option<ProviderReceipt>, ProviderError> {
        Ok(self
            .lock()
            .iter()
            .find(|s| &s.message == msg && s.at >= since && s.receipt.is_some())
            .and_then(|s| s.receipt.clone()))
    }

    fn name(&self) -> &'static str {
        "stub"
    }
}
