//! The crash tests' workload and their checks: signed inbound webhooks (every fifth one
//! delivered twice at the same moment, to two gateways when there are several) and sends
//! through the admin API, spread over the running gateway processes while the test kills
//! one of them; then, once the survivors have drained, the proof that nothing acknowledged
//! was lost or done twice.
//!
//! A webhook that gets no 200 (connection refused or reset, a 5xx) is delivered again, to
//! the next live gateway, as Twilio's retries and a load balancer would: so a webhook the
//! killed process stored but never answered arrives again, and must still be stored once.
//! A send is retried only when its request never reached a gateway (connection refused);
//! one cut off after it was written may or may not have been queued ("uncertain": it must
//! reach the provider at most once).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use telephony_twilio_simulator::{InboundSms, Simulator};

/// How long one webhook or send keeps being retried before the run counts it failed.
const GIVE_UP: Duration = Duration::from_secs(60);
/// Pause between two attempts of one request.
const RETRY_PAUSE: Duration = Duration::from_millis(25);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One gateway process as the load generator sees it.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// Its webhook URL: where to POST, and the URL signatures are computed over.
    pub(crate) webhook_url: String,
    /// `http://{admin address}`.
    pub(crate) admin_url: String,
}

impl Endpoint {
    /// The endpoint of a running gateway process.
    pub(crate) fn of(rt: &telephony::runtime::RuntimeInfo) -> Self {
        Endpoint {
            webhook_url: rt.webhook_url.clone(),
            admin_url: format!("http://{}", rt.admin_addr),
        }
    }
}

/// The gateways traffic goes to: one slot per process, `None` while it is down (a load
/// balancer's health check).
#[derive(Debug)]
pub(crate) struct Fleet {
    slots: Mutex<Vec<Option<Endpoint>>>,
    /// The Twilio auth token webhooks are signed with.
    auth_token: String,
    /// The admin API's bearer token (the same for every process).
    admin_token: String,
}

impl Fleet {
    pub(crate) fn new(replicas: usize, auth_token: &str, admin_token: &str) -> Arc<Self> {
        Arc::new(Fleet {
            slots: Mutex::new(vec![None; replicas]),
            auth_token: auth_token.to_string(),
            admin_token: admin_token.to_string(),
        })
    }

    /// Routes traffic for slot `i` to `ep` (`None`: nowhere).
    pub(crate) fn set(&self, i: usize, ep: Option<Endpoint>) {
        lock(&self.slots)[i] = ep;
    }

    /// The live endpoint at or after slot `i` (round robin), if any is live.
    fn pick(&self, i: usize) -> Option<Endpoint> {
        let slots = lock(&self.slots);
        (0..slots.len())
            .map(|k| (i + k) % slots.len())
            .find_map(|k| slots[k].clone())
    }

    /// Every live endpoint.
    pub(crate) fn live(&self) -> Vec<Endpoint> {
        lock(&self.slots).iter().flatten().cloned().collect()
    }

    fn len(&self) -> usize {
        lock(&self.slots).len()
    }
}

/// One inbound SMS of the plan.
#[derive(Debug)]
pub(crate) struct Webhook {
    pub(crate) sms: InboundSms,
    /// Delivered twice at the same moment (to two different gateways when there are several).
    pub(crate) twice: bool,
}

/// One send of the plan.
#[derive(Debug, Clone)]
pub(crate) struct Send {
    pub(crate) to: String,
    pub(crate) body: String,
}

/// What the run sends: webhooks with unique SIDs and bodies, sends with unique bodies.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) webhooks: Vec<Webhook>,
    pub(crate) sends: Vec<Send>,
}

impl Plan {
    /// `webhooks` inbound SMS from 40 senders to `our_number` (every fifth delivered twice)
    /// and `sends` messages to 25 recipients; `tag` makes every body unique to this run.
    pub(crate) fn new(
        tag: &str,
        account_sid: &str,
        our_number: &str,
        webhooks: usize,
        sends: usize,
    ) -> Arc<Self> {
        let webhooks = (0..webhooks)
            .map(|i| Webhook {
                sms: InboundSms::new(
                    account_sid,
                    format!("+1555201{:04}", i % 40),
                    our_number,
                    format!("{tag} inbound {i}"),
                ),
                twice: i % 5 == 2,
            })
            .collect();
        let sends = (0..sends)
            .map(|i| Send {
                to: format!("+1555301{:04}", i % 25),
                body: format!("{tag} send {i}"),
            })
            .collect();
        Arc::new(Plan { webhooks, sends })
    }
}

/// What happened to each request of the run.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// `MessageSid`s answered 200 at least once.
    pub(crate) acked: Mutex<BTreeSet<String>>,
    /// Webhook requests answered 200 (both of a double delivery count).
    pub(crate) answered_200: AtomicUsize,
    /// Webhook requests that got no answer or not a 200 (each was delivered again).
    pub(crate) webhook_errors: AtomicUsize,
    /// Webhooks never answered 200 within [`GIVE_UP`].
    pub(crate) gave_up: Mutex<Vec<String>>,
    /// Webhooks finished (answered, or given up).
    pub(crate) webhooks_done: AtomicUsize,
    /// Sends accepted by an admin API: receipt id → plan index.
    pub(crate) accepted: Mutex<BTreeMap<String, usize>>,
    /// Sends whose request was cut off after it was written: plan indexes.
    pub(crate) uncertain: Mutex<Vec<usize>>,
    /// Sends refused with an answer (not 202), with that answer.
    pub(crate) refused: Mutex<Vec<(usize, String)>>,
    /// Sends finished (accepted, uncertain or refused).
    pub(crate) sends_done: AtomicUsize,
}

impl Outcome {
    pub(crate) fn acked_count(&self) -> usize {
        lock(&self.acked).len()
    }
    pub(crate) fn accepted_count(&self) -> usize {
        lock(&self.accepted).len()
    }
}

/// Runs the plan against the fleet: `webhook_workers` connections delivering webhooks in
/// plan order, and one worker per gateway slot sending, paced so the sends are spread over
/// the webhooks' run (send `i` waits until `i/len` of the webhooks are done). Returns when
/// every request has an outcome.
pub(crate) async fn run(
    plan: Arc<Plan>,
    fleet: Arc<Fleet>,
    outcome: Arc<Outcome>,
    webhook_workers: usize,
) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(webhook_workers * 2)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let next_webhook = Arc::new(AtomicUsize::new(0));
    let next_send = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..webhook_workers {
        let (plan, fleet, outcome, http, next) = (
            plan.clone(),
            fleet.clone(),
            outcome.clone(),
            http.clone(),
            next_webhook.clone(),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(w) = plan.webhooks.get(i) else { break };
                if w.twice {
                    let a = deliver(&http, &fleet, &outcome, &w.sms, i);
                    let b = deliver(&http, &fleet, &outcome, &w.sms, i + 1);
                    tokio::join!(a, b);
                } else {
                    deliver(&http, &fleet, &outcome, &w.sms, i).await;
                }
                outcome.webhooks_done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    for _ in 0..fleet.len().max(2) {
        let (plan, fleet, outcome, http, next) = (
            plan.clone(),
            fleet.clone(),
            outcome.clone(),
            http.clone(),
            next_send.clone(),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= plan.sends.len() {
                    break;
                }
                let due = i * plan.webhooks.len() / plan.sends.len();
                while outcome.webhooks_done.load(Ordering::Relaxed) < due {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                send(&http, &fleet, &outcome, &plan.sends[i], i).await;
                outcome.sends_done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

/// Delivers one webhook until some gateway answers 200, starting with slot `slot`.
async fn deliver(
    http: &reqwest::Client,
    fleet: &Fleet,
    outcome: &Outcome,
    sms: &InboundSms,
    mut slot: usize,
) {
    let sid = sms.message_sid.clone().unwrap();
    let t = Instant::now();
    while t.elapsed() < GIVE_UP {
        let Some(ep) = fleet.pick(slot) else {
            tokio::time::sleep(RETRY_PAUSE).await;
            continue;
        };
        let (body, signature) = sms.signed(&fleet.auth_token, &ep.webhook_url);
        let answer = http
            .post(&ep.webhook_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
            .await;
        match answer {
            Ok(r) if r.status() == 200 => {
                outcome.answered_200.fetch_add(1, Ordering::Relaxed);
                lock(&outcome.acked).insert(sid);
                return;
            }
            _ => {
                outcome.webhook_errors.fetch_add(1, Ordering::Relaxed);
                slot += 1;
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
    lock(&outcome.gave_up).push(sid);
}

/// Sends one message through the admin API of slot `slot` (or the next live one).
async fn send(http: &reqwest::Client, fleet: &Fleet, outcome: &Outcome, s: &Send, i: usize) {
    let mut slot = i;
    let t = Instant::now();
    while t.elapsed() < GIVE_UP {
        let Some(ep) = fleet.pick(slot) else {
            tokio::time::sleep(RETRY_PAUSE).await;
            continue;
        };
        let answer = http
            .post(format!("{}/telephony/send?wait=0", ep.admin_url))
            .bearer_auth(&fleet.admin_token)
            .json(&serde_json::json!({ "to": s.to, "body": s.body }))
            .send()
            .await;
        let r = match answer {
            // Never reached a gateway: safe to try another.
            Err(e) if e.is_connect() => {
                slot += 1;
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
            Err(_) => {
                lock(&outcome.uncertain).push(i);
                return;
            }
            Ok(r) => r,
        };
        let status = r.status().as_u16();
        let text = match r.text().await {
            Ok(t) => t,
            // The answer was cut off: the send may or may not be queued.
            Err(_) => {
                lock(&outcome.uncertain).push(i);
                return;
            }
        };
        let id = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["receipts"][0]["id"].as_str().map(str::to_string));
        match (status, id) {
            (202, Some(id)) => {
                lock(&outcome.accepted).insert(id, i);
            }
            _ => lock(&outcome.refused).push((i, format!("{status} {text}"))),
        }
        return;
    }
    lock(&outcome.refused).push((i, "no gateway took it within 60 s".into()));
}

/// One event delivery to the [`Receiver`].
#[derive(Debug, Clone)]
pub(crate) struct Forwarded {
    /// The event id (`X-Telephony-Event-Id`, the body's `id`).
    pub(crate) id: String,
    /// Its `type`.
    pub(crate) kind: String,
    /// `data.providerSid` (a `message.received` event's `MessageSid`).
    pub(crate) provider_sid: Option<String>,
}

/// A `forward.url` receiver on loopback: records every event POSTed to it, answers 200.
#[derive(Debug, Clone, Default)]
pub(crate) struct Receiver {
    /// Every delivery, duplicates included.
    pub(crate) events: Arc<Mutex<Vec<Forwarded>>>,
}

impl Receiver {
    /// Serves on 127.0.0.1:0 on the current runtime; returns the URL to configure.
    pub(crate) async fn start(&self) -> String {
        let events = self.events.clone();
        let app = axum::Router::new().route(
            "/events",
            axum::routing::post(move |body: axum::body::Bytes| {
                let events = events.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    lock(&events).push(Forwarded {
                        id: v["id"].as_str().unwrap_or_default().to_string(),
                        kind: v["type"].as_str().unwrap_or_default().to_string(),
                        provider_sid: v["data"]["providerSid"].as_str().map(str::to_string),
                    });
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        format!("http://{addr}/events")
    }
}

/// What the live gateways' admin API reports once drained.
#[derive(Debug)]
pub(crate) struct Drained {
    /// Every inbox entry (`providerSid`, `state`).
    pub(crate) inbox: Vec<(String, String)>,
    /// Every accepted send's receipt, by id.
    pub(crate) receipts: HashMap<String, Value>,
    /// How long draining took after the load ended.
    pub(crate) took: Duration,
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Result<Value, String> {
    let r = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = r.status();
    let text = r.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("GET {url}: {e}: {text}"))
}

/// Waits (up to `deadline`) until a live gateway reports an inbox holding every
/// acknowledged webhook with none left `queued`, an empty outbox and no forward pending;
/// `describe` is called for the panic message when it does not happen.
pub(crate) async fn drain(
    fleet: &Fleet,
    outcome: &Outcome,
    deadline: Duration,
    describe: impl Fn() -> String,
) -> Drained {
    let http = reqwest::Client::new();
    let t = Instant::now();
    let acked = lock(&outcome.acked).clone();
    let mut last = String::new();
    let mut reported = Duration::ZERO;
    while t.elapsed() < deadline {
        if t.elapsed() >= reported + Duration::from_secs(5) {
            reported = t.elapsed();
            eprintln!("draining, {reported:.0?}: {last}");
        }
        match drained_once(&http, fleet, &acked).await {
            Ok(Some(inbox)) => {
                let ep = &fleet.live()[0];
                let mut receipts = HashMap::new();
                let ids: Vec<String> = lock(&outcome.accepted).keys().cloned().collect();
                for id in ids {
                    let v = get_json(
                        &http,
                        &format!("{}/telephony/messages/{id}", ep.admin_url),
                        &fleet.admin_token,
                    )
                    .await
                    .unwrap();
                    receipts.insert(id, v);
                }
                return Drained {
                    inbox,
                    receipts,
                    took: t.elapsed(),
                };
            }
            Ok(None) => {}
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let state = drained_once(&http, fleet, &acked).await;
    panic!(
        "not drained within {deadline:?}: {last}; last look: {}\n{}",
        match state {
            Ok(_) => "drained now".to_string(),
            Err(e) => e,
        },
        describe()
    );
}

/// `Ok(Some(inbox))` when drained, `Err(what is left)` when not.
async fn drained_once(
    http: &reqwest::Client,
    fleet: &Fleet,
    acked: &BTreeSet<String>,
) -> Result<Option<Vec<(String, String)>>, String> {
    let ep = fleet.live().into_iter().next().ok_or("no live gateway")?;
    let inbox = get_json(
        http,
        &format!("{}/telephony/inbox?limit=10000", ep.admin_url),
        &fleet.admin_token,
    )
    .await?;
    let inbox: Vec<(String, String)> = inbox["messages"]
        .as_array()
        .ok_or("inbox without messages")?
        .iter()
        .map(|m| {
            (
                m["providerSid"].as_str().unwrap_or_default().to_string(),
                m["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let queued = inbox.iter().filter(|(_, s)| s == "queued").count();
    let stored: BTreeSet<&str> = inbox.iter().map(|(sid, _)| sid.as_str()).collect();
    let missing = acked
        .iter()
        .filter(|s| !stored.contains(s.as_str()))
        .count();
    let status = get_json(
        http,
        &format!("{}/telephony/status", ep.admin_url),
        &fleet.admin_token,
    )
    .await?;
    let outbox = status["outboxPending"].as_u64().unwrap_or(u64::MAX);
    let forwards = status["forwarding"]["pending"].as_u64().unwrap_or(u64::MAX);
    if queued == 0 && missing == 0 && outbox == 0 && forwards == 0 {
        Ok(Some(inbox))
    } else {
        Err(format!(
            "{queued} inbox entries queued, {missing} acknowledged webhooks missing, \
             {outbox} sends in the outbox, {forwards} forwards pending"
        ))
    }
}

/// The run's figures, printed by the tests (`--nocapture`) and in failure messages.
pub(crate) fn summary(plan: &Plan, outcome: &Outcome) -> String {
    format!(
        "webhooks: {} planned, {} acknowledged, {} answers 200, {} failed attempts (delivered again), {} given up; \
         sends: {} planned, {} accepted, {} uncertain (cut off), {} refused",
        plan.webhooks.len(),
        outcome.acked_count(),
        outcome.answered_200.load(Ordering::Relaxed),
        outcome.webhook_errors.load(Ordering::Relaxed),
        lock(&outcome.gave_up).len(),
        plan.sends.len(),
        outcome.accepted_count(),
        lock(&outcome.uncertain).len(),
        lock(&outcome.refused).len(),
    )
}

/// The proof, once drained: every acknowledged webhook stored exactly once and dispatched
/// (state `accepted`, forwarded under one stable event id), every accepted send handed to
/// the simulator exactly once with a receipt naming that message, and nothing else sent.
/// Returns every violation found (empty when the run is clean).
pub(crate) fn violations(
    plan: &Plan,
    outcome: &Outcome,
    drained: &Drained,
    sim: &Simulator,
    receiver: &Receiver,
) -> Vec<String> {
    let mut bad = Vec::new();
    let acked = lock(&outcome.acked).clone();
    let gave_up = lock(&outcome.gave_up).clone();
    if !gave_up.is_empty() {
        bad.push(format!(
            "{} webhooks were never answered 200 within 60 s, e.g. {:?}",
            gave_up.len(),
            &gave_up[..gave_up.len().min(3)]
        ));
    }
    let planned: BTreeSet<String> = plan
        .webhooks
        .iter()
        .map(|w| w.sms.message_sid.clone().unwrap())
        .collect();

    // Inbox: exactly once, dispatched.
    let mut stored: HashMap<&str, Vec<&str>> = HashMap::new();
    for (sid, state) in &drained.inbox {
        stored.entry(sid).or_default().push(state);
    }
    let mut twice = Vec::new();
    let mut not_dispatched = Vec::new();
    for sid in &acked {
        match stored.get(sid.as_str()) {
            None => bad.push(format!("acknowledged webhook {sid} is not in the inbox")),
            Some(states) if states.len() > 1 => twice.push(sid.clone()),
            Some(states) if states[0] != "accepted" => {
                not_dispatched.push(format!("{sid}: {}", states[0]))
            }
            Some(_) => {}
        }
    }
    if !twice.is_empty() {
        bad.push(format!(
            "{} webhooks are in the inbox more than once, e.g. {:?}",
            twice.len(),
            &twice[..twice.len().min(3)]
        ));
    }
    if !not_dispatched.is_empty() {
        bad.push(format!(
            "{} acknowledged webhooks were not dispatched (state is not accepted), e.g. {:?}",
            not_dispatched.len(),
            &not_dispatched[..not_dispatched.len().min(3)]
        ));
    }
    let strangers: Vec<&str> = stored
        .keys()
        .filter(|s| !planned.contains(**s))
        .copied()
        .collect();
    if !strangers.is_empty() {
        bad.push(format!("inbox entries nobody sent: {strangers:?}"));
    }

    // Forwarding: every acknowledged webhook forwarded, one stable event id per message.
    let mut forwarded: HashMap<String, BTreeSet<String>> = HashMap::new();
    for e in lock(&receiver.events).iter() {
        if let (true, Some(sid)) = (e.kind == "message.received", &e.provider_sid) {
            forwarded
                .entry(sid.clone())
                .or_default()
                .insert(e.id.clone());
        }
    }
    let unforwarded: Vec<&String> = acked
        .iter()
        .filter(|s| !forwarded.contains_key(*s))
        .collect();
    if !unforwarded.is_empty() {
        bad.push(format!(
            "{} acknowledged webhooks never reached forward.url, e.g. {:?}",
            unforwarded.len(),
            &unforwarded[..unforwarded.len().min(3)]
        ));
    }
    let unstable: Vec<_> = forwarded.iter().filter(|(_, ids)| ids.len() > 1).collect();
    if !unstable.is_empty() {
        bad.push(format!(
            "{} messages were forwarded under several event ids, e.g. {:?}",
            unstable.len(),
            &unstable[..unstable.len().min(3)]
        ));
    }

    // Sends: what reached the simulator, by (recipient, body).
    let mut at_provider: HashMap<(String, String), Vec<String>> = HashMap::new();
    for m in sim.messages() {
        if m.direction.as_deref() == Some("outbound-api") {
            at_provider
                .entry((m.to.unwrap_or_default(), m.body.unwrap_or_default()))
                .or_default()
                .push(m.sid);
        }
    }
    let planned_sends: BTreeSet<(String, String)> = plan
        .sends
        .iter()
        .map(|s| (s.to.clone(), s.body.clone()))
        .collect();
    let accepted = lock(&outcome.accepted).clone();
    let mut sent_twice = Vec::new();
    for (id, &i) in &accepted {
        let s = &plan.sends[i];
        let key = (s.to.clone(), s.body.clone());
        let sids = at_provider.get(&key).cloned().unwrap_or_default();
        match sids.len() {
            0 => bad.push(format!(
                "accepted send {id} ({:?} to {}) never reached the simulator",
                s.body, s.to
            )),
            1 => {
                let r = &drained.receipts[id];
                let provider_sids: Vec<&str> = r["providerSids"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let status = r["status"].as_str().unwrap_or_default();
                if provider_sids != [sids[0].as_str()]
                    || !["queued", "sent", "delivered"].contains(&status)
                {
                    bad.push(format!(
                        "accepted send {id} reached the simulator as {} but its receipt is {r}",
                        sids[0]
                    ));
                }
            }
            _ => sent_twice.push(format!("{id} ({:?}): {sids:?}", s.body)),
        }
    }
    if !sent_twice.is_empty() {
        bad.push(format!(
            "{} accepted sends reached the simulator more than once, e.g. {:?}",
            sent_twice.len(),
            &sent_twice[..sent_twice.len().min(3)]
        ));
    }
    for &i in lock(&outcome.uncertain).iter() {
        let s = &plan.sends[i];
        let n = at_provider
            .get(&(s.to.clone(), s.body.clone()))
            .map_or(0, Vec::len);
        if n > 1 {
            bad.push(format!(
                "send {:?} (cut off by the kill) reached the simulator {n} times",
                s.body
            ));
        }
    }
    let unplanned: Vec<_> = at_provider
        .keys()
        .filter(|k| !planned_sends.contains(*k))
        .collect();
    if !unplanned.is_empty() {
        bad.push(format!(
            "the simulator got sends nobody asked for: {unplanned:?}"
        ));
    }
    let refused = lock(&outcome.refused).clone();
    if !refused.is_empty() {
        bad.push(format!(
            "{} sends were refused, e.g. {:?}",
            refused.len(),
            &refused[..refused.len().min(3)]
        ));
    }
    bad
}

/// The gateway ids (`msg_…`) that `violations` name, to find them in the processes' logs.
pub(crate) fn named_ids(violations: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = violations
        .iter()
        .flat_map(|v| {
            v.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .filter(|w| w.starts_with("msg_"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids.truncate(5);
    ids
}
