//! Whole calls over real HTTP on loopback: the Twilio simulator rings the gateway, runs its
//! TwiML (gathers answered from a script, redirects followed, hang-ups honored), places
//! outbound calls and posts signed status callbacks; the gateway keeps sessions in SQLite.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use telephony_core::store::StatusSource;
use telephony_core::voice::{CallAnswer, CallEvent, CallStatus, VoiceResponse};
use telephony_core::{AllowList, InboundPolicy};
use telephony_serve::{CallContext, Gateway, GatewayBuilder, HandlerError, VoiceSettings, Workers};
use telephony_store::SqliteStore;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{
    CallEnd, CallScript, CalleeOutcome, InboundCall, RunningSimulator, Simulator, SimulatorConfig,
};

const OURS: &str = "+15005550006";
const CALLER: &str = "+15557654321";

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
        sim_config: SimulatorConfig,
        f: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let sim = Simulator::new(sim_config);
        let running = sim
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let db = dir.path().join("telephony.db");
        let (gw, url, server) = gateway(&sim, &running.url(), &db, f).await;
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

    fn inbound(&self, script: CallScript) -> InboundCall {
        InboundCall::new(CALLER, OURS, format!("{}/telephony/webhook", self.url))
            .status_callback(format!("{}/telephony/status", self.url))
            .script(script)
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

/// A gateway over SQLite at `db`, on its own loopback listener, talking to the simulator.
async fn gateway(
    sim: &Simulator,
    sim_url: &str,
    db: &std::path::Path,
    f: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
) -> (Gateway, String, tokio::task::JoinHandle<()>) {
    let c = sim.config();
    let provider = Arc::new(
        TwilioProvider::new(
            TwilioConfig::new(c.account_sid.clone(), c.auth_token.clone())
                .api_base_url(sim_url)
                .from_number(OURS.parse().unwrap()),
        )
        .unwrap(),
    );
    let store = Arc::new(SqliteStore::open(db).await.unwrap());
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
    (gw, url, server)
}

async fn wait_until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
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
async fn an_inbound_call_greets_takes_a_speech_turn_answers_and_hangs_up() {
    let h = Harness::new(SimulatorConfig::generate(), |b| {
        b.voice_handler(|event: CallEvent, call: CallContext| async move {
            Ok::<_, HandlerError>(match event {
                CallEvent::Incoming(_) => VoiceResponse::new()
                    .gather(call.gather().say(call.say("Hello, what can I do for you?")))
                    .say(call.say("Nothing? Goodbye.")),
                CallEvent::Gather {
                    speech: Some(s), ..
                } => VoiceResponse::new()
                    .say(call.say(format!("Booking: {}.", s.text)))
                    .hangup(),
                _ => VoiceResponse::new().hangup(),
            })
        })
    })
    .await;
    let outcome = h
        .sim
        .place_inbound_call(
            h.inbound(CallScript::new().say_with_confidence("a table for two", 0.87)),
        )
        .await
        .unwrap();
    assert_eq!(outcome.status, "completed");
    assert_eq!(outcome.ended_by, Some(CallEnd::Hangup));
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.heard(),
        ["Hello, what can I do for you?", "Booking: a table for two."]
    );
    assert_eq!(
        outcome.gathers[0].action.as_deref(),
        Some(
            format!(
                "{}/telephony/webhook?call={}&turn=1",
                h.url, outcome.call_sid
            )
            .as_str()
        )
    );
    let sid = outcome.call_sid.clone();
    let store = h.gw.store().clone();
    wait_until("the session to close", async || {
        store.live_sessions().await.unwrap().is_empty()
    })
    .await;
    let rec = store.call(&sid).await.unwrap().unwrap();
    assert_eq!(rec.status, CallStatus::Completed);
    assert_eq!(rec.duration_secs, outcome.duration_secs);
    assert_eq!(
        statuses(&rec),
        [
            (CallStatus::InProgress, StatusSource::Answer),
            (CallStatus::Completed, StatusSource::Callback)
        ]
    );
    assert_eq!(rec.transcript.len(), 1);
    assert_eq!(rec.transcript[0].speech.as_deref(), Some("a table for two"));
    assert_eq!(rec.transcript[0].confidence, Some(0.87));
    h.stop().await;
}

#[tokio::test]
async fn the_default_flow_reprompts_once_then_closes() {
    let h = Harness::new(SimulatorConfig::generate(), |b| b).await;
    let outcome = h
        .sim
        .place_inbound_call(h.inbound(CallScript::new().silence().silence()))
        .await
        .unwrap();
    assert_eq!(
        outcome.heard(),
        [
            "Hello! How can I help you? Please speak after the tone.",
            "Sorry, I didn't catch that. Please say it again.",
            "Thank you. Goodbye."
        ]
    );
    assert_eq!(outcome.status, "completed");
    assert!(
        h.gw.store()
            .inbox(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    h.stop().await;
}

#[tokio::test]
async fn a_late_handler_is_served_on_the_hold_redirect() {
    let h = Harness::new(SimulatorConfig::generate(), |b| {
        b.voice(VoiceSettings::enabled().handler_timeout(Duration::from_millis(150)))
            .voice_handler(|event: CallEvent, call: CallContext| async move {
                if matches!(event, CallEvent::Incoming(_)) {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
                Ok::<_, HandlerError>(
                    VoiceResponse::new()
                        .say(call.say("Thanks for waiting."))
                        .hangup(),
                )
            })
    })
    .await;
    let outcome = h
        .sim
        .place_inbound_call(h.inbound(CallScript::new()))
        .await
        .unwrap();
    assert_eq!(outcome.heard(), ["Thanks for waiting."]);
    assert_eq!(outcome.status, "completed");
    assert_eq!(outcome.error, None);
    // The hold's redirect came back for the late answer.
    let urls: Vec<String> = outcome
        .documents
        .iter()
        .filter_map(|d| d.url.clone())
        .collect();
    assert!(
        urls.iter()
            .any(|u| u.ends_with(&format!("?call={}&hold=1", outcome.call_sid))),
        "{urls:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn an_outbound_call_moves_through_its_statuses() {
    let h = Harness::new(SimulatorConfig::generate(), |b| b).await;
    let rec =
        h.gw.call(
            "+15557650001",
            CallAnswer::Response(VoiceResponse::new().say("Your table is ready.").hangup()),
        )
        .await
        .unwrap();
    let sid = rec.call_id.clone();
    let store = h.gw.store().clone();
    wait_until("completed", async || {
        store.call(&sid).await.unwrap().unwrap().status == CallStatus::Completed
    })
    .await;
    let rec = store.call(&sid).await.unwrap().unwrap();
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
    let create = &h.sim.call_create_requests()[0];
    let events: Vec<&str> = create
        .params
        .iter()
        .filter(|(k, _)| k == "StatusCallbackEvent")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(events, ["initiated", "ringing", "answered", "completed"]);
    let param = |k: &str| {
        create
            .params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(param("TimeLimit").as_deref(), Some("600"));
    assert_eq!(
        param("StatusCallback"),
        Some(format!("{}/telephony/status", h.url))
    );
    let outcome = h
        .sim
        .wait_for_call(&sid, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(outcome.heard(), ["Your table is ready."]);
    h.stop().await;
}

#[tokio::test]
async fn busy_and_unanswered_outbound_calls_end_their_sessions() {
    let h = Harness::new(
        SimulatorConfig::generate()
            .with_callee_outcome("+15557650002", CalleeOutcome::Busy)
            .with_callee_outcome("+15557650003", CalleeOutcome::NoAnswer),
        |b| b,
    )
    .await;
    let store = h.gw.store().clone();
    for (to, expected) in [
        ("+15557650002", CallStatus::Busy),
        ("+15557650003", CallStatus::NoAnswer),
    ] {
        let rec =
            h.gw.call(to, CallAnswer::Response(VoiceResponse::new().say("hi")))
                .await
                .unwrap();
        let sid = rec.call_id;
        wait_until("the terminal status", async || {
            store.call(&sid).await.unwrap().unwrap().status == expected
        })
        .await;
    }
    assert!(store.live_sessions().await.unwrap().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn the_reaper_ends_a_session_whose_hangup_was_lost_and_leaves_a_live_call_alone() {
    let h = Harness::new(
        SimulatorConfig::generate().with_simulated_second(Duration::from_millis(5)),
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
    h.sim.drop_call_callbacks("completed");
    let ended = h
        .sim
        .place_inbound_call(h.inbound(CallScript::new()))
        .await
        .unwrap();
    assert_eq!(ended.status, "completed");
    let live_call = InboundCall::new("+15557650009", OURS, format!("{}/telephony/webhook", h.url))
        .status_callback(format!("{}/telephony/status", h.url));
    let live_sid = h.sim.start_inbound_call(live_call).unwrap();
    let store = h.gw.store().clone();
    wait_until("both sessions", async || {
        store.live_sessions().await.unwrap().len() == 2
    })
    .await;

    // The completed callback was lost: only asking Twilio ends that session.
    h.gw.check_sessions().await;
    let live: Vec<String> = store
        .live_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    assert_eq!(live, std::slice::from_ref(&live_sid));
    let rec = store.call(&ended.call_sid).await.unwrap().unwrap();
    assert_eq!(rec.status, CallStatus::Completed);
    assert_eq!(rec.history.last().unwrap().source, StatusSource::Reaper);
    assert_eq!(
        h.sim.call(&live_sid).unwrap().status.as_deref(),
        Some("in-progress")
    );

    // Hanging up the live one ends it (its callback is dropped too; the reaper confirms).
    h.gw.hang_up(&live_sid).await.unwrap();
    // A second hang-up of a call that already ended is a success (Twilio's 20404).
    h.gw.hang_up(&live_sid).await.unwrap();
    h.gw.check_sessions().await;
    assert!(store.live_sessions().await.unwrap().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn an_inbound_call_past_max_duration_is_hung_up_by_the_gateway() {
    let mut h = Harness::new(
        SimulatorConfig::generate().with_simulated_second(Duration::from_millis(10)),
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
    let outcome = h
        .sim
        .place_inbound_call(h.inbound(CallScript::new()))
        .await
        .unwrap();
    assert_eq!(outcome.ended_by, Some(CallEnd::ApiHangUp));
    assert_eq!(outcome.status, "completed");
    let store = h.gw.store().clone();
    let sid = outcome.call_sid.clone();
    // The note is written once the provider confirmed the hang-up.
    wait_until("the note", async || {
        store.call(&sid).await.unwrap().unwrap().note.as_deref()
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
async fn after_a_restart_a_call_that_ended_meanwhile_holds_no_slot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("telephony.db");
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let one_slot =
        |b: GatewayBuilder| b.voice(VoiceSettings::enabled().max_concurrent_sessions(Some(1)));

    // First run: the call ends, but its completed callback never arrives.
    let (gw, url, server) = gateway(&sim, &running.url(), &db, one_slot).await;
    sim.drop_call_callbacks("completed");
    let call = |url: &str| {
        InboundCall::new(CALLER, OURS, format!("{url}/telephony/webhook"))
            .status_callback(format!("{url}/telephony/status"))
            .script(CallScript::new().say("hello"))
    };
    let first = sim.place_inbound_call(call(&url)).await.unwrap();
    assert_eq!(first.status, "completed");
    assert_eq!(gw.store().live_sessions().await.unwrap().len(), 1);
    server.abort();
    drop(gw);

    // Second run on the same database: the start-up check frees the slot.
    let (gw, url, server) = gateway(&sim, &running.url(), &db, one_slot).await;
    let workers = gw.spawn_workers();
    let store = gw.store().clone();
    wait_until("reconciliation", async || {
        store.live_sessions().await.unwrap().is_empty()
    })
    .await;
    let rec = store.call(&first.call_sid).await.unwrap().unwrap();
    assert_eq!(rec.history.last().unwrap().source, StatusSource::Reaper);
    let second = sim.place_inbound_call(call(&url)).await.unwrap();
    assert_eq!(
        second.heard()[0],
        "Hello! How can I help you? Please speak after the tone."
    );
    workers.shutdown().await;
    server.abort();
    running.shutdown().await;
}

#[tokio::test]
async fn over_max_concurrent_sessions_a_caller_hears_busy_and_an_outbound_call_is_refused() {
    let h = Harness::new(
        SimulatorConfig::generate().with_simulated_second(Duration::from_millis(5)),
        |b| {
            b.voice(VoiceSettings::enabled().max_concurrent_sessions(Some(1)))
                .voice_handler(|_e: CallEvent, _c: CallContext| async move {
                    // The first caller stays on the line (600 simulated seconds).
                    Ok::<_, HandlerError>(VoiceResponse::new().pause(600))
                })
        },
    )
    .await;
    let first = h
        .sim
        .start_inbound_call(h.inbound(CallScript::new()))
        .unwrap();
    let store = h.gw.store().clone();
    wait_until("the first session", async || {
        store.live_sessions().await.unwrap().len() == 1
    })
    .await;
    let second = h
        .sim
        .place_inbound_call(h.inbound(CallScript::new()))
        .await
        .unwrap();
    assert_eq!(
        second.heard(),
        ["All our lines are busy right now. Please call again later."]
    );
    assert_eq!(second.ended_by, Some(CallEnd::Hangup));
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
    assert!(
        h.sim.call_create_requests().is_empty(),
        "no Calls.json request"
    );
    h.gw.hang_up(&first).await.unwrap();
    h.stop().await;
}
