//! Two gateways (replicas) on one PostgreSQL schema, both receiving every webhook (as a
//! provider's retries or a load balancer may deliver it): each message is stored once and
//! handed to a handler exactly once, and each sender's messages in arrival order.
//!
//! Needs `TELEPHONY_TEST_POSTGRES=postgres://…` (start a throwaway server with
//! `eval "$(scripts/postgres-test-cluster.sh)"`); skipped without it, except in CI.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use telephony_core::store::prelude::*;
use telephony_core::{InboundMessage, InboxQuery, InboxState};
use telephony_serve::{Gateway, HandlerError, Replier};
use telephony_store::{PostgresOptions, PostgresStore};
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::InboundSms;

use crate::support::*;

const PUBLIC: &str = "https://sms.example.com";

fn server_url() -> Option<String> {
    match std::env::var("TELEPHONY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("TELEPHONY_TEST_POSTGRES is not set, and CI must run the PostgreSQL tests")
        }
        _ => {
            eprintln!("skipped: TELEPHONY_TEST_POSTGRES is not set");
            None
        }
    }
}

/// Drops the test's schema when the test ends, also when it fails.
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let done = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(&url).await?;
                    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await
                })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}", self.schema);
        }
    }
}

/// Every handler call: (gateway, message id, sender, body).
type Calls = Arc<Mutex<Vec<(usize, String, String, String)>>>;

async fn replica(url: &str, schema: &str, n: usize, calls: Calls) -> (Gateway, PostgresStore) {
    let store = PostgresStore::connect_with(
        url,
        PostgresOptions::default().schema(schema).max_connections(4),
    )
    .await
    .expect("open the PostgreSQL store");
    let cfg = TwilioConfig::new(ACCOUNT, TOKEN).from_number(OURS.parse().unwrap());
    let gw = Gateway::builder(
        Arc::new(TwilioProvider::new(cfg).unwrap()),
        Arc::new(store.clone()),
    )
    .public_url(PUBLIC)
    .inbound_policy(
        telephony_core::InboundPolicy::Open,
        telephony_core::AllowList::parse(&["*".to_string()]).unwrap(),
    )
    .handler(move |m: InboundMessage, _r: Replier| {
        let calls = calls.clone();
        async move {
            calls
                .lock()
                .unwrap()
                .push((n, m.id.to_string(), m.from.clone(), m.body.clone()));
            // Long enough that the other replica tries to claim meanwhile.
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok::<(), HandlerError>(())
        }
    })
    .build();
    (gw, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_schema_dispatch_each_message_once_in_sender_order() {
    let Some(url) = server_url() else {
        return;
    };
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let schema = format!("test_serve_{:016x}", h.finish());
    let _guard = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let calls = Calls::default();
    let (a, store) = replica(&url, &schema, 0, calls.clone()).await;
    let (b, _) = replica(&url, &schema, 1, calls.clone()).await;
    let workers = [a.spawn_workers(), b.spawn_workers()];

    const SENDERS: usize = 4;
    const EACH: usize = 8;
    let senders: Vec<String> = (0..SENDERS).map(|s| format!("+1555765100{s}")).collect();
    // Each sender's messages one after the other (so their arrival order is known), each
    // delivered to both gateways at once; the senders in parallel.
    let posting: Vec<_> = senders
        .iter()
        .cloned()
        .map(|from| {
            let (a, b) = (a.clone(), b.clone());
            tokio::spawn(async move {
                for k in 0..EACH {
                    let (form, sig) = InboundSms {
                        account_sid: ACCOUNT.into(),
                        from: from.clone(),
                        to: OURS.into(),
                        body: format!("{from} #{k}"),
                        message_sid: Some(format!("SM{}{k:02}", &from[1..])),
                        media: vec![],
                    }
                    .signed(TOKEN, &format!("{PUBLIC}/telephony/webhook"));
                    let req = || post("/telephony/webhook", FORM, Some(&sig), form.clone());
                    let (ra, rb) =
                        tokio::join!(oneshot(a.router(), req()), oneshot(b.router(), req()));
                    assert_eq!((ra.status, rb.status), (StatusCode::OK, StatusCode::OK));
                }
            })
        })
        .collect();
    for p in posting {
        p.await.unwrap();
    }

    let total = SENDERS * EACH;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let handled = calls.lock().unwrap().len();
        if handled >= total && store.queued_inbound(10).await.unwrap().is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "dispatch did not finish: {handled} of {total} handled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Room for a duplicate dispatch to show up before the workers stop.
    tokio::time::sleep(Duration::from_millis(700)).await;
    for w in workers {
        w.shutdown().await;
    }

    let calls = calls.lock().unwrap().clone();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for (_, id, _, _) in &calls {
        *per_id.entry(id).or_default() += 1;
    }
    assert_eq!(per_id.len(), total, "every message was handed over");
    assert!(
        per_id.values().all(|&n| n == 1),
        "a message was handed over twice: {calls:?}"
    );
    for from in &senders {
        let got: Vec<&str> = calls
            .iter()
            .filter(|(_, _, f, _)| f == from)
            .map(|(_, _, _, body)| body.as_str())
            .collect();
        let want: Vec<String> = (0..EACH).map(|k| format!("{from} #{k}")).collect();
        assert_eq!(got, want, "{from}'s messages in arrival order");
    }
    let inbox = store
        .inbox(&InboxQuery {
            since: None,
            limit: 1000,
        })
        .await
        .unwrap();
    assert_eq!(inbox.len(), total, "each webhook stored once");
    assert!(inbox.iter().all(|e| e.state == InboxState::Accepted));
    let by: Vec<usize> = (0..2)
        .map(|g| calls.iter().filter(|c| c.0 == g).count())
        .collect();
    eprintln!("handled by gateway a: {}, b: {}", by[0], by[1]);
}
