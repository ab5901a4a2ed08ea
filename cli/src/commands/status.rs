//! `telephony status`: the running gateway's state, or with `--probe` the checks through
//! its public URL. Exits 1 when the gateway does not answer, or answers but its store
//! cannot commit (nothing it receives is stored then).

use serde_json::json;
use telephony_serve::api;

use crate::context::{CliError, Context};
use crate::output;

pub(super) async fn probe(ctx: Context, json: bool) -> Result<(), CliError> {
    let runtime = ctx.runtime()?;
    let (provider, parts) =
        telephony::probe::for_gateway(&ctx.config, runtime.as_ref()).map_err(|e| {
            if e.is_config() {
                CliError::config(telephony_core::error_chain(&e))
            } else {
                CliError::failure(telephony_core::error_chain(&e))
            }
        })?;
    let findings = telephony::probe::probe(&parts.target(provider.as_ref())).await;
    let ok = findings.iter().all(|f| f.ok);
    if json {
        output::print_json(&json!({ "ok": ok, "findings": findings }));
    } else {
        for f in &findings {
            let mark = if f.ok { "ok  " } else { "FAIL" };
            match &f.problem {
                Some(p) => println!("{mark} {} ({p}): {}", f.check, f.detail),
                None => println!("{mark} {}: {}", f.check, f.detail),
            }
            if let Some(fix) = &f.fix {
                println!("     fix: {fix}");
            }
        }
    }
    if ok {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "{} check(s) failed",
            findings.iter().filter(|f| !f.ok).count()
        )))
    }
}

pub(super) async fn status(ctx: Context, json: bool) -> Result<(), CliError> {
    match ctx.admin().await? {
        Some(admin) => {
            let st: api::GatewayStatus = admin.get("/telephony/status").await?;
            if json {
                output::print_json(&st);
            } else {
                println!("gateway running (admin {})", admin.base);
                if !st.replica.is_empty() {
                    println!("  replica: {}", st.replica);
                }
                println!("  provider: {}", st.provider);
                println!(
                    "  status callback URL: {}",
                    st.status_callback_url.as_deref().unwrap_or("(none)")
                );
                println!("  inbound policy: {}", st.inbound_policy);
                if st.voice.enabled {
                    let max = st
                        .voice
                        .max_concurrent_sessions
                        .map_or("unlimited".to_string(), |m| m.to_string());
                    println!(
                        "  voice: on, {} live session(s) of {max}",
                        st.voice.live_sessions.len()
                    );
                    for c in &st.voice.live_sessions {
                        println!("    {}", output::call_line(c));
                    }
                } else {
                    println!("  voice: off (voice.enabled is false)");
                }
                println!("  outbox pending: {}", st.outbox_pending);
                match &st.forwarding {
                    Some(f) => {
                        let batches = match f.max_batch {
                            0 | 1 => String::new(),
                            n => format!(" (up to {n} events per POST)"),
                        };
                        println!(
                            "  forwarding to {}{batches}: {} delivered, {} pending, {} failing",
                            f.url, f.delivered, f.pending, f.failing
                        );
                        if let Some(e) = &f.last_error {
                            println!("  last forwarding error: {e}");
                        }
                    }
                    None => println!("  forwarding: off"),
                }
                print_replicas(&st.replicas);
                if let Some(store) = &st.store {
                    println!("  {}", store_line(store));
                }
            }
            // The gateway answers, but nothing it receives is stored: a failure.
            match st.store.as_ref().filter(|s| !s.is_ok()) {
                Some(s) => Err(CliError::failure(format!(
                    "the store is unavailable: {}",
                    s.reason.as_deref().unwrap_or("its writes fail")
                ))),
                None => Ok(()),
            }
        }
        None => {
            let message = format!(
                "no gateway is running (admin {}:{} does not answer); start one with `telephony serve`",
                ctx.config.admin.bind, ctx.config.admin.port
            );
            if json {
                // The JSON says it; stderr stays quiet for the program reading stdout.
                output::print_json(&json!({ "status": "not running", "message": message }));
                return Err(CliError::silent_failure());
            }
            // Said once, on stderr, with the exit code.
            Err(CliError::failure(message))
        }
    }
}

/// The store in one line: ok or why not, size, last commit, errors by kind (those seen).
fn store_line(s: &api::StoreStatus) -> String {
    let state = match (&s.write_failure, &s.reason) {
        (Some(_), Some(why)) => format!("UNAVAILABLE, {why}"),
        _ => "ok".to_string(),
    };
    let size = s
        .bytes
        .map_or_else(|| "size unknown".to_string(), |b| format!("{} bytes", b));
    let commit = s.last_commit.map_or_else(
        || "no commit yet".to_string(),
        |t| format!("last commit {}", output::ts(t)),
    );
    let errors: Vec<String> = s
        .errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let errors = if errors.is_empty() {
        "no errors".to_string()
    } else {
        format!("errors: {}", errors.join(", "))
    };
    format!("store: {state}; {size}, {commit}, {errors}")
}

/// The live replicas, one line each: id, host and pid, version, start, last heartbeat,
/// accounts, what it holds.
fn print_replicas(replicas: &[api::Replica]) {
    println!("  replicas: {} live", replicas.len());
    for r in replicas {
        println!("    {}", replica_line(r));
    }
}

fn replica_line(r: &api::Replica) -> String {
    let h = &r.holds;
    format!(
        "{} on {} (pid {}, v{}) started {}, last seen {}, accounts {}: {} real-time call(s), {} send(s) in flight, {} dispatching",
        r.id,
        r.host,
        r.pid,
        r.version,
        output::ts(r.started_at),
        output::ts(r.last_seen),
        if r.accounts.is_empty() {
            "(none)".to_string()
        } else {
            r.accounts.join(", ")
        },
        h.realtime_calls,
        h.sends_in_flight,
        h.dispatching
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_reads_in_one_line() {
        use telephony_core::store::{HealthReport, StoreErrorKind, WriteFailure};
        let at = time::OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap();
        let ok = api::StoreStatus::new(
            &HealthReport {
                last_commit: Some(at),
                ..HealthReport::default()
            },
            Some(81920),
        );
        assert_eq!(
            store_line(&ok),
            "store: ok; 81920 bytes, last commit 2026-01-02T03:04:05.000Z, no errors"
        );
        let full = api::StoreStatus::new(
            &HealthReport {
                last_commit: Some(at),
                write_failure: Some(WriteFailure {
                    kind: StoreErrorKind::DiskFull,
                    error: "database or disk is full".into(),
                    since: at + std::time::Duration::from_secs(5),
                    last: at + std::time::Duration::from_secs(9),
                    failures: 2,
                }),
                errors: [(StoreErrorKind::DiskFull, 2), (StoreErrorKind::Io, 1)].into(),
            },
            None,
        );
        assert_eq!(
            store_line(&full),
            "store: UNAVAILABLE, the store cannot write (disk full) since 2026-01-02T03:04:10Z, 2 failed write(s): database or disk is full; size unknown, last commit 2026-01-02T03:04:05.000Z, errors: disk_full 2, io 1"
        );
    }

    #[test]
    fn a_replica_reads_in_one_line() {
        let at = time::OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap();
        let r = api::Replica {
            id: "gw1-4242-a1b2".into(),
            host: "gw1".into(),
            pid: 4242,
            version: "0.1.0".into(),
            started_at: at,
            last_seen: at + std::time::Duration::from_secs(65),
            accounts: vec!["default".into(), "sales".into()],
            holds: api::ReplicaHolds {
                realtime_calls: 2,
                sends_in_flight: 5,
                dispatching: 0,
            },
            extra: None,
        };
        assert_eq!(
            replica_line(&r),
            "gw1-4242-a1b2 on gw1 (pid 4242, v0.1.0) started 2026-01-02T03:04:05.000Z, last seen 2026-01-02T03:05:10.000Z, accounts default, sales: 2 real-time call(s), 5 send(s) in flight, 0 dispatching"
        );
    }
}
