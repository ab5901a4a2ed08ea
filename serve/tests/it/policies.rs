//! Sender policies, pairing, opt-outs, outbound safety, SMS shaping and forwarding, through
//! the gateway's real webhook route and the Twilio simulator on loopback.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telephony_core::pairing::CODE_ALPHABET;
use telephony_core::sms::{ChunkMode, ChunkOptions};
use telephony_core::store::prelude::*;
use telephony_core::{
    AllowList, InboundMessage, InboundPolicy, InboxQuery, InboxState, MemoryStore, PairingLimits,
};
use telephony_serve::{
    ForwardSettings, Gateway, GatewayBuilder, HandlerError, OutboundPolicy, PairingError,
    PairingSettings, Replier, SendError, Workers,
};
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{InboundSms, RunningSimulator, Simulator, SimulatorConfig};

use crate::support::{FORM, oneshot, post};

const US: &str = "+15005550006";

struct Env {
    gw: Gateway,
    public: String,
    sim: Simulator,
    _running: RunningSimulator,
    store: Arc<MemoryStore>,
    handled: Arc<Mutex<Vec<String>>>,
    workers: Option<Workers>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(w) = self.workers.take() {
            drop(w);
        }
    }
}

async fn env(configure: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Env {
    let mut e = env_idle(configure).await;
    e.workers = Some(e.gw.spawn_workers());
    e
}

/// Rate limits under which pairing texts go out at once (the sender's outbound rate is not
/// what these tests test).
fn fast_sends() -> telephony_serve::rate_limit::RateLimits {
    telephony_serve::rate_limit::RateLimits {
        outbound: telephony_serve::rate_limit::OutboundLimits::default().default_rate(
            telephony_serve::rate_limit::Rate::per_second(100.0)
                .unwrap()
                .with_burst(100)
                .unwrap(),
        ),
        ..Default::default()
    }
}

/// [`env`] without its workers: what is posted waits in the store until they start.
async fn env_idle(configure: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Env {
    let sim =
        Simulator::new(SimulatorConfig::generate().with_callback_delay(Duration::from_millis(5)));
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let c = sim.config().clone();
    let provider = TwilioProvider::new(
        TwilioConfig::new(c.account_sid, c.auth_token)
            .api_base_url(running.url())
            .from_number(US.parse().unwrap()),
    )
    .unwrap();
    let store = Arc::new(MemoryStore::new());
    let handled: Arc<Mutex<Vec<String>>> = Arc::default();
    let h = handled.clone();
    // A real listener, so the simulator's status callbacks reach the gateway.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    let b = Gateway::builder(Arc::new(provider), store.clone())
        .public_url(public.clone())
        .handler(move |m: InboundMessage, _r: Replier| {
            let h = h.clone();
            async move {
                h.lock().unwrap().push(format!("{}: {}", m.from, m.body));
                Ok::<(), HandlerError>(())
            }
        });
    let gw = configure(b).build();
    let app = gw.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Env {
        gw,
        public,
        sim,
        _running: running,
        store,
        handled,
        workers: None,
    }
}

impl Env {
    /// Posts a signed inbound SMS and waits until the dispatch worker has decided it.
    async fn text(&self, from: &str, body: &str) -> (InboxState, Option<String>) {
        let sid = self.post_text(from, body).await;
        self.decided(&sid).await
    }

    /// Posts a signed inbound SMS; its provider SID.
    async fn post_text(&self, from: &str, body: &str) -> String {
        let sid = telephony_twilio_simulator::new_message_sid();
        let sms = InboundSms {
            account_sid: self.sim.config().account_sid.clone(),
            from: from.into(),
            to: US.into(),
            body: body.into(),
            message_sid: Some(sid.clone()),
            media: vec![],
        };
        let (b, sig) = sms.signed(
            self.sim.config().auth_token.expose(),
            &format!("{}/telephony/webhook", self.public),
        );
        let req = post("/telephony/webhook", FORM, Some(&sig), b);
        assert_eq!(oneshot(self.gw.router(), req).await.status, 200);
        sid
    }

    /// Waits until the dispatch worker has decided the message `sid`.
    async fn decided(&self, sid: &str) -> (InboxState, Option<String>) {
        for _ in 0..400 {
            let inbox = self
                .store
                .inbox(&InboxQuery {
                    since: None,
                    limit: 10_000,
                })
                .await
                .unwrap();
            let e = inbox
                .iter()
                .find(|e| e.message.provider_sid == sid)
                .unwrap();
            if e.state != InboxState::Queued {
                return (e.state, e.note.clone());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("message {sid} was never dispatched");
    }

    /// Bodies the simulator received for a recipient, waiting until there are `n`.
    async fn sms_to(&self, to: &str, n: usize) -> Vec<String> {
        for _ in 0..400 {
            let got: Vec<String> = self
                .sim
                .messages()
                .into_iter()
                .filter(|m| m.to.as_deref() == Some(to))
                .map(|m| m.body.unwrap_or_default())
                .collect();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "expected {n} messages to {to}, got {:?}",
            self.sim.messages()
        );
    }

    fn handled(&self) -> Vec<String> {
        self.handled.lock().unwrap().clone()
    }
}

fn allow(v: &[&str]) -> AllowList {
    AllowList::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

#[tokio::test]
async fn pairing_code_repeat_approval_then_dispatch() {
    let e = env(|b| b).await; // pairing is the default policy
    let alice = "+15557654321";
    assert_eq!(
        e.text(alice, "hi").await,
        (InboxState::PendingPairing, Some("pairing code sent".into()))
    );
    let sms = e.sms_to(alice, 1).await;
    let pending = e.gw.pending_pairings().await.unwrap();
    assert_eq!(pending.len(), 1);
    let code = pending[0].code.clone();
    assert_eq!(code.len(), 8);
    assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
    assert_eq!(
        sms,
        [format!(
            "Your pairing code is {code}. The owner of this number must approve +15557654321 before your messages are answered. The code expires in 60 minutes."
        )]
    );
    // Same sender again: same code, no second SMS, still held.
    assert_eq!(
        e.text(alice, "hello?").await,
        (
            InboxState::PendingPairing,
            Some("waiting for pairing approval (code already sent)".into())
        )
    );
    assert_eq!(e.gw.pending_pairings().await.unwrap()[0].code, code);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(e.sim.messages().len(), 1);
    assert!(e.handled().is_empty());

    // Approve (codes are case-insensitive as typed): texted, then new messages reach the handler.
    let d = e.gw.approve_pairing(&code.to_lowercase()).await.unwrap();
    assert_eq!(d.request.sender.as_str(), alice);
    assert_eq!(
        e.sms_to(alice, 2).await[1],
        "You're approved: you can now text this number."
    );
    assert_eq!(e.text(alice, "now?").await, (InboxState::Accepted, None));
    assert_eq!(e.handled(), ["+15557654321: now?"]);
    // Held messages stay held.
    let states: Vec<InboxState> = e
        .store
        .inbox(&InboxQuery::default())
        .await
        .unwrap()
        .iter()
        .map(|x| x.state)
        .collect();
    assert_eq!(
        states,
        [
            InboxState::PendingPairing,
            InboxState::PendingPairing,
            InboxState::Accepted
        ]
    );

    // Approving again, or an unknown code, is a clear error.
    let err = e.gw.approve_pairing(&code).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("pairing code {code:?} was already approved")
    );
    let err = e.gw.reject_pairing("NOPE2345").await.unwrap_err();
    assert_eq!(err.to_string(), "no pairing request with code \"NOPE2345\"");
}

#[tokio::test]
async fn a_flood_of_unknown_senders_sends_at_most_three_pairing_sms() {
    // Pairing texts go out at once here: the sender's outbound rate is not what is tested.
    let fast = fast_sends();
    let e = env(|b| b.rate_limits(fast)).await;
    let mut outcomes = Vec::new();
    for i in 0..6 {
        outcomes.push(e.text(&format!("+1555000010{i}"), "hi").await.0);
    }
    assert_eq!(
        outcomes,
        [
            InboxState::PendingPairing,
            InboxState::PendingPairing,
            InboxState::PendingPairing,
            InboxState::Dropped,
            InboxState::Dropped,
            InboxState::Dropped
        ]
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(e.sim.messages().len(), 3);
    let inbox = e.store.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(
        inbox[3].note.as_deref(),
        Some("too many pairing requests (at most 3 pending and 3 per hour); no SMS sent")
    );
    // Rejecting one frees a pending slot, but the hourly cap still holds.
    let code = e.gw.pending_pairings().await.unwrap()[0].code.clone();
    e.gw.reject_pairing(&code).await.unwrap();
    assert_eq!(e.text("+15550001099", "hi").await.0, InboxState::Dropped);
    assert_eq!(e.sim.messages().len(), 3);
}

/// Strangers' messages dispatched in one batch (the policy reads the approvals and the
/// pending requests once for the batch): each sender gets at most one code, its later
/// messages wait for it, and the pending cap holds across the batch's lanes.
#[tokio::test]
async fn strangers_in_one_dispatch_batch_get_one_code_each_within_the_cap() {
    let fast = fast_sends();
    let mut e = env_idle(|b| b.rate_limits(fast)).await;
    let senders = [
        "+15550002001",
        "+15550002002",
        "+15550002003",
        "+15550002004",
        "+15550002005",
    ];
    let mut sids = Vec::new();
    for round in 0..3 {
        for s in senders {
            sids.push((s, e.post_text(s, &format!("hi {round}")).await));
        }
    }
    e.workers = Some(e.gw.spawn_workers());
    let mut by_sender: std::collections::BTreeMap<&str, Vec<(InboxState, Option<String>)>> =
        Default::default();
    for (s, sid) in &sids {
        by_sender.entry(s).or_default().push(e.decided(sid).await);
    }
    let code_sent = (
        InboxState::PendingPairing,
        Some("pairing code sent".to_string()),
    );
    let waiting = (
        InboxState::PendingPairing,
        Some("waiting for pairing approval (code already sent)".to_string()),
    );
    let dropped = (
        InboxState::Dropped,
        Some(
            "too many pairing requests (at most 3 pending and 3 per hour); no SMS sent".to_string(),
        ),
    );
    let mut paired = 0;
    for (s, got) in &by_sender {
        if got[0] == code_sent {
            paired += 1;
            assert_eq!(got[1..], [waiting.clone(), waiting.clone()], "{s}");
        } else {
            assert_eq!(
                got[..],
                [dropped.clone(), dropped.clone(), dropped.clone()],
                "{s}"
            );
        }
    }
    assert_eq!(paired, 3);
    assert_eq!(e.gw.pending_pairings().await.unwrap().len(), 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(e.sim.messages().len(), 3);
}

#[tokio::test]
async fn pairing_codes_expire() {
    let e = env(|b| {
        b.pairing(PairingSettings {
            limits: PairingLimits {
                ttl: Duration::from_millis(300),
                ..PairingLimits::default()
            },
            approved_message: String::new(),
        })
    })
    .await;
    e.text("+15557654321", "hi").await;
    let code = e.gw.pending_pairings().await.unwrap()[0].code.clone();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(e.gw.pending_pairings().await.unwrap().is_empty());
    let err = e.gw.approve_pairing(&code).await.unwrap_err();
    assert!(matches!(err, PairingError::Expired { .. }));
    assert!(
        err.to_string().starts_with(&format!(
            "pairing code {code:?} for +15557654321 expired at "
        )),
        "{err}"
    );
}

#[tokio::test]
async fn allowlist_open_and_disabled() {
    let e = env(|b| b.inbound_policy(InboundPolicy::Allowlist, allow(&["sms:+1 (555) 765-4321"])))
        .await;
    assert_eq!(
        e.text("+15557654321", "ok").await,
        (InboxState::Accepted, None)
    );
    assert_eq!(
        e.text("+15550000001", "no").await,
        (
            InboxState::Blocked,
            Some("sender is not in allowFrom".into())
        )
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        e.sim.messages().is_empty(),
        "no pairing SMS under allowlist"
    );
    assert_eq!(e.handled(), ["+15557654321: ok"]);

    let e = env(|b| b.inbound_policy(InboundPolicy::Open, allow(&["*"]))).await;
    assert_eq!(
        e.text("+15550000001", "anyone").await,
        (InboxState::Accepted, None)
    );

    let e = env(|b| b.inbound_policy(InboundPolicy::Disabled, allow(&["+15557654321"]))).await;
    assert_eq!(
        e.text("+15557654321", "x").await,
        (
            InboxState::Blocked,
            Some("inboundPolicy is \"disabled\"".into())
        )
    );
    assert!(e.handled().is_empty());
}

#[tokio::test]
async fn stop_and_start_keywords() {
    let e = env(|b| b.inbound_policy(InboundPolicy::Allowlist, allow(&["+15557654321"]))).await;
    let bob = "+15557654321";
    assert_eq!(e.text(bob, "Stop").await.0, InboxState::Accepted);
    let err = e.gw.send(bob, "still there?").await.unwrap_err();
    assert!(matches!(err, SendError::OptedOut { .. }));
    assert_eq!(
        err.to_string(),
        "+15557654321 has opted out of messages (replied STOP); they must text START to opt back in"
    );
    // "STOP PLEASE" is not a keyword; "start" opts back in.
    e.text(bob, "STOP PLEASE").await;
    assert!(e.gw.send(bob, "x").await.is_err());
    e.text(bob, "start").await;
    e.gw.send(bob, "welcome back").await.unwrap();
    assert_eq!(e.sms_to(bob, 1).await, ["welcome back"]);

    // An unknown sender's STOP under pairing: dropped, no pairing SMS.
    let e = env(|b| b).await;
    assert_eq!(
        e.text("+15550000001", "STOP").await,
        (
            InboxState::Dropped,
            Some("opt-out keyword from an unknown sender; no pairing code sent".into())
        )
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(e.sim.messages().is_empty());
}

#[tokio::test]
async fn twilio_21610_marks_the_number_opted_out() {
    let e = env(|b| b).await;
    let r =
        e.gw.send("+15005550004", "x")
            .await
            .unwrap()
            .receipts
            .remove(0);
    let r =
        e.gw.wait_first_attempt(&r.id, Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(r.error.unwrap().code, Some(21610));
    let before = e.sim.messages().len();
    assert!(matches!(
        e.gw.send("+15005550004", "again").await,
        Err(SendError::OptedOut { .. })
    ));
    assert_eq!(e.sim.messages().len(), before);
}

#[tokio::test]
async fn first_contact_waits_for_approval() {
    let e = env(|b| {
        b.inbound_policy(InboundPolicy::Open, allow(&["*"]))
            .outbound_policy(OutboundPolicy {
                require_approval_for_new_contacts: true,
                max_per_day: None,
            })
    })
    .await;
    let stranger = "+15550000042";
    let sent = e.gw.send(stranger, "cold outreach").await.unwrap();
    assert!(sent.held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(e.sim.messages().is_empty());
    let held = e.gw.held_sends().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].body, "cold outreach");
    let released =
        e.gw.approve_contact(&stranger.parse().unwrap())
            .await
            .unwrap();
    assert_eq!(released, [sent.receipts[0].id.clone()]);
    assert_eq!(e.sms_to(stranger, 1).await, ["cold outreach"]);
    // Someone who texted us first is not held.
    e.text("+15557654321", "hello").await;
    let sent = e.gw.send("+15557654321", "hi back").await.unwrap();
    assert!(!sent.held);
    assert_eq!(e.sms_to("+15557654321", 1).await, ["hi back"]);
}

#[tokio::test]
async fn daily_cap() {
    let e = env(|b| {
        b.outbound_policy(OutboundPolicy {
            require_approval_for_new_contacts: false,
            max_per_day: Some(2),
        })
    })
    .await;
    e.gw.send("+15557654321", "one").await.unwrap();
    e.gw.send("+15557654321", "two").await.unwrap();
    let err = e.gw.send("+15557654321", "three").await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "daily send limit reached: 2 of outboundPolicy.maxPerDay 2 messages sent since "
        ),
        "{msg}"
    );
    assert!(msg.contains("T00:00:00Z UTC; sending resumes at "), "{msg}");
    assert_eq!(e.sms_to("+15557654321", 2).await, ["one", "two"]);
}

#[tokio::test]
async fn markdown_is_flattened_and_long_texts_chunked() {
    let e = env(|b| b).await;
    e.gw.send(
        "+15557654321",
        "**Hello** see [the docs](https://example.com/docs)\r\n\r\n\r\n# Done",
    )
    .await
    .unwrap();
    assert_eq!(
        e.sms_to("+15557654321", 1).await,
        ["Hello see the docs (https://example.com/docs)\n\nDone"]
    );

    // auto: one message up to 1600 characters, then several.
    let e = env(|b| b).await;
    let one = "word ".repeat(320); // 1600 characters with the trailing space trimmed: 1599
    assert_eq!(
        e.gw.send("+15550000001", one.clone())
            .await
            .unwrap()
            .receipts
            .len(),
        1
    );
    let long = "word ".repeat(400);
    let sent = e.gw.send("+15550000002", long).await.unwrap();
    assert_eq!(sent.receipts.len(), 2);
    let got = e.sms_to("+15550000002", 2).await;
    assert!(
        got.iter()
            .all(|c| c.chars().count() <= 1600 && !c.starts_with(' ') && !c.ends_with(' '))
    );
    assert_eq!(got.join(" "), "word ".repeat(400).trim_end());

    // multi + numbering: single-segment messages prefixed (i/n).
    let e = env(|b| {
        b.chunking(ChunkOptions {
            mode: ChunkMode::Multi,
            max_length: 1600,
            segment_numbering: true,
        })
    })
    .await;
    let sent = e.gw.send("+15550000003", "abcd ".repeat(50)).await.unwrap();
    assert_eq!(sent.receipts.len(), 2);
    let got = e.sms_to("+15550000003", 2).await;
    assert!(
        got[0].starts_with("(1/2) ") && got[1].starts_with("(2/2) "),
        "{got:?}"
    );
    assert!(got.iter().all(|c| c.chars().count() <= 160));

    // single: too long is an error that names both lengths, and nothing is queued.
    let e = env(|b| {
        b.chunking(ChunkOptions {
            mode: ChunkMode::Single,
            max_length: 100,
            segment_numbering: false,
        })
    })
    .await;
    let err =
        e.gw.send("+15550000004", "x".repeat(150))
            .await
            .unwrap_err();
    assert!(matches!(err, SendError::Shaping(_)));
    assert!(
        err.to_string().contains("150") && err.to_string().contains("100"),
        "{err}"
    );
    assert_eq!(e.store.outbox_len().await.unwrap(), 0);
}

#[tokio::test]
async fn forwarding_is_signed_durable_and_retried() {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    type Received = (HeaderMap, Vec<u8>);
    #[derive(Clone, Default)]
    struct Recv {
        calls: Arc<Mutex<u32>>,
        got: Arc<Mutex<Vec<Received>>>,
    }
    let recv = Recv::default();
    let r2 = recv.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let r = r2.clone();
            async move {
                let mut n = r.calls.lock().unwrap();
                *n += 1;
                if *n <= 2 {
                    return StatusCode::INTERNAL_SERVER_ERROR; // fails twice, then succeeds
                }
                r.got.lock().unwrap().push((headers, body.to_vec()));
                StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let e = env(|b| {
        b.inbound_policy(InboundPolicy::Open, allow(&["*"]))
            .forward(ForwardSettings::new(url.clone()).with_secret("fwd-secret".into()))
    })
    .await;
    e.text("+15557654321", "forward me").await;
    for _ in 0..500 {
        if !recv.got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = recv.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "delivered once after two failures");
    assert_eq!(*recv.calls.lock().unwrap(), 3);
    let (h, body) = &got[0];
    assert_eq!(
        h["x-telephony-signature"],
        telephony_serve::forward_signature(b"fwd-secret", body)
    );
    assert_eq!(h["x-telephony-event"], "message.received");
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["type"], "message.received");
    assert_eq!(
        h["x-telephony-event-id"].to_str().unwrap(),
        v["id"].as_str().unwrap()
    );
    assert_eq!(v["data"]["body"], "forward me");
    assert_eq!(v["data"]["from"], "+15557654321");
    // One camelCase envelope; `data` is the inbound message in the admin API's shape.
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&v), ["createdAt", "data", "id", "type"]);
    assert_eq!(
        v["id"].as_str().unwrap(),
        format!("evt_{}", v["data"]["id"].as_str().unwrap())
    );
    assert_eq!(
        keys(&v["data"]),
        [
            "accountSid",
            "body",
            "channel",
            "extra",
            "from",
            "id",
            "numSegments",
            "providerSid",
            "receivedAt",
            "to"
        ]
    );
    let ev: telephony_serve::api::ForwardedEvent = serde_json::from_slice(body).unwrap();
    assert_eq!(ev.kind(), "message.received");
    // The worker records the delivery once the receiver's 200 is back: wait for it.
    let mut st = e.store.forward_stats().await.unwrap();
    for _ in 0..200 {
        if st.delivered == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        st = e.store.forward_stats().await.unwrap();
    }
    assert_eq!((st.pending, st.delivered), (0, 1));

    // Status changes are forwarded too.
    e.gw.send("+15557654321", "hi").await.unwrap();
    for _ in 0..500 {
        let n = recv
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|(h, _)| h["x-telephony-event"] == "message.status")
            .count();
        if n >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let statuses: Vec<String> = recv
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|(h, _)| h["x-telephony-event"] == "message.status")
        .map(|(_, b)| {
            serde_json::from_slice::<serde_json::Value>(b).unwrap()["data"]["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // `queued` is the create response's own status, so its callback changes nothing.
    assert_eq!(statuses, ["sent", "delivered"]);
    let got = recv.got.lock().unwrap().clone();
    let (_, body) = got
        .iter()
        .find(|(h, _)| h["x-telephony-event"] == "message.status")
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(keys(&v), ["createdAt", "data", "id", "type"]);
    assert_eq!(v["type"], "message.status");
    assert_eq!(
        keys(&v["data"]),
        ["messageId", "providerSids", "status", "to"]
    );
    assert_eq!(v["data"]["to"], "+15557654321");
    assert_eq!(
        v["id"].as_str().unwrap(),
        format!("evt_{}_sent", v["data"]["messageId"].as_str().unwrap())
    );
}
