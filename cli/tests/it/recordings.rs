//! `telephony recordings` over a real data directory with no gateway running: the
//! recordings kept with the calls, as JSON and text, an unknown call refused, and
//! `telephony forget` removing a number's recordings with its calls.

use std::path::Path;
use std::process::Command;

use telephony_core::store::prelude::*;
use telephony_core::store::{BeginOutcome, NewCall, StatusSource};
use telephony_core::store_suite::t0;
use telephony_core::voice::{CallDirection, CallRecording, CallStatus, RecordingChannels};
use telephony_store::SqliteStore;

use crate::support::run;

const CALLER: &str = "+15557654321";

fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_telephony"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .current_dir(dir);
    c
}

#[test]
fn recordings_are_listed_from_the_store_and_forgotten_with_the_number() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("telephony.json5"), "{ admin: { port: 1 } }").unwrap();
    let db = dir.path().join("telephony-data/telephony.db");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let call = NewCall {
            call_id: "CA1".into(),
            direction: CallDirection::Inbound,
            from: CALLER.into(),
            to: "+15550001234".into(),
            status: CallStatus::Completed,
            source: StatusSource::Webhook,
            session: false,
            at: t0(),
            note: None,
        };
        assert!(matches!(
            store.begin_call(&call, None).await.unwrap(),
            BeginOutcome::Started(_)
        ));
        let rec = CallRecording::new("RE1", "CA1", t0())
            .duration_secs(7)
            .channels(RecordingChannels::Dual)
            .url("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1")
            .source("call");
        assert!(store.add_recording(&rec).await.unwrap());
        store.close().await;
    });
    let created = telephony_core::rfc3339::format(t0());

    let (code, out, err) = run(cmd(dir.path()).args(["recordings", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"recordings": [{
            "id": "RE1", "callId": "CA1", "durationSecs": 7, "channels": "dual",
            "format": "wav", "url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
            "createdAt": created, "source": "call"
        }]})
    );
    let (code, out, err) = run(cmd(dir.path()).args(["recordings", "CA1"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("RE1  call CA1  7s  dual wav  call"), "{out}");
    assert!(out.ends_with("1 recording(s)\n"), "{out}");

    let (code, _, err) = run(cmd(dir.path()).args(["recordings", "CA404"]));
    assert_eq!(code, 2);
    assert!(err.contains("no call with id \"CA404\""), "{err}");

    let (code, out, err) = run(cmd(dir.path()).args(["forget", CALLER]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("1 call(s) with 1 status change(s), 0 transcript turn(s) and 1 recording(s)"),
        "{out}"
    );
    assert!(
        out.contains("the recordings' audio stays with the provider: delete it there"),
        "{out}"
    );
    let (code, out, _) = run(cmd(dir.path()).args(["recordings", "--json"]));
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!({"recordings": []})
    );
}
