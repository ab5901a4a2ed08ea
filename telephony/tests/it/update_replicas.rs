//! Live updates across replicas, whole calls over real HTTP on loopback: two gateways on
//! one PostgreSQL schema (two pools, as two replicas behind one public URL), the
//! simulator sending the call's webhooks to replica B, a live update made through replica
//! A. B's handler answer for the turn the update overtook is dropped: the simulator never
//! receives it, and the caller hears the update and then the next turn's answer. On
//! Telnyx (an answer on time) the gateway carries out its answers itself with commands,
//! so an answer B did not drop would reach the simulator as a `speak`; on Twilio (an
//! answer after the deadline, the caller on hold) it would be the body of a hold's
//! redirect.
#![cfg(feature = "telnyx")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telephony_core::store::CallStore;
use telephony_core::voice::{CallEvent, CallUpdate, VoiceResponse};
use telephony_core::{AllowList, InboundPolicy};
use telephony_serve::{CallContext, Gateway, HandlerError, VoiceSettings};
use telephony_store::{PostgresOptions, PostgresStore};
use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
use telephony_telnyx_simulator as telnyx_sim;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator as twilio_sim;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::support::postgres::{DropSchema, postgres_url};

const OURS: &str = "+12025550123";
const TWILIO_OURS: &str = "+15005550006";
const CALLER: &str = "+15557654321";
const CONNECTION: &str = "1494404757140276705";
const GREETING: &str = "Hi, what do you need?";
const STALE: &str = "A stale answer.";

/// B's handler for the two turns: the first gather is answered slowly (until released)
/// with [`STALE`], the second with "Bye." (at once, or with `next_turn` set: after that
/// long, when it releases the first turn's handler and waits for its answer).
#[derive(Clone)]
struct SlowTurn {
    /// The slow turn's handler has started.
    entered: Arc<Notify>,
    /// Lets the slow turn's handler answer.
    release: Arc<Notify>,
    /// The slow turn's handler has answered.
    answered: Arc<Notify>,
    next_turn: Option<Duration>,
    turns: Arc<Mutex<u32>>,
}

impl SlowTurn {
    fn new(next_turn: Option<Duration>) -> SlowTurn {
        SlowTurn {
            entered: Arc::new(Notify::new()),
            release: Arc::new(Notify::new()),
            answered: Arc::new(Notify::new()),
            next_turn,
            turns: Arc::new(Mutex::new(0)),
        }
    }

    async fn answer(
        self,
        event: CallEvent,
        call: CallContext,
    ) -> Result<VoiceResponse, HandlerError> {
        Ok(match event {
            CallEvent::Incoming(_) => {
                VoiceResponse::new().gather(call.gather().say(call.say(GREETING)))
            }
            CallEvent::Gather { .. } => {
                let n = {
                    let mut t = self.turns.lock().unwrap();
                    *t += 1;
                    *t
                };
                if n == 1 {
                    self.entered.notify_one();
                    self.release.notified().await;
                    self.answered.notify_one();
                    return Ok(VoiceResponse::new().say(call.say(STALE)).hangup());
                }
                if let Some(wait) = self.next_turn {
                    tokio::time::sleep(wait).await;
                    self.release.notify_one();
                    self.answered.notified().await;
                    // Time for the first turn's late answer to be kept, if it were.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                VoiceResponse::new().say(call.say("Bye.")).hangup()
            }
            _ => VoiceResponse::new().hangup(),
        })
    }
}

/// Two stores on one fresh schema (dropped with the guard), or `None` to skip.
async fn two_stores() -> Option<(DropSchema, Arc<PostgresStore>, Arc<PostgresStore>)> {
    let url = postgres_url()?;
    let schema = format!(
        "test_epochs_{}_{}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
    );
    let guard = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let open = || async {
        Arc::new(
            PostgresStore::connect_with(
                &url,
                PostgresOptions::default()
                    .schema(&schema)
                    .max_connections(4),
            )
            .await
            .unwrap(),
        )
    };
    let (a, b) = (open().await, open().await);
    Some((guard, a, b))
}

/// Replica A (no handler: it only makes the update) and replica B (the handler, serving
/// `listener`), one public URL for both, as behind a load balancer.
fn replicas(
    provider: impl Fn() -> Arc<dyn telephony_core::Provider>,
    stores: (Arc<PostgresStore>, Arc<PostgresStore>),
    public: &str,
    handler_timeout: Duration,
    slow: &SlowTurn,
) -> (Gateway, Gateway) {
    let gateway = |store: Arc<PostgresStore>| {
        Gateway::builder(provider(), store)
            .public_url(public.to_string())
            .inbound_policy(
                InboundPolicy::Allowlist,
                AllowList::parse(&[CALLER.to_string()]).unwrap(),
            )
            .voice(VoiceSettings::enabled().handler_timeout(handler_timeout))
    };
    let a = gateway(stores.0).build();
    let slow = slow.clone();
    let b = gateway(stores.1)
        .voice_handler(move |event: CallEvent, call: CallContext| slow.clone().answer(event, call))
        .build();
    (a, b)
}

/// B's handler answers in time, but after the update made through A: dropped, on
/// Telnyx (the simulator never receives the stale `speak`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_through_one_replica_drops_the_answer_another_replica_works_out() {
    let Some((_schema, store_a, store_b)) = two_stores().await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    let sim = telnyx_sim::Simulator::new(
        telnyx_sim::SimulatorConfig::generate()
            .with_connection(CONNECTION, format!("{public}/telephony/webhook"))
            .with_simulated_second(Duration::from_millis(20)),
    );
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let provider = || -> Arc<dyn telephony_core::Provider> {
        let c = sim.config();
        Arc::new(
            TelnyxProvider::new(
                TelnyxConfig::new(c.api_key.clone())
                    .public_key(c.public_key_base64())
                    .api_base_url(running.url())
                    .from_number(OURS.parse().unwrap())
                    .connection_id(CONNECTION),
            )
            .unwrap(),
        )
    };
    let slow = SlowTurn::new(None);
    let (a, b) = replicas(
        provider,
        (store_a, store_b.clone()),
        &public,
        Duration::from_secs(30),
        &slow,
    );
    let app = b.router();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let script = telnyx_sim::CallScript::new().say("a pizza").say("thanks");
    let sim2 = sim.clone();
    let call = tokio::spawn(async move {
        sim2.place_inbound_call(telnyx_sim::InboundCall::new(CALLER, OURS).script(script))
            .await
            .unwrap()
    });
    slow.entered.notified().await;
    let id = sim.call_ids().first().cloned().expect("the call");
    let rec = a
        .update_call(&id, CallUpdate::say("Update wins."))
        .await
        .unwrap();
    assert_eq!(rec.note.as_deref(), Some("live update: say"));
    assert_eq!(rec.update_epoch, 1);
    // B sees the update A made: the epoch is the call's, in the shared store.
    assert_eq!(store_b.call_update_epoch(&id).await.unwrap(), 1);
    slow.release.notify_one();
    let outcome = call.await.unwrap();
    assert_eq!(
        outcome.heard(),
        [GREETING, "Update wins.", "Bye."],
        "{outcome:#?}"
    );
    let stale: Vec<&str> = outcome
        .commands
        .iter()
        .filter(|c| c.body.to_string().contains(STALE))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(stale, Vec::<&str>::new(), "{outcome:#?}");
    let rec = b.call_record(&id).await.unwrap().unwrap();
    assert_eq!(rec.update_epoch, 1);
    assert_eq!(rec.transcript.len(), 2, "{rec:#?}");
    server.abort();
    running.shutdown().await;
}

/// B's handler misses its deadline and the caller is put on hold (a pause, then a
/// redirect back to B for the late answer); the update through A comes during the hold.
/// B's late answer comes only during the next turn, itself late and on hold, on Twilio:
/// it is not kept, and that turn's hold (carrying the epoch it started under) is served
/// its own answer, not the stale one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_on_another_replica_is_dropped_after_an_update() {
    let Some((_schema, store_a, store_b)) = two_stores().await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    let sim = twilio_sim::Simulator::new(
        twilio_sim::SimulatorConfig::generate().with_simulated_second(Duration::from_millis(20)),
    );
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let provider = || -> Arc<dyn telephony_core::Provider> {
        let c = sim.config();
        Arc::new(
            TwilioProvider::new(
                TwilioConfig::new(c.account_sid.clone(), c.auth_token.clone())
                    .api_base_url(running.url())
                    .from_number(TWILIO_OURS.parse().unwrap()),
            )
            .unwrap(),
        )
    };
    // The second turn outlasts its 2 s deadline and every hold of the first turn.
    let slow = SlowTurn::new(Some(Duration::from_millis(2500)));
    let (a, b) = replicas(
        provider,
        (store_a, store_b.clone()),
        &public,
        Duration::from_secs(2),
        &slow,
    );
    let app = b.router();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let inbound =
        twilio_sim::InboundCall::new(CALLER, TWILIO_OURS, format!("{public}/telephony/webhook"))
            .status_callback(format!("{public}/telephony/status"))
            .script(twilio_sim::CallScript::new().say("a pizza").say("thanks"));
    let sim2 = sim.clone();
    let call = tokio::spawn(async move { sim2.place_inbound_call(inbound).await.unwrap() });
    slow.entered.notified().await;
    // On hold once the deadline passed: the simulator fetched the first hold's redirect.
    let hold = |sim: &twilio_sim::Simulator| {
        sim.calls().into_iter().any(|c| {
            sim.call_outcome(&c.sid).is_some_and(|o| {
                o.documents
                    .iter()
                    .any(|d| d.url.as_deref().is_some_and(|u| u.ends_with("&hold=1")))
            })
        })
    };
    for _ in 0..800 {
        if hold(&sim) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(hold(&sim), "the caller was not put on hold");
    let id = sim
        .calls()
        .first()
        .map(|c| c.sid.clone())
        .expect("the call");
    a.update_call(&id, CallUpdate::say("Update wins."))
        .await
        .unwrap();
    let outcome = call.await.unwrap();
    assert_eq!(outcome.error, None, "{outcome:#?}");
    assert_eq!(
        outcome.heard(),
        [GREETING, "Update wins.", "Bye."],
        "{outcome:#?}"
    );
    let stale: Vec<&str> = outcome
        .documents
        .iter()
        .filter(|d| d.body.contains(STALE))
        .filter_map(|d| d.url.as_deref())
        .collect();
    assert_eq!(stale, Vec::<&str>::new(), "{outcome:#?}");
    // The second turn's hold came back with the epoch it started under, and was served.
    let served: Vec<&str> = outcome
        .documents
        .iter()
        .filter(|d| {
            d.url
                .as_deref()
                .is_some_and(|u| u.ends_with("&hold=1&epoch=1"))
        })
        .map(|d| d.body.as_str())
        .collect();
    assert_eq!(served.len(), 1, "{outcome:#?}");
    assert!(served[0].contains("Bye."), "{}", served[0]);
    server.abort();
    running.shutdown().await;
}
