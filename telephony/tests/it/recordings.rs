//! Call recordings end to end over loopback HTTP: the Twilio simulator records calls
//! (`Record=true`, `<Start><Recording>`, `<Record>`), posts signed recording status
//! callbacks and serves the WAV with basic auth; the gateway stores the metadata with the
//! call (SQLite), queues a `call.recording` forward event and fetches the audio.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use telephony_core::voice::{
    CallAnswer, CallEvent, CallStatus, OutboundCall, Record, RecordingChannels, VoiceResponse,
};
use telephony_core::{AllowList, InboundPolicy};
use telephony_serve::{
    CallContext, CallError, ForwardSettings, Gateway, GatewayBuilder, HandlerError, VoiceSettings,
};
use telephony_store::SqliteStore;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{
    CallScript, InboundCall, RunningSimulator, Simulator, SimulatorConfig, recording_wav,
};
use time::OffsetDateTime;

const OURS: &str = "+15005550006";
const CALLER: &str = "+15557654321";

struct Harness {
    _dir: tempfile::TempDir,
    sim: Simulator,
    running: Option<RunningSimulator>,
    gw: Gateway,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn new(voice: VoiceSettings, f: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sim = Simulator::new(SimulatorConfig::generate());
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
            SqliteStore::open(dir.path().join("telephony.db"))
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
            // Forward events are queued in the store (no worker runs: nothing is sent).
            .forward(ForwardSettings::new("http://127.0.0.1:9/events"))
            .voice(voice);
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

    fn inbound(&self, script: CallScript) -> InboundCall {
        InboundCall::new(CALLER, OURS, format!("{}/telephony/webhook", self.url))
            .status_callback(format!("{}/telephony/status", self.url))
            .script(script)
    }

    async fn stop(mut self) {
        self.server.abort();
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// The queued forward events' (type, payload).
    async fn forwarded(&self) -> Vec<(String, serde_json::Value)> {
        let now = OffsetDateTime::now_utc();
        let claimed = self
            .gw
            .store()
            .claim_forwards(now, Duration::from_secs(60), 100)
            .await
            .unwrap();
        claimed
            .into_iter()
            .map(|c| (c.event.kind, c.event.payload))
            .collect()
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
async fn an_outbound_call_with_record_is_recorded_dual_stored_forwarded_and_downloaded() {
    let h = Harness::new(VoiceSettings::enabled(), |b| b).await;
    let call = OutboundCall::new(
        "+15557650001",
        CallAnswer::Response(VoiceResponse::new().say("Your table is ready.").hangup()),
    )
    .record(RecordingChannels::Dual);
    let rec = h.gw.place_call(call).await.unwrap();
    let sid = rec.call_id.clone();
    let create = &h.sim.call_create_requests()[0];
    let param = |k: &str| {
        create
            .params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(param("Record").as_deref(), Some("true"));
    assert_eq!(param("RecordingChannels").as_deref(), Some("dual"));
    assert_eq!(
        param("RecordingStatusCallback"),
        Some(format!("{}/telephony/status", h.url))
    );

    let store = h.gw.store().clone();
    // The simulator lists the recording once the gateway has answered its callback, a
    // moment after the gateway stored it: wait for both.
    wait_until(
        "the recording, stored and its callback answered",
        async || {
            !store.recordings(Some(&sid), 0).await.unwrap().is_empty()
                && !h.sim.recordings().is_empty()
        },
    )
    .await;
    let sim_rec = &h.sim.recordings()[0];
    assert_eq!(sim_rec.callback_status, Some(200));
    let stored = h.gw.recordings(Some(&sid), 0).await.unwrap();
    assert_eq!(stored.len(), 1);
    let r = &stored[0];
    assert_eq!(r.recording_id, sim_rec.sid);
    assert_eq!(r.call_id, sid);
    assert_eq!(r.channels, RecordingChannels::Dual);
    assert_eq!(r.duration_secs, Some(sim_rec.duration_secs));
    assert_eq!(r.format, "wav");
    assert_eq!(r.source.as_deref(), Some("call"));
    let account = h.sim.config().account_sid.clone();
    assert_eq!(
        r.url.as_deref(),
        Some(
            format!(
                "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{}",
                sim_rec.sid
            )
            .as_str()
        )
    );
    assert_eq!(
        store.call(&sid).await.unwrap().unwrap().status,
        CallStatus::Completed
    );

    let events = h.forwarded().await;
    let recs: Vec<&serde_json::Value> = events
        .iter()
        .filter(|(k, _)| k == "call.recording")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(recs.len(), 1, "{events:?}");
    assert_eq!(recs[0]["id"], format!("evt_rec_{}", sim_rec.sid));
    assert_eq!(recs[0]["data"]["callId"], sid.as_str());
    assert_eq!(recs[0]["data"]["channels"], "dual");

    // The audio, fetched with the account's basic auth.
    let media = h.gw.fetch_recording(&sim_rec.sid).await.unwrap().unwrap();
    assert_eq!(media.content_type, "audio/x-wav");
    assert_eq!(media.bytes.as_ref(), recording_wav(2).as_slice());
    assert!(h.gw.fetch_recording("RE404").await.unwrap().is_none());
    h.stop().await;
}

#[tokio::test]
async fn voice_record_true_records_inbound_calls_and_a_record_turn_is_stored_too() {
    let h = Harness::new(
        VoiceSettings::enabled().recordings(Some(true), RecordingChannels::Single),
        |b| {
            b.voice_handler(|event: CallEvent, call: CallContext| async move {
                Ok::<_, HandlerError>(match event {
                    CallEvent::Incoming(_) => VoiceResponse::new()
                        .say(call.say("Leave a message after the beep."))
                        .record(Record::new().max_length(30))
                        .hangup(),
                    _ => VoiceResponse::new().hangup(),
                })
            })
        },
    )
    .await;
    let outcome = h
        .sim
        .place_inbound_call(h.inbound(CallScript::new().say("please call me back")))
        .await
        .unwrap();
    assert_eq!(outcome.error, None);
    let doc = &outcome.documents[0].body;
    assert!(
        doc.contains(&format!(
            "<Start><Recording channels=\"mono\" recordingStatusCallback=\"{}/telephony/status\"/></Start>",
            h.url
        )),
        "{doc}"
    );
    let sid = outcome.call_sid.clone();
    let store = h.gw.store().clone();
    wait_until("both recordings", async || {
        store.recordings(Some(&sid), 0).await.unwrap().len() == 2
    })
    .await;
    let stored = store.recordings(Some(&sid), 0).await.unwrap();
    let mut sources: Vec<&str> = stored
        .iter()
        .map(|r| r.source.as_deref().unwrap_or_default())
        .collect();
    sources.sort();
    assert_eq!(sources, ["call", "turn"]);
    assert!(
        stored
            .iter()
            .all(|r| r.channels == RecordingChannels::Single)
    );
    h.stop().await;
}

#[tokio::test]
async fn voice_record_false_drops_the_record_verb_and_refuses_a_recorded_call() {
    let h = Harness::new(
        VoiceSettings::enabled().recordings(Some(false), RecordingChannels::Dual),
        |b| {
            b.voice_handler(|event: CallEvent, _call: CallContext| async move {
                Ok::<_, HandlerError>(match event {
                    CallEvent::Incoming(_) => VoiceResponse::new()
                        .say("Hello.")
                        .record(Record::new())
                        .hangup(),
                    _ => VoiceResponse::new().hangup(),
                })
            })
        },
    )
    .await;
    let outcome = h
        .sim
        .place_inbound_call(h.inbound(CallScript::new().say("hi")))
        .await
        .unwrap();
    assert_eq!(outcome.error, None);
    let doc = &outcome.documents[0].body;
    assert!(!doc.contains("<Record"), "{doc}");
    assert!(!doc.contains("<Start>"), "{doc}");
    assert_eq!(outcome.heard(), ["Hello."]);

    let call = OutboundCall::new(
        "+15557650001",
        CallAnswer::Response(VoiceResponse::new().say("Hi").hangup()),
    )
    .record(RecordingChannels::Single);
    let err = h.gw.place_call(call).await.unwrap_err();
    assert!(matches!(err, CallError::RecordingDisabled), "{err:?}");
    assert_eq!(
        err.to_string(),
        "recordings are turned off for this account (voice.record is false): the call was not placed; place it without --record"
    );
    assert!(h.sim.call_create_requests().is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.sim.recordings().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn recording_callbacks_are_verified_and_an_unknown_call_is_refused() {
    let h = Harness::new(VoiceSettings::enabled(), |b| b).await;
    let http = reqwest::Client::new();
    let url = format!("{}/telephony/status", h.url);
    let form = [
        ("AccountSid", h.sim.config().account_sid.clone()),
        ("CallSid", "CA00000000000000000000000000000404".to_string()),
        (
            "RecordingSid",
            "RE00000000000000000000000000000001".to_string(),
        ),
        ("RecordingStatus", "completed".to_string()),
        ("RecordingDuration", "3".to_string()),
    ];
    // Unsigned: 403, nothing stored.
    let r = http.post(&url).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Signed, for a call the gateway never saw: 404 naming it, nothing stored.
    let params: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let sig = telephony_twilio::RequestValidator::new(h.sim.config().auth_token.expose())
        .compute(&url, &params);
    let r = http
        .post(&url)
        .header("X-Twilio-Signature", sig)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        r.text().await.unwrap(),
        "no call CA00000000000000000000000000000404: recording RE00000000000000000000000000000001 not stored\n"
    );
    assert!(h.gw.recordings(None, 0).await.unwrap().is_empty());
    let err = h.gw.recordings(Some("CA404"), 0).await.unwrap_err();
    assert!(err.is_not_found());
    h.stop().await;
}
