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

    let outcome = sim
        .place_inbound_call(
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
        outcome.heard_texts(),
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
    let outcome = sim
        .place_inbound_call(
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
    assert_eq!(outcome.heard_texts(), ["Enter your PIN"]);
    // Prompt 3 words (1.2 s), five keys (1 s), then a 5 s timeout.
    let at: Vec<u64> = outcome.events.iter().map(|e| e.at_ms).collect();
    assert_eq!(at, [0, 0, 2200, 7200, 7200]);
}
