//! Running send cases: the provider sends through the loopback mock API, which checks the
//! one request it gets and answers as the case says.

use std::time::Duration;

use telephony_core::{Address, OutboundMessage, Provider, SendOptions};

use crate::mock_api::{MockProviderApi, RecordedRequest};
use crate::{
    CaseEnv, CaseSource, DEFAULT_NOW, ExpectedBody, ExpectedError, ExpectedReceipt,
    ExpectedRequest, ProviderAnswer, Report, SendCase, SendExpect, load_send_cases,
};

/// How long one send may take before the case fails (the mock answers at once, so only a
/// provider that sleeps or retries gets near it).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs every send case and panics once, listing every failure (label, got, want).
///
/// For each case a [`MockProviderApi`] starts on loopback, `factory` builds the provider
/// with [`CaseEnv::api_base_url`] pointing at it, and the case's message is sent once. The
/// provider must make exactly one request (or none, for `expect_no_request`): retries are
/// the outbox's job.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use telephony_conformance::{run_send_cases, CaseSource};
/// use telephony_core::{Provider, OutboundMessage, ProviderError, ProviderReceipt, SendOptions};
///
/// #[derive(Debug)]
/// struct Refuses;
/// #[async_trait::async_trait]
/// impl Provider for Refuses {
///     async fn send(&self, _: &OutboundMessage, _: &SendOptions) -> Result<ProviderReceipt, ProviderError> {
///         Err(ProviderError::InvalidMessage("never".into()))
///     }
/// }
///
/// let cases = r#"[{"label": "refused before the network",
///   "message": {"to": "+15550005678", "body": "hi"}, "expect_no_request": true,
///   "expect": {"error": {"kind": "invalid_message", "retryable": false, "opted_out": false}}}]"#;
/// run_send_cases(CaseSource::json(cases), |_env| Refuses).await;
/// # }
/// ```
pub async fn run_send_cases<P, F>(cases: impl Into<CaseSource>, factory: F)
where
    P: Provider,
    F: Fn(&CaseEnv) -> P,
{
    check_send_cases(cases, factory).await.assert_ok();
}

/// Runs every send case and returns the report instead of panicking.
pub async fn check_send_cases<P, F>(cases: impl Into<CaseSource>, factory: F) -> Report
where
    P: Provider,
    F: Fn(&CaseEnv) -> P,
{
    let mut report = Report::new("send");
    match load_send_cases(cases) {
        Err(e) => report.record(&e.file, "(loading cases)", vec![e.reason]),
        Ok(cases) => {
            for loaded in cases {
                let problems = run_one(&loaded.case, &factory).await;
                report.record(&loaded.file, &loaded.case.label, problems);
            }
        }
    }
    report
}

async fn run_one<P, F>(case: &SendCase, factory: &F) -> Vec<String>
where
    P: Provider,
    F: Fn(&CaseEnv) -> P,
{
    let mut problems = Vec::new();
    match (
        &case.expect_request,
        case.expect_no_request,
        &case.provider_answer,
    ) {
        (Some(_), false, Some(_)) | (None, true, None) => {}
        _ => {
            return vec![
                "case: give expect_request and provider_answer, or expect_no_request: true alone"
                    .into(),
            ];
        }
    }
    let to: Address = match case.message.to.parse() {
        Ok(a) => a,
        Err(e) => return vec![format!("case: message.to: {e}")],
    };
    let msg = OutboundMessage {
        media_urls: case.message.media_urls.clone(),
        ..OutboundMessage::new(to, case.message.body.clone())
    };
    let opts = match &case.options.status_callback {
        Some(url) => SendOptions::with_status_callback(url.clone()),
        None => SendOptions::default(),
    };
    // With no answer configured, any request gets a 599 the case will not expect.
    let answer = case.provider_answer.clone().unwrap_or(ProviderAnswer {
        status: 599,
        headers: Default::default(),
        body: Some("expect_no_request: this request should not have been made".into()),
        json: None,
    });
    let api = match MockProviderApi::start(answer).await {
        Ok(api) => api,
        Err(e) => return vec![format!("cannot start the mock provider API: {e}")],
    };
    let env = CaseEnv::new(api.url(), case.now.unwrap_or(DEFAULT_NOW));
    let provider = factory(&env);
    let outcome = match tokio::time::timeout(SEND_TIMEOUT, provider.send(&msg, &opts)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            return vec![format!(
                "send did not finish within {SEND_TIMEOUT:?} ({} requests made)",
                api.requests().len()
            )];
        }
    };
    let requests = api.requests();
    drop(api);

    match &case.expect_request {
        None if !requests.is_empty() => problems.push(format!(
            "requests: got {}, want none (the send should fail before the network)\n  first: {}",
            requests.len(),
            show_request(&requests[0])
        )),
        None => {}
        Some(want) => {
            if requests.len() != 1 {
                problems.push(format!(
                    "requests: got {}, want exactly 1 (one attempt per send; the outbox retries)",
                    requests.len()
                ));
            }
            if let Some(first) = requests.first() {
                problems.extend(request_problems(first, want, None));
            }
        }
    }

    match (&outcome, &case.expect) {
        (Ok(receipt), SendExpect::Receipt(want)) => {
            let got = ExpectedReceipt {
                sid: receipt.sid.clone(),
                status: receipt.status,
                from: receipt.from.clone(),
                num_segments: receipt.num_segments,
                price: receipt.price.clone(),
                price_unit: receipt.price_unit.clone(),
            };
            if &got != want {
                problems.push(format!(
                    "receipt:\n  got:  {}\n  want: {}",
                    json(&got),
                    json(want)
                ));
            }
        }
        (Err(e), SendExpect::Error(want)) => {
            let got = ExpectedError::from_error(e);
            if &got != want {
                problems.push(format!(
                    "error ({e}):\n  got:  {}\n  want: {}",
                    json(&got),
                    json(want)
                ));
            }
        }
        (Ok(receipt), SendExpect::Error(want)) => problems.push(format!(
            "outcome: got receipt {receipt:?}, want error {}",
            json(want)
        )),
        (Err(e), SendExpect::Receipt(want)) => problems.push(format!(
            "outcome: got error {e} ({}), want receipt {}",
            json(&ExpectedError::from_error(e)),
            json(want)
        )),
    }
    problems
}

/// A provider's hook that rewrites a recorded JSON body into the form cases are written
/// in (an opaque encoded field decoded, a generated id reduced to its shape).
pub(crate) type JsonNormalizer<'a> =
    &'a (dyn Fn(&mut serde_json::Value) -> Result<(), String> + Send + Sync + 'a);

/// Every way `got` differs from `want` (method, path, the headers named, the body).
pub(crate) fn request_problems(
    got: &RecordedRequest,
    want: &ExpectedRequest,
    normalize: Option<JsonNormalizer<'_>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if got.method != want.method {
        problems.push(format!(
            "request method: got {}, want {}",
            got.method, want.method
        ));
    }
    if got.path != want.path {
        problems.push(format!(
            "request path: got {}, want {}",
            got.path, want.path
        ));
    }
    for (name, value) in &want.headers {
        match got.header(name) {
            Some(v) if v == value => {}
            other => problems.push(format!(
                "request header {name}: got {other:?}, want {value:?}"
            )),
        }
    }
    let text = String::from_utf8_lossy(&got.body);
    match &want.body {
        None => {}
        Some(ExpectedBody::Form(pairs)) => {
            match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&got.body) {
                Ok(got_pairs) if &got_pairs == pairs => {}
                Ok(got_pairs) => problems.push(format!(
                    "request form:\n  got:  {}\n  want: {}",
                    json(&got_pairs),
                    json(pairs)
                )),
                Err(e) => problems.push(format!("request form: {e}; body {text:?}")),
            }
        }
        Some(ExpectedBody::Json(value)) => {
            let parsed = serde_json::from_slice::<serde_json::Value>(&got.body)
                .map_err(|e| e.to_string())
                .and_then(|mut v| {
                    if let Some(normalize) = normalize {
                        normalize(&mut v)?;
                    }
                    Ok(v)
                });
            match parsed {
                Ok(got_value) if &got_value == value => {}
                Ok(got_value) => problems.push(format!(
                    "request json:\n  got:  {got_value}\n  want: {value}"
                )),
                Err(e) => problems.push(format!("request json: {e}; body {text:?}")),
            }
        }
        Some(ExpectedBody::Raw(raw)) if text != raw.as_str() => {
            problems.push(format!("request body: got {text:?}, want {raw:?}"));
        }
        Some(ExpectedBody::Raw(_)) => {}
    }
    problems
}

pub(crate) fn show_request(r: &RecordedRequest) -> String {
    format!(
        "{} {} {:?}",
        r.method,
        r.path,
        String::from_utf8_lossy(&r.body)
    )
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("<{e}>"))
}
