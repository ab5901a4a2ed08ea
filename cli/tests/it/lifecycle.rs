//! The data lifecycle commands over real data directories, with no gateway running:
//! `telephony forget` (every account or one), `telephony export` (exact JSONL and CSV, the
//! time window, a 20,000-message export read in pages of 100) and `telephony backup`.

use std::path::{Path, PathBuf};
use std::process::Command;

use telephony_core::store::prelude::*;
use telephony_core::store::{BeginOutcome, NewCall, StatusSource};
use telephony_core::store_suite::{inbound, t0};
use telephony_core::voice::{CallDirection, CallStatus};
use telephony_core::{Address, InboxQuery, MessageId, OutboundMessage, PhoneNumber};
use telephony_store::SqliteStore;

use crate::support::run;

const GONE: &str = "+15557654321";
const KEPT: &str = "+15553333333";

fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_telephony"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .current_dir(dir);
    c
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn gone() -> PhoneNumber {
    GONE.parse().unwrap()
}

/// A data directory with `config` and nobody on the admin port.
fn dir_with(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("telephony.json5"), config).unwrap();
    dir
}

const ACCOUNTS: &str = r#"{ admin: { port: 1 }, defaultAccount: "support",
    accounts: {
      support: { serve: { path: "/sms/support", statusPath: "/sms/support/status", streamPath: "/sms/support/stream" } },
      alerts: { serve: { path: "/sms/alerts", statusPath: "/sms/alerts/status", streamPath: "/sms/alerts/stream" } },
    } }"#;

fn account_db(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("telephony-data/accounts/{name}/telephony.db"))
}

#[test]
fn forget_erases_a_number_in_every_account_or_in_one() {
    let dir = dir_with(ACCOUNTS);
    rt().block_on(async {
        let support = SqliteStore::open(account_db(dir.path(), "support"))
            .await
            .unwrap();
        support
            .insert_inbound(&inbound("SM1", GONE, "hello", 0))
            .await
            .unwrap();
        support
            .insert_inbound(&inbound("SM2", KEPT, "kept", 1))
            .await
            .unwrap();
        support.set_opted_out(&gone(), true, t0()).await.unwrap();
        support.close().await;
        let alerts = SqliteStore::open(account_db(dir.path(), "alerts"))
            .await
            .unwrap();
        alerts
            .insert_inbound(&inbound("SM3", GONE, "alert me", 2))
            .await
            .unwrap();
        alerts
            .enqueue_outbound(
                &MessageId::from_string("msg_o1"),
                &OutboundMessage::new(Address::parse(GONE).unwrap(), "queued"),
                t0(),
            )
            .await
            .unwrap();
        alerts.close().await;
    });

    // An invalid number is a usage error naming it; nothing changes.
    let (code, out, err) = run(cmd(dir.path()).args(["forget", "5557654321"]));
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert_eq!(
        err,
        "error: invalid number: phone number \"5557654321\" has no country code: write it in \
         E.164 form with a leading '+' and the country code, e.g. +15551234567\n"
    );

    // One account.
    let (code, out, err) =
        run(cmd(dir.path()).args(["--account", "alerts", "forget", GONE, "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "number": GONE,
            "accounts": [{
                "account": "alerts", "via": "store", "number": GONE,
                "inboundMessages": 1, "sends": 1, "queuedSends": 1, "calls": 0,
                "callStatusChanges": 0, "callTurns": 0, "pairingRequests": 0,
                "approvedSenders": 0, "approvedContacts": 0, "forwardEvents": 0,
                "optOutsHashed": 0, "optedOut": false, "callRecordings": 0
            }],
            "removed": 2,
            "optedOut": false
        })
    );

    // Every account: alerts has nothing left, support loses its message; the opt-out stays.
    let (code, out, err) = run(cmd(dir.path()).args(["forget", GONE]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "+15557654321 erased from account \"alerts\": 0 inbound message(s), 0 send(s) (0 queued, \
         cancelled), 0 call(s) with 0 status change(s), 0 transcript turn(s) and 0 recording(s), \
         0 pairing request(s), 0 approval(s), 0 forward event(s)\n\
         +15557654321 erased from account \"support\": 1 inbound message(s), 0 send(s) (0 queued, \
         cancelled), 0 call(s) with 0 status change(s), 0 transcript turn(s) and 0 recording(s), \
         0 pairing request(s), 0 approval(s), 0 forward event(s)\n  its opt-out (STOP) is kept as a keyed \
         hash: sends to +15557654321 stay refused\n"
    );
    rt().block_on(async {
        let support = SqliteStore::open(account_db(dir.path(), "support"))
            .await
            .unwrap();
        let left = support.inbox(&InboxQuery::default()).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].message.from, KEPT);
        assert!(support.is_opted_out(&gone()).await.unwrap());
        // No row holds the number any more; the opt-out row holds its hash.
        let rows: Vec<String> = sqlx::query_scalar("SELECT number FROM opt_outs")
            .fetch_all(&mut *sqlx_conn(&account_db(dir.path(), "support")).await)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].starts_with("hmac-sha256:"), "{rows:?}");
        support.close().await;
    });
}

async fn sqlx_conn(path: &Path) -> Box<sqlx::SqliteConnection> {
    use sqlx::Connection;
    Box::new(
        sqlx::SqliteConnection::connect_with(
            &sqlx::sqlite::SqliteConnectOptions::new().filename(path),
        )
        .await
        .unwrap(),
    )
}

/// A single-account data directory with three messages a minute apart (bodies that need
/// CSV quoting), a send and a call.
fn export_dir() -> tempfile::TempDir {
    let dir = dir_with("{ admin: { port: 1 } }");
    rt().block_on(async {
        let s = SqliteStore::open(dir.path().join("telephony-data/telephony.db"))
            .await
            .unwrap();
        for (sid, body, secs) in [
            ("SM1", "hi, \"you\"\nthere", 0),
            ("SM2", "second", 60),
            ("SM3", "third", 120),
        ] {
            let mut m = inbound(sid, GONE, body, secs);
            m.media.clear();
            m.extra.clear();
            s.insert_inbound(&m).await.unwrap();
        }
        s.enqueue_outbound(
            &MessageId::from_string("msg_o1"),
            &OutboundMessage::new(Address::parse(GONE).unwrap(), "out"),
            t0(),
        )
        .await
        .unwrap();
        let call = NewCall {
            call_id: "CA1".into(),
            direction: CallDirection::Inbound,
            from: GONE.into(),
            to: "+15550001234".into(),
            status: CallStatus::Ringing,
            source: StatusSource::Webhook,
            session: false,
            at: t0(),
            note: None,
        };
        assert!(matches!(
            s.begin_call(&call, None).await.unwrap(),
            BeginOutcome::Started(_)
        ));
        s.close().await;
    });
    dir
}

#[test]
fn export_writes_exact_jsonl_and_csv_within_the_window() {
    let dir = export_dir();
    let line = |sid: &str, body: &str, at: &str| {
        format!(
            r#"{{"id":"msg_in_{sid}","providerSid":"{sid}","accountSid":"AC00000000000000000000000000000001","channel":"sms","from":"+15557654321","to":"+15550001234","body":{},"numSegments":1,"receivedAt":"{at}","state":"queued"}}"#,
            serde_json::to_string(body).unwrap()
        )
    };
    let (code, out, err) = run(cmd(dir.path()).args(["export"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        [
            line("SM1", "hi, \"you\"\nthere", "2026-01-02T03:04:05Z"),
            line("SM2", "second", "2026-01-02T03:05:05Z"),
            line("SM3", "third", "2026-01-02T03:06:05Z"),
            String::new()
        ]
        .join("\n")
    );
    assert_eq!(err, "exported 3 message(s) in 1 page(s)\n");

    // CSV, into a file.
    let file = dir.path().join("out.csv");
    let (code, out, err) = run(cmd(dir.path()).args([
        "export",
        "--format",
        "csv",
        "--output",
        file.to_str().unwrap(),
    ]));
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert_eq!(
        err,
        format!("exported 3 message(s) in 1 page(s) to {}\n", file.display())
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "id,providerSid,accountSid,channel,from,to,body,media,numSegments,receivedAt,extra,state,note\r\n\
         msg_in_SM1,SM1,AC00000000000000000000000000000001,sms,+15557654321,+15550001234,\"hi, \"\"you\"\"\nthere\",,1,2026-01-02T03:04:05Z,,queued,\r\n\
         msg_in_SM2,SM2,AC00000000000000000000000000000001,sms,+15557654321,+15550001234,second,,1,2026-01-02T03:05:05Z,,queued,\r\n\
         msg_in_SM3,SM3,AC00000000000000000000000000000001,sms,+15557654321,+15550001234,third,,1,2026-01-02T03:06:05Z,,queued,\r\n"
    );

    // since is inclusive, until exclusive.
    let (code, out, err) = run(cmd(dir.path()).args([
        "export",
        "--since",
        "2026-01-02T03:05:05Z",
        "--until",
        "2026-01-02T03:06:05Z",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, line("SM2", "second", "2026-01-02T03:05:05Z") + "\n");

    // Sends and calls, in the admin API's fields.
    let (code, out, err) = run(cmd(dir.path()).args(["export", "--kind", "sends"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        r#"{"id":"msg_o1","to":"+15557654321","body":"out","status":"pending","providerSids":[],"attempts":0,"history":[{"status":"pending","at":"2026-01-02T03:04:05Z"}],"createdAt":"2026-01-02T03:04:05Z","updatedAt":"2026-01-02T03:04:05Z"}"#.to_string() + "\n"
    );
    let (code, out, err) =
        run(cmd(dir.path()).args(["export", "--kind", "calls", "--format", "csv"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "id,direction,from,to,status,live,startedAt,answeredAt,endedAt,durationSecs,note,history,transcript,answeredBy\r\n\
         CA1,inbound,+15557654321,+15550001234,ringing,false,2026-01-02T03:04:05Z,,,,,\"[{\"\"at\"\":\"\"2026-01-02T03:04:05Z\"\",\"\"source\"\":\"\"webhook\"\",\"\"status\"\":\"\"ringing\"\"}]\",[],\r\n"
    );

    // Usage errors: exit 2.
    let (code, _, err) = run(cmd(dir.path()).args([
        "export",
        "--since",
        "2026-01-03T00:00:00Z",
        "--until",
        "2026-01-02T00:00:00Z",
    ]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: --since (2026-01-03T00:00:00.000Z) must be before --until (2026-01-02T00:00:00.000Z)\n"
    );
    let (code, _, err) = run(cmd(dir.path()).args(["export", "--until", "yesterday"]));
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: invalid --until \"yesterday\""),
        "{err}"
    );
    // No store: exit 1, and none is created.
    let empty = dir_with("{ admin: { port: 1 } }");
    let (code, _, err) = run(cmd(empty.path()).args(["export"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("there is no store at telephony-data/telephony.db"),
        "{err}"
    );
    assert!(!empty.path().join("telephony-data").exists());
}

#[test]
fn a_large_export_is_read_one_page_at_a_time() {
    const N: usize = 20_000;
    let dir = dir_with("{ admin: { port: 1 } }");
    rt().block_on(async {
        let s = SqliteStore::open(dir.path().join("telephony-data/telephony.db"))
            .await
            .unwrap();
        // Inserted by 50 tasks at once, so the group commit batches them.
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..50 {
            let s = s.clone();
            tasks.spawn(async move {
                for i in (t..N).step_by(50) {
                    let m = inbound(&format!("SM{i:06}"), GONE, "x", (i / 7) as i64);
                    s.insert_inbound(&m).await.unwrap();
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        s.close().await;
    });
    let file = dir.path().join("all.jsonl");
    let started = std::time::Instant::now();
    let (code, _, err) = run(cmd(dir.path()).args([
        "export",
        "--page-size",
        "100",
        "--output",
        file.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    // 200 full pages and the empty one that ends the export: memory held 100 records.
    assert_eq!(
        err,
        format!(
            "exported {N} message(s) in 201 page(s) to {}\n",
            file.display()
        )
    );
    eprintln!("{N} messages exported in {:?}", started.elapsed());
    let text = std::fs::read_to_string(&file).unwrap();
    let keys: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["receivedAt"].as_str().unwrap().to_string(),
                v["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(keys.len(), N);
    // Every message once, in (time, id) order.
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "out of order");
}

#[test]
fn backup_copies_the_store_and_points_postgres_to_its_tools() {
    let dir = export_dir();
    let copy = dir.path().join("copy.db");
    let (code, out, err) = run(cmd(dir.path()).args(["backup", copy.to_str().unwrap(), "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            v["inboundMessages"].as_u64(),
            v["sends"].as_u64(),
            v["calls"].as_u64(),
            v["path"].as_str()
        ),
        (Some(3), Some(1), Some(1), copy.to_str())
    );
    assert_eq!(
        v["bytes"].as_u64(),
        Some(std::fs::metadata(&copy).unwrap().len())
    );
    rt().block_on(async {
        let s = SqliteStore::open(&copy).await.unwrap();
        assert_eq!(s.inbox(&InboxQuery::default()).await.unwrap().len(), 3);
        s.close().await;
    });

    let (code, _, err) = run(cmd(dir.path()).args(["backup", copy.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "error: {} exists; pass --force to replace it\n",
            copy.display()
        )
    );
    let (code, out, err) = run(cmd(dir.path()).args(["backup", copy.to_str().unwrap(), "--force"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("backed up telephony-data/telephony.db to "),
        "{out}"
    );

    let pg = dir_with(
        r#"{ admin: { port: 1 }, store: { url: "postgres://gw:hunter2@127.0.0.1:1/telephony" } }"#,
    );
    let (code, out, err) = run(cmd(pg.path()).args(["backup", "x.db"]));
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains("back it up with PostgreSQL's own tools, e.g. `pg_dump --schema="),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!pg.path().join("x.db").exists());
}
