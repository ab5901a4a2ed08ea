//! The life of a created message after the 201: status steps and signed status callbacks.

use telephony_core::DeliveryStatus;
use telephony_core::redact::redact_url;
use telephony_twilio::resources::MessageResource;
use time::OffsetDateTime;

use crate::records::CallbackRecord;
use crate::signed_post::send_signed;
use crate::simulator::Simulator;

/// One status a message moves to, with the `ErrorCode` it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) status: DeliveryStatus,
    pub(crate) error: Option<(i64, &'static str)>,
}

const fn step(status: DeliveryStatus) -> Step {
    Step {
        status,
        error: None,
    }
}

/// The statuses a message goes through after creation when it should end in `final_status`.
pub(crate) fn steps(final_status: DeliveryStatus) -> Vec<Step> {
    use DeliveryStatus as S;
    match final_status {
        S::Delivered => vec![step(S::Queued), step(S::Sent), step(S::Delivered)],
        S::Undelivered => vec![
            step(S::Queued),
            step(S::Sent),
            Step {
                status: S::Undelivered,
                error: Some((30006, "Landline or unreachable carrier")),
            },
        ],
        S::Failed => vec![
            step(S::Queued),
            Step {
                status: S::Failed,
                error: Some((30008, "Unknown error")),
            },
        ],
        S::Read => vec![
            step(S::Queued),
            step(S::Sent),
            step(S::Delivered),
            step(S::Read),
        ],
        S::PartiallyDelivered => vec![step(S::Queued), step(S::Sent), step(S::PartiallyDelivered)],
        S::Sent => vec![step(S::Queued), step(S::Sent)],
        S::Sending => vec![step(S::Queued), step(S::Sending)],
        S::Canceled => vec![step(S::Canceled)],
        // pending, accepted, scheduled, queued, receiving, received: stay queued.
        _ => vec![step(S::Queued)],
    }
}

/// Runs the message's status steps in order, `callback_delay` apart, POSTing a signed
/// status callback for each when `callback_url` is set. Never blocks the create response.
pub(crate) fn spawn(sim: Simulator, sid: String, callback_url: Option<String>) {
    tokio::spawn(async move {
        let delay = sim.config().callback_delay;
        for step in steps(sim.config().final_status) {
            tokio::time::sleep(delay).await;
            let Some(snapshot) = sim.apply_step(&sid, step) else {
                return;
            };
            if let Some(url) = &callback_url {
                let params = callback_params(&snapshot, step);
                post(&sim, &sid, step.status, url, params).await;
            }
        }
    });
}

impl Simulator {
    /// Moves a stored message to `step`; returns the updated resource.
    pub(crate) fn apply_step(&self, sid: &str, step: Step) -> Option<MessageResource> {
        let now = OffsetDateTime::now_utc();
        let mut state = self.lock();
        let m = state.message_mut(sid)?;
        if m.from.is_none() {
            // A Messaging Service picked a sender from its pool.
            m.from = Some(crate::config::MESSAGING_SERVICE_SENDER.to_string());
        }
        if m.num_segments.as_deref() == Some("0") {
            m.num_segments = Some(crate::segments::segments_for(m).to_string());
        }
        m.status = Some(step.status.as_str().to_string());
        m.date_updated = Some(crate::dates::rfc2822(now));
        if let Some((code, message)) = step.error {
            m.error_code = Some(code);
            m.error_message = Some(message.to_string());
        }
        Some(m.clone())
    }
}

/// The form parameters of a status callback (PROTOCOL §2.2).
fn callback_params(m: &MessageResource, step: Step) -> Vec<(String, String)> {
    let status = step.status.as_str();
    let p = |k: &str, v: &str| (k.to_string(), v.to_string());
    let mut out = vec![
        p("MessageSid", &m.sid),
        p("SmsSid", &m.sid),
        p("MessageStatus", status),
        p("SmsStatus", status),
        p("AccountSid", m.account_sid.as_deref().unwrap_or_default()),
        p("From", m.from.as_deref().unwrap_or_default()),
        p("To", m.to.as_deref().unwrap_or_default()),
        p("ApiVersion", "2010-04-01"),
    ];
    if let Some((code, _)) = step.error {
        out.push(p("ErrorCode", &code.to_string()));
    }
    if let Some(ms) = &m.messaging_service_sid {
        out.push(p("MessagingServiceSid", ms));
    }
    out
}

/// POSTs one callback (no retry, like Twilio) and records the attempt.
async fn post(
    sim: &Simulator,
    sid: &str,
    status: DeliveryStatus,
    url: &str,
    params: Vec<(String, String)>,
) {
    let (signature, http_status, error) = send_signed(sim, url, &params).await;
    match &error {
        None => {
            tracing::debug!(message_sid = sid, %status, url = %redact_url(url), http_status, "simulator: status callback delivered")
        }
        Some(reason) => {
            tracing::warn!(message_sid = sid, %status, url = %redact_url(url), http_status, error = %reason, "simulator: status callback failed (not retried)")
        }
    }
    sim.lock().callbacks.push(CallbackRecord {
        message_sid: sid.to_string(),
        status,
        url: url.to_string(),
        params,
        signature,
        http_status,
        error,
    });
}
