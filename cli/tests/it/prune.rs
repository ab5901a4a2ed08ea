//! `telephony prune` over a real SQLite data directory: exact counts per kind, a dry run
//! that changes nothing, what is in use kept, every account or one; and `store.retention`
//! in `config check`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use telephony_core::store::prelude::*;
use telephony_core::store::{NewCall, StatusSource};
use telephony_core::store_suite::inbound;
use telephony_core::voice::{CallDirection, CallStatus};
use telephony_core::{
    Address, ForwardEvent, InboxQuery, InboxState, MessageId, OutboundMessage, PairingLimits,
    PhoneNumber, ProviderReceipt,
};
use telephony_store::SqliteStore;
use time::OffsetDateTime;

use crate::support::run;

fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_telephony"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .current_dir(dir);
    c
}

fn days_ago(n: u64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - Duration::from_secs(n * 86_400)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// `n` inbound messages `age` days old in `state`, with SIDs `{prefix}{i}`.
async fn messages(s: &SqliteStore, prefix: &str, n: usize, age: u64, state: InboxState) {
    for i in 0..n {
        let mut m = inbound(&format!("{prefix}{i}"), &format!("+1555765{i:04}"), "hi", 0);
        m.received_at = days_ago(age);
        s.insert_inbound_in_state(&m, state, None).await.unwrap();
    }
}

/// A store with old and recent records of every kind: with `{ default: "30d", messages:
/// "7d" }`, prunable are 5 messages, 4 sends, 2 calls, 3 forward events, 1 pairing request.
async fn seed(s: &SqliteStore) {
    messages(s, "SMold", 5, 10, InboxState::Accepted).await;
    messages(s, "SMqueued", 2, 10, InboxState::Queued).await;
    messages(s, "SMnew", 3, 1, InboxState::Accepted).await;

    let to = Address::parse("+15550005678").unwrap();
    let mut sends = Vec::new();
    for (n, age) in [
        ("a", 40),
        ("b", 40),
        ("c", 40),
        ("d", 40),
        ("e", 10),
        ("f", 10),
    ] {
        let id = MessageId::from_string(format!("msg_out_{n}"));
        let msg = OutboundMessage::new(to.clone(), format!("send {n}"));
        s.enqueue_outbound(&id, &msg, days_ago(age)).await.unwrap();
        sends.push(id);
    }
    let claimed = s
        .claim_outbound(OffsetDateTime::now_utc(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 6);
    for (i, c) in claimed.iter().enumerate() {
        let receipt = ProviderReceipt {
            sid: format!("SMsent{i}"),
            status: telephony_core::DeliveryStatus::Sent,
            from: None,
            num_segments: Some(1),
            price: None,
            price_unit: None,
        };
        s.complete_outbound(&c.id, c.lease, &receipt, OffsetDateTime::now_utc())
            .await
            .unwrap();
    }
    // Still in the outbox, old: kept.
    s.enqueue_outbound(
        &MessageId::from_string("msg_out_queued"),
        &OutboundMessage::new(to, "queued"),
        days_ago(40),
    )
    .await
    .unwrap();

    for (id, status) in [
        ("CAdone1", CallStatus::Completed),
        ("CAdone2", CallStatus::NoAnswer),
        ("CAlive", CallStatus::InProgress),
    ] {
        let call = NewCall {
            call_id: id.into(),
            direction: CallDirection::Inbound,
            from: "+15557654321".into(),
            to: "+15550001234".into(),
            status,
            source: StatusSource::Webhook,
            session: true,
            at: days_ago(40),
            note: None,
        };
        s.begin_call(&call, None).await.unwrap();
    }

    for i in 0..4 {
        let event = ForwardEvent {
            id: format!("fw{i}"),
            kind: "message".into(),
            payload: serde_json::json!({"n": i}),
            created_at: days_ago(40),
            attempts: 0,
            last_error: None,
            encoded: None,
        };
        s.enqueue_forward(&event).await.unwrap();
    }
    let claimed = s
        .claim_forwards(OffsetDateTime::now_utc(), Duration::from_secs(60), 3)
        .await
        .unwrap();
    for c in &claimed {
        s.complete_forward(&c.event.id, c.lease, OffsetDateTime::now_utc())
            .await
            .unwrap();
    }

    let limits = PairingLimits {
        ttl: Duration::from_secs(60 * 86_400),
        max_pending: 10,
        max_per_hour: 10,
    };
    for (n, code) in [("+15557650001", "AAAA1111"), ("+15557650002", "BBBB2222")] {
        let sender = PhoneNumber::parse(n).unwrap();
        s.pairing_request(&sender, code, &limits, days_ago(40))
            .await
            .unwrap();
    }
    s.resolve_pairing("AAAA1111", true, days_ago(40))
        .await
        .unwrap();
    s.set_opted_out(
        &PhoneNumber::parse("+15557659999").unwrap(),
        true,
        days_ago(400),
    )
    .await
    .unwrap();
}

fn data_dir(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("telephony.json5"), config).unwrap();
    dir
}

fn kinds(v: &serde_json::Value) -> Vec<(String, u64)> {
    v["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kind"].as_str().unwrap().to_string(),
                k["removed"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn counts(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

#[test]
fn prune_removes_what_retention_no_longer_keeps_with_exact_counts() {
    let dir = data_dir(
        r#"{ admin: { port: 1 }, store: { retention: { default: "30d", messages: "7d" } } }"#,
    );
    let db = dir.path().join("telephony-data/telephony.db");
    block_on(async {
        let s = SqliteStore::open(&db).await.unwrap();
        seed(&s).await;
        s.close().await;
    });
    let expected = counts(&[
        ("messages", 5),
        ("sends", 4),
        ("calls", 2),
        ("forwards", 3),
        ("pairing", 1),
    ]);

    // A dry run counts and changes nothing: twice the same answer.
    for _ in 0..2 {
        let (code, out, err) = run(cmd(dir.path()).args(["prune", "--dry-run", "--json"]));
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["dryRun"], true);
        let a = &v["accounts"][0];
        assert_eq!(a["account"], "default");
        assert_eq!(
            a["retention"],
            "messages 7d, sends 30d, calls 30d, forwards 30d, pairing 30d"
        );
        assert_eq!(kinds(a), expected);
        assert_eq!(a["total"], 15);
        assert_eq!(a["pagesReclaimed"], 0);
    }

    let (code, out, err) = run(cmd(dir.path()).args(["prune", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dryRun"], false);
    assert_eq!(kinds(&v["accounts"][0]), expected);
    assert_eq!(v["accounts"][0]["total"], 15);

    // Nothing left to prune; the text form says so per kind.
    let (code, out, err) = run(cmd(dir.path()).args(["prune"]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "account default: retention: messages 7d, sends 30d, calls 30d, forwards 30d, pairing 30d"
    );
    assert_eq!(lines.len(), 6, "{out}");
    assert!(
        lines[1].starts_with("  messages  removed 0 (older than "),
        "{out}"
    );
    assert!(
        lines[5].starts_with("  pairing   removed 0 (older than "),
        "{out}"
    );

    // What was in use, or recent, is all there.
    block_on(async {
        let s = SqliteStore::open(&db).await.unwrap();
        let mut inbox: Vec<String> = s
            .inbox(&InboxQuery::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.message.provider_sid)
            .collect();
        inbox.sort();
        assert_eq!(
            inbox,
            ["SMnew0", "SMnew1", "SMnew2", "SMqueued0", "SMqueued1"]
        );
        let log = s.receipts(None, 100).await.unwrap();
        let mut ids: Vec<&str> = log.iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["msg_out_e", "msg_out_f", "msg_out_queued"]);
        assert_eq!(s.outbox_len().await.unwrap(), 1);
        assert!(s.call("CAlive").await.unwrap().is_some());
        assert!(s.call("CAdone1").await.unwrap().is_none());
        let stats = s.forward_stats().await.unwrap();
        assert_eq!((stats.pending, stats.delivered), (1, 0));
        let pending = s.pending_pairings(OffsetDateTime::now_utc()).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].code, "BBBB2222");
        let n = |s: &str| PhoneNumber::parse(s).unwrap();
        assert!(s.is_approved_sender(&n("+15557650001")).await.unwrap());
        assert!(s.is_opted_out(&n("+15557659999")).await.unwrap());
        // The senders of pruned messages are still known contacts.
        assert!(s.is_known_contact(&n("+15557650004")).await.unwrap());
        s.close().await;
    });
}

#[test]
fn without_retention_prune_keeps_everything_and_says_so() {
    let dir = data_dir("{ admin: { port: 1 } }");
    let db = dir.path().join("telephony-data/telephony.db");
    block_on(async {
        let s = SqliteStore::open(&db).await.unwrap();
        messages(&s, "SMold", 3, 1000, InboxState::Accepted).await;
        s.close().await;
    });
    let (code, out, err) = run(cmd(dir.path()).args(["prune"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "account default: retention: keep everything\n");
    let (code, out, err) = run(cmd(dir.path()).args(["prune", "--json"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!({"dryRun": false, "accounts": [{
            "account": "default", "retention": "keep everything", "kinds": [],
            "total": 0, "pagesReclaimed": 0
        }]})
    );
    let (code, out, err) = run(cmd(dir.path()).args(["config", "check", "--sandbox"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\nretention: keep everything\n"), "{out}");
}

#[test]
fn prune_acts_on_every_account_or_the_one_named() {
    let dir = data_dir(
        r#"{ admin: { port: 1 }, store: { retention: "7d" },
             accounts: {
               a: { serve: { path: "/a", statusPath: "/a/s", streamPath: "/a/w" } },
               b: { serve: { path: "/b", statusPath: "/b/s", streamPath: "/b/w" },
                    store: { retention: { messages: "30d" } } },
             } }"#,
    );
    let seed_accounts = || {
        block_on(async {
            for (name, n) in [("a", 2), ("b", 3)] {
                let db = dir
                    .path()
                    .join(format!("telephony-data/accounts/{name}/telephony.db"));
                let s = SqliteStore::open(&db).await.unwrap();
                messages(&s, &format!("SM{name}old"), n, 40, InboxState::Accepted).await;
                messages(&s, &format!("SM{name}mid"), 1, 10, InboxState::Accepted).await;
                s.close().await;
            }
        })
    };
    seed_accounts();
    // b keeps messages 30 days and nothing else is limited there.
    let (code, out, err) = run(cmd(dir.path()).args(["--account", "b", "prune", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(v["accounts"][0]["account"], "b");
    assert_eq!(
        v["accounts"][0]["retention"],
        "messages 30d, sends keep, calls keep, forwards keep, pairing keep"
    );
    assert_eq!(kinds(&v["accounts"][0]), counts(&[("messages", 3)]));

    let (code, out, err) = run(cmd(dir.path()).args(["prune", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    // a: 7 days for every kind, so its 10-day-old message goes too.
    assert_eq!(
        kinds(&v["accounts"][0]),
        counts(&[
            ("messages", 3),
            ("sends", 0),
            ("calls", 0),
            ("forwards", 0),
            ("pairing", 0)
        ])
    );
    assert_eq!(kinds(&v["accounts"][1]), counts(&[("messages", 0)]));

    let (code, out, err) = run(cmd(dir.path()).args(["config", "check", "--sandbox"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "\naccount a: retention: messages 7d, sends 7d, calls 7d, forwards 7d, pairing 7d\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("\naccount b: retention: messages 30d, sends keep, calls keep, forwards keep, pairing keep\n"),
        "{out}"
    );
}

#[test]
fn bad_retention_is_a_config_error_naming_the_key() {
    for (config, expect) in [
        (
            r#"{ store: { retention: "90x" } }"#,
            r#"store.retention: "90x" is not a retention duration: use a whole number and one of s, m, h, d, w (30s, 12h, 90d, 2w)"#,
        ),
        (
            r#"{ store: { retention: { default: "90d", recordings: "7d" } } }"#,
            "store.retention.recordings: the store keeps no call recordings (they stay with the provider), so there is nothing to prune; remove it",
        ),
        (
            r#"{ store: { retention: { transcripts: "7d" } } }"#,
            "store.retention.transcripts: unknown kind; the kinds are default, messages, sends, calls, forwards, pairing",
        ),
    ] {
        let dir = data_dir(config);
        for args in [&["prune"][..], &["config", "check"][..]] {
            let (code, _, err) = run(cmd(dir.path()).args(args));
            assert_eq!(code, 2, "{config} {args:?}: {err}");
            assert!(err.contains(expect), "{config} {args:?}: {err}");
        }
    }
    // The JSON of config check lists each kind's duration.
    let dir = data_dir(r#"{ store: { retention: { default: "90d", calls: "12h" } } }"#);
    let (code, out, err) = run(cmd(dir.path()).args(["config", "check", "--json", "--sandbox"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["retention"],
        serde_json::json!({
            "summary": "messages 90d, sends 90d, calls 12h, forwards 90d, pairing 90d",
            "kinds": {"messages": "90d", "sends": "90d", "calls": "12h", "forwards": "90d", "pairing": "90d"}
        })
    );
}
