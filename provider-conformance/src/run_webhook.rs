//! Running webhook cases through a provider's `handle_webhook` and `webhook_ack`.

use telephony_core::{Provider, SignatureCheck, WebhookRequest};
use time::OffsetDateTime;

use crate::env::unix;
use crate::{
    CaseEnv, CaseSource, Check, DEFAULT_NOW, ExpectedEvent, NO_API_URL, Report, SignatureSpec,
    WebhookCase, WebhookRequestParts, error_name, load_webhook_cases,
};

/// Runs every webhook case and panics once, listing every failure (label, got, want).
///
/// `factory` builds the provider for one case from its [`CaseEnv`] (install `env.now` as
/// the provider's clock); `signer` returns the signature headers for a `"valid"` request
/// at a clock.
///
/// ```
/// use telephony_conformance::{run_webhook_cases, CaseSource};
/// use telephony_core::{Provider, OutboundMessage, ProviderError, ProviderReceipt, SendOptions};
///
/// #[derive(Debug)]
/// struct NoWebhooks;
/// #[async_trait::async_trait]
/// impl Provider for NoWebhooks {
///     async fn send(&self, _: &OutboundMessage, _: &SendOptions) -> Result<ProviderReceipt, ProviderError> {
///         Err(ProviderError::NotConfigured("no".into()))
///     }
/// }
///
/// let cases = r#"[{"label": "refused", "request": {"url": "https://gw.example.com/hook"},
///   "signature": "missing", "check": "skip",
///   "expect": {"http_status": 404, "error": "Unsupported", "events": []}}]"#;
/// run_webhook_cases(CaseSource::json(cases), |_env| NoWebhooks, |_req, _now| Vec::new());
/// ```
#[track_caller]
pub fn run_webhook_cases<P, F, S>(cases: impl Into<CaseSource>, factory: F, signer: S)
where
    P: Provider,
    F: Fn(&CaseEnv) -> P,
    S: Fn(&WebhookRequestParts, OffsetDateTime) -> Vec<(String, String)>,
{
    check_webhook_cases(cases, factory, signer).assert_ok();
}

/// Runs every webhook case and returns the report instead of panicking.
pub fn check_webhook_cases<P, F, S>(cases: impl Into<CaseSource>, factory: F, signer: S) -> Report
where
    P: Provider,
    F: Fn(&CaseEnv) -> P,
    S: Fn(&WebhookRequestParts, OffsetDateTime) -> Vec<(String, String)>,
{
    let mut report = Report::new("webhook");
    match load_webhook_cases(cases) {
        Err(e) => report.record(&e.file, "(loading cases)", vec![e.reason]),
        Ok(cases) => {
            for loaded in cases {
                let problems = run_one(&loaded.case, &factory, &signer);
                report.record(&loaded.file, &loaded.case.label, problems);
            }
        }
    }
    report
}

/// Fail closed: every case the provider accepts with a computed, verified signature
/// (`check: "verify"`, HTTP 200, signature not a literal) must be refused with 403 once
/// `wrong_signer` (another key or token) signs it instead. Panics listing every case that
/// was not refused, and when fewer than `min_cases` such cases exist.
#[track_caller]
pub fn run_wrong_signer_cases<P, F, S>(
    cases: impl Into<CaseSource>,
    factory: F,
    wrong_signer: S,
    min_cases: usize,
) where
    P: Provider,
    F: Fn(&CaseEnv) -> P,
    S: Fn(&WebhookRequestParts, OffsetDateTime) -> Vec<(String, String)>,
{
    let mut report = Report::new("wrong-signature webhook");
    match load_webhook_cases(cases) {
        Err(e) => report.record(&e.file, "(loading cases)", vec![e.reason]),
        Ok(cases) => {
            for loaded in cases {
                let case = &loaded.case;
                // Literal signatures are sent verbatim: there is no signer to swap.
                let literal = matches!(case.signature, SignatureSpec::Literal(_));
                if case.check != Check::Verify || case.expect.http_status != 200 || literal {
                    continue;
                }
                let provider = factory(&CaseEnv::new(NO_API_URL, case.now.unwrap_or(DEFAULT_NOW)));
                let problems = match build_request(case, &wrong_signer) {
                    Err(e) => vec![format!("request does not build: {e}")],
                    Ok(req) => match provider.handle_webhook(&req, SignatureCheck::Verify) {
                        Err(e) if e.http_status() == 403 => Vec::new(),
                        Err(e) => vec![format!("refused with {} ({e}), want 403", e.http_status())],
                        Ok(event) => vec![format!("accepted with a wrong signature: {event:?}")],
                    },
                };
                report.record(&loaded.file, &case.label, problems);
            }
        }
    }
    report.assert_ok();
    assert!(
        report.cases() >= min_cases,
        "only {} accepted verified cases, want at least {min_cases}",
        report.cases()
    );
}

/// The request a case describes, signed as it says.
///
/// Headers come from the signer first, then the case's own headers (which win).
pub fn build_request<S>(case: &WebhookCase, signer: S) -> Result<WebhookRequest, String>
where
    S: Fn(&WebhookRequestParts, OffsetDateTime) -> Vec<(String, String)>,
{
    let parts = WebhookRequestParts {
        method: case.request.method.clone(),
        url: case.request.url.clone(),
        headers: case.request.headers.clone(),
        body: case.request.body.clone(),
    };
    let now = unix(case.now.unwrap_or(DEFAULT_NOW));
    let signature: Vec<(String, String)> = match &case.signature {
        SignatureSpec::Valid => signer(&parts, now),
        SignatureSpec::Missing => Vec::new(),
        SignatureSpec::Literal(headers) => headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        SignatureSpec::ValidFor(signed) => {
            let mut other = parts.clone();
            if let Some(url) = &signed.url {
                other.url = url.clone();
            }
            if let Some(body) = &signed.body {
                other.body = body.clone();
            }
            signer(&other, signed.now.map(unix).unwrap_or(now))
        }
    };
    let mut headers = http::HeaderMap::new();
    let explicit = case
        .request
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()));
    for (name, value) in signature.into_iter().chain(explicit) {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| format!("header name {name:?}: {e}"))?;
        let value = http::HeaderValue::from_str(&value)
            .map_err(|e| format!("header {name} value {value:?}: {e}"))?;
        headers.insert(name, value);
    }
    let method = http::Method::from_bytes(case.request.method.as_bytes())
        .map_err(|e| format!("method {:?}: {e}", case.request.method))?;
    Ok(WebhookRequest {
        url: case.request.url.clone(),
        method,
        headers,
        body: case.request.body.clone().into_bytes().into(),
    })
}

fn run_one<P, F, S>(case: &WebhookCase, factory: &F, signer: &S) -> Vec<String>
where
    P: Provider,
    F: Fn(&CaseEnv) -> P,
    S: Fn(&WebhookRequestParts, OffsetDateTime) -> Vec<(String, String)>,
{
    let mut problems = shape_problems(case);
    if !problems.is_empty() {
        return problems;
    }
    let request = match build_request(case, signer) {
        Ok(r) => r,
        Err(e) => return vec![format!("the case's request cannot be built: {e}")],
    };
    let env = CaseEnv::new(NO_API_URL, case.now.unwrap_or(DEFAULT_NOW));
    let provider = factory(&env);
    let check = match case.check {
        Check::Verify => SignatureCheck::Verify,
        Check::Skip => SignatureCheck::DangerouslySkip,
    };
    let want = &case.expect;
    // The gateway's clock around the request: a time the provider took from it (not
    // from the request) is expected as "received".
    let before = OffsetDateTime::now_utc();
    let outcome = provider.handle_webhook(&request, check);
    let after = OffsetDateTime::now_utc();
    let (http_status, error, events) = match outcome {
        Ok(event) => (200, None, vec![event]),
        Err(e) => (e.http_status(), Some(error_name(&e)), Vec::new()),
    };
    if http_status != want.http_status {
        problems.push(format!(
            "http_status: got {http_status}, want {}",
            want.http_status
        ));
    }
    if error != want.error {
        problems.push(format!("error: got {error:?}, want {:?}", want.error));
    }
    let got_events: Vec<Result<ExpectedEvent, String>> = events
        .iter()
        .map(|e| match ExpectedEvent::from_event(e) {
            Some(ExpectedEvent::Call(mut call)) => {
                call.mark_received(before, after);
                Ok(ExpectedEvent::Call(call))
            }
            Some(other) => Ok(other),
            None => Err(format!("{e:?}")),
        })
        .collect();
    if got_events.len() != want.events.len() {
        problems.push(format!(
            "events: got {}, want {}\n  got:  {}\n  want: {}",
            got_events.len(),
            want.events.len(),
            show_all(&got_events),
            json_list(&want.events)
        ));
    } else {
        for (i, (got, want)) in got_events.iter().zip(&want.events).enumerate() {
            match got {
                Ok(got) if got == want => {}
                Ok(got) => problems.push(format!(
                    "events[{i}]:\n  got:  {}\n  want: {}{}",
                    json(got),
                    json(want),
                    field_diff(got, want)
                )),
                Err(unknown) => problems.push(format!(
                    "events[{i}]: got an event kind this suite does not know: {unknown}"
                )),
            }
        }
    }
    if let (200, Some(ack)) = (http_status, &want.ack) {
        let got = provider.webhook_ack();
        let body = String::from_utf8_lossy(&got.body);
        if got.content_type != ack.content_type || body != ack.body {
            problems.push(format!(
                "ack: got {:?} {body:?}, want {:?} {:?}",
                got.content_type, ack.content_type, ack.body
            ));
        }
    }
    problems
}

/// Mistakes in the case itself, reported before running it.
fn shape_problems(case: &WebhookCase) -> Vec<String> {
    let e = &case.expect;
    let mut problems = Vec::new();
    if e.http_status == 200 && e.error.is_some() {
        problems.push("case: http_status 200 with an error".into());
    }
    if e.http_status != 200 && e.error.is_none() {
        problems.push("case: a refusal (http_status other than 200) needs an error".into());
    }
    if e.http_status != 200 && (!e.events.is_empty() || e.ack.is_some()) {
        problems.push("case: a refusal has no events and no ack".into());
    }
    problems
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("<{e}>"))
}

fn json_list(v: &[ExpectedEvent]) -> String {
    json(&v)
}

fn show_all(v: &[Result<ExpectedEvent, String>]) -> String {
    let shown: Vec<String> = v
        .iter()
        .map(|e| match e {
            Ok(e) => json(e),
            Err(unknown) => unknown.clone(),
        })
        .collect();
    format!("[{}]", shown.join(","))
}

/// The fields that differ, one per line, so a long event does not hide a one-field slip.
fn field_diff(got: &ExpectedEvent, want: &ExpectedEvent) -> String {
    let (Ok(serde_json::Value::Object(g)), Ok(serde_json::Value::Object(w))) =
        (serde_json::to_value(got), serde_json::to_value(want))
    else {
        return String::new();
    };
    let mut keys: Vec<&String> = g.keys().chain(w.keys()).collect();
    keys.sort();
    keys.dedup();
    let null = serde_json::Value::Null;
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (g.get(k).unwrap_or(&null), w.get(k).unwrap_or(&null));
            (a != b).then(|| format!("\n  {k}: got {a}, want {b}"))
        })
        .collect()
}
