//! Outbound calls: the Calls.json form, hang-up (20404 = already ended), fetch, live
//! TwiML updates, and the simulator's signed call status callbacks, parsed by the voice
//! webhook parser.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use telephony_core::voice::{
    CallAnswer, CallDirection, CallEvent, CallStatus, CallUpdate, OutboundCall, Say, VoiceResponse,
    VoiceRun,
};
use telephony_core::{Provider, ProviderError, SignatureCheck, WebhookEvent, WebhookRequest};
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{CallEnd, RunningSimulator, Simulator, SimulatorConfig};

use crate::support::{self, ACCOUNT, TOKEN, pairs};

const TO: &str = "+15550001111";
const FROM: &str = "+15550002222";

fn sim_config() -> SimulatorConfig {
    SimulatorConfig::new(ACCOUNT, TOKEN).with_callback_delay(Duration::from_millis(10))
}

async fn start(config: SimulatorConfig) -> (Simulator, RunningSimulator, TwilioProvider) {
    let (sim, server) = support::start(config).await;
    let provider = provider(&server.url());
    (sim, server, provider)
}

fn provider(base_url: &str) -> TwilioProvider {
    let mut config = TwilioConfig::new(ACCOUNT, TOKEN)
        .api_base_url(base_url)
        .from_number(FROM.parse().unwrap());
    config.max_attempts = 3;
    config.max_backoff = Duration::from_millis(10);
    TwilioProvider::new(config).unwrap()
}

// ---------------------------------------------------------------------------------------
// A loopback receiver for status callbacks, and a scripted fake Twilio
// ---------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>);

impl Received {
    fn all(&self) -> Vec<(String, HeaderMap, Bytes)> {
        self.0.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<(String, HeaderMap, Bytes)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let all = self.all();
            if all.len() >= n || Instant::now() > deadline {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Serves `app` on a loopback port; returns its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A status-callback receiver on `…/voice/status` that records what it gets; it also
/// answers the call's TwiML on `…/voice` (see [`voice_url`]), unrecorded, since the
/// simulator runs a call's `Url` once the callee answers.
async fn receiver() -> (String, Received) {
    async fn handle(
        State(r): State<Received>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        r.0.lock()
            .unwrap()
            .push((uri.path().to_string(), headers, body));
        StatusCode::NO_CONTENT
    }
    let received = Received::default();
    let app = axum::Router::new()
        .route(
            "/voice",
            axum::routing::post(|| async {
                (
                    [("content-type", "text/xml")],
                    "<Response><Say>Hi</Say></Response>",
                )
            }),
        )
        .fallback(handle)
        .with_state(received.clone());
    let base = serve(app).await;
    (format!("{base}/voice/status"), received)
}

/// The call's TwiML URL next to a [`receiver`]'s status callback URL.
fn voice_url(status_url: &str) -> String {
    status_url.replace("/voice/status", "/voice")
}

/// A call that stays up: a 600 s `<Pause>`, 6 s of real time with
/// [`paced_config`]'s 10 ms simulated second, so that a test can hang it up through the
/// API meanwhile.
fn long_pause() -> CallAnswer {
    CallAnswer::Response(VoiceResponse::new().pause(600))
}

fn paced_config() -> SimulatorConfig {
    sim_config().with_simulated_second(Duration::from_millis(10))
}

/// A fake Twilio answering every request with `status` and `body` (JSON); returns its
/// base URL and the number of requests it got.
async fn scripted(status: u16, body: &'static str) -> (String, Arc<Mutex<usize>>) {
    let count = Arc::new(Mutex::new(0usize));
    let c = count.clone();
    let app = axum::Router::new().fallback(move || {
        let c = c.clone();
        async move {
            *c.lock().unwrap() += 1;
            (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body,
            )
                .into_response()
        }
    });
    (serve(app).await, count)
}

/// Verifies and parses every received callback with the provider's webhook handler.
fn parse_all(
    twilio: &TwilioProvider,
    url: &str,
    received: &[(String, HeaderMap, Bytes)],
) -> Vec<telephony_core::voice::CallStatusUpdate> {
    received
        .iter()
        .map(|(_, headers, body)| {
            let req = WebhookRequest {
                url: url.to_string(),
                method: http::Method::POST,
                headers: headers.clone(),
                body: body.clone(),
            };
            match twilio.handle_webhook(&req, SignatureCheck::Verify) {
                Ok(WebhookEvent::Call(CallEvent::Status(update))) => update,
                other => panic!("not a call status callback: {other:?}"),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_sends_the_exact_form_once() {
    let (sim, _server, twilio) = start(sim_config()).await;
    let call = OutboundCall::new(
        TO,
        CallAnswer::Response(VoiceResponse::new().say(Say::new("Hello").voice("alice"))),
    )
    .status_callback("https://gw.example.com/voice/status")
    .ring_timeout_secs(30)
    .time_limit_secs(600)
    .machine_detection(telephony_core::voice::MachineDetection::Detect);
    let placed = twilio.place_call(&call).await.unwrap();
    assert!(placed.call_id.starts_with("CA") && placed.call_id.len() == 34);
    assert_eq!(placed.status, CallStatus::Queued);
    assert_eq!(placed.direction, CallDirection::Outbound);
    assert_eq!((placed.from.as_str(), placed.to.as_str()), (FROM, TO));
    assert_eq!(placed.account.as_deref(), Some(ACCOUNT));

    let requests = sim.call_create_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].http_status, 201);
    assert_eq!(
        requests[0].params,
        pairs(&[
            ("To", TO),
            ("From", FROM),
            (
                "Twiml",
                r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="alice">Hello</Say></Response>"#
            ),
            ("StatusCallback", "https://gw.example.com/voice/status"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
            ("Timeout", "30"),
            ("TimeLimit", "600"),
            ("MachineDetection", "Enable"),
            ("AsyncAmd", "true"),
            (
                "AsyncAmdStatusCallback",
                "https://gw.example.com/voice/status",
            ),
        ])
    );
}

#[tokio::test]
async fn create_by_url_with_the_calls_own_from_and_no_callback() {
    let (sim, _server, twilio) = start(sim_config()).await;
    // (Nothing listens on port 9: the simulator's request for the TwiML fails, which does
    // not matter here.)
    let call = OutboundCall::new(TO, CallAnswer::Url("http://127.0.0.1:9/voice".into()))
        .from("+15550003333");
    twilio.place_call(&call).await.unwrap();
    assert_eq!(
        sim.call_create_requests()[0].params,
        pairs(&[
            ("To", TO),
            ("From", "+15550003333"),
            ("Url", "http://127.0.0.1:9/voice"),
        ])
    );
}

#[tokio::test]
async fn twiml_over_4000_characters_is_refused_without_a_request() {
    let (sim, _server, twilio) = start(sim_config()).await;
    let xml_overhead = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say></Say></Response>"#
        .chars()
        .count();
    // Exactly 4000 goes through …
    let fits = "a".repeat(4000 - xml_overhead);
    twilio
        .place_call(&OutboundCall::new(
            TO,
            CallAnswer::Response(VoiceResponse::new().say(fits)),
        ))
        .await
        .unwrap();
    // … 4001 does not, and makes no request.
    let too_long = "a".repeat(4001 - xml_overhead);
    let err = twilio
        .place_call(&OutboundCall::new(
            TO,
            CallAnswer::Response(VoiceResponse::new().say(too_long)),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid message: the call's TwiML is 4001 characters long; Twilio accepts at most 4000"
    );
    assert_eq!(sim.call_create_requests().len(), 1);
}

#[tokio::test]
async fn markup_is_sent_as_twiml_once_it_parses() {
    let (sim, _server, twilio) = start(sim_config()).await;
    let doc = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hi &amp; bye</Say><Hangup/></Response>"#;
    twilio
        .place_call(&OutboundCall::new(TO, CallAnswer::Markup(doc.into())))
        .await
        .unwrap();
    assert_eq!(
        sim.call_create_requests()[0].params,
        pairs(&[("To", TO), ("From", FROM), ("Twiml", doc)])
    );

    // Not well-formed, or not a <Response>: refused before any request, not retryable,
    // naming where and what.
    let cases = [
        (
            "<Response><Say>Tom & Jerry</Say></Response>",
            "invalid message: the call's TwiML is not a document Twilio can parse (error 12100): \
             line 1, column 20: ill-formed document: entity or character reference not closed: \
             `;` not found before end of input",
        ),
        (
            "<Response>\n<Say>Hi</Response>",
            "invalid message: the call's TwiML is not a document Twilio can parse (error 12100): \
             line 2, column 8: ill-formed document: expected `</Say>`, but `</Response>` was found",
        ),
        (
            "<Message>Hi</Message>",
            "invalid message: the call's TwiML is not a document Twilio can parse (error 12100): \
             line 1, column 1: the root element is <Message>; TwiML needs <Response>",
        ),
        (
            "",
            "invalid message: the call's TwiML is not a document Twilio can parse (error 12100): \
             line 1, column 1: no root element",
        ),
    ];
    for (doc, message) in cases {
        let err = twilio
            .place_call(&OutboundCall::new(TO, CallAnswer::Markup(doc.into())))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::InvalidMessage(_)), "{err:?}");
        assert!(!err.is_retryable());
        assert_eq!(err.to_string(), message);
    }
    // Over 4000 characters: the length is named first, as for rendered TwiML.
    let long = format!("<Response><Say>{}</Say></Response>", "a".repeat(4000));
    let err = twilio
        .place_call(&OutboundCall::new(TO, CallAnswer::Markup(long)))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid message: the call's TwiML is 4032 characters long; Twilio accepts at most 4000"
    );
    assert_eq!(sim.call_create_requests().len(), 1);
}

#[tokio::test]
async fn create_is_one_attempt_even_on_500() {
    let (base, count) = scripted(
        500,
        r#"{"code":20500,"message":"Internal Server Error","status":500}"#,
    )
    .await;
    let err = provider(&base)
        .place_call(&OutboundCall::new(
            TO,
            CallAnswer::Url("https://gw.example.com/voice".into()),
        ))
        .await
        .unwrap_err();
    assert_eq!((err.http_status(), err.code()), (Some(500), Some(20500)));
    assert_eq!(*count.lock().unwrap(), 1);
}

// ---------------------------------------------------------------------------------------
// Hang up and fetch
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn hang_up_then_fetch_then_hang_up_again() {
    // Calls end when their TwiML does: a long, paced <Pause> keeps this one in progress.
    let (sim, _server, twilio) = start(paced_config()).await;
    let call = twilio
        .place_call(&OutboundCall::new(TO, long_pause()))
        .await
        .unwrap();
    // Let the simulated callee answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.call(&call.call_id).unwrap().status.as_deref() != Some("in-progress") {
        assert!(Instant::now() < deadline, "never answered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        twilio.fetch_call(&call.call_id).await.unwrap().status,
        CallStatus::InProgress
    );
    twilio.hang_up(&call.call_id).await.unwrap();

    let fetched = twilio.fetch_call(&call.call_id).await.unwrap();
    assert_eq!(fetched.status, CallStatus::Completed);
    assert_eq!(fetched.direction, CallDirection::Outbound);
    assert!(fetched.started_at.is_some() && fetched.ended_at.is_some());
    assert!(fetched.extra.contains_key("duration"));

    // Twilio answers 404/20404 for a call that already ended: that is a success.
    let raw = twilio.client().hang_up_call(&call.call_id).await.unwrap();
    assert_eq!(raw, None);
    twilio.hang_up(&call.call_id).await.unwrap();

    // The hang-up cut the <Pause> short.
    let outcome = sim
        .wait_for_call(&call.call_id, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(outcome.ended_by, Some(CallEnd::ApiHangUp));
    assert!(
        outcome.duration_secs.is_some_and(|d| d < 600),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn hang_up_20404_is_ok_other_errors_are_not() {
    let (base, count) = scripted(
        404,
        r#"{"code":20404,"message":"The requested resource /2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls/CA1.json was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}"#,
    )
    .await;
    provider(&base).hang_up("CA1").await.unwrap();
    assert_eq!(*count.lock().unwrap(), 1);

    // A 404 that is not Twilio's 20404 (a wrong base URL, a proxy) is an error.
    let (base, _) = scripted(404, r#"{"message":"no such route"}"#).await;
    let err = provider(&base).hang_up("CA1").await.unwrap_err();
    assert_eq!((err.http_status(), err.code()), (Some(404), None));

    // 500: an error, retryable, after exactly one attempt.
    let (base, count) = scripted(
        500,
        r#"{"code":20500,"message":"Internal Server Error","status":500}"#,
    )
    .await;
    let err = provider(&base).hang_up("CA1").await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Api { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(*count.lock().unwrap(), 1);

    let err = provider(&base).hang_up(" ").await.unwrap_err();
    assert!(matches!(err, ProviderError::InvalidMessage(_)), "{err:?}");
}

#[tokio::test]
async fn fetch_maps_the_call_resource() {
    let (base, _) = scripted(
        200,
        r#"{"sid":"CAbe98aaaaaaaaaaaaaaaaaaaaaaaaaaaa","account_sid":"AC0123456789abcdef0123456789abcdef","from":"+15550002222","to":"+15550001111","status":"busy","direction":"outbound-api","start_time":"Sun, 25 Mar 2018 09:53:19 +0000","end_time":"Sun, 25 Mar 2018 09:53:49 +0000","duration":"0","answered_by":null,"price":null,"api_version":"2010-04-01"}"#,
    )
    .await;
    let call = provider(&base)
        .fetch_call("CAbe98aaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .await
        .unwrap();
    assert_eq!(call.call_id, "CAbe98aaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(call.status, CallStatus::Busy);
    assert_eq!(call.direction, CallDirection::Outbound);
    assert_eq!(call.started_at.unwrap().unix_timestamp(), 1521971599);
    assert_eq!(call.ended_at.unwrap().unix_timestamp(), 1521971629);
    assert_eq!(call.answered_at, None);
    assert_eq!(
        call.extra.into_iter().collect::<Vec<_>>(),
        pairs(&[("direction", "outbound-api"), ("duration", "0")])
    );

    let (base, _) = scripted(200, r#"{"sid":"CA1","status":"ringing-ish"}"#).await;
    let err = provider(&base).fetch_call("CA1").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected response from twilio: call CA1 has unknown status \"ringing-ish\""
    );
}

// ---------------------------------------------------------------------------------------
// Status callbacks
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn status_callbacks_arrive_signed_and_in_order() {
    let (sim, _server, twilio) = start(sim_config().with_call_duration_secs(42)).await;
    let (url, received) = receiver().await;
    let call = twilio
        .place_call(&OutboundCall::new(TO, CallAnswer::Url(voice_url(&url))).status_callback(&url))
        .await
        .unwrap();
    let got = received.wait_for(4).await;
    assert_eq!(got.len(), 4, "{:?}", sim.call_callbacks());
    for (path, headers, _) in &got {
        assert_eq!(path, "/voice/status");
        assert_eq!(headers["user-agent"], "TwilioProxy/1.1");
        assert!(headers.contains_key("x-twilio-signature"));
    }
    // handle_webhook verifies each signature against the URL, then parses.
    let updates = parse_all(&twilio, &url, &got);
    let summary: Vec<_> = updates
        .iter()
        .map(|u| (u.call_id.as_str(), u.status, u.sequence, u.duration_secs))
        .collect();
    let id = call.call_id.as_str();
    assert_eq!(
        summary,
        [
            (id, CallStatus::Queued, Some(0), None),
            (id, CallStatus::Ringing, Some(1), None),
            (id, CallStatus::InProgress, Some(2), None),
            (id, CallStatus::Completed, Some(3), Some(42)),
        ]
    );
    // `initiated` is kept as Twilio said it.
    assert_eq!(
        updates[0].extra.get("CallStatus").map(String::as_str),
        Some("initiated")
    );
    assert_eq!(
        updates[3].extra.get("Duration").map(String::as_str),
        Some("1")
    );
    assert!(updates.iter().all(|u| u.timestamp.is_some()));

    let records = sim.call_callbacks();
    let events: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r.event.as_str(),
                r.call_status.as_str(),
                r.dropped,
                r.http_status,
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("initiated", "initiated", false, Some(204)),
            ("ringing", "ringing", false, Some(204)),
            ("answered", "in-progress", false, Some(204)),
            ("completed", "completed", false, Some(204)),
        ]
    );
    // The ended call: fetch says completed with the simulated duration; hanging up now is 20404 → Ok.
    let fetched = twilio.fetch_call(id).await.unwrap();
    assert_eq!(fetched.status, CallStatus::Completed);
    assert_eq!(
        fetched.extra.get("duration").map(String::as_str),
        Some("42")
    );
    twilio.hang_up(id).await.unwrap();
    assert_eq!(sim.call_callbacks().len(), 4);
}

#[tokio::test]
async fn hang_up_through_the_api_sends_completed() {
    let (sim, _server, twilio) = start(paced_config()).await;
    let (url, received) = receiver().await;
    let call = twilio
        .place_call(&OutboundCall::new(TO, long_pause()).status_callback(&url))
        .await
        .unwrap();
    assert_eq!(received.wait_for(3).await.len(), 3);
    twilio.hang_up(&call.call_id).await.unwrap();
    let got = received.wait_for(4).await;
    let updates = parse_all(&twilio, &url, &got);
    let statuses: Vec<_> = updates.iter().map(|u| u.status).collect();
    assert_eq!(
        statuses,
        [
            CallStatus::Queued,
            CallStatus::Ringing,
            CallStatus::InProgress,
            CallStatus::Completed
        ]
    );
    // Real elapsed seconds since the answer: well under a minute here.
    assert!(updates[3].duration_secs.is_some_and(|d| d < 60));
    assert!(sim.call_callbacks().iter().all(|r| !r.dropped));
}

#[tokio::test]
async fn drop_knob_drops_exactly_the_named_callback() {
    let (sim, _server, twilio) = start(sim_config().with_call_duration_secs(7)).await;
    sim.drop_call_callbacks("completed");
    let (url, received) = receiver().await;
    twilio
        .place_call(&OutboundCall::new(TO, CallAnswer::Url(voice_url(&url))).status_callback(&url))
        .await
        .unwrap();
    // Wait for the call to end in the simulator, then a little longer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.call_callbacks().len() < 4 {
        assert!(Instant::now() < deadline, "{:?}", sim.call_callbacks());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = received.all();
    let statuses: Vec<_> = parse_all(&twilio, &url, &got)
        .iter()
        .map(|u| (u.status, u.sequence))
        .collect();
    assert_eq!(
        statuses,
        [
            (CallStatus::Queued, Some(0)),
            (CallStatus::Ringing, Some(1)),
            (CallStatus::InProgress, Some(2)),
        ]
    );
    let dropped: Vec<_> = sim
        .call_callbacks()
        .into_iter()
        .filter(|r| r.dropped)
        .map(|r| (r.event, r.call_status, r.http_status, r.signature))
        .collect();
    assert_eq!(
        dropped,
        [(
            "completed".to_string(),
            "completed".to_string(),
            None,
            String::new()
        )]
    );
    // The call did end: fetch knows, only the callback was lost.
    assert_eq!(sim.calls()[0].status.as_deref(), Some("completed"));
}

#[tokio::test]
async fn without_status_callback_events_only_completed_is_sent() {
    let (sim, server, _twilio) = start(sim_config().with_call_duration_secs(3)).await;
    let (url, received) = receiver().await;
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/2010-04-01/Accounts/{ACCOUNT}/Calls.json",
            server.url()
        ))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[
            ("To", TO),
            ("From", FROM),
            ("Url", voice_url(&url).as_str()),
            ("StatusCallback", url.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let got = received.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(received.all().len(), 1);
    let twilio = provider(&server.url());
    let updates = parse_all(&twilio, &url, &got);
    assert_eq!(
        (
            updates[0].status,
            updates[0].sequence,
            updates[0].duration_secs
        ),
        (CallStatus::Completed, Some(0), Some(3))
    );
    assert_eq!(sim.call_callbacks().len(), 1);
}

#[tokio::test]
async fn simulator_create_validation_and_unknown_calls() {
    let (sim, server, twilio) = start(sim_config()).await;
    let post = |form: Vec<(&'static str, &'static str)>| {
        let url = format!("{}/2010-04-01/Accounts/{ACCOUNT}/Calls.json", server.url());
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .basic_auth(ACCOUNT, Some(TOKEN))
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, body["code"].as_i64())
        }
    };
    assert_eq!(
        post(vec![("From", FROM), ("Url", "https://x")]).await,
        (400, Some(21201))
    );
    assert_eq!(
        post(vec![("To", TO), ("Url", "https://x")]).await,
        (400, Some(21213))
    );
    assert_eq!(
        post(vec![("To", TO), ("From", FROM)]).await,
        (400, Some(21200))
    );
    let codes: Vec<_> = sim
        .call_create_requests()
        .iter()
        .map(|r| r.http_status)
        .collect();
    assert_eq!(codes, [400, 400, 400]);
    assert!(sim.calls().is_empty());

    let err = twilio.fetch_call("CAnope").await.unwrap_err();
    assert_eq!((err.http_status(), err.code()), (Some(404), Some(20404)));
}

#[tokio::test]
async fn a_live_twiml_update_replaces_what_the_call_runs_and_an_ended_call_says_so() {
    let (sim, _server, twilio) = start(paced_config()).await;
    let call = twilio
        .place_call(&OutboundCall::new(TO, long_pause()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.call(&call.call_id).unwrap().status.as_deref() != Some("in-progress") {
        assert!(Instant::now() < deadline, "never answered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Malformed TwiML is refused before any request.
    let err = twilio
        .update_call(&call.call_id, &CallUpdate::Twiml("<Response><Say>".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::InvalidMessage(_)), "{err:?}");
    let run = twilio
        .update_call(
            &call.call_id,
            &CallUpdate::Twiml("<Response><Say>Your order is ready.</Say></Response>".into()),
        )
        .await
        .unwrap();
    assert_eq!(run, VoiceRun::Done);
    let outcome = sim
        .wait_for_call(&call.call_id, Duration::from_secs(10))
        .await
        .unwrap();
    // The update cut the <Pause> short and its document ran to the end.
    assert_eq!(outcome.heard(), ["Your order is ready."]);
    assert_eq!(outcome.ended_by, Some(CallEnd::DocumentEnd));
    assert!(
        outcome.duration_secs.is_some_and(|d| d < 600),
        "{outcome:?}"
    );
    // Twilio's 404/20404 for an ended call: the update reports the call ended.
    let run = twilio
        .update_call(&call.call_id, &CallUpdate::Hangup)
        .await
        .unwrap();
    assert_eq!(run, VoiceRun::CallEnded);
    let run = twilio
        .update_call(
            &call.call_id,
            &CallUpdate::Twiml("<Response><Hangup/></Response>".into()),
        )
        .await
        .unwrap();
    assert_eq!(run, VoiceRun::CallEnded);
}
