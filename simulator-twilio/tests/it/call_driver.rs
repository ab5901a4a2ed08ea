//! The simulator driving whole calls against a stand-in gateway over real HTTP on
//! 127.0.0.1: the gateway checks every request's signature with the crate's own
//! validator, reads it with `TwilioProvider::handle_webhook`, and answers TwiML.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use telephony_core::voice::{CallAnswer, CallEvent, CallStatus, OutboundCall, VoiceResponse};
use telephony_core::{Provider, SignatureCheck, WebhookEvent, WebhookRequest};
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{
    CallEnd, CallOutcome, CallScript, CalleeOutcome, CallerInput, GatherRecord, Heard, InboundCall,
    MAX_CALL_DOCUMENTS, RunningSimulator, Simulator, SimulatorConfig,
};

use crate::support::{self, ACCOUNT, TOKEN, pairs, say};

/// The account's number.
const OURS: &str = "+15550001234";
/// A caller, and a callee of outbound calls.
const THEIRS: &str = "+15550005678";
const BUSY: &str = "+15550000486";
const NO_ANSWER: &str = "+15550000487";
const UNREACHABLE: &str = "+15550000404";

fn sim_config() -> SimulatorConfig {
    SimulatorConfig::new(ACCOUNT, TOKEN)
        .with_callback_delay(Duration::from_millis(5))
        .with_callee_outcome(BUSY, CalleeOutcome::Busy)
        .with_callee_outcome(NO_ANSWER, CalleeOutcome::NoAnswer)
        .with_callee_outcome(UNREACHABLE, CalleeOutcome::Fail)
}

const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

fn doc(body: &str) -> String {
    format!("{XML}<Response>{body}</Response>")
}

// ---------------------------------------------------------------------------------------
// The stand-in gateway
// ---------------------------------------------------------------------------------------

/// How the gateway answers one path.
#[derive(Clone)]
enum Answer {
    /// 200 `text/xml`.
    Xml(String),
    /// Anything.
    Raw {
        status: u16,
        content_type: Option<&'static str>,
        body: String,
    },
    /// Hangs the call up through the Calls API first, then answers this TwiML (which the
    /// simulator must not run).
    HangUpThen(String),
}

/// One request the gateway got.
#[derive(Debug, Clone)]
struct Hit {
    method: String,
    path: String,
    /// The full URL, as signed.
    url: String,
    params: Vec<(String, String)>,
    signature_ok: bool,
    /// What `handle_webhook` made of it: `incoming`, `progress`, `gather`, `status:<status>`
    /// (or `get` for a GET, which it does not read).
    event: String,
}

impl Hit {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct Gateway {
    base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    routes: Arc<Mutex<HashMap<String, Answer>>>,
    twilio: Arc<TwilioProvider>,
}

impl Gateway {
    fn route(&self, path: &str, answer: Answer) {
        self.routes.lock().unwrap().insert(path.to_string(), answer);
    }

    fn xml(&self, path: &str, body: &str) {
        self.route(path, Answer::Xml(doc(body)));
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Every request was signed right.
    fn assert_all_signed(&self) {
        let hits = self.hits();
        assert!(!hits.is_empty());
        for h in &hits {
            assert!(h.signature_ok, "bad signature on {h:?}");
        }
    }

    /// `(method, path, event)` of every request, in order.
    fn summary(&self) -> Vec<(String, String, String)> {
        self.hits()
            .into_iter()
            .map(|h| (h.method, h.path, h.event))
            .collect()
    }

    /// The status callbacks received, as `(CallStatus, SequenceNumber, CallDuration)`.
    fn status_callbacks(&self) -> Vec<(String, String, Option<String>)> {
        self.hits()
            .into_iter()
            .filter(|h| h.path == "/status")
            .map(|h| {
                (
                    h.param("CallStatus").unwrap_or_default().to_string(),
                    h.param("SequenceNumber").unwrap_or_default().to_string(),
                    h.param("CallDuration").map(str::to_string),
                )
            })
            .collect()
    }
}

async fn handle(
    State(gw): State<Gateway>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let url = match uri.query() {
        Some(q) => format!("{}{}?{q}", gw.base, uri.path()),
        None => format!("{}{}", gw.base, uri.path()),
    };
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let validator = RequestValidator::new(TOKEN);
    let (params, signature_ok, event) = if method == Method::GET {
        let params: Vec<(String, String)> =
            serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap();
        let ok = validator.validate(&url, &[], &signature);
        (params, ok, "get".to_string())
    } else {
        let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
        let ok = validator.validate(&url, &params, &signature);
        let request = WebhookRequest {
            url: url.clone(),
            method: http::Method::POST,
            headers: headers.clone(),
            body: body.clone(),
        };
        let event = match gw.twilio.handle_webhook(&request, SignatureCheck::Verify) {
            Ok(WebhookEvent::Call(CallEvent::Incoming(_))) => "incoming".to_string(),
            Ok(WebhookEvent::Call(CallEvent::Progress(_))) => "progress".to_string(),
            Ok(WebhookEvent::Call(CallEvent::Transfer { outcome, .. })) => {
                format!("transfer:{outcome}")
            }
            Ok(WebhookEvent::Call(CallEvent::Gather { .. })) => "gather".to_string(),
            Ok(WebhookEvent::Call(CallEvent::Status(u))) => format!("status:{:?}", u.status),
            other => format!("other: {other:?}"),
        };
        (params, ok, event)
    };
    let hit = Hit {
        method: method.to_string(),
        path: uri.path().to_string(),
        url,
        params,
        signature_ok,
        event,
    };
    gw.hits.lock().unwrap().push(hit.clone());
    if hit.path == "/status" {
        return StatusCode::NO_CONTENT.into_response();
    }
    let answer = gw.routes.lock().unwrap().get(uri.path()).cloned();
    match answer {
        None => (StatusCode::NOT_FOUND, "no such route").into_response(),
        Some(Answer::Xml(body)) => ([("content-type", "text/xml")], body).into_response(),
        Some(Answer::Raw {
            status,
            content_type,
            body,
        }) => {
            let mut resp = (StatusCode::from_u16(status).unwrap(), body).into_response();
            match content_type {
                Some(ct) => {
                    resp.headers_mut()
                        .insert("content-type", ct.parse().unwrap());
                }
                None => {
                    resp.headers_mut().remove("content-type");
                }
            }
            resp
        }
        Some(Answer::HangUpThen(body)) => {
            let sid = hit.param("CallSid").unwrap().to_string();
            gw.twilio.hang_up(&sid).await.unwrap();
            ([("content-type", "text/xml")], body).into_response()
        }
    }
}

/// A simulator (served) and a gateway that can reach its Calls API.
async fn setup(config: SimulatorConfig) -> (Simulator, RunningSimulator, Gateway) {
    let (sim, server) = support::start(config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let twilio = TwilioProvider::new(
        TwilioConfig::new(ACCOUNT, TOKEN)
            .api_base_url(server.url())
            .from_number(OURS.parse().unwrap()),
    )
    .unwrap();
    let gw = Gateway {
        base,
        hits: Arc::default(),
        routes: Arc::default(),
        twilio: Arc::new(twilio),
    };
    let app = axum::Router::new().fallback(handle).with_state(gw.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (sim, server, gw)
}

fn inbound(gw: &Gateway, script: CallScript) -> InboundCall {
    InboundCall::new(THEIRS, OURS, gw.url("/voice"))
        .status_callback(gw.url("/status"))
        .script(script)
}

/// `(url, method, http_status, body)` of every document.
fn documents(outcome: &CallOutcome) -> Vec<(Option<String>, String, Option<u16>, String)> {
    outcome
        .documents
        .iter()
        .map(|d| {
            (
                d.url.clone(),
                d.method.clone(),
                d.http_status,
                d.body.clone(),
            )
        })
        .collect()
}

fn event(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

fn statuses(list: &[(&str, &str, Option<&str>)]) -> Vec<(String, String, Option<String>)> {
    list.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.map(str::to_string)))
        .collect()
}

/// The call parameters of a voice webhook request (PROTOCOL §2.3).
fn call_params(
    sid: &str,
    status: &str,
    direction: &str,
    from: &str,
    to: &str,
) -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", sid),
        ("CallStatus", status),
        ("Called", to),
        ("CalledCity", ""),
        ("CalledCountry", "US"),
        ("CalledState", ""),
        ("CalledZip", ""),
        ("Caller", from),
        ("CallerCity", ""),
        ("CallerCountry", "US"),
        ("CallerState", ""),
        ("CallerZip", ""),
        ("Direction", direction),
        ("From", from),
        ("FromCity", ""),
        ("FromCountry", "US"),
        ("FromState", ""),
        ("FromZip", ""),
        ("To", to),
        ("ToCity", ""),
        ("ToCountry", "US"),
        ("ToState", ""),
        ("ToZip", ""),
    ])
}

fn with(mut base: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    base.extend(pairs(extra));
    base
}

// ---------------------------------------------------------------------------------------
// Inbound calls
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn inbound_greeting_gather_speech_action_hangup() {
    let (sim, server, gw) = setup(sim_config()).await;
    let greeting = doc(
        r#"<Say voice="Polly.Joanna" language="en-US">Hello, thanks for calling.</Say><Gather input="speech" action="/voice/gather" speechTimeout="auto"><Say>How can I help?</Say></Gather><Say>Goodbye.</Say>"#,
    );
    let answer = doc("<Say>Booked. Goodbye.</Say><Hangup/><Say>never heard</Say>");
    gw.route("/voice", Answer::Xml(greeting.clone()));
    gw.route("/voice/gather", Answer::Xml(answer.clone()));

    let outcome = sim
        .place_inbound_call(inbound(
            &gw,
            CallScript::new().say_with_confidence("A table for two tonight", 0.93),
        ))
        .await
        .unwrap();
    let sid = outcome.call_sid.clone();
    assert!(sid.starts_with("CA") && sid.len() == 34);

    // What the caller heard, exactly, and nothing after <Hangup/>.
    assert_eq!(
        outcome.transcript,
        [
            Heard::Say {
                text: "Hello, thanks for calling.".into(),
                voice: Some("Polly.Joanna".into()),
                language: Some("en-US".into()),
            },
            say("How can I help?"),
            say("Booked. Goodbye."),
        ]
    );
    assert_eq!(
        outcome.heard(),
        [
            "Hello, thanks for calling.",
            "How can I help?",
            "Booked. Goodbye."
        ]
    );
    assert_eq!(
        documents(&outcome),
        [
            (Some(gw.url("/voice")), "POST".into(), Some(200), greeting),
            (
                Some(gw.url("/voice/gather")),
                "POST".into(),
                Some(200),
                answer
            ),
        ]
    );
    let speech = pairs(&[
        ("SpeechResult", "A table for two tonight"),
        ("Confidence", "0.93"),
    ]);
    assert_eq!(
        outcome.gathers,
        [GatherRecord {
            verb: "Gather".into(),
            input: CallerInput::Speech {
                text: "A table for two tonight".into(),
                confidence: Some(0.93),
            },
            action: Some(gw.url("/voice/gather")),
            params: speech.clone(),
        }]
    );
    // 4 + 4 + 2 words at 400 ms, plus 1 s for the answer: 5 s.
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.answered,
            outcome.ended_by,
            outcome.duration_secs,
            outcome.error.clone(),
            outcome.finished,
        ),
        (
            "completed",
            true,
            Some(CallEnd::Hangup),
            Some(5),
            None,
            true
        )
    );

    // The gateway got: the ringing webhook, the gather result, the completed callback —
    // every one signed, and read by the crate's own webhook parser.
    gw.assert_all_signed();
    assert_eq!(
        gw.summary(),
        event(&[
            ("POST", "/voice", "incoming"),
            ("POST", "/voice/gather", "gather"),
            ("POST", "/status", "status:Completed"),
        ])
    );
    let hits = gw.hits();
    assert_eq!(
        hits[0].params,
        call_params(&sid, "ringing", "inbound", THEIRS, OURS)
    );
    assert_eq!(
        hits[1].params,
        with(
            call_params(&sid, "in-progress", "inbound", THEIRS, OURS),
            &[
                ("SpeechResult", "A table for two tonight"),
                ("Confidence", "0.93")
            ]
        )
    );
    assert_eq!(outcome.documents[1].params, hits[1].params);
    assert_eq!(hits[0].params.len() + 2, outcome.documents[1].params.len());
    assert_eq!(
        gw.status_callbacks(),
        statuses(&[("completed", "0", Some("5"))])
    );
    let completed = &hits[2];
    for (k, v) in [
        ("CallSid", sid.as_str()),
        ("Direction", "inbound"),
        ("From", THEIRS),
        ("To", OURS),
        ("CallbackSource", "call-progress-events"),
        ("Duration", "1"),
    ] {
        assert_eq!(completed.param(k), Some(v), "{k}");
    }
    assert_eq!(completed.param("SipResponseCode"), None);

    // The Calls API knows the call.
    let fetched = gw.twilio.fetch_call(&sid).await.unwrap();
    assert_eq!(fetched.status, CallStatus::Completed);
    assert_eq!(
        fetched.direction,
        telephony_core::voice::CallDirection::Inbound
    );
    assert_eq!((fetched.from.as_str(), fetched.to.as_str()), (THEIRS, OURS));
    assert_eq!(fetched.extra.get("duration").map(String::as_str), Some("5"));
    assert_eq!(sim.call_outcome(&sid), Some(outcome));
    server.shutdown().await;
}

#[tokio::test]
async fn inbound_call_is_ringing_in_the_calls_api_while_the_webhook_runs() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.xml("/voice", "<Say>Hi</Say>");
    // start_inbound_call returns before the webhook is requested.
    let sid = sim
        .start_inbound_call(inbound(&gw, CallScript::new()))
        .unwrap();
    let ringing = sim.call(&sid).unwrap();
    assert_eq!(
        (ringing.status.as_deref(), ringing.direction.as_deref()),
        (Some("ringing"), Some("inbound"))
    );
    let outcome = sim
        .wait_for_call(&sid, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.ended_by,
            outcome.duration_secs
        ),
        ("completed", Some(CallEnd::DocumentEnd), Some(1))
    );
    assert_eq!(outcome.heard(), ["Hi"]);
}

#[tokio::test]
async fn silence_falls_through_to_the_next_verb() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.xml(
        "/voice",
        r#"<Gather input="speech" action="/never" timeout="3"><Say>Anyone there?</Say></Gather><Say>We did not hear you.</Say><Gather action="/never"><Say>Press a key.</Say></Gather><Say>Bye.</Say>"#,
    );
    // One silence, then speech that a DTMF-only <Gather> does not listen to.
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new().silence().say("hello?")))
        .await
        .unwrap();
    assert_eq!(
        outcome.heard(),
        [
            "Anyone there?",
            "We did not hear you.",
            "Press a key.",
            "Bye."
        ]
    );
    assert_eq!(
        outcome.gathers,
        [
            GatherRecord {
                verb: "Gather".into(),
                input: CallerInput::Silence,
                action: None,
                params: vec![],
            },
            GatherRecord {
                verb: "Gather".into(),
                input: CallerInput::Speech {
                    text: "hello?".into(),
                    confidence: None
                },
                action: None,
                params: vec![],
            },
        ]
    );
    assert_eq!(outcome.documents.len(), 1);
    // 0.8 s + 3 s timeout + 2 s + 1.2 s + 5 s default timeout + 0.4 s = 12.4 s → 13.
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.ended_by,
            outcome.duration_secs
        ),
        ("completed", Some(CallEnd::DocumentEnd), Some(13))
    );
    assert_eq!(
        gw.summary(),
        event(&[
            ("POST", "/voice", "incoming"),
            ("POST", "/status", "status:Completed"),
        ])
    );
    assert_eq!(
        gw.status_callbacks(),
        statuses(&[("completed", "0", Some("13"))])
    );
}

#[tokio::test]
async fn digits_with_finish_key_and_num_digits_and_an_empty_script() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.xml(
        "/voice",
        r##"<Gather action="pin" finishOnKey="#"><Say>PIN?</Say></Gather>"##,
    );
    gw.xml(
        "/pin",
        r#"<Gather numDigits="1" action="/menu"><Say>Menu.</Say></Gather>"#,
    );
    gw.xml(
        "/menu",
        r#"<Gather action="/never"><Say>Anything else?</Say></Gather><Say>Bye.</Say>"#,
    );
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new().press("1234#9").press("21")))
        .await
        .unwrap();
    // The relative action `pin` resolves against /voice; then the script is empty: silence.
    let actions: Vec<_> = outcome
        .gathers
        .iter()
        .map(|g| (g.action.clone(), g.params.clone()))
        .collect();
    assert_eq!(
        actions,
        [
            (
                Some(gw.url("/pin")),
                pairs(&[("Digits", "1234"), ("FinishedOnKey", "#")])
            ),
            (Some(gw.url("/menu")), pairs(&[("Digits", "2")])),
            (None, vec![]),
        ]
    );
    assert_eq!(outcome.heard(), ["PIN?", "Menu.", "Anything else?", "Bye."]);
    assert_eq!(
        gw.summary(),
        event(&[
            ("POST", "/voice", "incoming"),
            ("POST", "/pin", "gather"),
            ("POST", "/menu", "gather"),
            ("POST", "/status", "status:Completed"),
        ])
    );
    assert_eq!(gw.hits()[1].param("Digits"), Some("1234"));
    assert_eq!(outcome.status, "completed");
}

#[tokio::test]
async fn action_on_empty_result_and_caller_hanging_up_when_done() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.xml(
        "/voice",
        r#"<Gather input="speech" actionOnEmptyResult="true" action="/empty"><Say>Speak.</Say></Gather>"#,
    );
    gw.xml(
        "/empty",
        r#"<Say>Say again?</Say><Gather input="speech" action="/never"/><Say>unheard</Say>"#,
    );
    let outcome = sim
        .place_inbound_call(inbound(
            &gw,
            CallScript::new().silence().hang_up_when_done(),
        ))
        .await
        .unwrap();
    assert_eq!(outcome.heard(), ["Speak.", "Say again?"]);
    assert_eq!(
        outcome.gathers,
        [GatherRecord {
            verb: "Gather".into(),
            input: CallerInput::Silence,
            action: Some(gw.url("/empty")),
            params: vec![],
        }]
    );
    // The caller hung up at the second <Gather>: 0.4 + 5 + 0.8 s.
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.ended_by,
            outcome.duration_secs
        ),
        ("completed", Some(CallEnd::CallerHangUp), Some(7))
    );
    // The empty result is a plain request for TwiML, not a gather.
    assert_eq!(
        gw.summary(),
        event(&[
            ("POST", "/voice", "incoming"),
            ("POST", "/empty", "progress"),
            ("POST", "/status", "status:Completed"),
        ])
    );
}

#[tokio::test]
async fn redirects_are_followed_post_and_get() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.xml(
        "/voice",
        "<Say>One</Say><Redirect>/two</Redirect><Say>skipped</Say>",
    );
    gw.xml(
        "/two",
        r#"<Redirect method="GET">three?x=1&amp;y=2</Redirect>"#,
    );
    gw.xml("/three", "<Say>Three</Say>");
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new()))
        .await
        .unwrap();
    assert_eq!(outcome.heard(), ["One", "Three"]);
    let sid = outcome.call_sid.clone();
    let in_progress = call_params(&sid, "in-progress", "inbound", THEIRS, OURS);
    let query = serde_urlencoded::to_string(&in_progress).unwrap();
    let get_url = format!("{}?x=1&y=2&{query}", gw.url("/three"));
    let docs: Vec<_> = outcome
        .documents
        .iter()
        .map(|d| (d.url.clone().unwrap(), d.method.clone(), d.http_status))
        .collect();
    assert_eq!(
        docs,
        [
            (gw.url("/voice"), "POST".to_string(), Some(200)),
            (gw.url("/two"), "POST".to_string(), Some(200)),
            (get_url.clone(), "GET".to_string(), Some(200)),
        ]
    );
    gw.assert_all_signed();
    let hits = gw.hits();
    assert_eq!(
        gw.summary(),
        event(&[
            ("POST", "/voice", "incoming"),
            ("POST", "/two", "progress"),
            ("GET", "/three", "get"),
            ("POST", "/status", "status:Completed"),
        ])
    );
    assert_eq!(hits[1].params, in_progress);
    assert_eq!(hits[2].url, get_url);
    assert_eq!(
        (outcome.status.as_str(), outcome.ended_by),
        ("completed", Some(CallEnd::DocumentEnd))
    );
}

#[tokio::test]
async fn a_redirect_loop_stops_at_the_document_limit() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.xml("/voice", "<Redirect>/voice</Redirect>");
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new()))
        .await
        .unwrap();
    assert_eq!(outcome.documents.len(), MAX_CALL_DOCUMENTS);
    let error = outcome.error.clone().unwrap();
    assert_eq!(
        (error.code, error.message.as_str(), error.url),
        (
            14106,
            "Document retrieval limit reached: more than 50 documents on one call",
            Some(gw.url("/voice"))
        )
    );
    assert_eq!(
        (outcome.status.as_str(), outcome.ended_by),
        ("completed", Some(CallEnd::Error))
    );
    assert_eq!(gw.hits().len(), MAX_CALL_DOCUMENTS + 1);
}

#[tokio::test]
async fn reject_before_the_answer_is_busy_or_no_answer() {
    let (sim, _server, gw) = setup(sim_config()).await;
    for (twiml, status) in [
        (r#"<Reject reason="busy"/><Say>unheard</Say>"#, "busy"),
        ("<Reject/>", "no-answer"),
        (r#"<Reject reason="rejected"/>"#, "no-answer"),
    ] {
        gw.xml("/voice", twiml);
        let outcome = sim
            .place_inbound_call(inbound(&gw, CallScript::new()))
            .await
            .unwrap();
        assert_eq!(
            (
                outcome.status.as_str(),
                outcome.answered,
                outcome.ended_by,
                outcome.duration_secs,
                outcome.transcript.len(),
            ),
            (status, false, Some(CallEnd::Rejected), Some(0), 0),
            "{twiml}"
        );
    }
    assert_eq!(
        gw.status_callbacks(),
        statuses(&[
            ("busy", "0", Some("0")),
            ("no-answer", "0", Some("0")),
            ("no-answer", "0", Some("0")),
        ])
    );
    // After the answer, <Reject> can only hang up.
    gw.xml("/voice", "<Say>Hi</Say><Reject/>");
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new()))
        .await
        .unwrap();
    assert_eq!(
        (outcome.status.as_str(), outcome.answered, outcome.ended_by),
        ("completed", true, Some(CallEnd::Rejected))
    );
}

#[tokio::test]
async fn wrong_content_type_is_12300() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.route(
        "/voice",
        Answer::Raw {
            status: 200,
            content_type: Some("application/json"),
            body: r#"{"say":"hi"}"#.into(),
        },
    );
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new()))
        .await
        .unwrap();
    let error = outcome.error.clone().unwrap();
    assert_eq!(
        (error.code, error.message.as_str(), error.url),
        (
            12300,
            r#"Invalid Content-Type "application/json": a voice webhook must answer text/xml or application/xml"#,
            Some(gw.url("/voice"))
        )
    );
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.answered,
            outcome.ended_by,
            outcome.duration_secs
        ),
        ("failed", false, Some(CallEnd::Error), Some(0))
    );
    let d = &outcome.documents[0];
    assert_eq!(
        (d.http_status, d.content_type.as_deref(), d.body.as_str()),
        (Some(200), Some("application/json"), r#"{"say":"hi"}"#)
    );
    assert_eq!(
        gw.status_callbacks(),
        statuses(&[("failed", "0", Some("0"))])
    );

    // application/xml (with a charset) is fine.
    gw.route(
        "/voice",
        Answer::Raw {
            status: 200,
            content_type: Some("application/xml; charset=utf-8"),
            body: doc("<Say>ok</Say>"),
        },
    );
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new()))
        .await
        .unwrap();
    assert_eq!(
        (outcome.status.as_str(), outcome.error),
        ("completed", None)
    );

    // No Content-Type at all: an HTTP retrieval failure.
    gw.route(
        "/voice",
        Answer::Raw {
            status: 200,
            content_type: None,
            body: doc("<Say>ok</Say>"),
        },
    );
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new()))
        .await
        .unwrap();
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.error.unwrap().message.as_str()
        ),
        (
            "failed",
            "HTTP retrieval failure: the answer has no Content-Type"
        )
    );
}

#[tokio::test]
async fn http_500_is_11200_failed_before_the_answer_completed_after() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.route(
        "/voice",
        Answer::Raw {
            status: 500,
            content_type: Some("text/plain"),
            body: "boom".into(),
        },
    );
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new()))
        .await
        .unwrap();
    let error = outcome.error.clone().unwrap();
    assert_eq!(
        (error.code, error.message.as_str()),
        (11200, "HTTP retrieval failure: the answer was HTTP 500")
    );
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.answered,
            outcome.documents[0].http_status
        ),
        ("failed", false, Some(500))
    );

    // After the answer: the gather's action fails → completed, with the error.
    gw.xml(
        "/voice",
        r#"<Gather input="dtmf" action="/broken"><Say>Press one.</Say></Gather>"#,
    );
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new().press("1")))
        .await
        .unwrap();
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.answered,
            outcome.error_code(),
            outcome.documents.len(),
            outcome.documents[1].http_status,
            outcome.duration_secs,
        ),
        ("completed", true, Some(11200), 2, Some(404), Some(2))
    );

    // Nothing listening at all.
    let outcome = sim
        .place_inbound_call(InboundCall::new(THEIRS, OURS, "http://127.0.0.1:9/voice"))
        .await
        .unwrap();
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.error_code(),
            outcome.documents[0].http_status
        ),
        ("failed", Some(11200), None)
    );
    assert!(
        outcome
            .error
            .unwrap()
            .message
            .starts_with("HTTP retrieval failure: ")
    );
}

#[tokio::test]
async fn malformed_twiml_is_12100() {
    let (sim, _server, gw) = setup(sim_config()).await;
    for (body, message) in [
        (
            "<Response><Say>Tom & Jerry</Say></Response>",
            "Document parse failure: line 1, column 20: ill-formed document: entity or character reference not closed: `;` not found before end of input",
        ),
        (
            "\n<?xml version=\"1.0\"?><Response/>",
            "Document parse failure: line 2, column 1: the XML declaration must come first: nothing, not even whitespace, may precede <?xml",
        ),
        (
            "<Reply><Say>Hi</Say></Reply>",
            "Document parse failure: line 1, column 1: the root element is <Reply>; TwiML needs <Response>",
        ),
        (
            "<Response><Say>Hi</Say><Dance/></Response>",
            "Document parse failure: line 1, column 24: <Dance> is not a TwiML verb",
        ),
    ] {
        gw.route(
            "/voice",
            Answer::Raw {
                status: 200,
                content_type: Some("text/xml"),
                body: body.into(),
            },
        );
        let outcome = sim
            .place_inbound_call(inbound(&gw, CallScript::new()))
            .await
            .unwrap();
        let error = outcome.error.clone().unwrap();
        assert_eq!(
            (error.code, error.message.as_str(), outcome.status.as_str()),
            (12100, message, "failed"),
            "{body:?}"
        );
        // Nothing of a document that does not parse runs.
        assert!(outcome.transcript.is_empty());
    }
}

#[tokio::test]
async fn api_hang_up_mid_call_stops_the_driver() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.xml(
        "/voice",
        r#"<Say>Hello.</Say><Gather input="speech" action="/gathered"><Say>Go on.</Say></Gather>"#,
    );
    // The gateway hangs up while handling the gather result, then answers TwiML that
    // Twilio would never run.
    gw.route(
        "/gathered",
        Answer::HangUpThen(doc("<Say>never heard</Say><Redirect>/voice</Redirect>")),
    );
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new().say("stop")))
        .await
        .unwrap();
    assert_eq!(outcome.heard(), ["Hello.", "Go on."]);
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.ended_by,
            outcome.duration_secs,
            outcome.error.clone(),
        ),
        ("completed", Some(CallEnd::ApiHangUp), Some(3), None)
    );
    // The document answered after the hang-up was fetched, and not run.
    assert_eq!(outcome.documents.len(), 2);
    // One completed callback (sent by the hang-up), then a hang-up again is 20404 → Ok.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // 0.4 s + 0.8 s + 1 s for the answer: 2.2 s → 3.
    assert_eq!(
        gw.status_callbacks(),
        statuses(&[("completed", "0", Some("3"))])
    );
    gw.twilio.hang_up(&outcome.call_sid).await.unwrap();
    assert_eq!(
        gw.summary(),
        event(&[
            ("POST", "/voice", "incoming"),
            ("POST", "/gathered", "gather"),
            ("POST", "/status", "status:Completed"),
        ])
    );
}

#[tokio::test]
async fn api_hang_up_cuts_a_paced_pause_short() {
    // One simulated second = 10 ms: the 600 s <Pause> would take 6 s.
    let (sim, _server, gw) =
        setup(sim_config().with_simulated_second(Duration::from_millis(10))).await;
    gw.xml(
        "/voice",
        r#"<Say>Please hold.</Say><Pause length="600"/><Say>unheard</Say>"#,
    );
    let sid = sim
        .start_inbound_call(inbound(&gw, CallScript::new()))
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sim.call(&sid).unwrap().status.as_deref() != Some("in-progress") {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    gw.twilio.hang_up(&sid).await.unwrap();
    let outcome = sim
        .wait_for_call(&sid, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(outcome.heard(), ["Please hold."]);
    assert_eq!(
        (outcome.status.as_str(), outcome.ended_by),
        ("completed", Some(CallEnd::ApiHangUp))
    );
    // About 20 simulated seconds had passed: more than the 1 s greeting, far from 600.
    let d = outcome.duration_secs.unwrap();
    assert!((2..100).contains(&d), "{d}");
}

#[tokio::test]
async fn record_and_dial_post_their_results() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.xml(
        "/voice",
        r#"<Say>Leave a message.</Say><Record action="/recorded" maxLength="30"/>"#,
    );
    gw.xml(
        "/recorded",
        &format!(r#"<Dial action="/dialed" timeout="5"><Number>{BUSY}</Number></Dial>"#),
    );
    gw.xml("/dialed", &format!("<Dial>{THEIRS}</Dial><Say>Done.</Say>"));
    let outcome = sim
        .place_inbound_call(inbound(
            &gw,
            CallScript::new().say("call me back at five please"),
        ))
        .await
        .unwrap();
    assert_eq!(
        outcome.transcript,
        [
            say("Leave a message."),
            Heard::Dial {
                target: BUSY.into(),
                status: "busy".into()
            },
            Heard::Dial {
                target: THEIRS.into(),
                status: "completed".into()
            },
            say("Done."),
        ]
    );
    let record = &outcome.gathers[0];
    let recording_sid = record.params[1].1.clone();
    assert!(recording_sid.starts_with("RE") && recording_sid.len() == 34);
    assert_eq!(
        (
            record.verb.as_str(),
            record.action.clone(),
            record.params.clone()
        ),
        (
            "Record",
            Some(gw.url("/recorded")),
            pairs(&[
                (
                    "RecordingUrl",
                    &format!(
                        "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}"
                    )
                ),
                ("RecordingSid", &recording_sid),
                ("RecordingDuration", "3"),
            ])
        )
    );
    let hits = gw.hits();
    assert_eq!(hits[2].path, "/dialed");
    assert_eq!(hits[2].param("DialCallStatus"), Some("busy"));
    assert_eq!(hits[2].param("DialCallDuration"), Some("0"));
    assert!(
        hits[2]
            .param("DialCallSid")
            .is_some_and(|s| s.starts_with("CA"))
    );
    assert_eq!(
        gw.summary(),
        event(&[
            ("POST", "/voice", "incoming"),
            ("POST", "/recorded", "progress"),
            ("POST", "/dialed", "transfer:busy"),
            ("POST", "/status", "status:Completed"),
        ])
    );
    // 1.2 s + a 3 s recording + 0.4 s.
    assert_eq!(outcome.duration_secs, Some(5));
}

#[tokio::test]
async fn dropped_completed_callback_is_recorded_not_sent() {
    let (sim, _server, gw) = setup(sim_config()).await;
    sim.drop_call_callbacks("completed");
    gw.xml("/voice", "<Say>Hi</Say>");
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new()))
        .await
        .unwrap();
    assert_eq!(
        (outcome.status.as_str(), outcome.finished),
        ("completed", true)
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(gw.status_callbacks().is_empty());
    let records: Vec<_> = sim
        .call_callbacks()
        .into_iter()
        .map(|r| {
            (
                r.call_sid,
                r.event,
                r.call_status,
                r.url,
                r.dropped,
                r.signature,
            )
        })
        .collect();
    assert_eq!(
        records,
        [(
            outcome.call_sid.clone(),
            "completed".to_string(),
            "completed".to_string(),
            gw.url("/status"),
            true,
            String::new()
        )]
    );
}

#[tokio::test]
async fn inbound_call_without_status_callback_sends_none() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.xml("/voice", "<Hangup/>");
    let outcome = sim
        .place_inbound_call(InboundCall::new(THEIRS, OURS, gw.url("/voice")))
        .await
        .unwrap();
    assert_eq!(
        (outcome.status.as_str(), outcome.duration_secs),
        ("completed", Some(0))
    );
    assert!(sim.call_callbacks().is_empty());
    assert_eq!(gw.hits().len(), 1);
}

#[tokio::test]
async fn placing_refuses_a_bad_url_or_number() {
    let sim = Simulator::new(sim_config());
    let err = sim
        .place_inbound_call(InboundCall::new(THEIRS, OURS, "/voice"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the voice URL \"/voice\" is not an absolute http(s) URL: relative URL without a base"
    );
    let err = sim
        .place_inbound_call(InboundCall::new(THEIRS, OURS, "ftp://example.com/voice"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the voice URL \"ftp://example.com/voice\" is not an absolute http(s) URL: the scheme is \"ftp\""
    );
    let err = sim
        .place_inbound_call(InboundCall::new("", OURS, "http://127.0.0.1:9/"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "an inbound call needs a caller (from) and a called number (to)"
    );
    assert!(sim.calls().is_empty());
}

// ---------------------------------------------------------------------------------------
// Outbound calls
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn outbound_call_with_url_runs_the_gateways_twiml() {
    let (sim, _server, gw) = setup(sim_config()).await;
    gw.xml(
        "/outbound",
        r#"<Gather numDigits="3" action="/code"><Say>Enter your code.</Say></Gather>"#,
    );
    gw.xml("/code", "<Say>Code accepted.</Say>");
    sim.script_next_call(THEIRS, CallScript::new().press("42#"));
    let call = gw
        .twilio
        .place_call(
            &OutboundCall::new(THEIRS, CallAnswer::Url(gw.url("/outbound")))
                .status_callback(gw.url("/status")),
        )
        .await
        .unwrap();
    let outcome = sim
        .wait_for_call(&call.call_id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(outcome.heard(), ["Enter your code.", "Code accepted."]);
    assert_eq!(outcome.direction, "outbound-api");
    assert_eq!(
        outcome.gathers[0].params,
        pairs(&[("Digits", "42"), ("FinishedOnKey", "#")])
    );
    // 1.2 s + 1 s + 0.8 s.
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.ended_by,
            outcome.duration_secs
        ),
        ("completed", Some(CallEnd::DocumentEnd), Some(3))
    );
    gw.assert_all_signed();
    assert_eq!(
        gw.summary(),
        event(&[
            ("POST", "/status", "status:Queued"),
            ("POST", "/status", "status:Ringing"),
            ("POST", "/status", "status:InProgress"),
            ("POST", "/outbound", "progress"),
            ("POST", "/code", "gather"),
            ("POST", "/status", "status:Completed"),
        ])
    );
    let hits = gw.hits();
    let sid = call.call_id.as_str();
    assert_eq!(
        hits[3].params,
        call_params(sid, "in-progress", "outbound-api", OURS, THEIRS)
    );
    assert_eq!(
        gw.status_callbacks(),
        statuses(&[
            ("initiated", "0", None),
            ("ringing", "1", None),
            ("in-progress", "2", None),
            ("completed", "3", Some("3")),
        ])
    );
    // The next call to the same number has no script: silence, so the <Gather> falls
    // through and the document ends.
    let call = gw
        .twilio
        .place_call(&OutboundCall::new(
            THEIRS,
            CallAnswer::Url(gw.url("/outbound")),
        ))
        .await
        .unwrap();
    let outcome = sim
        .wait_for_call(&call.call_id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (
            outcome.heard(),
            outcome.gathers[0].action.clone(),
            outcome.duration_secs
        ),
        (vec!["Enter your code."], None, Some(7))
    );
}

#[tokio::test]
async fn outbound_call_with_twiml_runs_it_inline() {
    let (sim, _server, gw) = setup(sim_config()).await;
    let response = VoiceResponse::new()
        .say("Your code is 1234")
        .pause(2)
        .say("Bye");
    let twiml = telephony_twilio::twiml::voice_response(&response);
    let call = gw
        .twilio
        .place_call(
            &OutboundCall::new(THEIRS, CallAnswer::Response(response))
                .status_callback(gw.url("/status")),
        )
        .await
        .unwrap();
    let outcome = sim
        .wait_for_call(&call.call_id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(documents(&outcome), [(None, String::new(), None, twiml)]);
    assert_eq!(outcome.heard(), ["Your code is 1234", "Bye"]);
    // 1.6 s + 2 s + 0.4 s.
    assert_eq!(
        (outcome.status.as_str(), outcome.duration_secs),
        ("completed", Some(4))
    );
    assert_eq!(
        gw.status_callbacks(),
        statuses(&[
            ("initiated", "0", None),
            ("ringing", "1", None),
            ("in-progress", "2", None),
            ("completed", "3", Some("4")),
        ])
    );

    // Raw TwiML whose <Redirect> is relative has nothing to resolve against: 11100.
    let call = gw
        .twilio
        .place_call(&OutboundCall::new(
            THEIRS,
            CallAnswer::Markup(
                "<Response><Say>Hi</Say><Redirect>/next</Redirect></Response>".into(),
            ),
        ))
        .await
        .unwrap();
    let outcome = sim
        .wait_for_call(&call.call_id, Duration::from_secs(10))
        .await
        .unwrap();
    let error = outcome.error.clone().unwrap();
    assert_eq!(
        (error.code, error.message.as_str(), outcome.status.as_str()),
        (
            11100,
            "Invalid URL format: \"/next\": relative URL without a base (inline TwiML has no URL to resolve against)",
            "completed"
        )
    );
}

#[tokio::test]
async fn busy_no_answer_and_unreachable_callees() {
    // 1 ms per simulated second: the 5 s ring timeout takes 5 ms.
    let (sim, _server, gw) =
        setup(sim_config().with_simulated_second(Duration::from_millis(1))).await;
    gw.xml("/outbound", "<Say>never</Say>");
    for (number, status, end, sip, events) in [
        (BUSY, "busy", CallEnd::Busy, "486", 3),
        (NO_ANSWER, "no-answer", CallEnd::NoAnswer, "487", 3),
        (UNREACHABLE, "failed", CallEnd::Failed, "404", 2),
    ] {
        let call = gw
            .twilio
            .place_call(
                &OutboundCall::new(number, CallAnswer::Url(gw.url("/outbound")))
                    .status_callback(gw.url("/status"))
                    .ring_timeout_secs(5),
            )
            .await
            .unwrap();
        let outcome = sim
            .wait_for_call(&call.call_id, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(
            (
                outcome.status.as_str(),
                outcome.answered,
                outcome.ended_by,
                outcome.duration_secs,
                outcome.documents.len(),
            ),
            (status, false, Some(end), Some(0), 0),
            "{number}"
        );
        let callbacks: Vec<_> = sim
            .call_callbacks()
            .into_iter()
            .filter(|r| r.call_sid == call.call_id)
            .map(|r| r.call_status)
            .collect();
        let expected: Vec<&str> = match events {
            3 => vec!["initiated", "ringing", status],
            _ => vec!["initiated", status],
        };
        assert_eq!(callbacks, expected, "{number}");
        let last = gw.hits().into_iter().last().unwrap();
        assert_eq!(
            (
                last.param("CallStatus"),
                last.param("SipResponseCode"),
                last.param("CallDuration")
            ),
            (Some(status), Some(sip), Some("0"))
        );
        assert_eq!(
            gw.twilio.fetch_call(&call.call_id).await.unwrap().status,
            match status {
                "busy" => CallStatus::Busy,
                "no-answer" => CallStatus::NoAnswer,
                _ => CallStatus::Failed,
            }
        );
    }
    // The gateway's TwiML was never requested.
    assert!(gw.hits().iter().all(|h| h.path == "/status"));
}

#[tokio::test]
async fn no_answer_rings_for_the_timeout() {
    // 10 ms per simulated second: a 30 s ring timeout takes 300 ms.
    let (sim, _server, gw) =
        setup(sim_config().with_simulated_second(Duration::from_millis(10))).await;
    let started = std::time::Instant::now();
    let call = gw
        .twilio
        .place_call(
            &OutboundCall::new(NO_ANSWER, CallAnswer::Url(gw.url("/outbound")))
                .ring_timeout_secs(30),
        )
        .await
        .unwrap();
    let outcome = sim
        .wait_for_call(&call.call_id, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(outcome.status, "no-answer");
}

#[tokio::test]
async fn time_limit_ends_the_call_on_the_simulated_clock() {
    let (sim, _server, gw) = setup(sim_config()).await;
    let call = gw
        .twilio
        .place_call(
            &OutboundCall::new(
                THEIRS,
                CallAnswer::Markup(
                    r#"<Response><Say>Hello</Say><Pause length="30"/><Say>Too late</Say></Response>"#
                        .into(),
                ),
            )
            .status_callback(gw.url("/status"))
            .time_limit_secs(10),
        )
        .await
        .unwrap();
    let outcome = sim
        .wait_for_call(&call.call_id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(outcome.heard(), ["Hello"]);
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.ended_by,
            outcome.duration_secs
        ),
        ("completed", Some(CallEnd::TimeLimit), Some(10))
    );
    assert_eq!(
        gw.status_callbacks().last().unwrap(),
        &(
            "completed".to_string(),
            "3".to_string(),
            Some("10".to_string())
        )
    );
}

#[tokio::test]
async fn call_duration_knob_overrides_the_simulated_clock() {
    let (sim, _server, gw) = setup(sim_config().with_call_duration_secs(42)).await;
    gw.xml("/voice", "<Say>Hi</Say>");
    let outcome = sim
        .place_inbound_call(inbound(&gw, CallScript::new()))
        .await
        .unwrap();
    assert_eq!(outcome.duration_secs, Some(42));
    assert_eq!(
        gw.status_callbacks(),
        statuses(&[("completed", "0", Some("42"))])
    );
}
