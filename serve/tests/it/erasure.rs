//! `DELETE /telephony/numbers/{number}`: erases a number from the account's store and says
//! what went; an opted-out number stays refused afterwards.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use telephony_core::store::prelude::*;
use telephony_core::store_suite::inbound;
use telephony_core::{Address, InboxQuery, MemoryStore, MessageId, OutboundMessage, Secret};

use crate::support::{TOKEN, builder, oneshot};

const GONE: &str = "+15557654321";

fn admin(method: &str, path: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer admintoken")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn forgetting_a_number_reports_counts_and_keeps_it_opted_out() {
    let store = Arc::new(MemoryStore::new());
    let gw = builder(TOKEN, store.clone()).build();
    let router = gw.admin_router(Secret::new("admintoken"));
    let now = time::OffsetDateTime::now_utc();
    store
        .insert_inbound(&inbound("SM1", GONE, "hello", 0))
        .await
        .unwrap();
    store
        .insert_inbound(&inbound("SM2", "+15553333333", "kept", 1))
        .await
        .unwrap();
    let to = Address::parse(GONE).unwrap();
    store
        .enqueue_outbound(
            &MessageId::from_string("msg_o1"),
            &OutboundMessage::new(to, "queued"),
            now,
        )
        .await
        .unwrap();
    store
        .set_opted_out(&GONE.parse().unwrap(), true, now)
        .await
        .unwrap();

    // Without the token: 401, nothing erased.
    let r = oneshot(
        router.clone(),
        Request::delete("/telephony/numbers/%2B15557654321")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(store.inbox(&InboxQuery::default()).await.unwrap().len(), 2);

    // An invalid number is refused, named.
    let r = oneshot(
        router.clone(),
        admin("DELETE", "/telephony/numbers/5557654321", ""),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body
            .contains(r#"invalid number: phone number \"5557654321\" has no country code"#),
        "{}",
        r.body
    );

    let r = oneshot(
        router.clone(),
        admin("DELETE", "/telephony/numbers/%2B15557654321", ""),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "number": GONE, "inboundMessages": 1, "sends": 1, "queuedSends": 1, "calls": 0,
            "callStatusChanges": 0, "callTurns": 0, "pairingRequests": 0, "approvedSenders": 0,
            "approvedContacts": 0, "forwardEvents": 0, "optOutsHashed": 1, "optedOut": true,
            "callRecordings": 0
        })
    );
    let left = store.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message.provider_sid, "SM2");

    // After forget, sending to that number is still refused as opted out.
    let r = oneshot(
        router.clone(),
        admin(
            "POST",
            "/telephony/send?wait=0",
            &format!(r#"{{"to":"{GONE}","body":"hi"}}"#),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body.contains("+15557654321 has opted out of messages"),
        "{}",
        r.body
    );
    assert_eq!(store.outbox_len().await.unwrap(), 0);

    // A second request finds nothing more; the number is still blocked.
    let r = oneshot(
        router,
        admin("DELETE", "/telephony/numbers/+15557654321", ""),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (
            v["inboundMessages"].as_u64(),
            v["optOutsHashed"].as_u64(),
            v["optedOut"].as_bool()
        ),
        (Some(0), Some(0), Some(true))
    );
}
