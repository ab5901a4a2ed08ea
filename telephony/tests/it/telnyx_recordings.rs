//! Call recordings on Telnyx Call Control over loopback HTTP: the simulator records what
//! `record_start` and dial's `record-from-answer` ask, sends signed
//! `call.recording.saved` events and serves the audio behind `GET /v2/recordings/{id}`;
//! the gateway stores the metadata with the call (SQLite) and fetches the audio with the
//! API key.
#![cfg(feature = "telnyx")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use telephony_core::voice::{
    CallAnswer, CallEvent, OutboundCall, Record, RecordingChannels, VoiceResponse,
};
use telephony_core::{AllowList, InboundPolicy};
use telephony_serve::{CallContext, Gateway, GatewayBuilder, HandlerError, VoiceSettings};
use telephony_store::SqliteStore;
use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
use telephony_telnyx_simulator::{
    CallScript, InboundCall, RunningSimulator, Simulator, SimulatorConfig, recording_wav,
};

const OURS: &str = "+12025550123";
const CALLER: &str = "+15557654321";
const CONNECTION: &str = "1494404757140276705";

struct Harness {
    _dir: tempfile::TempDir,
    sim: Simulator,
    running: Option<RunningSimulator>,
    gw: Gateway,
    server: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn new(voice: VoiceSettings, f: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sim = Simulator::new(
            SimulatorConfig::generate()
                .with_connection(CONNECTION, format!("{url}/telephony/webhook")),
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
            .voice(voice);
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

    async fn stop(mut self) {
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

#[tokio::test]
async fn an_outbound_telnyx_call_with_record_is_saved_stored_and_downloaded_with_the_api_key() {
    let h = Harness::new(VoiceSettings::enabled(), |b| b).await;
    let call = OutboundCall::new(
        "+15557650001",
        CallAnswer::Response(VoiceResponse::new().say("Your table is ready.").hangup()),
    )
    .record(RecordingChannels::Dual);
    let id = h.gw.place_call(call).await.unwrap().call_id;
    let store = h.gw.store().clone();
    wait_until("the recording", async || {
        !store.recordings(Some(&id), 0).await.unwrap().is_empty()
    })
    .await;
    let sim_rec = &h.sim.recordings()[0];
    assert_eq!(sim_rec.call_control_id, id);
    assert_eq!(
        (sim_rec.channels.as_str(), sim_rec.format.as_str()),
        ("dual", "wav")
    );
    let stored = store.recordings(Some(&id), 0).await.unwrap();
    let r = &stored[0];
    assert_eq!(r.recording_id, sim_rec.id);
    assert_eq!(r.channels, RecordingChannels::Dual);
    assert_eq!(r.format, "wav");
    assert_eq!(r.source.as_deref(), Some("call"));
    assert_eq!(
        r.url.as_deref(),
        Some(format!("https://api.telnyx.com/v2/recordings/{}", sim_rec.id).as_str())
    );
    // The callback's link is never kept: it opens the audio without credentials.
    assert!(!r.extra.values().any(|v| v.contains("token=")), "{r:?}");

    let media = h.gw.fetch_recording(&sim_rec.id).await.unwrap().unwrap();
    assert_eq!(media.content_type, "audio/wav");
    assert_eq!(media.bytes.as_ref(), recording_wav("dual").as_slice());
    h.stop().await;
}

#[tokio::test]
async fn voice_record_on_telnyx_records_the_call_and_a_record_turn_resumes_the_answer() {
    let h = Harness::new(
        VoiceSettings::enabled().recordings(Some(true), RecordingChannels::Single),
        |b| {
            b.voice_handler(|event: CallEvent, call: CallContext| async move {
                Ok::<_, HandlerError>(match event {
                    CallEvent::Incoming(_) => VoiceResponse::new()
                        .say(call.say("Leave a message after the beep."))
                        .record(Record::new().max_length(30).timeout_secs(2))
                        .say(call.say("Thanks, goodbye."))
                        .hangup(),
                    _ => VoiceResponse::new().hangup(),
                })
            })
        },
    )
    .await;
    let outcome = h
        .sim
        .place_inbound_call(
            InboundCall::new(CALLER, OURS).script(CallScript::new().say("please call me back")),
        )
        .await
        .unwrap();
    assert!(outcome.finished, "{outcome:#?}");
    assert_eq!(
        outcome.command_names(),
        [
            "answer",
            "record_start",
            "speak",
            "record_start",
            "speak",
            "hangup"
        ],
        "{outcome:#?}"
    );
    assert_eq!(
        outcome.heard(),
        ["Leave a message after the beep.", "Thanks, goodbye."]
    );
    let whole = &outcome.commands[1].body;
    assert_eq!(whole["channels"], "single");
    assert_eq!(whole["format"], "wav");
    let turn = &outcome.commands[3].body;
    assert_eq!(
        (
            &turn["max_length"],
            &turn["timeout_secs"],
            &turn["play_beep"]
        ),
        (
            &serde_json::json!(30),
            &serde_json::json!(2),
            &serde_json::json!(true)
        )
    );
    let id = outcome.call_control_id.clone();
    let store = h.gw.store().clone();
    wait_until("both recordings", async || {
        store.recordings(Some(&id), 0).await.unwrap().len() == 2
    })
    .await;
    let mut sources: Vec<String> = store
        .recordings(Some(&id), 0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.source.unwrap_or_default())
        .collect();
    sources.sort();
    assert_eq!(sources, ["call", "turn"]);
    h.stop().await;
}
