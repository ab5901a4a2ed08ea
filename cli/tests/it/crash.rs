//! Crash safety on SQLite with one process: `telephony serve` SIGKILLed in the middle of
//! a run of signed webhooks (some delivered twice at once) and admin-API sends, started
//! again on the same data directory and ports, and drained. Every webhook answered 200 is
//! then in the inbox exactly once and dispatched (forwarded under one event id), and every
//! accepted send reached the Twilio simulator exactly once and has a receipt naming it
//! ([`workload::violations`](crate::workload::violations)).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use telephony_twilio_simulator::{Simulator, SimulatorConfig};

use crate::support::{GatewayProcess, free_port, wait_for_within};
use crate::workload::{self, Endpoint, Fleet, Outcome, Plan, Receiver};

/// The admin API's bearer token in these tests.
pub(crate) const ADMIN_TOKEN: &str = "crash-test-admin-token-0123456789abcdef";
/// Our number (a Twilio test number the simulator sends from).
pub(crate) const OUR_NUMBER: &str = "+15005550006";
/// Webhooks per run (every fifth delivered twice).
pub(crate) const WEBHOOKS: usize = 3000;
/// Admin-API sends per run.
pub(crate) const SENDS: usize = 300;
/// The outbox's send lease in these tests (`TELEPHONY_SEND_LEASE_MS`; 8 s is the least it
/// takes): how long the sends a killed process had claimed wait before they are taken
/// over, reconciled with the provider and sent if they never went out.
pub(crate) const SEND_LEASE: Duration = Duration::from_secs(8);
/// How long the survivors may take to drain after the load: the longest lease a killed
/// process's claims can hold (the forwarding worker's is fixed, 95 s) and then some.
/// A clean run drains as soon as the leases it waits for run out.
pub(crate) const DRAIN_WITHIN: Duration = Duration::from_secs(240);

/// The gateway config of these tests: the simulator as Twilio, every sender admitted,
/// forwarding to `forward_url`, inbound and status limits out of the way, and an outbound
/// rate (200/s) slow enough that sends are still queued and in flight when the process
/// dies. `extra` is spliced in at the top level.
pub(crate) fn config(
    sim: &Simulator,
    sim_url: &str,
    forward_url: &str,
    (public_port, admin_port): (u16, u16),
    extra: &str,
) -> String {
    format!(
        r#"{{
            fromNumber: "{OUR_NUMBER}",
            inboundPolicy: "open",
            allowFrom: ["*"],
            serve: {{ port: {public_port} }},
            admin: {{ port: {admin_port}, token: "{ADMIN_TOKEN}" }},
            twilio: {{ accountSid: "{}", apiBaseUrl: "{sim_url}" }},
            forward: {{ url: "{forward_url}" }},
            rateLimits: {{
                default: {{ perSecond: 200 }},
                inboundPerSender: {{ perSecond: 100000 }},
                statusCallbacks: {{ perSecond: 100000 }},
            }},
            {extra}
        }}"#,
        sim.config().account_sid
    )
}

/// A run tag unique to this process and moment, so bodies never match another run's.
pub(crate) fn tag(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{what}-{}-{nanos:09}", std::process::id())
}

#[test]
fn sqlite_gateway_killed_mid_run_loses_and_doubles_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = rt
        .block_on(sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))))
        .unwrap();
    let receiver = Receiver::default();
    let forward_url = rt.block_on(receiver.start());
    let dir = tempfile::tempdir().unwrap();
    let token = sim.config().auth_token.expose().to_string();
    // Fixed ports: the restarted process is where the webhooks' retries and the
    // simulator's status callbacks for the first process's sends go.
    let ports = (free_port(), free_port());
    let lease_ms = SEND_LEASE.as_millis().to_string();
    let mut gw = GatewayProcess::new(
        &dir.path().join("gateway"),
        &config(&sim, &running.url(), &forward_url, ports, ""),
        &[
            ("TWILIO_AUTH_TOKEN", &token),
            ("TELEPHONY_SEND_LEASE_MS", &lease_ms),
            ("TELEPHONY_LOG", "info"),
        ],
    );
    gw.start();

    let fleet = Fleet::new(1, &token, ADMIN_TOKEN);
    fleet.set(0, Some(Endpoint::of(gw.runtime())));
    let plan = Plan::new(
        &tag("crash"),
        &sim.config().account_sid,
        OUR_NUMBER,
        WEBHOOKS,
        SENDS,
    );
    let outcome = Arc::new(Outcome::default());
    let started = Instant::now();
    let load = rt.spawn(workload::run(
        plan.clone(),
        fleet.clone(),
        outcome.clone(),
        16,
    ));

    // Beside every other test on a busy machine the first 40% may take a while.
    wait_for_within(
        "40% of the webhooks and sends acknowledged",
        Duration::from_secs(120),
        || outcome.acked_count() >= WEBHOOKS * 2 / 5 && outcome.accepted_count() >= SENDS * 2 / 5,
    );
    let at_kill = (outcome.acked_count(), outcome.accepted_count());
    gw.kill9();
    fleet.set(0, None);
    let killed_at = started.elapsed();
    gw.start();
    fleet.set(0, Some(Endpoint::of(gw.runtime())));
    let restarted_at = started.elapsed();

    rt.block_on(load).unwrap();
    let loaded_at = started.elapsed();
    let drained = rt.block_on(workload::drain(&fleet, &outcome, DRAIN_WITHIN, || {
        gw.log_tail(40)
    }));
    let bad = workload::violations(&plan, &outcome, &drained, &sim, &receiver);
    let summary = workload::summary(&plan, &outcome);
    eprintln!(
        "{summary}\nkilled at {killed_at:?} after {} acknowledged webhooks and {} accepted sends, \
         restarted at {restarted_at:?}, load done at {loaded_at:?}, drained {:?} later",
        at_kill.0, at_kill.1, drained.took
    );
    assert!(
        bad.is_empty(),
        "{}\n{summary}\nwhat the log says about them:\n{}\nlog:\n{}",
        bad.join("\n"),
        gw.log_lines_with(&workload::named_ids(&bad)),
        gw.log_tail(40)
    );
    assert_eq!(outcome.acked_count(), WEBHOOKS, "{summary}");
    rt.block_on(running.shutdown());
}
