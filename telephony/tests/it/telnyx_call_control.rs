//! Call control on Telnyx Call Control, whole calls over real HTTP on loopback: a
//! handler's `<Dial>` runs as `transfer` (busy, then answered and bridged), a transfer
//! made from outside that nobody answers, and a live update that stops what the call is
//! doing and speaks; its outcome events come from the new leg, correlated by
//! `target_leg_client_state`.
#![cfg(feature = "telnyx")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telephony_core::voice::{CallEvent, CallUpdate, Dial, TransferOutcome, VoiceResponse};
use telephony_core::{AllowList, InboundPolicy};
use telephony_serve::{CallContext, Gateway, GatewayBuilder, HandlerError, VoiceSettings};
use telephony_store::SqliteStore;
use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
use telephony_telnyx_simulator::{
    CallOutcome, CallScript, CalleeOutcome, InboundCall, RunningSimulator, Simulator,
    SimulatorConfig,
};

const OURS: &str = "+12025550123";
const CALLER: &str = "+15557654321";
const CONNECTION: &str = "1494404757140276705";
const BUSY: &str = "+15550000486";
const NO_ANSWER: &str = "+15550000487";
const DESK: &str = "sip:desk@pbx.example.com";

/// 1000 words (2,999 characters, within `speak`'s 3,000): 400 simulated seconds of speech.
static LONG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| vec!["la"; 1000].join(" "));

struct Harness {
    _dir: tempfile::TempDir,
    sim: Simulator,
    running: Option<RunningSimulator>,
    gw: Gateway,
    server: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn new(pace: Duration, f: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sim = Simulator::new(
            SimulatorConfig::generate()
                .with_connection(CONNECTION, format!("{url}/telephony/webhook"))
                .with_callee_outcome(BUSY, CalleeOutcome::Busy)
                .with_callee_outcome(NO_ANSWER, CalleeOutcome::NoAnswer)
                .with_simulated_second(pace),
        );
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
            server,
        }
    }

    fn ring(&self, script: CallScript) -> tokio::task::JoinHandle<CallOutcome> {
        let sim = self.sim.clone();
        tokio::spawn(async move {
            sim.place_inbound_call(InboundCall::new(CALLER, OURS).script(script))
                .await
                .unwrap()
        })
    }

    /// The inbound call's id once the caller has heard `n` things.
    async fn heard(&self, n: usize) -> String {
        for _ in 0..400 {
            if let Some(id) = self.sim.call_ids().first() {
                let o = self.sim.call_outcome(id).unwrap();
                if o.heard().len() >= n {
                    return id.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the caller never heard {n} things");
    }

    async fn stop(mut self) {
        self.server.abort();
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

async fn wait_for_note(gw: &Gateway, id: &str, want: &str) {
    for _ in 0..400 {
        if gw.call_record(id).await.unwrap().unwrap().note.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let rec = gw.call_record(id).await.unwrap().unwrap();
    panic!("note is {:?}, not {want:?}", rec.note);
}

#[tokio::test]
async fn a_handler_dial_runs_as_transfer_busy_then_answered_and_bridged() {
    let seen = Arc::new(Mutex::new(Vec::<TransferOutcome>::new()));
    let seen2 = seen.clone();
    let h = Harness::new(Duration::ZERO, move |b| {
        b.voice_handler(move |event: CallEvent, call: CallContext| {
            let seen = seen2.clone();
            async move {
                Ok::<_, HandlerError>(match event {
                    CallEvent::Incoming(_) => VoiceResponse::new()
                        .say(call.say("Connecting you."))
                        .dial(BUSY),
                    CallEvent::Transfer { outcome, .. } => {
                        seen.lock().unwrap().push(outcome);
                        match outcome {
                            TransferOutcome::Busy => VoiceResponse::new()
                                .say(call.say("The line is busy; trying the desk."))
                                .dial(Dial::new(DESK).timeout(15)),
                            // Not run: the legs are bridged.
                            _ => VoiceResponse::new().say(call.say("never")).hangup(),
                        }
                    }
                    _ => VoiceResponse::new().hangup(),
                })
            }
        })
    })
    .await;
    let outcome = h.ring(CallScript::new()).await.unwrap();
    assert!(outcome.finished, "{outcome:#?}");
    assert_eq!(
        outcome.heard(),
        ["Connecting you.", "The line is busy; trying the desk."]
    );
    assert_eq!(
        outcome.command_names(),
        ["answer", "speak", "transfer", "speak", "transfer"]
    );
    assert_eq!(outcome.commands[2].body["to"], BUSY);
    assert_eq!(outcome.commands[4].body["to"], DESK);
    assert_eq!(outcome.commands[4].body["timeout_secs"], 15);
    assert!(outcome.commands[4].body["target_leg_client_state"].is_string());
    // The caller's leg ended when the person it was bridged to hung up.
    assert_eq!(outcome.hangup_cause.as_deref(), Some("normal_clearing"));
    // The answered leg's event may reach the gateway as the call ends.
    for _ in 0..400 {
        if seen.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [TransferOutcome::Busy, TransferOutcome::Answered]
    );
    let legs: Vec<CallOutcome> = h
        .sim
        .call_ids()
        .iter()
        .skip(1)
        .map(|id| h.sim.call_outcome(id).unwrap())
        .collect();
    let summary: Vec<(&str, bool, Option<&str>, bool)> = legs
        .iter()
        .map(|l| {
            (
                l.to.as_str(),
                l.answered,
                l.hangup_cause.as_deref(),
                l.call_session_id == outcome.call_session_id,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (BUSY, false, Some("user_busy"), true),
            (DESK, true, Some("normal_clearing"), true)
        ]
    );
    wait_for_note(
        &h.gw,
        &outcome.call_control_id,
        "transfer to sip:desk@pbx.example.com: answered",
    )
    .await;
    h.stop().await;
}

#[tokio::test]
async fn a_transfer_from_outside_that_nobody_answers_gets_the_default_apology_on_telnyx() {
    // The default flow; half a real second per simulated one keeps the call in its
    // greeting while the transfer is made.
    let h = Harness::new(Duration::from_millis(500), |b| b).await;
    let call = h.ring(CallScript::new());
    let id = h.heard(1).await;
    let rec =
        h.gw.transfer_call(&id, Dial::new(NO_ANSWER).timeout(5))
            .await
            .unwrap();
    assert_eq!(
        rec.note.as_deref(),
        Some("transfer to +15550000487 requested")
    );
    let outcome = call.await.unwrap();
    assert_eq!(
        outcome.heard(),
        [
            "Hello! How can I help you? Please speak after the tone.",
            "Sorry, nobody could take your call right now. Please call again later. Goodbye."
        ],
        "{outcome:#?}"
    );
    let names = outcome.command_names();
    let at = names.iter().position(|n| *n == "transfer").unwrap();
    // What ran was stopped first, then the transfer went out; the apology after it.
    assert_eq!(
        names[at - 3..],
        [
            "gather_stop",
            "transcription_stop",
            "playback_stop",
            "transfer",
            "speak",
            "hangup"
        ]
    );
    let leg = h.sim.call_outcome(&h.sim.call_ids()[1]).unwrap();
    assert_eq!(
        (leg.to.as_str(), leg.answered, leg.hangup_cause.as_deref()),
        (NO_ANSWER, false, Some("timeout"))
    );
    wait_for_note(&h.gw, &id, "transfer to +15550000487: no-answer").await;
    h.stop().await;
}

#[tokio::test]
async fn a_live_update_on_telnyx_cuts_the_speech_in_progress_speaks_and_listens() {
    // 20 ms a simulated second: the long speech would take 8 real seconds.
    let h = Harness::new(Duration::from_millis(20), |b| {
        b.voice_handler(|event: CallEvent, call: CallContext| async move {
            Ok::<_, HandlerError>(match event {
                // Two simulated minutes of speech: the update cuts it short.
                CallEvent::Incoming(_) => VoiceResponse::new()
                    .say(call.say("Hello."))
                    .say(call.say(LONG.as_str())),
                CallEvent::Gather {
                    speech: Some(s), ..
                } => VoiceResponse::new()
                    .say(call.say(format!("You said {}.", s.text)))
                    .hangup(),
                _ => VoiceResponse::new().hangup(),
            })
        })
    })
    .await;
    let call = h.ring(CallScript::new().say("thanks"));
    let id = h.heard(2).await;
    let err =
        h.gw.update_call(
            &id,
            CallUpdate::Twiml("<Response><Hangup/></Response>".into()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "TwiML updates need a markup provider (Twilio); telnyx runs calls with commands: update with a say or a response instead"
    );
    let rec =
        h.gw.update_call(&id, CallUpdate::say("Your order is ready."))
            .await
            .unwrap();
    assert_eq!(rec.note.as_deref(), Some("live update: say"));
    let outcome = call.await.unwrap();
    assert_eq!(
        outcome.heard(),
        [
            "Hello.",
            LONG.as_str(),
            "Your order is ready.",
            "You said thanks."
        ],
        "{outcome:#?}"
    );
    // The long speech ended cancelled, and resumed nothing.
    let ended: Vec<&str> = outcome
        .events
        .iter()
        .filter(|e| e.event_type == "call.speak.ended")
        .map(|e| e.payload["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ended[1], "cancelled", "{ended:?}");
    let speak = outcome
        .commands
        .iter()
        .find(|c| c.name == "speak" && c.body["payload"] == "Your order is ready.")
        .unwrap();
    assert_eq!(speak.body["stop"], "all");
    let store = h.gw.store().clone();
    for _ in 0..400 {
        if store.call(&id).await.unwrap().unwrap().status.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let err =
        h.gw.update_call(&id, CallUpdate::say("late"))
            .await
            .unwrap_err();
    assert_eq!(err.to_string(), format!("call {id} has ended (completed)"));
    h.stop().await;
}

#[tokio::test]
async fn a_hangup_update_on_telnyx_ends_the_call_and_an_unknown_call_is_named() {
    let h = Harness::new(Duration::from_millis(20), |b| {
        b.voice_handler(|_event: CallEvent, call: CallContext| async move {
            Ok::<_, HandlerError>(VoiceResponse::new().say(call.say(LONG.as_str())))
        })
    })
    .await;
    let call = h.ring(CallScript::new());
    let id = h.heard(1).await;
    h.gw.update_call(&id, CallUpdate::Hangup).await.unwrap();
    let outcome = call.await.unwrap();
    assert_eq!(outcome.command_names(), ["answer", "speak", "hangup"]);
    assert_eq!(outcome.hangup_cause.as_deref(), Some("normal_clearing"));
    let err =
        h.gw.update_call("v3:nobody", CallUpdate::Hangup)
            .await
            .unwrap_err();
    assert_eq!(err.to_string(), "no call with id \"v3:nobody\"");
    h.stop().await;
}
