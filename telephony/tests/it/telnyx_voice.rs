//! Whole calls on Telnyx Call Control over real HTTP on loopback: the Telnyx simulator
//! rings the gateway with signed `call.*` events, the gateway decides as it does on Twilio
//! and carries each answer out with commands; sessions live in SQLite.
#![cfg(feature = "telnyx")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use telephony_core::store::StatusSource;
use telephony_core::voice::{CallAnswer, CallEvent, CallStatus, VoiceResponse};
use telephony_core::{AllowList, Channel, InboundPolicy};
use telephony_serve::{CallContext, Gateway, GatewayBuilder, HandlerError, VoiceSettings, Workers};
use telephony_store::SqliteStore;
use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
use telephony_telnyx_simulator::{
    CallOutcome, CallScript, CalleeOutcome, InboundCall, RunningSimulator, Simulator,
    SimulatorConfig,
};

const OURS: &str = "+12025550123";
const CALLER: &str = "+15557654321";
const CONNECTION: &str = "1494404757140276705";

struct Harness {
    _dir: tempfile::TempDir,
    sim: Simulator,
    running: Option<RunningSimulator>,
    gw: Gateway,
    url: String,
    server: tokio::task::JoinHandle<()>,
    workers: Option<Workers>,
}

impl Harness {
    async fn new(
        sim_config: impl FnOnce(SimulatorConfig) -> SimulatorConfig,
        f: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sim = Simulator::new(sim_config(
            SimulatorConfig::generate()
                .with_connection(CONNECTION, format!("{url}/telephony/webhook")),
        ));
        let running = sim
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let c = sim.config();
        let provider = Arc::new(
            TelnyxProvider::new(
                TelnyxConfig::new(c.api_key.clone())
                    .public_key(c.public_key_base64())
                    .api_base_url(running.url())
                    .from_number(OURS.parse().unwrap())
                    .connection_id(CONNECTION),
            )
            .unwrap(),
        );
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("telephony.db"))
                .await
                .unwrap(),
        );
        let b = Gateway::builder(provider, store)
            .public_url(url.clone())
            .inbound_policy(
                InboundPolicy::Allowlist,
                AllowList::parse(&[CALLER.to_string()]).unwrap(),
            )
            .voice(VoiceSettings::enabled());
        let gw = f(b).build();
        let app = gw.router();
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Harness {
            _dir: dir,
            sim,
            running: Some(running),
            gw,
            url,
            server,
            workers: None,
        }
    }

    async fn call(&self, script: CallScript) -> CallOutcome {
        self.sim
            .place_inbound_call(InboundCall::new(CALLER, OURS).script(script))
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        if let Some(w) = self.workers.take() {
            w.shutdown().await;
        }
        self.server.abort();
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

async fn wait_until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn statuses(rec: &telephony_core::store::CallRecord) -> Vec<(CallStatus, StatusSource)> {
    rec.history.iter().map(|h| (h.status, h.source)).collect()
}

#[tokio::test]
async fn the_default_flow_on_telnyx_greets_keeps_the_transcript_and_closes() {
    let h = Harness::new(|c| c, |b| b).await;
    let outcome = h
        .call(CallScript::new().say_with_confidence("please call me back", 0.91))
        .await;
    assert!(outcome.finished, "{outcome:#?}");
    assert_eq!(
        outcome.heard(),
        [
            "Hello! How can I help you? Please speak after the tone.",
            "Thank you. Goodbye."
        ],
        "{outcome:#?}"
    );
    assert_eq!(outcome.hangup_cause.as_deref(), Some("normal_clearing"));
    assert_eq!(
        outcome.command_names(),
        [
            "answer",
            "gather_using_speak",
            "transcription_start",
            // The reply first; what the answered gather left running stops after it.
            "speak",
            "gather_stop",
            "transcription_stop",
            "hangup"
        ]
    );
    // Every command was accepted, none twice.
    assert!(
        outcome
            .commands
            .iter()
            .all(|c| c.http_status == 200 && !c.duplicate),
        "{:#?}",
        outcome.commands
    );
    let id = outcome.call_control_id.clone();
    let store = h.gw.store().clone();
    wait_until("the session to close", async || {
        store.live_sessions().await.unwrap().is_empty()
    })
    .await;
    let rec = store.call(&id).await.unwrap().unwrap();
    assert_eq!(rec.status, CallStatus::Completed);
    assert_eq!(
        statuses(&rec),
        [
            (CallStatus::InProgress, StatusSource::Answer),
            (CallStatus::Completed, StatusSource::Callback)
        ]
    );
    let inbox = store.inbox(&Default::default()).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.channel, Channel::Voice);
    assert_eq!(inbox[0].message.body, "please call me back");
    assert_eq!(inbox[0].message.from, CALLER);
    assert_eq!(inbox[0].message.provider_sid, id);
    h.stop().await;
}

/// A handler that misses its deadline after the caller spoke: the caller is held (a pause,
/// which on Telnyx is a key gather, then the hold's redirect) and hears the late answer.
/// The answered gather's stops go before the pause's gather, not after it (they would end
/// it, and the call would wait for nothing).
#[tokio::test]
async fn a_late_answer_after_speech_is_served_on_the_hold_on_telnyx() {
    let h = Harness::new(
        |c| c,
        |b| {
            b.voice(VoiceSettings::enabled().handler_timeout(Duration::from_millis(150)))
                .voice_handler(|event: CallEvent, call: CallContext| async move {
                    Ok::<_, HandlerError>(match event {
                        CallEvent::Incoming(_) => VoiceResponse::new()
                            .gather(call.gather().say(call.say("What would you like?"))),
                        CallEvent::Gather { .. } => {
                            tokio::time::sleep(Duration::from_millis(600)).await;
                            VoiceResponse::new()
                                .say(call.say("Thanks for waiting."))
                                .hangup()
                        }
                        _ => VoiceResponse::new().hangup(),
                    })
                })
        },
    )
    .await;
    // Without the fix the call waits for nothing until its time limit: fail instead.
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        h.call(CallScript::new().say("a table for two")),
    )
    .await
    .expect("the call never ended: the caller was left waiting on the hold");
    assert!(outcome.finished, "{outcome:#?}");
    assert_eq!(
        outcome.heard(),
        ["What would you like?", "Thanks for waiting."],
        "{outcome:#?}"
    );
    let names = outcome.command_names();
    let stop = names.iter().position(|n| *n == "gather_stop");
    let pause = names.iter().rposition(|n| *n == "gather");
    assert!(
        matches!((stop, pause), (Some(s), Some(p)) if s < p),
        "the stops go before the hold's pause: {names:?}"
    );
    assert_eq!(names.last(), Some(&"hangup"), "{names:?}");
    h.stop().await;
}

/// One handler, written once against the neutral API: a greeting with a speech gather,
/// then a reply built from what the caller said.
fn booking(event: CallEvent, call: CallContext) -> VoiceResponse {
    match event {
        CallEvent::Incoming(_) => VoiceResponse::new()
            .gather(
                call.gather()
                    .dtmf()
                    .say(call.say("Hello, what can I do for you?")),
            )
            .say(call.say("Nothing? Goodbye.")),
        CallEvent::Gather {
            speech: Some(s), ..
        } => VoiceResponse::new()
            .say(call.say(format!("Booking: {}.", s.text)))
            .hangup(),
        CallEvent::Gather {
            digits: Some(d), ..
        } => VoiceResponse::new()
            .say(call.say(format!("You pressed {d}.")))
            .hangup(),
        _ => VoiceResponse::new().hangup(),
    }
}

fn with_booking(b: GatewayBuilder) -> GatewayBuilder {
    b.voice_handler(|event: CallEvent, call: CallContext| async move {
        Ok::<_, HandlerError>(booking(event, call))
    })
}

/// The same handler, on Twilio, through the Twilio simulator: what the caller hears and
/// what is stored.
async fn booking_on_twilio(
    script: telephony_twilio_simulator::CallScript,
) -> (Vec<String>, Vec<Option<String>>) {
    use telephony_twilio::{TwilioConfig, TwilioProvider};
    let dir = tempfile::tempdir().unwrap();
    let sim = telephony_twilio_simulator::Simulator::new(
        telephony_twilio_simulator::SimulatorConfig::generate(),
    );
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let c = sim.config();
    let provider = Arc::new(
        TwilioProvider::new(
            TwilioConfig::new(c.account_sid.clone(), c.auth_token.clone())
                .api_base_url(running.url())
                .from_number("+15005550006".parse().unwrap()),
        )
        .unwrap(),
    );
    let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let gw = with_booking(
        Gateway::builder(provider, store)
            .public_url(url.clone())
            .inbound_policy(
                InboundPolicy::Allowlist,
                AllowList::parse(&[CALLER.to_string()]).unwrap(),
            )
            .voice(VoiceSettings::enabled()),
    )
    .build();
    let app = gw.router();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let outcome = sim
        .place_inbound_call(
            telephony_twilio_simulator::InboundCall::new(
                CALLER,
                "+15005550006",
                format!("{url}/telephony/webhook"),
            )
            .status_callback(format!("{url}/telephony/status"))
            .script(script),
        )
        .await
        .unwrap();
    let heard = outcome.heard().iter().map(|s| s.to_string()).collect();
    let rec = gw.store().call(&outcome.call_sid).await.unwrap().unwrap();
    let turns = rec
        .transcript
        .iter()
        .map(|t| t.speech.clone().or(t.digits.clone()))
        .collect();
    server.abort();
    running.shutdown().await;
    (heard, turns)
}

#[tokio::test]
async fn one_handler_answers_the_same_calls_on_twilio_and_on_telnyx() {
    let h = Harness::new(|c| c, with_booking).await;
    for (telnyx_script, twilio_script, reply) in [
        (
            CallScript::new().say_with_confidence("a table for two", 0.87),
            telephony_twilio_simulator::CallScript::new()
                .say_with_confidence("a table for two", 0.87),
            "Booking: a table for two.",
        ),
        (
            CallScript::new().press("42"),
            telephony_twilio_simulator::CallScript::new().press("42"),
            "You pressed 42.",
        ),
    ] {
        let outcome = h.call(telnyx_script).await;
        assert_eq!(
            outcome.heard(),
            ["Hello, what can I do for you?", reply],
            "{outcome:#?}"
        );
        let rec =
            h.gw.store()
                .call(&outcome.call_control_id)
                .await
                .unwrap()
                .unwrap();
        let telnyx_turns: Vec<Option<String>> = rec
            .transcript
            .iter()
            .map(|t| t.speech.clone().or(t.digits.clone()))
            .collect();
        let (twilio_heard, twilio_turns) = booking_on_twilio(twilio_script).await;
        assert_eq!(twilio_heard, ["Hello, what can I do for you?", reply]);
        assert_eq!(telnyx_turns, twilio_turns);
    }
    // Silence: both fall through the gather to the goodbye.
    let outcome = h.call(CallScript::new().silence()).await;
    assert_eq!(
        outcome.heard(),
        ["Hello, what can I do for you?", "Nothing? Goodbye."]
    );
    let (twilio_heard, _) =
        booking_on_twilio(telephony_twilio_simulator::CallScript::new().silence()).await;
    assert_eq!(twilio_heard, outcome.heard());
    h.stop().await;
}

#[tokio::test]
async fn blocked_callers_are_rejected_unanswered_and_strangers_hear_their_pairing_code() {
    let h = Harness::new(|c| c, |b| b).await;
    let blocked = h
        .sim
        .place_inbound_call(InboundCall::new("+15557650000", OURS))
        .await
        .unwrap();
    assert_eq!(blocked.command_names(), ["reject"]);
    assert!(!blocked.answered);
    assert_eq!(blocked.hangup_cause.as_deref(), Some("call_rejected"));
    let store = h.gw.store().clone();
    let id = blocked.call_control_id.clone();
    wait_until("the refused call's record", async || {
        store
            .call(&id)
            .await
            .unwrap()
            .is_some_and(|r| r.status.is_terminal())
    })
    .await;
    let rec = store.call(&id).await.unwrap().unwrap();
    assert_eq!(
        rec.note.as_deref(),
        Some("rejected: sender is not in allowFrom")
    );
    assert!(!rec.session);
    h.stop().await;

    let h = Harness::new(
        |c| c,
        |b| b.inbound_policy(InboundPolicy::Pairing, AllowList::default()),
    )
    .await;
    let stranger = h.call(CallScript::new()).await;
    assert_eq!(stranger.command_names(), ["answer", "speak", "hangup"]);
    let heard = stranger.heard();
    assert_eq!(heard.len(), 1);
    let code: String = pending_code(&h).await;
    let spelled: Vec<String> = code.chars().map(|c| c.to_string()).collect();
    assert!(
        heard[0].starts_with(&format!(
            "Hello. This number only answers approved callers. Your pairing code is {}.",
            spelled.join(", ")
        )),
        "{heard:?}"
    );
    h.stop().await;
}

async fn pending_code(h: &Harness) -> String {
    let pending =
        h.gw.store()
            .pending_pairings(time::OffsetDateTime::now_utc())
            .await
            .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].sender.as_str(), CALLER);
    pending[0].code.clone()
}

#[tokio::test]
async fn an_outbound_telnyx_call_moves_through_its_statuses_and_says_its_message() {
    let h = Harness::new(
        |c| {
            c.with_callee_outcome("+15557650002", CalleeOutcome::Busy)
                .with_callee_outcome("+15557650003", CalleeOutcome::NoAnswer)
        },
        |b| b,
    )
    .await;
    let rec =
        h.gw.call(
            "+15557650001",
            CallAnswer::Response(VoiceResponse::new().say("Your table is ready.").hangup()),
        )
        .await
        .unwrap();
    let id = rec.call_id.clone();
    assert!(id.starts_with("v3:"), "{id}");
    let store = h.gw.store().clone();
    wait_until("completed", async || {
        store.call(&id).await.unwrap().unwrap().status == CallStatus::Completed
    })
    .await;
    let rec = store.call(&id).await.unwrap().unwrap();
    assert_eq!(
        statuses(&rec),
        [
            (CallStatus::Queued, StatusSource::Api),
            (CallStatus::Ringing, StatusSource::Callback),
            (CallStatus::InProgress, StatusSource::Callback),
            (CallStatus::Completed, StatusSource::Callback),
        ]
    );
    assert!(!rec.is_live_session());
    // Who called: the configured number, though the call named none.
    assert_eq!(rec.from, OURS);
    let outcome = h
        .sim
        .wait_for_call(&id, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(outcome.heard(), ["Your table is ready."]);
    assert_eq!(outcome.direction, "outgoing");
    for (to, expected) in [
        ("+15557650002", CallStatus::Busy),
        ("+15557650003", CallStatus::NoAnswer),
    ] {
        let rec =
            h.gw.call(to, CallAnswer::Response(VoiceResponse::new().say("hi")))
                .await
                .unwrap();
        let id = rec.call_id;
        wait_until("the terminal status", async || {
            store.call(&id).await.unwrap().unwrap().status == expected
        })
        .await;
    }
    assert!(store.live_sessions().await.unwrap().is_empty());
    // Raw TwiML cannot run on Call Control: refused before any request.
    let err =
        h.gw.call("+15557650001", CallAnswer::Markup("<Response/>".into()))
            .await
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the provider did not place the call: invalid message: raw markup (TwiML) cannot run on Telnyx Call Control; answer with a VoiceResponse"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_telnyx_media_stream_reaches_the_rust_stream_handler_and_echoes() {
    use std::sync::Mutex;
    use telephony_core::audio;
    use telephony_core::voice::{StreamEvent, StreamVerb};
    use telephony_serve::CallStream;
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = log.clone();
    let h = Harness::new(
        |c| c,
        move |b| {
            b.voice_handler(|_e: CallEvent, _c: CallContext| async move {
                Ok::<_, HandlerError>(
                    VoiceResponse::new().stream(StreamVerb::new().parameter("agent", "echo")),
                )
            })
            .stream_handler(move |mut stream: CallStream| {
                let log = seen.clone();
                async move {
                    let out = stream.sender();
                    let start = stream.start().clone();
                    log.lock().unwrap().push(format!(
                        "agent={} {} {} Hz",
                        start.custom_parameters["agent"], start.encoding, start.sample_rate
                    ));
                    let mut pcm = Vec::with_capacity(160);
                    while let Some(ev) = stream.next_event().await {
                        match ev {
                            StreamEvent::Audio(frame) => {
                                audio::decode_mulaw_into(&frame.mulaw, &mut pcm);
                                out.send_pcm(&pcm)?;
                            }
                            StreamEvent::Dtmf { digit } => {
                                log.lock().unwrap().push(format!("dtmf {digit}"));
                                out.clear()?;
                                out.send_mulaw(&[0xFFu8; 1600])?;
                                out.hang_up().await?;
                                log.lock().unwrap().push("hung up".into());
                            }
                            StreamEvent::Stop => break,
                            _ => {}
                        }
                    }
                    Ok::<(), HandlerError>(())
                }
            })
        },
    )
    .await;
    let tone = telephony_telnyx_simulator::audio::tone_mulaw(440.0, 200);
    let outcome = h
        .call(
            CallScript::new()
                .audio(tone.clone())
                .wait_ms(300)
                .press("1")
                .wait_ms(3000),
        )
        .await;
    assert_eq!(
        outcome.hangup_cause.as_deref(),
        Some("normal_clearing"),
        "{outcome:#?}"
    );
    assert_eq!(outcome.command_names()[..2], ["answer", "streaming_start"]);
    let s = &outcome.streams[0];
    assert_eq!(
        s.url,
        format!("{}/telephony/stream", h.url.replace("http://", "ws://"))
    );
    assert_eq!(s.bidirectional_mode.as_deref(), Some("rtp"));
    assert_eq!(s.bidirectional_codec.as_deref(), Some("PCMU"));
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    // The tone came back as it went (μ-law → PCM → μ-law is exact).
    assert!(
        s.audio_received.starts_with(&tone),
        "{} bytes back",
        s.audio_received.len()
    );
    assert_eq!(s.clears, 1);
    // The hang-up waited for its mark: the goodbye played through.
    assert_eq!(s.marks_echoed, ["telephony-hangup"]);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "agent=echo audio/x-mulaw 8000 Hz".to_string(),
            "dtmf 1".into(),
            "hung up".into()
        ]
    );
    h.stop().await;
}

/// `voice.mode: "stream"`: the same Media Streams application that runs behind the gateway
/// on Twilio gets Media Streams messages from a Telnyx call, and its answers reach Telnyx
/// in Telnyx's own messages.
#[tokio::test]
async fn the_stream_bridge_speaks_media_streams_to_the_app_on_telnyx_too() {
    let (app_url, seen) = crate::voice_realtime::media_streams_app().await;
    let h = Harness::new(
        |c| c.with_simulated_second(Duration::from_millis(20)),
        move |b| {
            b.voice(
                VoiceSettings::enabled()
                    .mode(telephony_serve::VoiceMode::Stream)
                    .stream_to(app_url)
                    .closing("Bye now."),
            )
        },
    )
    .await;
    let tone = telephony_telnyx_simulator::audio::tone_mulaw(440.0, 100);
    let outcome = h
        .call(
            CallScript::new()
                .audio(tone.clone())
                .press("4")
                .wait_ms(3000)
                .press("9")
                .wait_ms(3000),
        )
        .await;
    let s = &outcome.streams[0];
    assert_eq!(s.notes, ["the application closed the socket"]);
    // 100 ms of tone is 5 frames of 160 bytes; each came back with a mark.
    assert_eq!(s.media_frames_sent, 5, "{s:#?}");
    assert_eq!(s.audio_received, tone);
    assert_eq!(s.marks_received, ["m1", "m2", "m3", "m4", "m5"]);
    // The app closed its socket on 9: the call went on to the closing and hung up.
    assert_eq!(outcome.heard(), ["Bye now."], "{outcome:#?}");
    assert_eq!(outcome.hangup_cause.as_deref(), Some("normal_clearing"));
    let seen = seen.lock().unwrap().clone();
    let events: Vec<&str> = seen
        .iter()
        .map(|v| v["event"].as_str().unwrap())
        .filter(|e| *e != "mark")
        .collect();
    assert_eq!(
        events,
        [
            "connected",
            "start",
            "media",
            "media",
            "media",
            "media",
            "media",
            "dtmf",
            "dtmf"
        ]
    );
    assert_eq!(
        seen[1]["start"]["callSid"],
        outcome.call_control_id.as_str()
    );
    assert_eq!(seen[1]["start"]["customParameters"], serde_json::json!({}));
    assert_eq!(seen[1]["start"]["mediaFormat"]["encoding"], "audio/x-mulaw");
    let digits: Vec<&str> = seen
        .iter()
        .filter(|v| v["event"] == "dtmf")
        .map(|v| v["dtmf"]["digit"].as_str().unwrap())
        .collect();
    assert_eq!(digits, ["4", "9"]);
    h.stop().await;
}

#[tokio::test]
async fn the_reaper_asks_telnyx_about_a_call_whose_hangup_was_lost_and_leaves_a_live_call_alone() {
    let h = Harness::new(
        |c| c.with_simulated_second(Duration::from_millis(5)),
        |b| {
            b.voice_handler(|event: CallEvent, call: CallContext| async move {
                Ok::<_, HandlerError>(match event {
                    // The second caller stays on the line (600 simulated seconds).
                    CallEvent::Incoming(c) if c.from == "+15557650009" => {
                        VoiceResponse::new().pause(600)
                    }
                    _ => VoiceResponse::new().say(call.say("Hi and bye.")).hangup(),
                })
            })
            .inbound_policy(
                InboundPolicy::Open,
                AllowList::parse(&["*".to_string()]).unwrap(),
            )
        },
    )
    .await;
    h.sim.drop_call_events("call.hangup");
    let ended = h.call(CallScript::new()).await;
    assert_eq!(ended.heard(), ["Hi and bye."]);
    let live = h
        .sim
        .start_inbound_call(InboundCall::new("+15557650009", OURS))
        .unwrap();
    let store = h.gw.store().clone();
    wait_until("both sessions", async || {
        store.live_sessions().await.unwrap().len() == 2
    })
    .await;
    // The hangup event was lost: only asking Telnyx (GET /v2/calls/{id}) ends that session.
    h.gw.check_sessions().await;
    let live_ids: Vec<String> = store
        .live_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    assert_eq!(live_ids, std::slice::from_ref(&live));
    let rec = store.call(&ended.call_control_id).await.unwrap().unwrap();
    assert_eq!(rec.status, CallStatus::Completed);
    assert_eq!(rec.history.last().unwrap().source, StatusSource::Reaper);
    // Hanging up the live one ends it; a second hang-up (90018) is a success too.
    h.gw.hang_up(&live).await.unwrap();
    h.gw.hang_up(&live).await.unwrap();
    h.gw.check_sessions().await;
    assert!(store.live_sessions().await.unwrap().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn telnyx_calls_keep_to_the_session_limits() {
    // maxConcurrentSessions: a second caller hears the busy message, an outbound call is
    // refused before any request.
    let h = Harness::new(
        |c| c.with_simulated_second(Duration::from_millis(5)),
        |b| {
            b.voice(VoiceSettings::enabled().max_concurrent_sessions(Some(1)))
                .voice_handler(|_e: CallEvent, _c: CallContext| async move {
                    Ok::<_, HandlerError>(VoiceResponse::new().pause(600))
                })
        },
    )
    .await;
    let first = h
        .sim
        .start_inbound_call(InboundCall::new(CALLER, OURS))
        .unwrap();
    let store = h.gw.store().clone();
    wait_until("the first session", async || {
        store.live_sessions().await.unwrap().len() == 1
    })
    .await;
    let second = h.call(CallScript::new()).await;
    assert_eq!(
        second.heard(),
        ["All our lines are busy right now. Please call again later."]
    );
    let err =
        h.gw.call(
            "+15557650001",
            CallAnswer::Response(VoiceResponse::new().say("hi")),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 calls are live, the maxConcurrentSessions limit of 1: the call was not placed"
    );
    h.gw.hang_up(&first).await.unwrap();
    h.stop().await;

    // maxDurationSeconds: the voice worker hangs the call up through the API.
    let mut h = Harness::new(
        |c| c.with_simulated_second(Duration::from_millis(10)),
        |b| {
            b.voice(
                VoiceSettings::enabled()
                    .max_duration(Some(Duration::from_secs(1)))
                    .reaper(Duration::from_secs(60), Duration::from_millis(100)),
            )
            .voice_handler(|_e: CallEvent, _c: CallContext| async move {
                Ok::<_, HandlerError>(VoiceResponse::new().pause(600))
            })
        },
    )
    .await;
    h.workers = Some(h.gw.spawn_workers());
    let outcome = h.call(CallScript::new()).await;
    // The pause was Telnyx's gather timer; the gateway's hangup cut it short.
    assert_eq!(
        outcome.command_names(),
        ["answer", "gather", "hangup"],
        "{outcome:#?}"
    );
    assert_eq!(outcome.hangup_cause.as_deref(), Some("normal_clearing"));
    let store = h.gw.store().clone();
    let id = outcome.call_control_id.clone();
    wait_until("the note", async || {
        store.call(&id).await.unwrap().unwrap().note.as_deref()
            == Some("hung up: voice.maxDurationSeconds reached")
    })
    .await;
    wait_until("the session to close", async || {
        store.live_sessions().await.unwrap().is_empty()
    })
    .await;
    h.stop().await;
}

#[tokio::test]
async fn a_voice_mode_telnyx_cannot_run_is_refused_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = telephony::config::Config::from_json5_str(&format!(
        "{{ provider: 'telnyx', serve: {{ port: 0 }}, admin: {{ port: 0 }}, dataDir: {:?},
            voice: {{ enabled: true, mode: 'relay', relayUrl: 'http://127.0.0.1:9/relay' }} }}",
        dir.path().display().to_string()
    ))
    .unwrap();
    let Err(err) = crate::support::start(&config).await else {
        panic!("a relay on Telnyx started")
    };
    assert_eq!(
        err.to_string(),
        "could not set up the telnyx provider: voice.mode \"relay\" cannot run on telnyx: provider telnyx cannot render this voice response: <Connect><ConversationRelay> is not supported (use voice.mode \"stream\") on Telnyx Call Control"
    );
    // The same account in stream mode starts.
    let config = telephony::config::Config::from_json5_str(&format!(
        "{{ provider: 'telnyx', serve: {{ port: 0 }}, admin: {{ port: 0 }}, dataDir: {:?},
            voice: {{ enabled: true, mode: 'stream', streamUrl: 'ws://127.0.0.1:9/media' }} }}",
        dir.path().display().to_string()
    ))
    .unwrap();
    let gw = crate::support::start(&config).await.unwrap();
    gw.shutdown().await;
}

#[tokio::test]
async fn an_outbound_call_without_a_connection_id_names_the_setting() {
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let c = sim.config();
    let provider = TelnyxProvider::new(
        TelnyxConfig::new(c.api_key.clone())
            .public_key(c.public_key_base64())
            .api_base_url(running.url())
            .from_number(OURS.parse().unwrap()),
    )
    .unwrap();
    use telephony_core::Provider;
    let err = provider
        .place_call(&telephony_core::voice::OutboundCall::new(
            "+15557650001",
            CallAnswer::Response(VoiceResponse::new().say("hi")),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "provider not configured: telnyx.connectionId is not set (voice needs the Call Control application's id)"
    );
    running.shutdown().await;
}
