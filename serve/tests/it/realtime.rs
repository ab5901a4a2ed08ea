//! Real-time calls over real WebSockets on loopback: the test plays Twilio's side of Media
//! Streams and ConversationRelay by hand (signed upgrade, Twilio's JSON), against a gateway
//! whose handlers echo audio, set marks, clear on barge-in and answer prompts.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use telephony_core::store::prelude::*;
use telephony_core::voice::{
    Call, CallEvent, RelayEvent, RelayVerb, StreamEvent, StreamVerb, VoiceError, VoiceResponse,
};
use telephony_core::{
    AllowList, InboundPolicy, MemoryStore, OutboundMessage, Provider, ProviderError,
    ProviderLimits, ProviderReceipt, SendOptions, SignatureCheck, WebhookError, WebhookEvent,
    WebhookRequest, WebhookResponse,
};
use telephony_serve::{
    CallContext, CallStream, Gateway, GatewayBuilder, HandlerError, RelaySession, VoiceSettings,
};
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
use tower::ServiceExt;

use crate::support::{ACCOUNT, OURS, TOKEN};

const CALLER: &str = "+15557654321";

/// Twilio, with hang-ups recorded instead of sent.
#[derive(Debug)]
struct Twilio {
    inner: TwilioProvider,
    hung_up: Mutex<Vec<String>>,
}

#[async_trait]
impl Provider for Twilio {
    async fn send(
        &self,
        _: &OutboundMessage,
        _: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        Err(ProviderError::transport(
            "twilio",
            "http://127.0.0.1:9/",
            false,
            "no SMS here",
        ))
    }
    /// It never sends an SMS, so it never sent this one.
    async fn find_sent(
        &self,
        _: &OutboundMessage,
        _: time::OffsetDateTime,
    ) -> Result<Option<ProviderReceipt>, ProviderError> {
        Ok(None)
    }
    fn name(&self) -> &'static str {
        "twilio"
    }
    fn limits(&self) -> ProviderLimits {
        self.inner.limits()
    }
    fn handle_webhook(
        &self,
        req: &WebhookRequest,
        check: SignatureCheck,
    ) -> Result<WebhookEvent, WebhookError> {
        self.inner.handle_webhook(req, check)
    }
    fn webhook_ack(&self) -> WebhookResponse {
        self.inner.webhook_ack()
    }
    fn render_voice(&self, response: &VoiceResponse) -> Result<WebhookResponse, VoiceError> {
        self.inner.render_voice(response)
    }
    fn realtime(&self) -> Option<&dyn telephony_core::voice::Realtime> {
        self.inner.realtime()
    }
    async fn hang_up(&self, call_id: &str) -> Result<(), ProviderError> {
        self.hung_up.lock().unwrap().push(call_id.to_string());
        Ok(())
    }
    async fn fetch_call(&self, call_id: &str) -> Result<Call, ProviderError> {
        Err(ProviderError::api(
            "twilio",
            404,
            format!("no call {call_id}"),
        ))
    }
}

struct Env {
    gw: Gateway,
    store: Arc<MemoryStore>,
    provider: Arc<Twilio>,
    addr: SocketAddr,
}

async fn env(f: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Env {
    let cfg = TwilioConfig::new(ACCOUNT, TOKEN)
        .from_number(OURS.parse().unwrap())
        .api_base_url("http://127.0.0.1:9");
    let provider = Arc::new(Twilio {
        inner: TwilioProvider::new(cfg).unwrap(),
        hung_up: Mutex::new(Vec::new()),
    });
    let store = Arc::new(MemoryStore::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let b = Gateway::builder(provider.clone(), store.clone())
        .public_url(format!("http://{addr}"))
        .inbound_policy(
            InboundPolicy::Allowlist,
            AllowList::parse(&[CALLER.to_string()]).unwrap(),
        )
        .voice(VoiceSettings::enabled());
    let gw = f(b).build();
    let app = gw
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Env {
        gw,
        store,
        provider,
        addr,
    }
}

/// Rings the gateway (signed voice webhook) and returns the TwiML.
async fn ring(e: &Env, sid: &str) -> String {
    let params: Vec<(String, String)> = [
        ("CallSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", CALLER),
        ("To", OURS),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = format!("http://{}/telephony/webhook", e.addr);
    let sig = RequestValidator::new(TOKEN).compute(&url, &params);
    let req = Request::post("/telephony/webhook")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(Body::from(serde_urlencoded::to_string(&params).unwrap()))
        .unwrap();
    let resp = e.gw.router().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

/// The token the gateway put in the TwiML.
fn token_of(twiml: &str) -> String {
    let start = twiml
        .find(r#"<Parameter name="telephonyToken" value=""#)
        .unwrap_or_else(|| panic!("no token in {twiml}"))
        + r#"<Parameter name="telephonyToken" value=""#.len();
    twiml[start..start + 64].to_string()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens the socket as Twilio would: the upgrade signed over the `wss://` URL.
async fn connect(e: &Env, path: &str, token: &str) -> Ws {
    let mut req = format!("ws://{}{path}", e.addr)
        .into_client_request()
        .unwrap();
    let sig = RequestValidator::new(token).compute(&format!("wss://{}{path}", e.addr), &[]);
    req.headers_mut()
        .insert("x-twilio-signature", sig.parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    ws
}

/// Opens the socket with the upgrade signed over `signed_url` (whatever it is).
async fn connect_signed(e: &Env, path: &str, signed_url: &str) -> Ws {
    let mut req = format!("ws://{}{path}", e.addr)
        .into_client_request()
        .unwrap();
    let sig = RequestValidator::new(TOKEN).compute(signed_url, &[]);
    req.headers_mut()
        .insert("x-twilio-signature", sig.parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    ws
}

/// The `<Stream url>` of a TwiML answer.
fn stream_url_of(twiml: &str) -> String {
    let start = twiml.find(r#"<Stream url=""#).expect("a <Stream>") + r#"<Stream url=""#.len();
    let len = twiml[start..].find('"').unwrap();
    twiml[start..start + len].to_string()
}

async fn send(ws: &mut Ws, v: serde_json::Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

async fn recv_json(ws: &mut Ws) -> serde_json::Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message")
        {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Waits for the close frame: (code, reason).
async fn closed(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(8), ws.next())
            .await
            .expect("a close")
        {
            Some(Ok(Message::Close(Some(f)))) => return (u16::from(f.code), f.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error instead of a close: {e}"),
        }
    }
}

fn start(token: &str, sid: &str) -> serde_json::Value {
    serde_json::json!({
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {
            "accountSid": ACCOUNT, "streamSid": "MZ1", "callSid": sid, "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"telephonyToken": token, "lang": "en"}
        }
    })
}

fn stream_env(log: Arc<Mutex<Vec<String>>>) -> impl FnOnce(GatewayBuilder) -> GatewayBuilder {
    move |b| {
        b.voice_handler(|_e: CallEvent, _c: CallContext| async move {
            Ok::<_, HandlerError>(
                VoiceResponse::new()
                    .stream(StreamVerb::new().parameter("lang", "en"))
                    .say("Goodbye."),
            )
        })
        .stream_handler(move |mut stream: CallStream| {
            let log = log.clone();
            async move {
                let out = stream.sender();
                let params: Vec<String> = stream
                    .start()
                    .custom_parameters
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                log.lock().unwrap().push(format!(
                    "start {} {}",
                    stream.call_id(),
                    params.join(",")
                ));
                // A greeting: 0.1 s of PCM silence, then a mark to know it played.
                out.send_pcm(&[0i16; 800])?;
                let greeting = out.mark("greeting")?;
                let log2 = log.clone();
                tokio::spawn(async move {
                    if greeting.played().await.is_ok() {
                        log2.lock().unwrap().push("greeting played".into());
                    }
                });
                while let Some(ev) = stream.next_event().await {
                    match ev {
                        StreamEvent::Audio(frame) => out.send_mulaw(&frame.mulaw)?,
                        StreamEvent::Dtmf { digit } => {
                            log.lock().unwrap().push(format!("dtmf {digit}"));
                            out.clear()?;
                        }
                        StreamEvent::Stop => {
                            log.lock().unwrap().push("stop".into());
                            break;
                        }
                        _ => {}
                    }
                }
                Ok::<(), HandlerError>(())
            }
        })
    }
}

const SID: &str = "CA00000000000000000000000000000001";

#[tokio::test]
async fn a_stream_echoes_audio_marks_play_and_dtmf_clears() {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let e = env(stream_env(log.clone())).await;
    let twiml = ring(&e, SID).await;
    let token = token_of(&twiml);
    assert_eq!(
        twiml,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="ws://{}/telephony/stream"><Parameter name="lang" value="en"/><Parameter name="telephonyToken" value="{token}"/></Stream></Connect><Say>Goodbye.</Say></Response>"#,
            e.addr
        )
    );
    let mut ws = connect(&e, "/telephony/stream", TOKEN).await;
    send(
        &mut ws,
        serde_json::json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
    )
    .await;
    send(&mut ws, start(&token, SID)).await;
    // The greeting: 800 bytes of μ-law silence (0xFF), then its mark.
    let media = recv_json(&mut ws).await;
    assert_eq!(media["event"], "media");
    assert_eq!(media["streamSid"], "MZ1");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        b64.decode(media["media"]["payload"].as_str().unwrap())
            .unwrap(),
        vec![0xFFu8; 800]
    );
    let mark = recv_json(&mut ws).await;
    assert_eq!(
        mark,
        serde_json::json!({"event": "mark", "streamSid": "MZ1", "mark": {"name": "greeting"}})
    );
    // Twilio echoes the mark once the audio played.
    send(&mut ws, serde_json::json!({"event": "mark", "sequenceNumber": "2", "streamSid": "MZ1", "mark": {"name": "greeting"}})).await;
    // Caller audio comes back.
    let payload = b64.encode([0x00u8, 0x7F, 0x80, 0xFF]);
    send(
        &mut ws,
        serde_json::json!({"event": "media", "sequenceNumber": "3", "streamSid": "MZ1",
        "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": payload}}),
    )
    .await;
    let echo = recv_json(&mut ws).await;
    assert_eq!(echo["media"]["payload"], payload.as_str());
    // Barge-in: a key clears the audio.
    send(
        &mut ws,
        serde_json::json!({"event": "dtmf", "streamSid": "MZ1", "sequenceNumber": "4",
        "dtmf": {"track": "inbound_track", "digit": "#"}}),
    )
    .await;
    assert_eq!(
        recv_json(&mut ws).await,
        serde_json::json!({"event": "clear", "streamSid": "MZ1"})
    );
    send(
        &mut ws,
        serde_json::json!({"event": "stop", "sequenceNumber": "5", "streamSid": "MZ1",
        "stop": {"accountSid": ACCOUNT, "callSid": SID}}),
    )
    .await;
    assert_eq!(closed(&mut ws).await.0, 1000);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            format!("start {SID} lang=en"),
            "greeting played".into(),
            "dtmf #".into(),
            "stop".into()
        ]
    );
    // The call ended with its stop: nothing to hang up.
    assert!(e.provider.hung_up.lock().unwrap().is_empty());

    // The token was good once.
    let mut again = connect(&e, "/telephony/stream", TOKEN).await;
    send(&mut again, start(&token, SID)).await;
    assert_eq!(
        closed(&mut again).await,
        (
            1008,
            "invalid, expired or already used token for this call".to_string()
        )
    );
}

#[tokio::test]
async fn a_client_that_signs_the_stream_url_as_given_is_admitted_on_a_plain_http_origin() {
    let e = env(stream_env(Arc::default())).await;
    let twiml = ring(&e, SID).await;
    let token = token_of(&twiml);
    // The gateway's public URL is http://, so the TwiML names a ws:// socket.
    let given = stream_url_of(&twiml);
    assert_eq!(given, format!("ws://{}/telephony/stream", e.addr));

    // Signed over another URL (another path): refused, as always.
    let other = format!("ws://{}/telephony/other", e.addr);
    let mut ws = connect_signed(&e, "/telephony/stream", &other).await;
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.starts_with("signature: "), "{reason}");
    // Over the http:// URL of the route: not the socket URL either.
    let http = format!("http://{}/telephony/stream", e.addr);
    let mut ws = connect_signed(&e, "/telephony/stream", &http).await;
    assert_eq!(closed(&mut ws).await.0, 1008);

    // Signed over the URL exactly as given: admitted, the stream starts.
    let mut ws = connect_signed(&e, "/telephony/stream", &given).await;
    send(&mut ws, start(&token, SID)).await;
    let media = recv_json(&mut ws).await;
    assert_eq!(media["event"], "media");
    assert_eq!(media["streamSid"], "MZ1");
}

#[tokio::test]
async fn sockets_without_valid_signature_token_or_start_are_closed_with_a_reason() {
    let e = env(stream_env(Arc::default())).await;
    let token = token_of(&ring(&e, SID).await);

    let mut ws = connect(&e, "/telephony/stream", "00000000000000000000000000000000").await;
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.starts_with("signature: "), "{reason}");

    let mut ws = connect(&e, "/telephony/stream", TOKEN).await;
    send(&mut ws, start("not-the-token", SID)).await;
    assert_eq!(
        closed(&mut ws).await,
        (
            1008,
            "invalid, expired or already used token for this call".into()
        )
    );

    // The right token for another call is no good either.
    let mut ws = connect(&e, "/telephony/stream", TOKEN).await;
    send(&mut ws, start(&token, "CA00000000000000000000000000000002")).await;
    assert_eq!(closed(&mut ws).await.0, 1008);

    let mut ws = connect(&e, "/telephony/stream", TOKEN).await;
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        closed(&mut ws).await,
        (1008, "binary frames are not part of the protocol".into())
    );

    let mut ws = connect(&e, "/telephony/stream", TOKEN).await;
    send(&mut ws, serde_json::json!({"event": "dance"})).await;
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("dance"), "{reason}");

    let mut ws = connect(&e, "/telephony/stream", TOKEN).await;
    let big = "x".repeat(70 * 1024);
    // The gateway may close before the whole frame is read.
    let _ = ws
        .send(Message::text(format!("{{\"event\":\"{big}\"}}")))
        .await;
    assert_eq!(closed(&mut ws).await.0, 1009);

    // A socket that never starts is closed after 5 s.
    let mut ws = connect(&e, "/telephony/stream", TOKEN).await;
    let t0 = std::time::Instant::now();
    assert_eq!(closed(&mut ws).await, (1008, "no start within 5 s".into()));
    assert!(t0.elapsed() >= Duration::from_secs(4));
    // The token is still unused: none of the above consumed it.
    assert!(
        e.store
            .take_stream_token(SID, &sha256_hex(&token), time::OffsetDateTime::now_utc())
            .await
            .unwrap()
    );
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_stream_that_dies_without_stop_hangs_the_call_up_and_an_ended_call_cannot_stream() {
    let e = env(stream_env(Arc::default())).await;
    let token = token_of(&ring(&e, SID).await);
    let mut ws = connect(&e, "/telephony/stream", TOKEN).await;
    send(&mut ws, start(&token, SID)).await;
    let _greeting = recv_json(&mut ws).await;
    drop(ws);
    for _ in 0..100 {
        if !e.provider.hung_up.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*e.provider.hung_up.lock().unwrap(), [SID]);

    // A call that ended after its TwiML was served: its token no longer opens a stream.
    let sid = "CA00000000000000000000000000000003";
    let token = token_of(&ring(&e, sid).await);
    e.store
        .update_call_status(
            sid,
            telephony_core::voice::CallStatus::Completed,
            Some(1),
            telephony_core::store::StatusSource::Callback,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let mut ws = connect(&e, "/telephony/stream", TOKEN).await;
    send(&mut ws, start(&token, sid)).await;
    assert_eq!(
        closed(&mut ws).await,
        (1008, "unknown or ended call".into())
    );
}

#[tokio::test]
async fn a_relay_answers_prompts_with_tokens_and_ends_with_handoff() {
    let e = env(|b| {
        b.voice_handler(|_e: CallEvent, _c: CallContext| async move {
            Ok::<_, HandlerError>(
                VoiceResponse::new().relay(RelayVerb::new().welcome_greeting("Hi!")),
            )
        })
        .relay_handler(|mut relay: RelaySession| async move {
            let out = relay.sender();
            while let Some(ev) = relay.next_event().await {
                match ev {
                    RelayEvent::Prompt {
                        text, last: true, ..
                    } if text.contains("bye") => {
                        out.end(Some(r#"{"reason":"done"}"#.into()))?;
                    }
                    RelayEvent::Prompt {
                        text, last: true, ..
                    } => {
                        out.token("You said ", false)?;
                        out.token(format!("{text}."), true)?;
                    }
                    RelayEvent::Interrupt { .. } => out.say("Sorry, go ahead.")?,
                    _ => {}
                }
            }
            Ok::<(), HandlerError>(())
        })
    })
    .await;
    let twiml = ring(&e, SID).await;
    let token = token_of(&twiml);
    assert!(
        twiml.contains(&format!(r#"<Connect><ConversationRelay url="ws://{}/telephony/stream/relay" welcomeGreeting="Hi!">"#, e.addr)),
        "{twiml}"
    );
    let mut ws = connect(&e, "/telephony/stream/relay", TOKEN).await;
    send(
        &mut ws,
        serde_json::json!({"type": "setup", "sessionId": "VX1", "accountSid": ACCOUNT,
        "callSid": SID, "from": CALLER, "to": OURS, "direction": "inbound", "callStatus": "RINGING",
        "customParameters": {"telephonyToken": token}}),
    )
    .await;
    send(&mut ws, serde_json::json!({"type": "prompt", "voicePrompt": "what time is it", "lang": "en-US", "last": true})).await;
    assert_eq!(
        recv_json(&mut ws).await,
        serde_json::json!({"type": "text", "token": "You said ", "last": false})
    );
    assert_eq!(
        recv_json(&mut ws).await,
        serde_json::json!({"type": "text", "token": "what time is it.", "last": true})
    );
    send(&mut ws, serde_json::json!({"type": "interrupt", "utteranceUntilInterrupt": "You said", "durationUntilInterruptMs": 460})).await;
    assert_eq!(
        recv_json(&mut ws).await,
        serde_json::json!({"type": "text", "token": "Sorry, go ahead.", "last": true})
    );
    send(&mut ws, serde_json::json!({"type": "prompt", "voicePrompt": "ok bye", "lang": "en-US", "last": true})).await;
    assert_eq!(
        recv_json(&mut ws).await,
        serde_json::json!({"type": "end", "handoffData": r#"{"reason":"done"}"#})
    );
    // The handler is done: the gateway closes normally.
    assert_eq!(closed(&mut ws).await.0, 1000);
    // Timed: three frames in after the setup, four out (three tokens and the end), and one
    // first token (the second prompt got an end, no token).
    let text = e.gw.metrics().render(&[]);
    for count in [
        "telephony_realtime_frame_in_seconds_count{kind=\"relay\"} 3",
        "telephony_realtime_frame_out_seconds_count{kind=\"relay\"} 4",
        "telephony_relay_first_token_seconds_count 1",
    ] {
        assert!(text.lines().any(|l| l == count), "{count}: {text}");
    }
}

#[tokio::test]
async fn a_relay_closed_by_the_provider_gets_the_closing_handshake() {
    let e = env(|b| {
        b.voice_handler(|_e: CallEvent, _c: CallContext| async move {
            Ok::<_, HandlerError>(VoiceResponse::new().relay(RelayVerb::new()))
        })
        .relay_handler(|mut relay: RelaySession| async move {
            while relay.next_event().await.is_some() {}
            Ok::<(), HandlerError>(())
        })
    })
    .await;
    let token = token_of(&ring(&e, SID).await);
    let mut ws = connect(&e, "/telephony/stream/relay", TOKEN).await;
    send(
        &mut ws,
        serde_json::json!({"type": "setup", "sessionId": "VX1", "accountSid": ACCOUNT,
        "callSid": SID, "from": CALLER, "to": OURS, "direction": "inbound", "callStatus": "RINGING",
        "customParameters": {"telephonyToken": token}}),
    )
    .await;
    // Twilio ends a relay by closing the socket: the gateway answers the close frame (with
    // its code) instead of dropping the connection.
    ws.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 1000.into(),
        reason: "".into(),
    }))
    .await
    .unwrap();
    assert_eq!(closed(&mut ws).await.0, 1000);
    // A relay has no stop: the close was its end, so nothing is hung up.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(e.provider.hung_up.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_sender_that_runs_ahead_of_the_socket_closes_the_stream_with_a_reason() {
    let result: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = result.clone();
    let e = env(move |b| {
        b.voice_handler(|_e: CallEvent, _c: CallContext| async move {
            Ok::<_, HandlerError>(VoiceResponse::new().stream(StreamVerb::new()))
        })
        .stream_handler(move |stream: CallStream| {
            let seen = seen.clone();
            async move {
                // 600 KiB at once: over the 512 KiB bound.
                let r = stream.sender().send_mulaw(&vec![0xFFu8; 600 * 1024]);
                *seen.lock().unwrap() = Some(format!("{r:?}"));
                Ok::<(), HandlerError>(())
            }
        })
    })
    .await;
    let token = token_of(&ring(&e, SID).await);
    let mut ws = connect(&e, "/telephony/stream", TOKEN).await;
    send(&mut ws, start(&token, SID)).await;
    assert_eq!(
        closed(&mut ws).await,
        (
            1011,
            "outbound audio buffer full (614400 bytes queued, at most 524288)".into()
        )
    );
    assert_eq!(
        result.lock().unwrap().as_deref(),
        Some("Err(BufferFull { queued: 614400, max: 524288 })")
    );
}

#[tokio::test]
async fn relay_mode_bridges_a_call_to_an_http_app_with_a_bounded_wait() {
    use telephony_serve::VoiceMode;
    use telephony_serve::voice::bridge::{HttpRelayBridge, RelayRequest};
    // The application: one HTTP endpoint, any language; here axum.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/assistant",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                async move {
                    let sig = headers
                        .get("x-telephony-signature")
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_string();
                    assert_eq!(
                        sig,
                        telephony_serve::forward_signature(b"relay-secret", &body)
                    );
                    let req: RelayRequest = serde_json::from_slice(&body).unwrap();
                    let text = req.data["text"].as_str().unwrap_or_default().to_string();
                    log.lock().unwrap().push(format!("{} {text}", req.kind));
                    match (req.kind.as_str(), text.as_str()) {
                        ("call.prompt", "what time is it") => {
                            r#"{"text":"It is noon."}"#.to_string()
                        }
                        ("call.prompt", "think hard") => {
                            tokio::time::sleep(Duration::from_millis(800)).await;
                            r#"{"text":"Too late."}"#.to_string()
                        }
                        ("call.prompt", "bye") => r#"{"text":"Bye!","end":true}"#.to_string(),
                        _ => String::new(),
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!("http://{}/assistant", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let bridge = HttpRelayBridge::new(
        app_url,
        Some(telephony_core::Secret::new("relay-secret")),
        Duration::from_millis(300),
    );
    let e = env(move |b| {
        b.voice(
            VoiceSettings::enabled()
                .mode(VoiceMode::Relay)
                .greeting("Hi, I am the assistant."),
        )
        .relay_handler(bridge)
    })
    .await;
    let twiml = ring(&e, SID).await;
    let token = token_of(&twiml);
    assert_eq!(
        twiml,
        format!(
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><ConversationRelay url="ws://{}/telephony/stream/relay" "#,
                r#"welcomeGreeting="Hi, I am the assistant." interruptible="true" dtmfDetection="true">"#,
                r#"<Parameter name="telephonyToken" value="{}"/></ConversationRelay></Connect><Say>Thank you. Goodbye.</Say><Hangup/></Response>"#
            ),
            e.addr, token
        )
    );
    let mut ws = connect(&e, "/telephony/stream/relay", TOKEN).await;
    send(
        &mut ws,
        serde_json::json!({"type": "setup", "sessionId": "VX1", "accountSid": ACCOUNT,
        "callSid": SID, "from": CALLER, "to": OURS, "direction": "inbound", "callStatus": "RINGING",
        "customParameters": {"telephonyToken": token}}),
    )
    .await;
    let prompt = |text: &str| serde_json::json!({"type": "prompt", "voicePrompt": text, "lang": "en-US", "last": true});
    send(&mut ws, prompt("what time is it")).await;
    assert_eq!(
        recv_json(&mut ws).await,
        serde_json::json!({"type": "text", "token": "It is noon.", "last": true})
    );
    // A slow application: the caller hears an apology, not silence.
    send(&mut ws, prompt("think hard")).await;
    assert_eq!(
        recv_json(&mut ws).await,
        serde_json::json!({"type": "text", "token": "Sorry, I could not answer that in time. Please say it again.", "last": true})
    );
    send(&mut ws, serde_json::json!({"type": "dtmf", "digit": "5"})).await;
    send(&mut ws, prompt("bye")).await;
    assert_eq!(
        recv_json(&mut ws).await,
        serde_json::json!({"type": "text", "token": "Bye!", "last": true})
    );
    // `end: true` ends the relay; the call goes on to the closing and hang-up in the TwiML.
    assert_eq!(recv_json(&mut ws).await, serde_json::json!({"type": "end"}));
    assert_eq!(closed(&mut ws).await.0, 1000);
    assert!(e.provider.hung_up.lock().unwrap().is_empty());
    for _ in 0..100 {
        if seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.starts_with("call.ended"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "call.started ",
            "call.prompt what time is it",
            "call.prompt think hard",
            "call.dtmf ",
            "call.prompt bye",
            "call.ended "
        ]
    );
}
