//! Feature `otel`: one inbound message, its handler's reply and the reply's status
//! callback are one trace, exported over OTLP/HTTP (JSON) to a collector on loopback
//! (a small axum server here), each step's span the child of the step before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::http::{Request, StatusCode};
use telephony_core::store::prelude::*;
use telephony_core::{
    AllowList, DeliveryStatus, InboundPolicy, MemoryStore, OutboundMessage, Provider,
    ProviderError, ProviderReceipt, SendOptions, SignatureCheck, WebhookError, WebhookEvent,
    WebhookRequest, WebhookResponse,
};
use telephony_serve::Gateway;
use telephony_serve::otel::layer;
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use tracing_subscriber::layer::SubscriberExt as _;

use crate::support::{ACCOUNT, FORM, OURS, TOKEN, oneshot, post, sms};

const PUBLIC: &str = "https://otel.example.com";
const SENT_SID: &str = "SM0000000000000000000000000000reply";

/// Twilio's webhooks, and sends that the provider accepts as `SENT_SID`.
#[derive(Debug)]
struct Accepting(TwilioProvider);

#[async_trait]
impl Provider for Accepting {
    async fn send(
        &self,
        _msg: &OutboundMessage,
        _opts: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        Ok(ProviderReceipt {
            sid: SENT_SID.into(),
            status: DeliveryStatus::Queued,
            from: Some(OURS.into()),
            num_segments: Some(1),
            price: None,
            price_unit: None,
        })
    }

    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn handle_webhook(
        &self,
        req: &WebhookRequest,
        check: SignatureCheck,
    ) -> Result<WebhookEvent, WebhookError> {
        self.0.handle_webhook(req, check)
    }

    fn webhook_ack(&self) -> WebhookResponse {
        self.0.webhook_ack()
    }
}

/// An OTLP/HTTP collector on 127.0.0.1 on a runtime of its own (the exporter's flush
/// blocks the test's thread): every span it received, as JSON.
fn collector() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let spans: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = spans.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |body: Bytes| {
                    let kept = kept.clone();
                    async move {
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        for rs in v["resourceSpans"].as_array().unwrap() {
                            for ss in rs["scopeSpans"].as_array().unwrap() {
                                for s in ss["spans"].as_array().unwrap() {
                                    kept.lock().unwrap().push(s.clone());
                                }
                            }
                        }
                        StatusCode::OK
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (format!("http://{addr}"), spans)
}

#[tokio::test]
async fn a_message_its_reply_and_the_replys_status_are_one_trace() {
    let (endpoint, spans) = collector();
    let (otel, guard) = layer(&endpoint).unwrap();
    // This thread's subscriber; the test's runtime runs every task on this thread.
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(otel));

    let store = Arc::new(MemoryStore::new());
    let cfg = TwilioConfig::new(ACCOUNT, TOKEN).from_number(OURS.parse().unwrap());
    let gw = Gateway::builder(
        Arc::new(Accepting(TwilioProvider::new(cfg).unwrap())),
        store.clone(),
    )
    .public_url(PUBLIC)
    .inbound_policy(InboundPolicy::Open, AllowList::parse(&[]).unwrap())
    .handler(|_msg, reply: telephony_serve::Replier| async move {
        reply.send("got it").await?;
        Ok(())
    })
    .build();
    let workers = gw.spawn_workers();
    let (body, sig) = sms("SM00000000000000000000000000000001", "hi")
        .signed(TOKEN, &format!("{PUBLIC}/telephony/webhook"));
    let r = oneshot(
        gw.router(),
        post("/telephony/webhook", FORM, Some(&sig), body),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    tokio::time::timeout(Duration::from_secs(30), async {
        while !store
            .receipts(None, 10)
            .await
            .unwrap()
            .iter()
            .any(|r| r.provider_sids.iter().any(|s| s == SENT_SID))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the reply is sent within 30 s");

    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT),
        ("MessageSid", SENT_SID),
        ("MessageStatus", "delivered"),
        ("From", OURS),
        ("To", "+15557654321"),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sig = RequestValidator::new(TOKEN).compute(&format!("{PUBLIC}/telephony/status"), &params);
    let req = Request::post("/telephony/status")
        .header("content-type", FORM)
        .header("x-twilio-signature", sig)
        .body(axum::body::Body::from(
            serde_urlencoded::to_string(&params).unwrap(),
        ))
        .unwrap();
    assert_eq!(oneshot(gw.router(), req).await.status, StatusCode::OK);
    workers.shutdown().await;
    guard.flush();

    let spans = spans.lock().unwrap().clone();
    let by_name = |name: &str| -> Vec<&serde_json::Value> {
        spans.iter().filter(|s| s["name"] == name).collect()
    };
    let one = |name: &str| -> &serde_json::Value {
        let found = by_name(name);
        assert_eq!(found.len(), 1, "{name}: {spans:#?}");
        found[0]
    };
    // Two webhooks: the message's (a trace's root) and the status callback's (a trace of
    // its own, whose "status" step joins the message's).
    let webhooks = by_name("webhook");
    assert_eq!(webhooks.len(), 2, "{spans:#?}");
    assert!(
        webhooks.iter().all(|w| w["parentSpanId"] == ""),
        "{webhooks:#?}"
    );
    let inbound = webhooks
        .iter()
        .find(|w| {
            spans
                .iter()
                .any(|s| s["name"] == "store" && s["parentSpanId"] == w["spanId"])
        })
        .copied()
        .unwrap();
    let status = one("status");
    let (store_span, dispatch, handler, send) =
        (one("store"), one("dispatch"), one("handler"), one("send"));
    let ids: HashMap<&str, &str> = [
        ("inbound", inbound),
        ("store", store_span),
        ("dispatch", dispatch),
        ("handler", handler),
        ("send", send),
        ("status", status),
    ]
    .iter()
    .map(|(n, s)| (*n, s["traceId"].as_str().unwrap()))
    .collect();
    // One trace…
    let trace = inbound["traceId"].as_str().unwrap();
    assert_eq!(trace.len(), 32);
    assert!(ids.values().all(|t| *t == trace), "{ids:?}");
    // …each step the child of the one before.
    let parent = |s: &serde_json::Value| s["parentSpanId"].as_str().unwrap().to_string();
    let id = |s: &serde_json::Value| s["spanId"].as_str().unwrap().to_string();
    assert_eq!(parent(store_span), id(inbound));
    assert_eq!(parent(dispatch), id(inbound));
    assert_eq!(parent(handler), id(dispatch));
    assert_eq!(parent(send), id(handler));
    assert_eq!(parent(status), id(send));
}
