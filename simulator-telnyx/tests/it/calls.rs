//! Call Control over real HTTP: inbound calls driven by a stand-in application, commands
//! and their errors, events (signed, in order, retried), outbound calls and their callee
//! outcomes, and `GET /v2/calls/{id}`.

use std::time::Duration;

use serde_json::{Value, json};
use telephony_telnyx_simulator::{
    CallScript, CalleeOutcome, InboundCall, RunningSimulator, Simulator, SimulatorConfig,
};

use crate::voice_app::{VoiceApp, empty, on};

const CONNECTION: &str = "1494404757140276705";
const CALLER: &str = "+15550005678";
const NUMBER: &str = "+15550001234";
const WAIT: Duration = Duration::from_secs(30);

/// A simulator whose Call Control application posts to an application reacting with
/// `react` (the config is built around the application's URL).
async fn setup(
    react: crate::voice_app::React,
    config: impl FnOnce(SimulatorConfig) -> SimulatorConfig,
) -> (Simulator, RunningSimulator, VoiceApp) {
    let base = SimulatorConfig::generate();
    let app = VoiceApp::start(&base, react).await;
    let sim = Simulator::new(config(base.with_connection(CONNECTION, app.url.clone())));
    let server = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    app.set_api(server.url());
    (sim, server, app)
}

/// Places an inbound call and waits for its end, failing the test after [`WAIT`].
async fn place(
    sim: &Simulator,
    call: InboundCall,
) -> Result<telephony_telnyx_simulator::CallOutcome, telephony_telnyx_simulator::DriveError> {
    tokio::time::timeout(WAIT, sim.place_inbound_call(call))
        .await
        .expect("the call did not end within 30 s")
}

fn payload(e: &Value) -> &Value {
    &e["data"]["payload"]
}

#[tokio::test]
async fn an_inbound_call_is_answered_greets_hears_the_caller_and_hangs_up() {
    // Base64 of "session-1".
    let state = "c2Vzc2lvbi0x";
    let react = on(vec![
        (
            "call.initiated",
            vec![("answer", json!({"client_state": state}))],
        ),
        (
            "call.answered",
            vec![
                (
                    "speak",
                    json!({"payload": "Hello, how can I help?", "voice": "female", "language": "en-US"}),
                ),
                (
                    "transcription_start",
                    json!({"transcription_engine": "B", "transcription_tracks": "inbound"}),
                ),
            ],
        ),
        (
            "call.transcription",
            vec![(
                "speak",
                json!({"payload": "You said: a table for two", "voice": "AWS.Polly.Joanna-Neural"}),
            )],
        ),
        ("call.speak.ended", vec![]),
    ]);
    // Hang up after the second speak ends.
    let react2 = react.clone();
    let seen_ends = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let react: crate::voice_app::React = std::sync::Arc::new(move |data: &Value| {
        if data["event_type"] == "call.speak.ended"
            && seen_ends.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1
        {
            return vec![("hangup", empty())];
        }
        react2(data)
    });
    let (sim, _server, app) = setup(react, |c| c).await;

    let outcome = place(
        &sim,
        InboundCall::new(CALLER, NUMBER)
            .script(CallScript::new().say_with_confidence("A table for two please", 0.93)),
    )
    .await
    .unwrap();

    let expected = [
        "call.initiated",
        "call.answered",
        "call.speak.started",
        "call.speak.ended",
        "call.transcription",
        "call.speak.started",
        "call.speak.ended",
        "call.hangup",
    ];
    assert_eq!(outcome.event_types(), expected);
    assert_eq!(app.event_types(), expected);
    assert_eq!(app.bad_signatures(), 0);
    assert!(
        outcome
            .events
            .iter()
            .all(|e| e.delivered() && e.attempts.len() == 1)
    );
    assert_eq!(
        outcome.command_names(),
        ["answer", "speak", "transcription_start", "speak", "hangup"]
    );
    assert!(outcome.commands.iter().all(|c| c.http_status == 200));
    assert!(
        app.responses
            .lock()
            .unwrap()
            .iter()
            .all(|(_, s, b)| *s == 200 && b == &json!({"data": {"result": "ok"}}))
    );

    // The envelope, and the ids and client_state every event carries.
    let events = app.events();
    let first = &events[0];
    assert_eq!(first["data"]["record_type"], "event");
    assert_eq!(
        first["meta"],
        json!({"attempt": 1, "delivered_to": app.url})
    );
    let initiated = payload(first);
    assert_eq!(initiated["direction"], "incoming");
    assert_eq!(initiated["state"], "parked");
    assert_eq!(initiated["from"], CALLER);
    assert_eq!(initiated["to"], NUMBER);
    assert_eq!(initiated["connection_id"], CONNECTION);
    assert_eq!(initiated["client_state"], Value::Null);
    assert_eq!(
        initiated["call_control_id"],
        outcome.call_control_id.as_str()
    );
    assert!(outcome.call_control_id.starts_with("v3:"));
    for e in &events[1..] {
        assert_eq!(
            payload(e)["client_state"],
            state,
            "{}",
            e["data"]["event_type"]
        );
        assert_eq!(payload(e)["call_leg_id"], outcome.call_leg_id.as_str());
        assert_eq!(
            payload(e)["call_session_id"],
            outcome.call_session_id.as_str()
        );
    }
    let occurred_at = first["data"]["occurred_at"].as_str().unwrap();
    assert_eq!(occurred_at.len(), "2023-11-14T22:13:20.000+00:00".len());
    assert_eq!(payload(&events[1])["state"], "answered");

    let transcription = payload(&events[4]);
    assert_eq!(
        transcription["transcription_data"],
        json!({"confidence": 0.93, "is_final": true, "transcript": "A table for two please", "transcription_track": "inbound"})
    );
    assert_eq!(payload(&events[3])["status"], "completed");
    let hangup = payload(&events[7]);
    assert_eq!(hangup["hangup_cause"], "normal_clearing");
    assert_eq!(hangup["hangup_source"], "callee");
    assert_eq!(hangup["sip_hangup_cause"], "unspecified");
    assert_eq!(hangup["state"], "hangup");

    // The simulated clock: greeting 5 words (2 s), the caller's 5 words (2 s), the reply
    // 6 words (2.4 s).
    let at: Vec<u64> = outcome.events.iter().map(|e| e.at_ms).collect();
    assert_eq!(at, [0, 0, 0, 2000, 4000, 4000, 6400, 6400]);
    assert_eq!(outcome.duration_secs, 6);
    assert_eq!(
        outcome.heard(),
        ["Hello, how can I help?", "You said: a table for two"]
    );
    assert_eq!(outcome.transcriptions.len(), 1);
    assert_eq!(outcome.hangup_cause.as_deref(), Some("normal_clearing"));
    assert!(outcome.finished);
}

#[tokio::test]
async fn gathers_take_the_callers_digits_then_time_out_on_silence() {
    let react = on(vec![
        ("call.initiated", vec![("answer", empty())]),
        (
            "call.answered",
            vec![(
                "gather_using_speak",
                json!({"payload": "Enter your PIN", "voice": "female", "maximum_digits": 10, "terminating_digit": "#"}),
            )],
        ),
        ("call.gather.ended", vec![]),
    ]);
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let react: crate::voice_app::React = std::sync::Arc::new(move |data: &Value| {
        if data["event_type"] == "call.gather.ended" {
            return match count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => vec![(
                    "gather",
                    json!({"timeout_millis": 5000, "minimum_digits": 1}),
                )],
                _ => vec![("hangup", empty())],
            };
        }
        react(data)
    });
    let (sim, _server, app) = setup(react, |c| c).await;
    let outcome = place(
        &sim,
        InboundCall::new(CALLER, NUMBER).script(CallScript::new().press("1234#").silence()),
    )
    .await
    .unwrap();
    assert_eq!(
        outcome.event_types(),
        [
            "call.initiated",
            "call.answered",
            "call.gather.ended",
            "call.gather.ended",
            "call.hangup"
        ]
    );
    let events = app.events();
    assert_eq!(payload(&events[2])["digits"], "1234");
    assert_eq!(payload(&events[2])["status"], "valid");
    assert_eq!(payload(&events[3])["digits"], "");
    assert_eq!(payload(&events[3])["status"], "timeout");
    let gathers: Vec<(&str, &str, &str)> = outcome
        .gathers
        .iter()
        .map(|g| (g.command.as_str(), g.digits.as_str(), g.status.as_str()))
        .collect();
    assert_eq!(
        gathers,
        [
            ("gather_using_speak", "1234", "valid"),
            ("gather", "", "timeout")
        ]
    );
    assert_eq!(outcome.heard(), ["Enter your PIN"]);
    // Prompt 3 words (1.2 s), five keys (1 s), then a 5 s timeout.
    let at: Vec<u64> = outcome.events.iter().map(|e| e.at_ms).collect();
    assert_eq!(at, [0, 0, 2200, 7200, 7200]);
}

/// Sends command `name` with `body` for call `id`; the status and the JSON answered.
async fn command(
    server: &RunningSimulator,
    sim: &Simulator,
    id: &str,
    name: &str,
    body: Value,
) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/calls/{id}/actions/{name}", server.url()))
        .bearer_auth(sim.config().api_key.expose())
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

fn error(body: &Value) -> (&str, &str) {
    (
        body["errors"][0]["code"].as_str().unwrap_or_default(),
        body["errors"][0]["source"]["pointer"]
            .as_str()
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn commands_are_validated_deduplicated_and_refused_once_the_call_ended() {
    let (sim, server, app) = setup(on(vec![]), |c| c).await;
    let id = sim
        .start_inbound_call(InboundCall::new(CALLER, NUMBER))
        .unwrap();
    app.wait_for("call.initiated").await;

    // Before the answer: only answer, reject, hangup and client_state_update.
    let (status, body) = command(
        &server,
        &sim,
        &id,
        "speak",
        json!({"payload": "Hi", "voice": "female"}),
    )
    .await;
    assert_eq!((status, error(&body).0), (422, "10015"));
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("send answer first")
    );

    // Malformed bodies name the field.
    let (status, body) = command(
        &server,
        &sim,
        &id,
        "answer",
        json!({"client_state": "not base64!"}),
    )
    .await;
    assert_eq!((status, error(&body)), (422, ("10015", "/client_state")));
    let (status, body) = command(
        &server,
        &sim,
        &id,
        "answer",
        json!({"stream_url": "http://x/y"}),
    )
    .await;
    assert_eq!((status, error(&body)), (422, ("10015", "/stream_url")));
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/calls/{id}/actions/answer", server.url()))
        .bearer_auth(sim.config().api_key.expose())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let (status, body) = command(
        &server,
        &sim,
        &id,
        "answer",
        json!({"command_id": "a-1", "client_state": "YQ=="}),
    )
    .await;
    assert_eq!((status, body), (200, json!({"data": {"result": "ok"}})));
    app.wait_for("call.answered").await;

    // speak: voice and payload are required; other types are named.
    let (status, body) = command(&server, &sim, &id, "speak", json!({"payload": "Hi"})).await;
    assert_eq!((status, error(&body)), (422, ("10004", "/voice")));
    assert_eq!(body["errors"][0]["title"], "Missing required parameter");
    let (status, body) = command(
        &server,
        &sim,
        &id,
        "speak",
        json!({"payload": 7, "voice": "female"}),
    )
    .await;
    assert_eq!((status, error(&body)), (422, ("10015", "/payload")));
    let (status, body) = command(
        &server,
        &sim,
        &id,
        "speak",
        json!({"payload": "Hi", "voice": "female", "payload_type": "html"}),
    )
    .await;
    assert_eq!((status, error(&body)), (422, ("10015", "/payload_type")));
    let (status, body) = command(&server, &sim, &id, "send_dtmf", json!({"digits": "12x"})).await;
    assert_eq!((status, error(&body)), (422, ("10015", "/digits")));
    let (status, body) = command(&server, &sim, &id, "answer", empty()).await;
    assert_eq!((status, error(&body).0), (422, "10015"));

    // An unknown command is named.
    let (status, body) = command(&server, &sim, &id, "levitate", empty()).await;
    assert_eq!((status, error(&body).0), (404, "10005"));
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("\"levitate\"")
    );

    // A repeated command_id is acknowledged and ignored.
    let speak = json!({"payload": "Only once", "voice": "female", "command_id": "s-1"});
    assert_eq!(
        command(&server, &sim, &id, "speak", speak.clone()).await.0,
        200
    );
    assert_eq!(command(&server, &sim, &id, "speak", speak).await.0, 200);
    assert_eq!(
        command(&server, &sim, &id, "send_dtmf", json!({"digits": "1w2#"}))
            .await
            .0,
        200
    );

    // client_state_update (PUT) changes what later events carry.
    let resp = reqwest::Client::new()
        .put(format!(
            "{}/v2/calls/{id}/actions/client_state_update",
            server.url()
        ))
        .bearer_auth(sim.config().api_key.expose())
        .json(&json!({"client_state": "Yg=="}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(command(&server, &sim, &id, "hangup", empty()).await.0, 200);
    let outcome = sim.wait_for_call(&id, WAIT).await.unwrap();
    assert_eq!(outcome.heard(), ["Only once"]);
    assert_eq!(outcome.dtmf_sent, ["1w2#"]);
    let duplicates: Vec<bool> = outcome
        .commands
        .iter()
        .filter(|c| c.name == "speak" && c.http_status == 200)
        .map(|c| c.duplicate)
        .collect();
    assert_eq!(duplicates, [false, true]);
    let hangup = outcome.event("call.hangup").unwrap();
    assert_eq!(hangup.payload["client_state"], "Yg==");
    assert_eq!(
        outcome.event("call.answered").unwrap().payload["client_state"],
        "YQ=="
    );

    // Once ended: 90018 with Telnyx's words, for hangup too.
    for name in ["speak", "hangup"] {
        let (status, body) = command(
            &server,
            &sim,
            &id,
            name,
            json!({"payload": "Hi", "voice": "female"}),
        )
        .await;
        assert_eq!(status, 422);
        let e = &body["errors"][0];
        assert_eq!(
            (&e["code"], &e["title"], &e["detail"]),
            (
                &json!("90018"),
                &json!("Call has already ended"),
                &json!("This call is no longer active and can't receive commands.")
            )
        );
    }
    // Unknown calls and missing keys.
    let (status, body) = command(&server, &sim, "v3:nope", "hangup", empty()).await;
    assert_eq!((status, error(&body).0), (404, "10005"));
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/calls/{id}/actions/hangup", server.url()))
        .json(&empty())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn a_rejected_call_hangs_up_unanswered_and_an_ignored_one_times_out() {
    let react = on(vec![(
        "call.initiated",
        vec![("reject", json!({"cause": "USER_BUSY"}))],
    )]);
    let (sim, _server, _app) = setup(react, |c| c).await;
    let outcome = place(&sim, InboundCall::new(CALLER, NUMBER)).await.unwrap();
    assert_eq!(outcome.event_types(), ["call.initiated", "call.hangup"]);
    let hangup = &outcome.events[1].payload;
    assert_eq!(
        (
            &hangup["hangup_cause"],
            &hangup["hangup_source"],
            &hangup["sip_hangup_cause"]
        ),
        (&json!("user_busy"), &json!("callee"), &json!("486"))
    );
    assert!(!outcome.answered);
    assert_eq!(outcome.duration_secs, 0);

    let (sim, _server, app) = setup(on(vec![]), |c| {
        c.with_first_command_timeout(Duration::from_millis(100))
    })
    .await;
    let outcome = place(&sim, InboundCall::new(CALLER, NUMBER)).await.unwrap();
    assert_eq!(app.event_types(), ["call.initiated", "call.hangup"]);
    assert_eq!(outcome.hangup_cause.as_deref(), Some("timeout"));
}

#[tokio::test]
async fn a_dropped_hangup_event_leaves_get_call_as_the_truth() {
    let react = on(vec![
        ("call.initiated", vec![("answer", empty())]),
        ("call.answered", vec![("transcription_start", empty())]),
    ]);
    let (sim, server, app) = setup(react, |c| c).await;
    sim.drop_call_events("call.hangup");
    let get = |id: String| {
        let url = format!("{}/v2/calls/{id}", server.url());
        let key = sim.config().api_key.expose().to_string();
        async move {
            let resp = reqwest::Client::new()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    // Alive while it waits for the party's words (the script holds a long pause first).
    let id = sim
        .start_inbound_call(
            InboundCall::new(CALLER, NUMBER)
                .script(CallScript::new().say("hello there").hang_up_when_done()),
        )
        .unwrap();
    let outcome = sim.wait_for_call(&id, WAIT).await.unwrap();
    assert_eq!(
        outcome.event_types(),
        [
            "call.initiated",
            "call.answered",
            "call.transcription",
            "call.hangup"
        ]
    );
    assert!(outcome.events[3].dropped && outcome.events[3].attempts.is_empty());
    assert_eq!(
        app.event_types(),
        ["call.initiated", "call.answered", "call.transcription"]
    );
    assert_eq!(outcome.hangup_source.as_deref(), Some("caller"));

    let (status, body) = get(id.clone()).await;
    assert_eq!(status, 200);
    let data = &body["data"];
    assert_eq!(data["is_alive"], false);
    assert_eq!(data["record_type"], "call");
    assert_eq!(data["call_control_id"], id.as_str());
    assert_eq!(data["call_duration"], 0); // two words: 0.8 s
    assert!(data["end_time"].is_string() && data["start_time"].is_string());

    let (status, body) = get("v3:unknown".into()).await;
    assert_eq!((status, error(&body).0), (404, "10005"));

    // A live call says so, without end_time.
    let id = sim
        .start_inbound_call(InboundCall::new(CALLER, NUMBER))
        .unwrap();
    for _ in 0..2000 {
        if sim.call_outcome(&id).unwrap().answered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_, body) = get(id.clone()).await;
    assert_eq!(body["data"]["is_alive"], true);
    assert!(body["data"].get("end_time").is_none());
    assert!(sim.hang_up_party(&id));
    sim.wait_for_call(&id, WAIT).await.unwrap();
    assert!(!sim.hang_up_party(&id));
}

#[tokio::test]
async fn events_not_answered_2xx_are_retried_in_order_then_sent_to_the_failover() {
    let react = on(vec![("call.initiated", vec![("hangup", empty())])]);
    let (sim, _server, app) = setup(react, |c| {
        c.with_webhook_retries(3, Duration::from_millis(10))
    })
    .await;
    app.fail_next(&[500, 503]);
    let outcome = place(&sim, InboundCall::new(CALLER, NUMBER)).await.unwrap();
    let attempts: Vec<(u32, Option<u16>)> = outcome.events[0]
        .attempts
        .iter()
        .map(|a| (a.attempt, a.http_status))
        .collect();
    assert_eq!(attempts, [(1, Some(500)), (2, Some(503)), (3, Some(200))]);
    assert_eq!(app.event_types(), ["call.initiated", "call.hangup"]);
    let meta: Vec<Value> = app
        .events()
        .iter()
        .map(|e| e["meta"]["attempt"].clone())
        .collect();
    assert_eq!(meta, [json!(3), json!(1)]);

    // A primary URL that never answers 2xx: three attempts, then the failover.
    let failover = VoiceApp::start(&SimulatorConfig::generate(), on(vec![])).await;
    let (sim, _server, app) = setup(on(vec![]), |c| {
        let mut c = c
            .with_webhook_retries(2, Duration::ZERO)
            .with_first_command_timeout(Duration::from_millis(50));
        c.voice.connections[0].webhook_event_failover_url = Some(failover.url.clone());
        c
    })
    .await;
    app.fail_next(&[500, 500, 500, 500]);
    let outcome = place(&sim, InboundCall::new(CALLER, NUMBER)).await.unwrap();
    let urls: Vec<&str> = outcome.events[0]
        .attempts
        .iter()
        .map(|a| a.url.as_str())
        .collect();
    assert_eq!(
        urls,
        [app.url.as_str(), app.url.as_str(), failover.url.as_str()]
    );
    // The failover app has another key: its signature check fails, so it answers 403.
    assert_eq!(outcome.events[0].attempts[2].http_status, Some(403));
}

async fn dial(server: &RunningSimulator, sim: &Simulator, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/calls", server.url()))
        .bearer_auth(sim.config().api_key.expose())
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn outbound_calls_ring_then_answer_or_end_as_the_callee_does() {
    let busy = "+15550000486";
    let silent = "+15550000487";
    let gone = "+15550000404";
    let react = on(vec![
        (
            "call.answered",
            vec![(
                "speak",
                json!({"payload": "This is your reminder", "voice": "female"}),
            )],
        ),
        ("call.speak.ended", vec![("hangup", empty())]),
    ]);
    let (sim, server, app) = setup(react, |c| {
        c.with_callee_outcome(busy, CalleeOutcome::Busy)
            .with_callee_outcome(silent, CalleeOutcome::NoAnswer)
            .with_callee_outcome(gone, CalleeOutcome::Fail)
    })
    .await;

    let (status, body) = dial(&server, &sim, json!({"connection_id": CONNECTION, "to": NUMBER, "from": CALLER, "client_state": "YQ==", "timeout_secs": 20, "answering_machine_detection": "detect"})).await;
    assert_eq!(status, 200);
    let data = &body["data"];
    assert_eq!(
        (
            &data["is_alive"],
            &data["record_type"],
            &data["client_state"]
        ),
        (&json!(false), &json!("call"), &json!("YQ=="))
    );
    let id = data["call_control_id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with("v3:")
            && data["call_leg_id"].is_string()
            && data["call_session_id"].is_string()
    );
    let outcome = sim.wait_for_call(&id, WAIT).await.unwrap();
    assert_eq!(
        outcome.event_types(),
        [
            "call.initiated",
            "call.answered",
            "call.speak.started",
            "call.speak.ended",
            "call.hangup"
        ]
    );
    let initiated = &outcome.events[0].payload;
    assert_eq!(
        (&initiated["direction"], &initiated["state"]),
        (&json!("outgoing"), &json!("bridging"))
    );
    assert_eq!(outcome.events[4].payload["hangup_source"], "caller");
    assert_eq!(outcome.events[4].payload["client_state"], "YQ==");
    // Rings 2 s, then 4 words (1.6 s).
    assert_eq!(outcome.events[1].at_ms, 2000);
    assert_eq!(outcome.events[4].at_ms, 3600);
    assert_eq!(outcome.duration_secs, 1);
    assert_eq!(
        sim.dial_requests()[0]["answering_machine_detection"],
        "detect"
    );

    let mut ended = Vec::new();
    for to in [busy, silent, gone] {
        let (status, body) = dial(
            &server,
            &sim,
            json!({"connection_id": CONNECTION, "to": to, "from": CALLER, "timeout_secs": 20}),
        )
        .await;
        assert_eq!(status, 200);
        let outcome = sim
            .wait_for_call(body["data"]["call_control_id"].as_str().unwrap(), WAIT)
            .await
            .unwrap();
        assert_eq!(outcome.event_types(), ["call.initiated", "call.hangup"]);
        let p = &outcome.events[1].payload;
        ended.push((
            p["hangup_cause"].clone(),
            p["sip_hangup_cause"].clone(),
            outcome.events[1].at_ms,
        ));
    }
    assert_eq!(
        ended,
        [
            (json!("user_busy"), json!("486"), 2000),
            (json!("timeout"), json!("487"), 20_000),
            (json!("not_found"), json!("404"), 2000),
        ]
    );
    assert_eq!(app.bad_signatures(), 0);

    // Validation.
    let cases = [
        (
            json!({"to": NUMBER, "from": CALLER}),
            422,
            "10004",
            "/connection_id",
        ),
        (
            json!({"connection_id": "42", "to": NUMBER, "from": CALLER}),
            422,
            "10015",
            "/connection_id",
        ),
        (
            json!({"connection_id": CONNECTION, "from": CALLER}),
            422,
            "10004",
            "/to",
        ),
        (
            json!({"connection_id": CONNECTION, "to": "555-0100", "from": CALLER}),
            422,
            "10016",
            "/to",
        ),
        (
            json!({"connection_id": CONNECTION, "to": NUMBER}),
            422,
            "10004",
            "/from",
        ),
        (
            json!({"connection_id": CONNECTION, "to": NUMBER, "from": CALLER, "timeout_secs": 2}),
            422,
            "10015",
            "/timeout_secs",
        ),
        (
            json!({"connection_id": CONNECTION, "to": NUMBER, "from": CALLER, "answering_machine_detection": "maybe"}),
            422,
            "10015",
            "/answering_machine_detection",
        ),
    ];
    for (body, status, code, pointer) in cases {
        let (got, answer) = dial(&server, &sim, body.clone()).await;
        assert_eq!((got, error(&answer)), (status, (code, pointer)), "{body}");
    }
}

#[tokio::test]
async fn time_limit_secs_ends_a_call_on_the_simulated_clock() {
    // One simulated second takes 1 ms: the idle call reaches its 5 s limit at once.
    let (sim, server, _app) = setup(on(vec![]), |c| {
        c.with_simulated_second(Duration::from_millis(1))
    })
    .await;
    let (_, body) = dial(
        &server,
        &sim,
        json!({"connection_id": CONNECTION, "to": NUMBER, "from": CALLER, "time_limit_secs": 5}),
    )
    .await;
    let outcome = sim
        .wait_for_call(body["data"]["call_control_id"].as_str().unwrap(), WAIT)
        .await
        .unwrap();
    assert_eq!(
        outcome.event_types(),
        ["call.initiated", "call.answered", "call.hangup"]
    );
    assert_eq!(outcome.hangup_cause.as_deref(), Some("time_limit"));
    assert_eq!(outcome.events[2].at_ms, 5000);
    // Answered after 2 s of ringing.
    assert_eq!(outcome.duration_secs, 3);
}

#[tokio::test]
async fn speak_and_playback_queue_in_order_and_playback_stop_cancels() {
    let react = on(vec![
        ("call.initiated", vec![("answer", empty())]),
        (
            "call.answered",
            vec![
                ("speak", json!({"payload": "One", "voice": "female"})),
                (
                    "playback_start",
                    json!({"audio_url": "https://example.com/hold.mp3"}),
                ),
                ("speak", json!({"payload": "Two words", "voice": "female"})),
            ],
        ),
    ]);
    let (sim, server, app) = setup(react, |c| c).await;
    let id = sim
        .start_inbound_call(InboundCall::new(CALLER, NUMBER))
        .unwrap();
    for _ in 0..4000 {
        if app
            .event_types()
            .iter()
            .filter(|e| *e == "call.speak.ended")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(command(&server, &sim, &id, "hangup", empty()).await.0, 200);
    let outcome = sim.wait_for_call(&id, WAIT).await.unwrap();
    assert_eq!(
        outcome.event_types(),
        [
            "call.initiated",
            "call.answered",
            "call.speak.started",
            "call.speak.ended",
            "call.playback.started",
            "call.playback.ended",
            "call.speak.started",
            "call.speak.ended",
            "call.hangup"
        ]
    );
    let at: Vec<u64> = outcome.events.iter().map(|e| e.at_ms).collect();
    assert_eq!(at, [0, 0, 0, 400, 400, 1400, 1400, 2200, 2200]);
    assert_eq!(
        outcome.events[5].payload["media_url"],
        "https://example.com/hold.mp3"
    );
    assert_eq!(outcome.events[5].payload["status"], "completed");
    assert_eq!(
        outcome.heard(),
        ["One", "https://example.com/hold.mp3", "Two words"]
    );

    // At a paced clock, a playback still playing is cancelled by playback_stop, and a
    // hangup ends a speak with call_hangup.
    let (sim, server, app) = setup(
        on(vec![("call.initiated", vec![("answer", empty())])]),
        |c| c.with_simulated_second(Duration::from_secs(5)),
    )
    .await;
    let id = sim
        .start_inbound_call(InboundCall::new(CALLER, NUMBER))
        .unwrap();
    app.wait_for("call.answered").await;
    assert_eq!(
        command(
            &server,
            &sim,
            &id,
            "playback_start",
            json!({"audio_url": "https://example.com/a.wav"})
        )
        .await
        .0,
        200
    );
    app.wait_for("call.playback.started").await;
    assert_eq!(
        command(&server, &sim, &id, "playback_stop", empty())
            .await
            .0,
        200
    );
    assert_eq!(
        app.wait_for("call.playback.ended").await["data"]["payload"]["status"],
        "cancelled"
    );
    assert_eq!(
        command(
            &server,
            &sim,
            &id,
            "speak",
            json!({"payload": "A long goodbye", "voice": "female"})
        )
        .await
        .0,
        200
    );
    app.wait_for("call.speak.started").await;
    assert_eq!(command(&server, &sim, &id, "hangup", empty()).await.0, 200);
    let outcome = sim.wait_for_call(&id, WAIT).await.unwrap();
    assert_eq!(
        outcome.event("call.speak.ended").unwrap().payload["status"],
        "call_hangup"
    );
    assert_eq!(outcome.event_types().last(), Some(&"call.hangup"));
}

#[tokio::test]
async fn patching_the_call_control_application_moves_its_events() {
    let (sim, server, first) = setup(on(vec![]), |c| {
        c.with_first_command_timeout(Duration::from_millis(50))
    })
    .await;
    let key = sim.config().api_key.expose().to_string();
    let url = format!("{}/v2/call_control_applications/{CONNECTION}", server.url());
    let got: Value = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["webhook_event_url"], first.url.as_str());
    assert_eq!(got["data"]["record_type"], "call_control_application");

    let moved = VoiceApp::start(sim.config(), on(vec![])).await;
    let resp = reqwest::Client::new()
        .patch(&url)
        .bearer_auth(&key)
        .json(&json!({"webhook_event_url": moved.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error(&body), ("10004", "/application_name"));
    let resp = reqwest::Client::new()
        .patch(&url)
        .bearer_auth(&key)
        .json(&json!({"application_name": "gateway", "webhook_event_url": moved.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            &body["data"]["application_name"],
            &body["data"]["webhook_event_url"]
        ),
        (&json!("gateway"), &json!(moved.url))
    );
    assert_eq!(sim.call_control_app_updates().len(), 1);

    let outcome = place(&sim, InboundCall::new(CALLER, NUMBER)).await.unwrap();
    assert_eq!(outcome.events[0].attempts[0].url, moved.url);
    assert_eq!(moved.event_types(), ["call.initiated", "call.hangup"]);
    assert!(first.event_types().is_empty());
    let missing = reqwest::Client::new()
        .get(format!("{}/v2/call_control_applications/9", server.url()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn the_caller_barges_in_with_partial_then_final_speech() {
    let react = on(vec![
        ("call.initiated", vec![("answer", empty())]),
        (
            "call.answered",
            vec![
                (
                    "speak",
                    json!({"payload": "Welcome to the restaurant, we are open every day from noon", "voice": "female"}),
                ),
                ("transcription_start", empty()),
            ],
        ),
    ]);
    let react: crate::voice_app::React = std::sync::Arc::new(move |data: &Value| {
        if data["event_type"] == "call.transcription"
            && data["payload"]["transcription_data"]["is_final"] == true
        {
            return vec![("hangup", empty())];
        }
        react(data)
    });
    let (sim, _server, _app) = setup(react, |c| c).await;
    let outcome = place(
        &sim,
        InboundCall::new(CALLER, NUMBER).script(
            CallScript::new()
                .interrupt_after_ms(1000)
                .partial_prompt("I want")
                .say("I want a table"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        outcome.event_types(),
        [
            "call.initiated",
            "call.answered",
            "call.speak.started",
            "call.transcription",
            "call.transcription",
            "call.speak.ended",
            "call.hangup"
        ]
    );
    let finals: Vec<(&str, bool)> = outcome
        .transcriptions
        .iter()
        .map(|t| (t.transcript.as_str(), t.is_final))
        .collect();
    assert_eq!(finals, [("I want", false), ("I want a table", true)]);
    // 1 s into the 10-word greeting (4 s), then 2 words, then 4 words.
    let at: Vec<u64> = outcome.events.iter().map(|e| e.at_ms).collect();
    assert_eq!(at, [0, 0, 0, 1800, 3400, 3400, 3400]);
    assert_eq!(outcome.events[5].payload["status"], "call_hangup");
    assert!(
        outcome.events[3].payload["transcription_data"]
            .get("confidence")
            .is_none()
    );
}

#[tokio::test]
async fn answer_webhook_url_moves_the_calls_later_events() {
    let config = SimulatorConfig::generate();
    let later = VoiceApp::start(
        &config,
        on(vec![("call.answered", vec![("hangup", empty())])]),
    )
    .await;
    let answer = json!({"webhook_url": later.url});
    let first = VoiceApp::start(
        &config,
        on(vec![("call.initiated", vec![("answer", answer)])]),
    )
    .await;
    let sim = Simulator::new(config.with_connection(CONNECTION, first.url.clone()));
    let server = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    first.set_api(server.url());
    later.set_api(server.url());
    let outcome = place(&sim, InboundCall::new(CALLER, NUMBER)).await.unwrap();
    assert_eq!(
        outcome.event_types(),
        ["call.initiated", "call.answered", "call.hangup"]
    );
    assert_eq!(first.event_types(), ["call.initiated"]);
    assert_eq!(later.event_types(), ["call.answered", "call.hangup"]);
    assert_eq!(
        later.events()[0]["meta"]["delivered_to"],
        later.url.as_str()
    );
}

#[tokio::test]
async fn the_caller_waits_for_the_applications_reply_between_turns() {
    let react = on(vec![
        ("call.initiated", vec![("answer", empty())]),
        ("call.answered", vec![("transcription_start", empty())]),
    ]);
    let turns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let react: crate::voice_app::React = std::sync::Arc::new(move |data: &Value| {
        if data["event_type"] == "call.transcription" {
            return match turns.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => vec![("speak", json!({"payload": "Got it", "voice": "female"}))],
                _ => vec![("hangup", empty())],
            };
        }
        react(data)
    });
    let (sim, _server, _app) = setup(react, |c| c).await;
    let outcome = place(
        &sim,
        InboundCall::new(CALLER, NUMBER)
            .script(CallScript::new().say("Table for two").say("At seven")),
    )
    .await
    .unwrap();
    assert_eq!(
        outcome.event_types(),
        [
            "call.initiated",
            "call.answered",
            "call.transcription",
            "call.speak.started",
            "call.speak.ended",
            "call.transcription",
            "call.hangup"
        ]
    );
    let at: Vec<u64> = outcome.events.iter().map(|e| e.at_ms).collect();
    assert_eq!(at, [0, 0, 1200, 1200, 2000, 2800, 2800]);
}
