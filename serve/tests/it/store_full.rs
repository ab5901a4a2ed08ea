//! A gateway whose store fills up, over loopback TCP: signed webhooks are answered 503 with
//! `Retry-After` (never 200 for a message not stored), `/health` answers 503 naming the
//! store, `/metrics` counts the errors by kind and `GET /telephony/status` says the store
//! is unavailable; once space is freed, without a restart, webhooks are stored again and
//! health is ok, and every webhook answered 200 is in the inbox.
//!
//! As root the store is on a real full filesystem (a 2 MiB tmpfs the test mounts, filled
//! up by another file that is then deleted); otherwise on a database capped with SQLite's
//! `max_page_count` (a table of the test's, deleted by another connection, frees its
//! pages). The test prints which one ran; `TELEPHONY_TEST_FULL_DISK=page-count` picks the
//! second as root too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use serde_json::Value;
use telephony_core::store::prelude::*;
use telephony_core::{InboxQuery, Secret};
use telephony_serve::Gateway;
use telephony_store::{SqliteOptions, SqliteStore};
use telephony_twilio::{TwilioConfig, TwilioProvider};

use crate::support::{ACCOUNT, OURS, TOKEN, oneshot, sms};

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    /// Mounts one of `size` bytes, or `None` when this process may not (not root).
    fn mount(size: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }

    /// Writes zeros to `path` until the filesystem is full.
    fn fill(path: &Path) {
        use std::io::Write;
        let mut f = std::fs::File::create(path).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// Where the store fills up, and how space is freed.
enum Full {
    Tmpfs {
        _fs: Tmpfs,
        filler: PathBuf,
    },
    PageCount {
        _dir: tempfile::TempDir,
        db: PathBuf,
    },
}

impl Full {
    async fn open() -> (Full, SqliteStore) {
        // TELEPHONY_TEST_FULL_DISK=page-count runs the path for non-root here too.
        let tmpfs = match std::env::var("TELEPHONY_TEST_FULL_DISK").as_deref() {
            Ok("page-count") => None,
            _ => Tmpfs::mount(2 << 20),
        };
        match tmpfs {
            Some(fs) => {
                eprintln!("store_full: the data directory is on a 2 MiB tmpfs (running as root)");
                let store = SqliteStore::open(fs.0.path().join("telephony.db"))
                    .await
                    .unwrap();
                // Leave a little room for the messages: the filler takes the rest.
                let headroom = fs.0.path().join("headroom");
                std::fs::write(&headroom, vec![0u8; 256 << 10]).unwrap();
                let filler = fs.0.path().join("filler");
                Tmpfs::fill(&filler);
                std::fs::remove_file(&headroom).unwrap();
                (Full::Tmpfs { _fs: fs, filler }, store)
            }
            None => {
                eprintln!(
                    "store_full: the database is capped with max_page_count (no tmpfs: not root, or TELEPHONY_TEST_FULL_DISK=page-count)"
                );
                let dir = tempfile::tempdir().unwrap();
                let db = dir.path().join("telephony.db");
                let store =
                    // 512 KiB in the 1 KiB pages of a database the store creates.
                    SqliteStore::open_with(&db, SqliteOptions::default().max_page_count(Some(512)))
                        .await
                        .unwrap();
                // A table of the test's takes 160 KiB of the 512 KiB the database may grow to.
                let mut c = raw(&db).await;
                sqlx::query("CREATE TABLE test_filler (b BLOB NOT NULL)")
                    .execute(&mut c)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO test_filler (b) VALUES (zeroblob(163840))")
                    .execute(&mut c)
                    .await
                    .unwrap();
                (Full::PageCount { _dir: dir, db }, store)
            }
        }
    }

    /// Frees space: deletes the filler (the file, or the table's row, whose pages the
    /// database then reuses).
    async fn free(&self) {
        match self {
            Full::Tmpfs { filler, .. } => std::fs::remove_file(filler).unwrap(),
            Full::PageCount { db, .. } => {
                sqlx::query("DELETE FROM test_filler")
                    .execute(&mut raw(db).await)
                    .await
                    .unwrap();
            }
        }
    }
}

/// A connection of the test's own to the database file.
async fn raw(db: &Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .busy_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap()
}

/// POSTs signed webhook `n`: status, `Retry-After`, body.
async fn webhook(http: &reqwest::Client, base: &str, n: usize) -> (u16, Option<String>, String) {
    let url = format!("{base}/telephony/webhook");
    let (body, sig) = sms(&sid(n), &"x".repeat(1000)).signed(TOKEN, &url);
    let r = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, r.text().await.unwrap())
}

fn sid(n: usize) -> String {
    format!("SMfull{n:026}")
}

/// `GET /health`: status and body.
async fn health(http: &reqwest::Client, base: &str) -> (u16, Value) {
    let r = http.get(format!("{base}/health")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Polls `GET /health` until it answers `want` (10 s at most).
async fn health_becomes(http: &reqwest::Client, base: &str, want: u16) -> Value {
    let t = Instant::now();
    loop {
        let (status, body) = health(http, base).await;
        if status == want {
            return body;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "/health still {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn admin_get(gw: &Gateway, path: &str) -> String {
    let r = oneshot(
        gw.admin_router(Secret::new("admintoken")),
        Request::get(path)
            .header("authorization", "Bearer admintoken")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body
}

/// The value of the one series of `/metrics` that starts with `prefix`.
fn series(metrics: &str, prefix: &str) -> f64 {
    let line = metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_answers_503_and_recovers_once_space_is_freed() {
    let (full, store) = Full::open().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let cfg = TwilioConfig::new(ACCOUNT, TOKEN).from_number(OURS.parse().unwrap());
    // Signatures are computed over the URL we post to: the public URL.
    let gw = Gateway::builder(
        Arc::new(TwilioProvider::new(cfg).unwrap()),
        Arc::new(store.clone()),
    )
    .public_url(&base)
    .build();
    let app = gw
        .router()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    assert_eq!(health(&http, &base).await.0, 200);

    // Webhooks until the store is full: 200 while stored, then 503 with Retry-After.
    let mut acked = Vec::new();
    let mut n = 0;
    let refused = loop {
        let (status, retry, body) = webhook(&http, &base, n).await;
        match status {
            200 => acked.push(sid(n)),
            503 => break (retry, body),
            other => panic!("webhook {n}: {other} {body}"),
        }
        n += 1;
        assert!(n < 20_000, "the store never filled up");
    };
    assert!(!acked.is_empty());
    assert_eq!(
        refused,
        (
            Some("5".to_string()),
            "could not store message\n".to_string()
        )
    );
    // Not ready, naming why; a webhook now is refused too.
    let body = health_becomes(&http, &base, 503).await;
    assert_eq!(body["status"], "unavailable");
    let why = body["store"].as_str().unwrap();
    assert!(
        why.starts_with("the store cannot write (disk full) since "),
        "{why}"
    );
    n += 1;
    assert_eq!(webhook(&http, &base, n).await.0, 503);
    // Metrics count the errors by kind; the status says the store is unavailable.
    let metrics = admin_get(&gw, "/metrics").await;
    let labels = format!("replica=\"{}\",account=\"default\"", gw.replica_id());
    assert!(
        series(
            &metrics,
            &format!("telephony_store_errors_total{{{labels},kind=\"disk_full\"}} ")
        ) >= 2.0,
        "{metrics}"
    );
    assert_eq!(
        series(
            &metrics,
            &format!("telephony_store_write_failing{{{labels}}} ")
        ),
        1.0
    );
    assert!(series(&metrics, &format!("telephony_store_bytes{{{labels}}} ")) > 0.0);
    let status: Value = serde_json::from_str(&admin_get(&gw, "/telephony/status").await).unwrap();
    assert_eq!(status["store"]["status"], "unavailable", "{status}");
    assert_eq!(
        status["store"]["writeFailure"]["kind"], "disk_full",
        "{status}"
    );
    assert!(status["store"]["errors"]["disk_full"].as_u64().unwrap() >= 2);

    // Space comes back: ready again without a restart (the probe commits), and webhooks
    // are stored.
    full.free().await;
    health_becomes(&http, &base, 200).await;
    for _ in 0..5 {
        n += 1;
        let (status, _, body) = webhook(&http, &base, n).await;
        assert_eq!(status, 200, "{body}");
        acked.push(sid(n));
    }
    let status: Value = serde_json::from_str(&admin_get(&gw, "/telephony/status").await).unwrap();
    assert_eq!(status["store"]["status"], "ok", "{status}");
    assert_eq!(status["store"]["writeFailure"], Value::Null);
    let metrics = admin_get(&gw, "/metrics").await;
    assert_eq!(
        series(
            &metrics,
            &format!("telephony_store_write_failing{{{labels}}} ")
        ),
        0.0
    );

    // Every webhook answered 200 is stored.
    let stored: std::collections::HashSet<String> = store
        .inbox(&InboxQuery {
            limit: 100_000,
            ..InboxQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.message.provider_sid)
        .collect();
    let missing: Vec<&String> = acked.iter().filter(|s| !stored.contains(*s)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
    assert_eq!(stored.len(), acked.len());
    store.close().await;
}
