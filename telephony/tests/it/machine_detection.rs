//! Answering-machine detection and DTMF out, whole calls over real HTTP on loopback, on
//! Twilio and on Telnyx: the simulators' callees are people, beeping machines or faxes
//! ([`Answerer`]), detection results come back as the providers send them (Twilio's signed
//! `AsyncAmdStatusCallback`, Telnyx's `call.machine.*` events), and the gateway keeps them
//! on the call, forwards them, tells the handler and applies `voice.onMachine`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telephony_core::voice::{
    AnsweredBy, CallAnswer, CallEvent, Digits, MachineDetection, OutboundCall, VoiceResponse,
};
use telephony_serve::{
    CallContext, ForwardSettings, Gateway, GatewayBuilder, HandlerError, OnMachine, VoiceSettings,
};
use telephony_store::SqliteStore;

const TWILIO_OURS: &str = "+15005550006";
const HUMAN: &str = "+15557650100";
const MACHINE: &str = "+15557650101";
const FAX: &str = "+15557650102";
const VOICEMAIL: &str = "Your order is ready for pickup.";

async fn wait_until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn answered_by(gw: &Gateway, id: &str) -> Option<AnsweredBy> {
    gw.call_record(id)
        .await
        .unwrap()
        .and_then(|r| r.answered_by)
}

/// The `call.machine_detection` events queued for `forward.url`, as (call id, answeredBy).
async fn forwarded(gw: &Gateway) -> Vec<(String, String)> {
    let claimed = gw
        .store()
        .claim_forwards(time::OffsetDateTime::now_utc(), Duration::from_secs(60), 50)
        .await
        .unwrap();
    let mut out: Vec<(String, String)> = claimed
        .into_iter()
        .filter(|c| c.event.kind == "call.machine_detection")
        .map(|c| {
            assert_eq!(c.event.payload["type"], "call.machine_detection");
            let data = &c.event.payload["data"];
            (
                data["callId"].as_str().unwrap().to_string(),
                data["answeredBy"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A handler that records the detection events it is told and hangs up anything that
/// asks for instructions.
fn recording_handler(
    seen: Arc<Mutex<Vec<(String, AnsweredBy)>>>,
) -> impl Fn(CallEvent, CallContext) -> std::future::Ready<Result<VoiceResponse, HandlerError>>
+ Send
+ Sync
+ 'static {
    move |event: CallEvent, _ctx: CallContext| {
        if let CallEvent::MachineDetection(d) = &event {
            seen.lock()
                .unwrap()
                .push((d.call_id.clone(), d.answered_by));
        }
        std::future::ready(Ok(VoiceResponse::new().hangup()))
    }
}

fn forward_to_nowhere(b: GatewayBuilder) -> GatewayBuilder {
    // No workers run in these tests: forwarded events stay queued for inspection.
    b.forward(ForwardSettings::new("http://127.0.0.1:9/events"))
}

mod twilio {
    use super::*;
    use telephony_twilio::{TwilioConfig, TwilioProvider};
    use telephony_twilio_simulator::{
        Answerer, CallEnd, RunningSimulator, Simulator, SimulatorConfig,
    };

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
            voice: VoiceSettings,
            f: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
        ) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let sim = Simulator::new(
                SimulatorConfig::generate()
                    .with_simulated_second(Duration::from_millis(100))
                    .with_answerer(MACHINE, Answerer::machine_beeping_after(4000))
                    .with_answerer(FAX, Answerer::Fax),
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
                        .from_number(TWILIO_OURS.parse().unwrap()),
                )
                .unwrap(),
            );
            let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let gw = f(Gateway::builder(provider, store)
                .public_url(url.clone())
                .voice(voice))
            .build();
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

        /// A call that says a line, then waits a minute (simulated) for detection.
        fn call(&self, to: &str) -> OutboundCall {
            OutboundCall::new(
                to,
                CallAnswer::Response(
                    VoiceResponse::new()
                        .say("Hello, this is Ada.")
                        .pause(60)
                        .hangup(),
                ),
            )
        }

        fn amd_callbacks(&self, sid: &str) -> Vec<String> {
            self.sim
                .call_callbacks()
                .into_iter()
                .filter(|c| c.call_sid == sid && c.event == "amd")
                .map(|c| {
                    assert_eq!(c.http_status, Some(200), "{c:?}");
                    assert_eq!(c.url, format!("{}/telephony/status", self.url));
                    c.params
                        .iter()
                        .find(|(k, _)| k == "AnsweredBy")
                        .unwrap()
                        .1
                        .clone()
                })
                .collect()
        }

        async fn stop(mut self) {
            self.server.abort();
            if let Some(r) = self.running.take() {
                r.shutdown().await;
            }
        }
    }

    #[tokio::test]
    async fn a_beeping_machine_gets_the_voicemail_message_after_the_beep() {
        let voice = VoiceSettings::enabled()
            .on_machine(OnMachine::Message)
            .voicemail_message(VOICEMAIL);
        let h = Harness::new(voice, forward_to_nowhere).await;
        // Plain detection asked for: `message` makes it wait for the beep.
        let rec =
            h.gw.place_call(h.call(MACHINE).machine_detection(MachineDetection::Detect))
                .await
                .unwrap();
        let sid = rec.call_id.clone();
        let create = &h.sim.call_create_requests()[0].params;
        let get = |k: &str| {
            create
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("MachineDetection"), ["DetectMessageEnd"]);
        assert_eq!(get("AsyncAmd"), ["true"]);
        assert_eq!(
            get("AsyncAmdStatusCallback"),
            [format!("{}/telephony/status", h.url).as_str()]
        );
        wait_until("the voicemail update", async || {
            h.sim.call_update_requests().iter().any(|(s, _)| *s == sid)
        })
        .await;
        let (_, form) = h
            .sim
            .call_update_requests()
            .into_iter()
            .find(|(s, _)| *s == sid)
            .unwrap();
        assert_eq!(
            form,
            [(
                "Twiml".to_string(),
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>{VOICEMAIL}</Say><Hangup/></Response>"
                )
            )]
        );
        assert_eq!(h.amd_callbacks(&sid), ["machine_end_beep"]);
        assert_eq!(
            answered_by(&h.gw, &sid).await,
            Some(AnsweredBy::MachineBeep)
        );
        let rec = h.gw.call_record(&sid).await.unwrap().unwrap();
        assert_eq!(
            rec.note.as_deref(),
            Some("voicemail message left after machine_beep")
        );
        assert_eq!(
            forwarded(&h.gw).await,
            [(sid.clone(), "machine_beep".to_string())]
        );
        // `telephony calls --json` shows it.
        let json = serde_json::to_value(telephony_serve::api::Call::from(&rec)).unwrap();
        assert_eq!(json["answeredBy"], "machine_beep");
        h.stop().await;
    }

    #[tokio::test]
    async fn machines_and_faxes_are_hung_up_on_and_people_keep_talking() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = recording_handler(seen.clone());
        let h = Harness::new(
            VoiceSettings::enabled().on_machine(OnMachine::Hangup),
            |b| forward_to_nowhere(b).voice_handler(handler),
        )
        .await;
        let mut ids = Vec::new();
        for to in [HUMAN, MACHINE, FAX] {
            let rec =
                h.gw.place_call(h.call(to).machine_detection(MachineDetection::Detect))
                    .await
                    .unwrap();
            ids.push(rec.call_id);
        }
        for id in &ids {
            h.sim
                .wait_for_call(id, Duration::from_secs(30))
                .await
                .unwrap();
        }
        let (human, machine, fax) = (&ids[0], &ids[1], &ids[2]);
        assert_eq!(h.amd_callbacks(human), ["human"]);
        assert_eq!(h.amd_callbacks(machine), ["machine_start"]);
        assert_eq!(h.amd_callbacks(fax), ["fax"]);
        let outcome = |id: &str| h.sim.call_outcome(id).unwrap();
        assert_eq!(outcome(human).ended_by, Some(CallEnd::Hangup));
        assert_eq!(outcome(machine).ended_by, Some(CallEnd::ApiHangUp));
        assert_eq!(outcome(fax).ended_by, Some(CallEnd::ApiHangUp));
        assert_eq!(answered_by(&h.gw, human).await, Some(AnsweredBy::Human));
        assert_eq!(answered_by(&h.gw, machine).await, Some(AnsweredBy::Machine));
        assert_eq!(answered_by(&h.gw, fax).await, Some(AnsweredBy::Fax));
        let note = h.gw.call_record(machine).await.unwrap().unwrap().note;
        assert_eq!(
            note.as_deref(),
            Some("hung up: answered by machine (voice.onMachine)")
        );
        assert_eq!(h.gw.call_record(human).await.unwrap().unwrap().note, None);
        wait_until("the handler told of all three", async || {
            seen.lock().unwrap().len() == 3
        })
        .await;
        let mut told = seen.lock().unwrap().clone();
        told.sort();
        let mut expected = vec![
            (human.clone(), AnsweredBy::Human),
            (machine.clone(), AnsweredBy::Machine),
            (fax.clone(), AnsweredBy::Fax),
        ];
        expected.sort();
        assert_eq!(told, expected);
        let mut fwd = vec![
            (human.clone(), "human".to_string()),
            (machine.clone(), "machine".to_string()),
            (fax.clone(), "fax".to_string()),
        ];
        fwd.sort();
        assert_eq!(forwarded(&h.gw).await, fwd);
        h.stop().await;
    }

    #[tokio::test]
    async fn digits_reach_the_callee_on_answer_and_from_the_response() {
        let h = Harness::new(VoiceSettings::enabled(), |b| b).await;
        let call = OutboundCall::new(
            HUMAN,
            CallAnswer::Response(
                VoiceResponse::new()
                    .send_digits(Digits::parse("1W2#").unwrap())
                    .say("Done.")
                    .hangup(),
            ),
        )
        .send_digits(Digits::parse("ww1234#").unwrap());
        let rec = h.gw.place_call(call).await.unwrap();
        let outcome = h
            .sim
            .wait_for_call(&rec.call_id, Duration::from_secs(30))
            .await
            .unwrap();
        let create = &h.sim.call_create_requests()[0].params;
        assert!(
            create.contains(&("SendDigits".to_string(), "ww1234#".to_string())),
            "{create:?}"
        );
        // `<Play digits>` has no `W`: one second is `ww`.
        assert_eq!(outcome.digits_received(), ["ww1234#", "1ww2#"]);
        assert_eq!(outcome.heard(), ["Done."]);
        h.stop().await;
    }

    /// Media Streams has no DTMF message: the stream handler's digits are played into the
    /// stream as tones, which reach the caller as audio.
    #[tokio::test]
    async fn a_stream_handler_presses_keys_as_in_band_tones_on_twilio() {
        use telephony_core::voice::{StreamEvent, StreamVerb, dtmf_pcm};
        use telephony_serve::CallStream;
        use telephony_twilio_simulator::{CallScript, InboundCall};
        let h = Harness::new(VoiceSettings::enabled(), |b| {
            b.inbound_policy(
                telephony_core::InboundPolicy::Allowlist,
                telephony_core::AllowList::parse(&[HUMAN.to_string()]).unwrap(),
            )
            .voice_handler(|_e: CallEvent, _c: CallContext| async move {
                Ok::<_, HandlerError>(VoiceResponse::new().stream(StreamVerb::new()))
            })
            .stream_handler(|mut stream: CallStream| async move {
                let out = stream.sender();
                out.send_digits(&Digits::parse("1#").unwrap()).await?;
                out.hang_up().await?;
                while let Some(ev) = stream.next_event().await {
                    if ev == StreamEvent::Stop {
                        break;
                    }
                }
                Ok::<(), HandlerError>(())
            })
        })
        .await;
        let outcome = h
            .sim
            .place_inbound_call(
                InboundCall::new(HUMAN, TWILIO_OURS, format!("{}/telephony/webhook", h.url))
                    .status_callback(format!("{}/telephony/status", h.url))
                    .script(CallScript::new().wait_ms(5000)),
            )
            .await
            .unwrap();
        let s = &outcome.streams[0];
        let mut tones = Vec::new();
        telephony_core::audio::encode_mulaw_into(
            &dtmf_pcm(&Digits::parse("1#").unwrap()),
            &mut tones,
        );
        assert_eq!(tones.len(), 3200);
        // Exactly the tones, in full: the hang-up waited for them to play.
        assert_eq!(s.received_audio, tones);
        assert_eq!(s.played_bytes, 3200);
        h.stop().await;
    }

    #[tokio::test]
    async fn the_admin_route_asks_for_detection_and_digits_and_refuses_bad_digits() {
        let h = Harness::new(VoiceSettings::enabled(), |b| b).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = format!("http://{}/telephony/calls", listener.local_addr().unwrap());
        let app =
            h.gw.admin_router(telephony_core::Secret::new("admin-token-123456"));
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let post = async |body: serde_json::Value| {
            reqwest::Client::new()
                .post(&admin)
                .bearer_auth("admin-token-123456")
                .json(&body)
                .send()
                .await
                .unwrap()
        };
        let bad = post(serde_json::json!({"to": HUMAN, "say": "hi", "sendDigits": "12x"})).await;
        assert_eq!(bad.status(), 400);
        let text = bad.text().await.unwrap();
        assert!(
            text.contains(r#"\"sendDigits\": invalid digits \"12x\": 'x' at position 3 is not a key (0-9, A-D, *, #) or a pause (w, W)"#),
            "{text}"
        );
        assert!(h.sim.call_create_requests().is_empty());
        let ok = post(serde_json::json!({
            "to": MACHINE,
            "twiml": "<Response><Say>hi</Say><Pause length=\"30\"/></Response>",
            "waitForBeep": true,
        }))
        .await;
        assert_eq!(ok.status(), 201);
        let call: serde_json::Value = ok.json().await.unwrap();
        let create = &h.sim.call_create_requests()[0].params;
        assert!(
            create.contains(&("MachineDetection".into(), "DetectMessageEnd".into())),
            "{create:?}"
        );
        let id = call["id"].as_str().unwrap().to_string();
        wait_until("the detection result", async || {
            answered_by(&h.gw, &id).await.is_some()
        })
        .await;
        assert_eq!(answered_by(&h.gw, &id).await, Some(AnsweredBy::MachineBeep));
        server.abort();
        h.stop().await;
    }

    #[tokio::test]
    async fn detection_for_unknown_calls_and_malformed_results_change_nothing() {
        let h = Harness::new(VoiceSettings::enabled(), forward_to_nowhere).await;
        let c = h.sim.config();
        let url = format!("{}/telephony/status", h.url);
        let post = async |params: Vec<(&str, &str)>| {
            let params: Vec<(String, String)> = params
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let sig = telephony_twilio::RequestValidator::new(c.auth_token.expose())
                .compute(&url, &params);
            reqwest::Client::new()
                .post(&url)
                .header("X-Twilio-Signature", sig)
                .form(&params)
                .send()
                .await
                .unwrap()
        };
        let unknown = post(vec![
            ("CallSid", "CA00000000000000000000000000000404"),
            ("AccountSid", &c.account_sid),
            ("AnsweredBy", "human"),
            ("MachineDetectionDuration", "2400"),
        ])
        .await;
        assert_eq!(unknown.status(), 200);
        let rec = h.gw.place_call(h.call(HUMAN)).await.unwrap();
        let bad = post(vec![
            ("CallSid", &rec.call_id),
            ("AccountSid", &c.account_sid),
            ("AnsweredBy", "robot"),
        ])
        .await;
        assert_eq!(bad.status(), 400);
        assert!(bad.text().await.unwrap().contains("AnsweredBy"));
        assert_eq!(answered_by(&h.gw, &rec.call_id).await, None);
        assert!(forwarded(&h.gw).await.is_empty());
        h.stop().await;
    }
}

#[cfg(feature = "telnyx")]
mod telnyx {
    use super::*;
    use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
    use telephony_telnyx_simulator::{Answerer, RunningSimulator, Simulator, SimulatorConfig};

    const OURS: &str = "+12025550123";
    const CONNECTION: &str = "1494404757140276705";

    struct Harness {
        _dir: tempfile::TempDir,
        sim: Simulator,
        running: Option<RunningSimulator>,
        gw: Gateway,
        server: tokio::task::JoinHandle<()>,
    }

    impl Harness {
        async fn new(
            voice: VoiceSettings,
            f: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
        ) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let sim = Simulator::new(
                SimulatorConfig::generate()
                    .with_connection(CONNECTION, format!("{url}/telephony/webhook"))
                    .with_simulated_second(Duration::from_millis(100))
                    .with_answerer(MACHINE, Answerer::machine_beeping_after(4000))
                    .with_answerer(FAX, Answerer::Fax),
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
            let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
            let gw = f(Gateway::builder(provider, store)
                .public_url(url)
                .voice(voice))
            .build();
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

        fn call(&self, to: &str) -> OutboundCall {
            OutboundCall::new(
                to,
                CallAnswer::Response(
                    VoiceResponse::new()
                        .say("Hello, this is Ada.")
                        .pause(30)
                        .hangup(),
                ),
            )
        }

        async fn stop(mut self) {
            self.server.abort();
            if let Some(r) = self.running.take() {
                r.shutdown().await;
            }
        }
    }

    #[tokio::test]
    async fn a_beeping_machine_gets_the_voicemail_message_after_the_beep_on_telnyx() {
        let voice = VoiceSettings::enabled()
            .on_machine(OnMachine::Message)
            .voicemail_message(VOICEMAIL);
        let h = Harness::new(voice, forward_to_nowhere).await;
        let rec =
            h.gw.place_call(h.call(MACHINE).machine_detection(MachineDetection::Detect))
                .await
                .unwrap();
        let id = rec.call_id.clone();
        assert_eq!(
            h.sim.dial_requests()[0]["answering_machine_detection"],
            "detect_beep"
        );
        let outcome = h
            .sim
            .wait_for_call(&id, Duration::from_secs(30))
            .await
            .unwrap();
        let types = outcome.event_types();
        assert!(types.contains(&"call.machine.detection.ended"), "{types:?}");
        assert!(types.contains(&"call.machine.greeting.ended"), "{types:?}");
        assert_eq!(outcome.heard(), ["Hello, this is Ada.", VOICEMAIL]);
        assert_eq!(outcome.hangup_source.as_deref(), Some("caller"));
        assert_eq!(answered_by(&h.gw, &id).await, Some(AnsweredBy::MachineBeep));
        let rec = h.gw.call_record(&id).await.unwrap().unwrap();
        assert_eq!(
            rec.note.as_deref(),
            Some("voicemail message left after machine_beep")
        );
        assert_eq!(
            forwarded(&h.gw).await,
            [
                (id.clone(), "machine".to_string()),
                (id.clone(), "machine_beep".to_string())
            ]
        );
        h.stop().await;
    }

    #[tokio::test]
    async fn machines_and_faxes_are_hung_up_on_and_people_keep_talking_on_telnyx() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = recording_handler(seen.clone());
        let h = Harness::new(
            VoiceSettings::enabled().on_machine(OnMachine::Hangup),
            |b| forward_to_nowhere(b).voice_handler(handler),
        )
        .await;
        let mut ids = Vec::new();
        for to in [HUMAN, MACHINE, FAX] {
            let rec =
                h.gw.place_call(h.call(to).machine_detection(MachineDetection::Detect))
                    .await
                    .unwrap();
            ids.push(rec.call_id);
        }
        for id in &ids {
            h.sim
                .wait_for_call(id, Duration::from_secs(30))
                .await
                .unwrap();
        }
        let (human, machine, fax) = (&ids[0], &ids[1], &ids[2]);
        let result = |id: &str| {
            let o = h.sim.call_outcome(id).unwrap();
            o.event("call.machine.detection.ended").unwrap().payload["result"].clone()
        };
        assert_eq!(result(human), "human");
        assert_eq!(result(machine), "machine");
        // Basic detection has no fax result.
        assert_eq!(result(fax), "machine");
        assert_eq!(answered_by(&h.gw, human).await, Some(AnsweredBy::Human));
        assert_eq!(answered_by(&h.gw, machine).await, Some(AnsweredBy::Machine));
        let hung_up = |id: &str| {
            h.sim
                .call_outcome(id)
                .unwrap()
                .command_names()
                .contains(&"hangup")
        };
        for id in [human, machine, fax] {
            // Every call ends with the gateway's hangup; the person's only after the
            // whole answer ran (they heard the line, and the pause).
            assert!(hung_up(id));
        }
        let human_outcome = h.sim.call_outcome(human).unwrap();
        assert!(
            human_outcome.duration_secs >= 30,
            "{}",
            human_outcome.duration_secs
        );
        let machine_outcome = h.sim.call_outcome(machine).unwrap();
        assert!(
            machine_outcome.duration_secs < 30,
            "{}",
            machine_outcome.duration_secs
        );
        assert_eq!(
            h.gw.call_record(machine)
                .await
                .unwrap()
                .unwrap()
                .note
                .as_deref(),
            Some("hung up: answered by machine (voice.onMachine)")
        );
        wait_until("the handler told of all three", async || {
            seen.lock().unwrap().len() == 3
        })
        .await;
        h.stop().await;
    }

    /// On Telnyx a stream handler's digits go out of band (`send_dtmf`) while the stream
    /// runs.
    #[tokio::test]
    async fn a_stream_handler_presses_keys_with_send_dtmf_on_telnyx() {
        use telephony_core::voice::{StreamEvent, StreamVerb};
        use telephony_serve::CallStream;
        use telephony_telnyx_simulator::{CallScript, InboundCall};
        let h = Harness::new(VoiceSettings::enabled(), |b| {
            b.inbound_policy(
                telephony_core::InboundPolicy::Allowlist,
                telephony_core::AllowList::parse(&[HUMAN.to_string()]).unwrap(),
            )
            .voice_handler(|_e: CallEvent, _c: CallContext| async move {
                Ok::<_, HandlerError>(VoiceResponse::new().stream(StreamVerb::new()))
            })
            .stream_handler(|mut stream: CallStream| async move {
                let out = stream.sender();
                out.send_digits(&Digits::parse("1W#").unwrap()).await?;
                out.hang_up().await?;
                while let Some(ev) = stream.next_event().await {
                    if ev == StreamEvent::Stop {
                        break;
                    }
                }
                Ok::<(), HandlerError>(())
            })
        })
        .await;
        let outcome = h
            .sim
            .place_inbound_call(
                InboundCall::new(HUMAN, OURS).script(CallScript::new().wait_ms(5000)),
            )
            .await
            .unwrap();
        assert_eq!(outcome.dtmf_sent, ["1W#"]);
        assert!(
            outcome.command_names().contains(&"streaming_start"),
            "{:?}",
            outcome.command_names()
        );
        h.stop().await;
    }

    #[tokio::test]
    async fn digits_reach_the_callee_on_answer_and_from_the_response_on_telnyx() {
        let h = Harness::new(VoiceSettings::enabled(), |b| b).await;
        let call = OutboundCall::new(
            HUMAN,
            CallAnswer::Response(
                VoiceResponse::new()
                    .send_digits(Digits::parse("1W2#").unwrap())
                    .say("Done.")
                    .hangup(),
            ),
        )
        .send_digits(Digits::parse("ww1234#").unwrap());
        let rec = h.gw.place_call(call).await.unwrap();
        let outcome = h
            .sim
            .wait_for_call(&rec.call_id, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(h.sim.dial_requests()[0]["send_digits_on_answer"], "ww1234#");
        assert_eq!(outcome.dtmf_sent, ["ww1234#", "1W2#"]);
        assert_eq!(outcome.heard(), ["Done."]);
        h.stop().await;
    }
}
