//! `telephony inbox --failed` and `telephony retry <id>` on a store holding a dead letter,
//! with no gateway running (the admin routes behind them are tested in telephony-serve).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use telephony_core::store::prelude::*;
use telephony_core::store::{DispatchOutcome, DispatchResult};
use telephony_core::store_suite::{inbound, t0};
use telephony_core::{InboxQuery, InboxState};
use telephony_store::SqliteStore;

use crate::support::run;

fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_telephony"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .current_dir(dir);
    c
}

const NOTE: &str = "handler error: upstream said 503 (gave up after 5 attempts)";

/// A data dir whose store holds one dead letter (`msg_in_SMdead`, 5 attempts) and one
/// accepted message (`msg_in_SMok`); an admin port nobody listens on, so the CLI reads the
/// store itself.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("telephony.json5"), "{ admin: { port: 1 } }").unwrap();
    let db = dir.path().join("telephony-data/telephony.db");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let s = SqliteStore::open(&db).await.unwrap();
        s.insert_inbound(&inbound("SMdead", "+15557654321", "help", 0))
            .await
            .unwrap();
        s.insert_inbound(&inbound("SMok", "+15557650000", "fine", 1))
            .await
            .unwrap();
        let mut now = t0();
        for attempt in 1..=5 {
            let claimed = s
                .claim_inbound(now, Duration::from_secs(60), 10)
                .await
                .unwrap();
            let outcomes: Vec<_> = claimed
                .iter()
                .map(|c| DispatchOutcome {
                    id: c.message.id.clone(),
                    lease: c.lease,
                    result: if c.message.provider_sid == "SMok" {
                        DispatchResult::Done {
                            state: InboxState::Accepted,
                            note: None,
                        }
                    } else if attempt < 5 {
                        DispatchResult::Retry {
                            error: "handler error: upstream said 503".into(),
                            at: now,
                        }
                    } else {
                        DispatchResult::Done {
                            state: InboxState::Failed,
                            note: Some(NOTE.into()),
                        }
                    },
                })
                .collect();
            assert!(s.record_dispatch(&outcomes).await.unwrap().is_empty());
            now += Duration::from_secs(1);
        }
        s.close().await;
    });
    dir
}

#[test]
fn inbox_failed_lists_dead_letters_and_retry_queues_one_again() {
    let dir = data_dir();
    let (code, out, err) = run(cmd(dir.path()).args(["inbox", "--failed", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"messages": [{
            "id": "msg_in_SMdead", "providerSid": "SMdead", "from": "+15557654321",
            "to": "+15550001234", "body": "help", "receivedAt": "2026-01-02T03:04:05Z",
            "attempts": 5, "lastError": NOTE
        }]})
    );
    let (code, out, err) = run(cmd(dir.path()).args(["inbox", "--failed"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("msg_in_SMdead  from +15557654321  5 attempt(s)  "),
        "{out}"
    );
    assert!(out.contains(&format!("\n  {NOTE}\n")), "{out}");
    assert!(
        out.ends_with("1 failed message(s); `telephony retry <id>` queues one again\n"),
        "{out}"
    );

    // Unknown id, and a message that is not a dead letter: exit 1, the store unchanged.
    let (code, _, err) = run(cmd(dir.path()).args(["retry", "msg_nope"]));
    assert_eq!(code, 1, "{err}");
    assert_eq!(err, "error: no inbound message with id \"msg_nope\"\n");
    let (code, _, err) = run(cmd(dir.path()).args(["retry", "msg_in_SMok"]));
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        "error: inbound message \"msg_in_SMok\" is accepted, not failed: only dead-lettered messages can be retried\n"
    );

    let (code, out, err) = run(cmd(dir.path()).args(["retry", "msg_in_SMdead", "--json"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!({"id": "msg_in_SMdead", "state": "queued", "previousState": "failed"})
    );
    let (code, out, _) = run(cmd(dir.path()).args(["inbox", "--failed"]));
    assert_eq!((code, out.as_str()), (0, "no failed messages\n"));
    // Queued again with its attempts reset: the next claim is its first attempt.
    let db = dir.path().join("telephony-data/telephony.db");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let s = SqliteStore::open(&db).await.unwrap();
        let inbox = s.inbox(&InboxQuery::default()).await.unwrap();
        assert_eq!(
            (inbox[0].state, inbox[0].note.as_deref()),
            (InboxState::Queued, None)
        );
        let claimed = s
            .claim_inbound(t0() + Duration::from_secs(60), Duration::from_secs(60), 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].attempts, 0);
        s.close().await;
    });
    // A second retry of the same id: it is queued now, not failed.
    let (code, _, err) = run(cmd(dir.path()).args(["retry", "msg_in_SMdead"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is queued, not failed"), "{err}");
}

#[test]
fn dead_letter_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(cmd(dir.path()).args(["retry"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("<ID>"), "{err}");
    let (code, _, err) = run(cmd(dir.path()).args(["inbox", "--failed", "--since", "1h"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--failed") && err.contains("--since"), "{err}");
}
