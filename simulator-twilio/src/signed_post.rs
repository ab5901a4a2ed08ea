//! Signed POSTs to the application: status callbacks and TwiML requests, signed with
//! `X-Twilio-Signature` as Twilio signs them.

use std::time::Duration;

use telephony_twilio::signature::RequestValidator;

use crate::simulator::Simulator;

/// POSTs a form signed with `X-Twilio-Signature` as Twilio does, once; returns the
/// signature, the receiver's HTTP status and why it failed (transport error or non-2xx).
pub(crate) async fn send_signed(
    sim: &Simulator,
    url: &str,
    params: &[(String, String)],
) -> (String, Option<u16>, Option<String>) {
    let signature = RequestValidator::new(sim.config().auth_token.expose()).compute(url, params);
    let body = serde_urlencoded::to_string(params).unwrap_or_default();
    let result = sim
        .http()
        .post(sim.delivery_url(url))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header(reqwest::header::USER_AGENT, "TwilioProxy/1.1")
        .header("X-Twilio-Signature", &signature)
        .body(body)
        .timeout(Duration::from_secs(15))
        .send()
        .await;
    match result {
        Ok(resp) => {
            let code = resp.status();
            // Drain the body so the connection can be reused; its content is ignored.
            let _ = resp.bytes().await;
            let error =
                (!code.is_success()).then(|| format!("callback answered HTTP {}", code.as_u16()));
            (signature, Some(code.as_u16()), error)
        }
        Err(e) => (signature, None, Some(describe(e))),
    }
}

/// A reqwest error with its sources, without the URL (which may carry credentials).
pub(crate) fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
