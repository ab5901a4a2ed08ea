//! Three replicas of `telephony serve` on one PostgreSQL database, started together: the
//! webhooks go round robin over them (a double delivery reaches two replicas at the same
//! moment), the sends go through all three admin APIs, and one replica is SIGKILLed in the
//! middle of the run and not started again. The two survivors must take over what it held
//! (its claimed sends once their lease runs out) and the checks are those of the SQLite
//! kill test ([`workload::violations`](crate::workload::violations)).
//!
//! Needs a server: `TELEPHONY_TEST_POSTGRES=postgres://…` (start a throwaway one with
//! `scripts/postgres-test-cluster.sh`). Without it the test is skipped with a message, or
//! fails when `CI` is set. It works in a database of its own, dropped at the end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use telephony_twilio_simulator::{Simulator, SimulatorConfig};

use crate::crash::{
    ADMIN_TOKEN, DRAIN_WITHIN, OUR_NUMBER, SEND_LEASE, SENDS, WEBHOOKS, config, tag,
};
use crate::support::{GatewayProcess, free_port, wait_for_within};
use crate::workload::{self, Endpoint, Fleet, Outcome, Plan, Receiver};

/// Replicas started.
const REPLICAS: usize = 3;

/// The server the test uses, or `None` (after saying why) when it is skipped.
fn server_url() -> Option<String> {
    match std::env::var("TELEPHONY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "TELEPHONY_TEST_POSTGRES is not set, and CI must run the PostgreSQL tests: start a \
             server with `eval \"$(scripts/postgres-test-cluster.sh)\"` (installs PostgreSQL if \
             needed), or point TELEPHONY_TEST_POSTGRES at one (postgres://user@host:port/db)"
        ),
        _ => {
            eprintln!(
                "skipped: TELEPHONY_TEST_POSTGRES is not set (start a throwaway server with \
                 `eval \"$(scripts/postgres-test-cluster.sh)\"`)"
            );
            None
        }
    }
}

/// `url` with its database replaced by `db` (the query, e.g. `sslmode`, kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base
        .split_once("://")
        .map(|(s, rest)| s.len() + 3 + rest.find('/').unwrap_or(rest.len()))
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A database of the test's own on the server at `url`, dropped (connections and all)
/// when this is dropped, also when the test panics.
struct Database {
    admin_url: String,
    name: String,
    /// The URL the replicas use.
    url: String,
}

impl Database {
    async fn create(admin_url: &str) -> Self {
        use sqlx::Connection;
        let name = format!(
            "telephony_replicas_{}",
            tag("t").replace('-', "_").to_lowercase()
        );
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to TELEPHONY_TEST_POSTGRES");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        Database {
            admin_url: admin_url.to_string(),
            url: with_database(admin_url, &name),
            name,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime, which cannot be blocked on: a thread with a
        // runtime of its own does the async work.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

#[test]
fn with_database_replaces_only_the_path() {
    assert_eq!(
        with_database("postgres://u@127.0.0.1:5432/postgres", "x"),
        "postgres://u@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h:1/db?sslmode=disable", "x"),
        "postgres://u@h:1/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

#[test]
fn three_postgres_replicas_one_killed_mid_run_lose_and_double_nothing() {
    let Some(server) = server_url() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(Database::create(&server));
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = rt
        .block_on(sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))))
        .unwrap();
    let receiver = Receiver::default();
    let forward_url = rt.block_on(receiver.start());
    let dir = tempfile::tempdir().unwrap();
    let token = sim.config().auth_token.expose().to_string();
    let lease_ms = SEND_LEASE.as_millis().to_string();
    let mut replicas: Vec<GatewayProcess> = (0..REPLICAS)
        .map(|i| {
            GatewayProcess::new(
                &dir.path().join(format!("replica-{i}")),
                &config(
                    &sim,
                    &running.url(),
                    &forward_url,
                    (free_port(), free_port()),
                    "",
                ),
                &[
                    ("TWILIO_AUTH_TOKEN", &token),
                    ("TELEPHONY_DATABASE_URL", &db.url),
                    ("TELEPHONY_SEND_LEASE_MS", &lease_ms),
                    ("TELEPHONY_LOG", "info"),
                ],
            )
        })
        .collect();
    // Started together: the migrations run once, under the advisory lock.
    for r in &mut replicas {
        r.spawn();
    }
    for r in &mut replicas {
        r.wait_ready();
    }

    let fleet = Fleet::new(REPLICAS, &token, ADMIN_TOKEN);
    for (i, r) in replicas.iter().enumerate() {
        fleet.set(i, Some(Endpoint::of(r.runtime())));
    }
    let plan = Plan::new(
        &tag("replicas"),
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
        24,
    ));

    // Beside every other test on a busy machine the first 40% may take a while.
    wait_for_within(
        "40% of the webhooks and sends acknowledged",
        Duration::from_secs(120),
        || outcome.acked_count() >= WEBHOOKS * 2 / 5 && outcome.accepted_count() >= SENDS * 2 / 5,
    );
    let at_kill = (outcome.acked_count(), outcome.accepted_count());
    replicas[0].kill9();
    fleet.set(0, None);
    let killed_at = started.elapsed();

    rt.block_on(load).unwrap();
    let loaded_at = started.elapsed();
    let logs = || {
        replicas[1..]
            .iter()
            .map(|r| format!("{}:\n{}", r.dir.display(), r.log_tail(30)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let drained = rt.block_on(workload::drain(&fleet, &outcome, DRAIN_WITHIN, logs));
    let bad = workload::violations(&plan, &outcome, &drained, &sim, &receiver);
    let summary = workload::summary(&plan, &outcome);
    eprintln!(
        "{summary}\nreplica 0 killed at {killed_at:?} after {} acknowledged webhooks and {} \
         accepted sends, load done at {loaded_at:?}, drained {:?} later",
        at_kill.0, at_kill.1, drained.took
    );
    let about = |ids: &[String]| {
        replicas
            .iter()
            .map(|r| format!("{}:\n{}", r.dir.display(), r.log_lines_with(ids)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        bad.is_empty(),
        "{}\n{summary}\nwhat the logs say about them:\n{}\nlogs:\n{}",
        bad.join("\n"),
        about(&workload::named_ids(&bad)),
        logs()
    );
    assert_eq!(outcome.acked_count(), WEBHOOKS, "{summary}");
    drop(replicas);
    rt.block_on(running.shutdown());
    drop(db);
}
