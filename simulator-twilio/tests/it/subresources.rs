//! What the official SDKs call beyond create/fetch: a message's Media, redaction and
//! delete, the Calls list with its filters, and date filters given as times.

use std::time::Duration;

use serde_json::Value;
use telephony_twilio_simulator::{RunningSimulator, Simulator, SimulatorConfig};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::{ACCOUNT, TOKEN, start};

const TO: &str = "+15550001111";
const FROM: &str = "+15550002222";

async fn send(
    server: &RunningSimulator,
    method: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let req = reqwest::Client::new()
        .request(
            method.parse().unwrap(),
            format!("{}/2010-04-01/Accounts/{ACCOUNT}{path}", server.url()),
        )
        .basic_auth(ACCOUNT, Some(TOKEN));
    let req = if method == "POST" {
        req.form(form)
    } else {
        req
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn wait_for_status(sim: &Simulator, sid: &str, status: &str) {
    for _ in 0..500 {
        if sim.message(sid).and_then(|m| m.status).as_deref() == Some(status) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{sid} never became {status}");
}

fn frozen() -> SimulatorConfig {
    SimulatorConfig::new(ACCOUNT, TOKEN).with_callback_delay(Duration::from_secs(3600))
}

#[tokio::test]
async fn a_message_has_one_media_record_per_url_typed_by_its_extension() {
    let (_sim, server) = start(frozen()).await;
    let form = [
        ("To", TO),
        ("From", FROM),
        ("MediaUrl", "https://example.com/a/cat.JPG?size=large"),
        ("MediaUrl", "https://example.com/download"),
    ];
    let (status, mms) = send(&server, "POST", "/Messages.json", &form).await;
    assert_eq!(status, 201);
    let sid = mms["sid"].as_str().unwrap();
    assert_eq!(
        mms["subresource_uris"]["media"],
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}/Media.json")
    );
    let (status, list) = send(&server, "GET", &format!("/Messages/{sid}/Media.json"), &[]).await;
    assert_eq!(status, 200);
    let media = list["media_list"].as_array().unwrap();
    let types: Vec<&str> = media
        .iter()
        .map(|m| m["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["image/jpeg", "application/octet-stream"]);
    let first = media[0]["sid"].as_str().unwrap();
    assert!(first.starts_with("ME") && first.len() == 34, "{first}");
    assert_eq!(media[0]["parent_sid"], sid);
    assert_eq!(media[0]["account_sid"], ACCOUNT);
    assert_eq!(
        media[0]["uri"],
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}/Media/{first}.json")
    );
    assert_eq!(list["next_page_uri"], Value::Null);

    let one = format!("/Messages/{sid}/Media/{first}.json");
    assert_eq!(send(&server, "GET", &one, &[]).await.1["sid"], first);
    assert_eq!(send(&server, "DELETE", &one, &[]).await.0, 204);
    assert_eq!(send(&server, "GET", &one, &[]).await.0, 404);
    let (_, message) = send(&server, "GET", &format!("/Messages/{sid}.json"), &[]).await;
    assert_eq!(message["num_media"], "1");

    let (status, err) = send(
        &server,
        "GET",
        "/Messages/SM00000000000000000000000000000000/Media.json",
        &[],
    )
    .await;
    assert_eq!((status, err["code"].as_i64()), (404, Some(20404)));
}

#[tokio::test]
async fn redaction_empties_the_body_and_a_final_message_can_be_deleted() {
    let (sim, server) =
        start(SimulatorConfig::new(ACCOUNT, TOKEN).with_callback_delay(Duration::from_millis(10)))
            .await;
    let (_, m) = send(
        &server,
        "POST",
        "/Messages.json",
        &[("To", TO), ("From", FROM), ("Body", "secret")],
    )
    .await;
    let sid = m["sid"].as_str().unwrap().to_string();
    let path = format!("/Messages/{sid}.json");
    let (status, err) = send(&server, "POST", &path, &[("Body", "other")]).await;
    assert_eq!((status, err["code"].as_i64()), (400, Some(30400)));
    let (status, err) = send(&server, "POST", &path, &[("Status", "canceled")]).await;
    assert_eq!((status, err["code"].as_i64()), (400, Some(30409)));
    let (status, redacted) = send(&server, "POST", &path, &[("Body", "")]).await;
    assert_eq!((status, redacted["body"].as_str()), (200, Some("")));
    assert_eq!(sim.message(&sid).unwrap().body.as_deref(), Some(""));

    wait_for_status(&sim, &sid, "delivered").await;
    assert_eq!(send(&server, "DELETE", &path, &[]).await.0, 204);
    let (status, err) = send(&server, "GET", &path, &[]).await;
    assert_eq!((status, err["code"].as_i64()), (404, Some(20404)));
    assert!(sim.message(&sid).is_none());
}

#[tokio::test]
async fn a_message_not_final_yet_is_not_deleted() {
    let (sim, server) = start(frozen()).await;
    let (_, m) = send(
        &server,
        "POST",
        "/Messages.json",
        &[("To", TO), ("From", FROM), ("Body", "x")],
    )
    .await;
    let sid = m["sid"].as_str().unwrap();
    let (status, err) = send(&server, "DELETE", &format!("/Messages/{sid}.json"), &[]).await;
    assert_eq!(status, 409);
    assert_eq!(err["code"], 20009);
    assert_eq!(
        err["message"],
        "Cannot delete this resource before it is complete: the message is queued"
    );
    assert!(sim.message(sid).is_some());
}

#[tokio::test]
async fn calls_list_newest_first_and_filtered() {
    let (_sim, server) = start(frozen()).await;
    let twiml = "<Response><Hangup/></Response>";
    let mut sids = Vec::new();
    for to in ["+15550003333", "+15550004444"] {
        let (status, call) = send(
            &server,
            "POST",
            "/Calls.json",
            &[("To", to), ("From", FROM), ("Twiml", twiml)],
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(call["from"], FROM);
        sids.push(call["sid"].as_str().unwrap().to_string());
    }
    let list = |q: &'static str| {
        let server = &server;
        async move {
            let (status, page) = send(server, "GET", &format!("/Calls.json{q}"), &[]).await;
            assert_eq!(status, 200, "{q}: {page}");
            page["calls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["sid"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("").await, [sids[1].clone(), sids[0].clone()]);
    assert_eq!(list("?To=%2B15550003333").await, [sids[0].clone()]);
    assert_eq!(list("?From=%2B15550002222&Status=queued").await.len(), 2);
    assert_eq!(list("?Status=completed").await.len(), 0);
    // Not rung yet: no start time, so no StartTime bound admits them.
    assert_eq!(list("?StartTime%3E=2000-01-01").await.len(), 0);
    let (_, page) = send(
        &server,
        "GET",
        "/Calls.json?PageSize=1&To=%2B15550004444",
        &[],
    )
    .await;
    assert_eq!(page["next_page_uri"], Value::Null);
    let (_, page) = send(&server, "GET", "/Calls.json?PageSize=1", &[]).await;
    assert_eq!(
        page["next_page_uri"],
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls.json?PageSize=1&Page=1")
    );
    let (status, err) = send(&server, "GET", "/Calls.json?Status=done", &[]).await;
    assert_eq!((status, err["code"].as_i64()), (400, Some(20001)));
    assert_eq!(
        err["message"],
        "Invalid Status \"done\": use one of queued, ringing, in-progress, canceled, completed, failed, busy, no-answer"
    );
}

#[tokio::test]
async fn date_sent_filters_take_times_as_the_sdk_sends_them() {
    let (_sim, server) = start(frozen()).await;
    for _ in 0..2 {
        send(
            &server,
            "POST",
            "/Messages.json",
            &[("To", TO), ("From", FROM), ("Body", "x")],
        )
        .await;
    }
    let now = OffsetDateTime::now_utc();
    let at = |t: OffsetDateTime| t.replace_nanosecond(0).unwrap().format(&Rfc3339).unwrap();
    let count = |key: &'static str, value: String| {
        let server = &server;
        async move {
            let q = serde_urlencoded::to_string([(key, value)]).unwrap();
            let (status, page) = send(server, "GET", &format!("/Messages.json?{q}"), &[]).await;
            assert_eq!(status, 200, "{q}: {page}");
            page["messages"].as_array().unwrap().len()
        }
    };
    let hour = time::Duration::hours(1);
    assert_eq!(count("DateSent>", at(now - hour)).await, 2);
    assert_eq!(count("DateSent>", at(now + hour)).await, 0);
    assert_eq!(count("DateSent<", at(now - hour)).await, 0);
    assert_eq!(count("DateSent<", at(now + hour)).await, 2);
    assert_eq!(count("DateSent", now.date().to_string()).await, 2);
    assert_eq!(
        count(
            "DateSent",
            (now.date() - time::Duration::days(2)).to_string()
        )
        .await,
        0
    );
    let (_, page) = send(
        &server,
        "GET",
        "/Messages.json?DateSent%3E=2024-05-01T00%3A00%3A00Z&PageSize=1",
        &[],
    )
    .await;
    assert_eq!(
        page["next_page_uri"],
        format!(
            "/2010-04-01/Accounts/{ACCOUNT}/Messages.json?DateSent%3E=2024-05-01T00%3A00%3A00Z&PageSize=1&Page=1"
        )
    );
}
