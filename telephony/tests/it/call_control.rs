//! Call control on Twilio, whole calls over real HTTP on loopback: a handler's transfer
//! (busy, then answered on a SIP URI), a transfer made from outside with the default
//! flow's apology, live updates (say, hang up) and their ordering with the handler's own
//! answer, and the errors for unknown and ended calls and bad targets (library and admin
//! API).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telephony_core::voice::{
    CallEvent, CallStatus, CallUpdate, Dial, TransferOutcome, VoiceResponse,
};
use telephony_core::{AllowList, InboundPolicy, Secret};
use telephony_serve::{
    CallContext, CallControlError, Gateway, GatewayBuilder, HandlerError, VoiceSettings,
};
use telephony_store::SqliteStore;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{
    CallOutcome, CallScript, CalleeOutcome, Heard, InboundCall, RunningSimulator, Simulator,
    SimulatorConfig,
};
use tokio::sync::Notify;

const OURS: &str = "+15005550006";
const CALLER: &str = "+15557654321";
const BUSY: &str = "+15550000486";
const NO_ANSWER: &str = "+15550000487";
const DESK: &str = "sip:desk@pbx.example.com";

struct Harness {
    _dir: tempfile::TempDir,
    sim: Simulator,
    running: Option<RunningSimulator>,
    gw: Gateway,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn new(
        sim_config: SimulatorConfig,
        f: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let sim_config = sim_config
            .with_callee_outcome(BUSY, CalleeOutcome::Busy)
            .with_callee_outcome(NO_ANSWER, CalleeOutcome::NoAnswer);
        let sim = Simulator::new(sim_config);
        let running = sim
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let c = sim.config();
        let provider = Arc::new(
            TwilioProvider::new(
                TwilioConfig::new(c.account_sid.clone(), c.auth_token.clone())
                    .api_base_url(running.url())
                    .from_number(OURS.parse().unwrap()),
            )
            .unwrap(),
        );
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("telephony.db"))
                .await
                .unwrap(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
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
        }
    }

    /// Rings the gateway; the call runs in its own task.
    fn ring(&self, script: CallScript) -> tokio::task::JoinHandle<CallOutcome> {
        let call = InboundCall::new(CALLER, OURS, format!("{}/telephony/webhook", self.url))
            .status_callback(format!("{}/telephony/status", self.url))
            .script(script);
        let sim = self.sim.clone();
        tokio::spawn(async move { sim.place_inbound_call(call).await.unwrap() })
    }

    /// The SID of the (only) call once it is in progress.
    async fn live_call(&self) -> String {
        for _ in 0..400 {
            if let Some(c) = self
                .sim
                .calls()
                .into_iter()
                .find(|c| c.status.as_deref() == Some("in-progress"))
            {
                return c.sid;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no call went in progress");
    }

    /// The SID of the live call once the caller has heard `n` things.
    async fn heard(&self, n: usize) -> String {
        let sid = self.live_call().await;
        for _ in 0..400 {
            let o = self.sim.call_outcome(&sid).unwrap();
            if o.heard().len() >= n {
                return sid;
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

fn dials(outcome: &CallOutcome) -> Vec<(String, String)> {
    outcome
        .transcript
        .iter()
        .filter_map(|h| match h {
            Heard::Dial { target, status } => Some((target.clone(), status.clone())),
            _ => None,
        })
        .collect()
}

async fn wait_for_note(gw: &Gateway, sid: &str, want: &str) {
    for _ in 0..400 {
        let rec = gw.call_record(sid).await.unwrap().unwrap();
        if rec.note.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let rec = gw.call_record(sid).await.unwrap().unwrap();
    panic!("note is {:?}, not {want:?}", rec.note);
}

#[tokio::test]
async fn a_handler_transfer_that_finds_a_busy_line_tries_a_sip_desk_next() {
    let seen = Arc::new(Mutex::new(Vec::<TransferOutcome>::new()));
    let seen2 = seen.clone();
    let h = Harness::new(SimulatorConfig::generate(), move |b| {
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
                            _ => VoiceResponse::new().hangup(),
                        }
                    }
                    _ => VoiceResponse::new().hangup(),
                })
            }
        })
    })
    .await;
    let outcome = h.ring(CallScript::new()).await.unwrap();
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.heard(),
        ["Connecting you.", "The line is busy; trying the desk."]
    );
    assert_eq!(
        dials(&outcome),
        [
            (BUSY.to_string(), "busy".to_string()),
            (DESK.to_string(), "completed".to_string())
        ]
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [TransferOutcome::Busy, TransferOutcome::Answered]
    );
    // The dial actions came back to the gateway, naming the turn and the target.
    let urls: Vec<String> = outcome
        .documents
        .iter()
        .filter_map(|d| d.url.clone())
        .collect();
    let base = format!("{}/telephony/webhook?call={}", h.url, outcome.call_sid);
    assert!(
        urls.contains(&format!("{base}&turn=1&xfer=%2B15550000486")),
        "{urls:?}"
    );
    assert!(
        urls.contains(&format!("{base}&turn=2&xfer=sip%3Adesk%40pbx.example.com")),
        "{urls:?}"
    );
    wait_for_note(
        &h.gw,
        &outcome.call_sid,
        "transfer to sip:desk@pbx.example.com: answered",
    )
    .await;
    h.stop().await;
}

#[tokio::test]
async fn a_transfer_from_outside_that_nobody_answers_gets_the_default_apology() {
    // The default flow (no handler): greeting, gathers. Half a real second per simulated
    // one keeps the call in its first gather while the transfer is made.
    let h = Harness::new(
        SimulatorConfig::generate().with_simulated_second(Duration::from_millis(500)),
        |b| b,
    )
    .await;
    let call = h.ring(CallScript::new());
    let sid = h.heard(1).await;
    // Bad targets are refused before anything is sent.
    let err =
        h.gw.transfer_call(&sid, Dial::new("5550001234"))
            .await
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid transfer target \"5550001234\": not an E.164 number (+15550001234) or a sip: URI"
    );
    assert!(matches!(err, CallControlError::InvalidTarget(_)));
    let rec =
        h.gw.transfer_call(&sid, Dial::new(NO_ANSWER).timeout(4))
            .await
            .unwrap();
    assert_eq!(
        rec.note.as_deref(),
        Some("transfer to +15550000487 requested")
    );
    let outcome = call.await.unwrap();
    assert_eq!(outcome.error, None);
    assert_eq!(
        dials(&outcome),
        [(NO_ANSWER.to_string(), "no-answer".to_string())]
    );
    assert_eq!(
        outcome.heard(),
        [
            "Hello! How can I help you? Please speak after the tone.",
            "Sorry, nobody could take your call right now. Please call again later. Goodbye."
        ]
    );
    // The update's TwiML ran inline, with an absolute action URL.
    let update = outcome
        .documents
        .iter()
        .find(|d| d.url.is_none())
        .expect("the update's TwiML");
    assert_eq!(
        update.body,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial action=\"{}/telephony/webhook?call={sid}&amp;turn=1&amp;xfer=%2B15550000487\" timeout=\"4\">+15550000487</Dial></Response>",
            h.url
        )
    );
    wait_for_note(&h.gw, &sid, "transfer to +15550000487: no-answer").await;
    h.stop().await;
}

#[tokio::test]
async fn a_live_say_update_interrupts_the_call_and_the_next_turn_reaches_the_handler() {
    let h = Harness::new(
        SimulatorConfig::generate().with_simulated_second(Duration::from_millis(10)),
        |b| {
            b.voice_handler(|event: CallEvent, call: CallContext| async move {
                Ok::<_, HandlerError>(match event {
                    // An hour of silence (36 real seconds): the update cuts it short.
                    CallEvent::Incoming(_) => {
                        VoiceResponse::new().say(call.say("Hello.")).pause(3600)
                    }
                    CallEvent::Gather {
                        speech: Some(s), ..
                    } => VoiceResponse::new()
                        .say(call.say(format!("You said {}.", s.text)))
                        .hangup(),
                    _ => VoiceResponse::new().hangup(),
                })
            })
        },
    )
    .await;
    let call = h.ring(CallScript::new().say("thanks"));
    let sid = h.heard(1).await;
    let rec =
        h.gw.update_call(&sid, CallUpdate::say("Your order is ready."))
            .await
            .unwrap();
    assert_eq!(rec.note.as_deref(), Some("live update: say"));
    let outcome = call.await.unwrap();
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.heard(),
        ["Hello.", "Your order is ready.", "You said thanks."]
    );
    assert_eq!(outcome.status, "completed");
    // Less than the hour the first answer asked for.
    assert!(outcome.duration_secs.unwrap() < 3600, "{outcome:?}");
    // The call has ended: updating it is a clear error.
    let store = h.gw.store().clone();
    for _ in 0..400 {
        if store
            .call(&sid)
            .await
            .unwrap()
            .unwrap()
            .status
            .is_terminal()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let err =
        h.gw.update_call(&sid, CallUpdate::Hangup)
            .await
            .unwrap_err();
    assert_eq!(err.to_string(), format!("call {sid} has ended (completed)"));
    let err =
        h.gw.update_call("CA0000000000000000000000000000dead", CallUpdate::say("x"))
            .await
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no call with id \"CA0000000000000000000000000000dead\""
    );
    h.stop().await;
}

#[tokio::test]
async fn an_update_wins_over_the_handler_answer_being_worked_out() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let turns = Arc::new(Mutex::new(0u32));
    let (e2, r2, t2) = (entered.clone(), release.clone(), turns.clone());
    let h = Harness::new(SimulatorConfig::generate(), move |b| {
        b.voice_handler(move |event: CallEvent, call: CallContext| {
            let (entered, release, turns) = (e2.clone(), r2.clone(), t2.clone());
            async move {
                Ok::<_, HandlerError>(match event {
                    CallEvent::Incoming(_) => VoiceResponse::new()
                        .gather(call.gather().say(call.say("Hi, what do you need?"))),
                    CallEvent::Gather { .. } => {
                        let n = {
                            let mut t = turns.lock().unwrap();
                            *t += 1;
                            *t
                        };
                        if n == 1 {
                            entered.notify_one();
                            release.notified().await;
                            VoiceResponse::new()
                                .say(call.say("A stale answer."))
                                .hangup()
                        } else {
                            VoiceResponse::new().say(call.say("Bye.")).hangup()
                        }
                    }
                    _ => VoiceResponse::new().hangup(),
                })
            }
        })
    })
    .await;
    let call = h.ring(CallScript::new().say("a pizza").say("thanks"));
    entered.notified().await;
    let sid = h.live_call().await;
    h.gw.update_call(&sid, CallUpdate::say("Update wins."))
        .await
        .unwrap();
    release.notify_one();
    let outcome = call.await.unwrap();
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.heard(),
        ["Hi, what do you need?", "Update wins.", "Bye."]
    );
    h.stop().await;
}

#[tokio::test]
async fn the_admin_api_transfers_and_updates_calls_with_clear_errors() {
    let h = Harness::new(
        SimulatorConfig::generate().with_simulated_second(Duration::from_millis(10)),
        |b| {
            b.voice_handler(|_event: CallEvent, call: CallContext| async move {
                Ok::<_, HandlerError>(VoiceResponse::new().say(call.say("Hold on.")).pause(3600))
            })
        },
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = format!("http://{}", listener.local_addr().unwrap());
    let app = h.gw.admin_router(Secret::new("admin-token"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let post = |path: String, body: serde_json::Value| {
        let http = http.clone();
        let url = format!("{admin}{path}");
        async move {
            let r = http
                .post(url)
                .bearer_auth("admin-token")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let call = h.ring(CallScript::new());
    let sid = h.heard(1).await;
    let (status, body) = post(
        format!("/telephony/calls/{sid}/transfer"),
        serde_json::json!({"to": "alice"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "invalid transfer target \"alice\": not an E.164 number (+15550001234) or a sip: URI"
    );
    let (status, body) = post(
        "/telephony/calls/CA404/update".into(),
        serde_json::json!({"say": "hi"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = post(
        format!("/telephony/calls/{sid}/update"),
        serde_json::json!({"say": "hi", "hangup": true}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = post(
        format!("/telephony/calls/{sid}/update"),
        serde_json::json!({"hangup": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["note"], "live update: hangup");
    let outcome = call.await.unwrap();
    assert_eq!(outcome.heard(), ["Hold on."]);
    let store = h.gw.store().clone();
    for _ in 0..400 {
        if store.call(&sid).await.unwrap().unwrap().status == CallStatus::Completed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (status, body) = post(
        format!("/telephony/calls/{sid}/transfer"),
        serde_json::json!({"to": "+15550001234", "timeout": 20}),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        body["error"]["message"],
        format!("call {sid} has ended (completed)")
    );
    server.abort();
    h.stop().await;
}

#[tokio::test]
async fn a_handler_transfer_to_something_that_is_not_a_number_dials_nothing() {
    let h = Harness::new(SimulatorConfig::generate(), |b| {
        b.voice_handler(|_event: CallEvent, _call: CallContext| async move {
            Ok::<_, HandlerError>(VoiceResponse::new().dial("front desk"))
        })
    })
    .await;
    let outcome = h.ring(CallScript::new()).await.unwrap();
    assert_eq!(outcome.error, None);
    assert_eq!(dials(&outcome), []);
    assert_eq!(
        outcome.heard(),
        ["Sorry, something went wrong. Please call again later. Goodbye."]
    );
    h.stop().await;
}
