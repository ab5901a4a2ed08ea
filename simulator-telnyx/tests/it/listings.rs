//! The messaging listings the official SDKs page through, `send_long_code`, and the sender
//! rules: a `from` must be the account's number in a messaging profile, and the message
//! reports that profile.

use std::time::Duration;

use serde_json::{Value, json};
use telephony_telnyx::WebhookSigner;
use telephony_telnyx_simulator::{RunningSimulator, Simulator, SimulatorConfig};

use crate::support::start;

const KEY: &str = "KEY0123456789ABCDEF0123456789ABCDEF";
const A: &str = "+15550002222";
const B: &str = "+15550003333";
const LOOSE: &str = "+15550004444";

async fn account() -> (Simulator, RunningSimulator, String, String) {
    let (sim, server) = start(
        SimulatorConfig::new(KEY, WebhookSigner::from_seed([7; 32]))
            .with_callback_delay(Duration::from_secs(3600)),
    )
    .await;
    let first = sim.add_messaging_profile(None);
    let second = sim.add_messaging_profile(None);
    sim.edit_messaging_profile(&second, |p| p.name = Some("Alerts".into()));
    sim.add_number(B, Some(&second));
    sim.add_number(A, Some(&first));
    sim.add_number(LOOSE, None);
    (sim, server, first, second)
}

async fn call(
    server: &RunningSimulator,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let req = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", server.url()))
        .bearer_auth(KEY);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn numbers(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["phone_number"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn messaging_profiles_list_by_name_with_meta() {
    let (_sim, server, first, second) = account().await;
    let (status, page) = call(&server, "GET", "/v2/messaging_profiles", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    assert_eq!(page["data"][0]["record_type"], "messaging_profile");
    assert_eq!(
        page["meta"],
        json!({"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 2})
    );
    let (_, page) = call(
        &server,
        "GET",
        "/v2/messaging_profiles?filter%5Bname%5D%5Beq%5D=Alerts",
        None,
    )
    .await;
    assert_eq!(page["data"][0]["id"], second.as_str());
    assert_eq!(page["meta"]["total_results"], 1);
    let (_, page) = call(
        &server,
        "GET",
        "/v2/messaging_profiles?filter%5Bname%5D%5Bcontains%5D=Simulated",
        None,
    )
    .await;
    assert_eq!(page["data"][0]["id"], first.as_str());
    let (_, page) = call(
        &server,
        "GET",
        "/v2/messaging_profiles?page%5Bsize%5D=1&page%5Bnumber%5D=2",
        None,
    )
    .await;
    assert_eq!(page["data"][0]["id"], second.as_str());
    assert_eq!(page["meta"]["total_pages"], 2);
}

#[tokio::test]
async fn number_messaging_listings_filter_and_sort() {
    let (_sim, server, first, second) = account().await;
    let (_, page) = call(
        &server,
        "GET",
        &format!("/v2/messaging_profiles/{second}/phone_numbers"),
        None,
    )
    .await;
    assert_eq!(numbers(&page), [B]);
    assert_eq!(page["data"][0]["record_type"], "messaging_phone_number");
    assert_eq!(page["data"][0]["messaging_profile_id"], second.as_str());
    let (status, _) = call(
        &server,
        "GET",
        "/v2/messaging_profiles/nope/phone_numbers",
        None,
    )
    .await;
    assert_eq!(status, 404);

    let (_, page) = call(&server, "GET", "/v2/phone_numbers/messaging", None).await;
    assert_eq!(numbers(&page), [B, A, LOOSE]);
    assert_eq!(page["data"][2]["messaging_profile_id"], Value::Null);
    let (_, page) = call(
        &server,
        "GET",
        "/v2/phone_numbers/messaging?sort%5Bphone_number%5D=desc",
        None,
    )
    .await;
    assert_eq!(numbers(&page), [LOOSE, B, A]);
    let q = format!("/v2/phone_numbers/messaging?filter%5Bmessaging_profile_id%5D={first}");
    assert_eq!(numbers(&call(&server, "GET", &q, None).await.1), [A]);
    let q = "/v2/phone_numbers/messaging?filter%5Bphone_number%5D=%2B15550002222,%2B15550004444";
    assert_eq!(numbers(&call(&server, "GET", q, None).await.1), [A, LOOSE]);
    let q = "/v2/phone_numbers/messaging?filter%5Bphone_number%5D%5Bcontains%5D=3333";
    assert_eq!(numbers(&call(&server, "GET", q, None).await.1), [B]);
    let (status, err) = call(
        &server,
        "GET",
        "/v2/phone_numbers/messaging?sort%5Bphone_number%5D=up",
        None,
    )
    .await;
    assert_eq!((status, &err["errors"][0]["code"]), (400, &json!("10018")));
}

#[tokio::test]
async fn a_send_reports_its_numbers_profile_and_long_code_needs_a_from() {
    let (sim, server, _first, second) = account().await;
    let (status, sent) = call(
        &server,
        "POST",
        "/v2/messages/long_code",
        Some(json!({"from": B, "to": A, "text": "hi"})),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["data"]["messaging_profile_id"], second.as_str());
    assert_eq!(sent["data"]["to"][0]["status"], "queued");
    let id = sent["data"]["id"].as_str().unwrap();
    let (status, fetched) = call(&server, "GET", &format!("/v2/messages/{id}"), None).await;
    assert_eq!((status, &fetched["data"]["text"]), (200, &json!("hi")));
    assert_eq!(sim.messages().len(), 1);

    let (status, err) = call(
        &server,
        "POST",
        "/v2/messages/long_code",
        Some(json!({"messaging_profile_id": second, "to": A, "text": "hi"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        err["errors"][0],
        json!({
            "code": "10004",
            "title": "Missing required parameter",
            "detail": "The 'from' parameter is required.",
            "source": {"pointer": "/from"},
            "meta": {"url": "https://developers.telnyx.com/api/errors/10004"},
        })
    );
}

#[tokio::test]
async fn a_from_that_is_not_on_a_profile_is_40305() {
    let (sim, server, first, second) = account().await;
    for (from, detail) in [
        (
            "+15550009999",
            "The 'from' number +15550009999 is not a number of this account.",
        ),
        (
            LOOSE,
            "The 'from' number +15550004444 is not in a messaging profile: assign it to one first.",
        ),
    ] {
        let (status, err) = call(
            &server,
            "POST",
            "/v2/messages",
            Some(json!({"from": from, "to": A, "text": "hi"})),
        )
        .await;
        assert_eq!(status, 422);
        let e = &err["errors"][0];
        assert_eq!(
            (&e["code"], &e["title"], &e["detail"]),
            (
                &json!("40305"),
                &json!("Invalid 'from' address"),
                &json!(detail)
            )
        );
        assert_eq!(e["source"]["pointer"], "/from");
    }
    // A number of one profile sent "through" another: refused, not reported as the other.
    let (status, err) = call(
        &server,
        "POST",
        "/v2/messages",
        Some(json!({"from": A, "messaging_profile_id": second, "to": B, "text": "hi"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(err["errors"][0]["code"], "40305");
    assert_eq!(
        err["errors"][0]["detail"],
        format!("The 'from' number {A} is not in messaging profile {second} (it is in {first}).")
    );
    assert!(sim.messages().is_empty());
}
