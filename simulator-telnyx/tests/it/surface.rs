//! The README's "Simulated resources" table for Telnyx is the simulator's
//! `SIMULATED_RESOURCES`, and the simulator serves every row of it: each listed method
//! answers (with the status a walk through the resources expects), each other method is
//! 501 naming it, each listed filter is taken and any other list parameter is 400 naming it.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use telephony_telnyx::WebhookSigner;
use telephony_telnyx_simulator::{
    PAGING_PARAMETERS, RunningSimulator, SIMULATED_RESOURCES, SimulatedResource, SimulatorConfig,
};

use crate::support::start;

const KEY: &str = "KEY0123456789ABCDEF0123456789ABCDEF";
const OURS: &str = "+15550002222";
const APP: &str = "1494404757140276705";

/// The README's table between `<!-- simulated-resources {provider}` and
/// `<!-- /simulated-resources -->`: (path, methods, filters) per row.
fn readme_table(provider: &str) -> Vec<(String, Vec<String>, Vec<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let start = readme
        .find(&format!("<!-- simulated-resources {provider}"))
        .unwrap_or_else(|| panic!("README has no simulated-resources {provider} table"));
    let table = &readme[start..];
    let table = &table[..table
        .find("<!-- /simulated-resources -->")
        .expect("table end")];
    let cells = |cell: &str| -> Vec<String> {
        cell.split(',')
            .map(|c| c.trim().trim_matches('`').to_string())
            .filter(|c| !c.is_empty() && c != "—")
            .collect()
    };
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cols: Vec<&str> = l.trim().trim_matches('|').split(" | ").collect();
            assert_eq!(cols.len(), 3, "a row has resource, methods, filters: {l}");
            (
                cols[0].trim().trim_matches('`').to_string(),
                cells(cols[1]),
                cells(cols[2]),
            )
        })
        .collect()
}

#[test]
fn the_readme_lists_exactly_the_simulated_resources() {
    let ours: Vec<(String, Vec<String>, Vec<String>)> = SIMULATED_RESOURCES
        .iter()
        .map(|r| {
            (
                r.path.to_string(),
                r.methods.iter().map(|m| m.to_string()).collect(),
                r.filters.iter().map(|f| f.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(readme_table("telnyx"), ours);
}

/// A sample value each filter takes.
fn sample(filter: &str) -> &'static str {
    match filter {
        "filter[record_type]" => "messaging",
        "filter[direction]" => "outbound",
        "filter[created_at][gte]" | "filter[created_at][lte]" => "2024-05-01T00:00:00Z",
        "sort" => "created_at",
        "sort[phone_number]" => "asc",
        f if f.contains("phone_number") || f == "filter[cli]" || f == "filter[cld]" => OURS,
        "filter[messaging_profile_id]"
        | "filter[name]"
        | "filter[name][eq]"
        | "filter[name][contains]" => "Simulated",
        other => panic!("no sample value for the filter {other}: add one"),
    }
}

struct Walk {
    server: RunningSimulator,
    http: reqwest::Client,
}

impl Walk {
    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}{path}", self.server.url()),
            )
            .bearer_auth(KEY);
        let req = match body {
            Some(b) => req.json(b),
            None => req,
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn every_row_is_served_and_nothing_else_is_silently_accepted() {
    // Nothing listens at the application's webhook URL; a call waits an hour for its first
    // command, so it lives through the walk.
    let (sim, server) = start(
        SimulatorConfig::new(KEY, WebhookSigner::from_seed([7; 32]))
            .with_callback_delay(Duration::from_secs(3600))
            .with_connection(APP, "http://127.0.0.1:9/voice")
            .with_webhook_retries(1, Duration::ZERO)
            .with_first_command_timeout(Duration::from_secs(3600)),
    )
    .await;
    let profile = sim.add_messaging_profile(None);
    let number = sim.add_number(OURS, Some(&profile));
    let walk = Walk {
        server,
        http: reqwest::Client::new(),
    };
    let send = json!({"from": OURS, "to": "+15550001111", "text": "hi"});
    let (status, sent) = walk.send("POST", "/v2/messages", Some(&send)).await;
    assert_eq!(status, 200, "{sent}");
    let message = sent["data"]["id"].as_str().unwrap().to_string();
    let dial = json!({"connection_id": APP, "to": "+15550001111", "from": OURS});
    let (status, call) = walk.send("POST", "/v2/calls", Some(&dial)).await;
    assert_eq!(status, 200, "{call}");
    let call = call["data"]["call_control_id"]
        .as_str()
        .unwrap()
        .to_string();
    let fill = |path: &str| {
        path.replace("/v2/messages/{id}", &format!("/v2/messages/{message}"))
            .replace(
                "/v2/phone_numbers/{id}",
                &format!("/v2/phone_numbers/{number}"),
            )
            .replace(
                "/v2/messaging_profiles/{id}",
                &format!("/v2/messaging_profiles/{profile}"),
            )
            .replace(
                "/v2/call_control_applications/{id}",
                &format!("/v2/call_control_applications/{APP}"),
            )
            .replace("/v2/calls/{id}", &format!("/v2/calls/{call}"))
    };
    let app = json!({"application_name": "gateway", "webhook_event_url": "https://gw.example.com/telephony/webhook"});
    let client_state = json!({"client_state": "aGVsbG8="});
    let hangup = json!({});
    let patch = json!({"webhook_url": "https://gw.example.com/telephony/webhook"});
    let expected: Vec<(&str, &str, Option<&Value>, u16)> = vec![
        ("/v2/messages", "POST", Some(&send), 200),
        ("/v2/messages/long_code", "POST", Some(&send), 200),
        ("/v2/messages/{id}", "GET", None, 200),
        ("/v2/detail_records", "GET", None, 422), // filter[record_type] is required
        ("/v2/phone_numbers", "GET", None, 200),
        ("/v2/phone_numbers/messaging", "GET", None, 200),
        ("/v2/phone_numbers/{id}/messaging", "GET", None, 200),
        ("/v2/messaging_profiles", "GET", None, 200),
        ("/v2/messaging_profiles/{id}", "GET", None, 200),
        ("/v2/messaging_profiles/{id}", "PATCH", Some(&patch), 200),
        (
            "/v2/messaging_profiles/{id}/phone_numbers",
            "GET",
            None,
            200,
        ),
        ("/v2/call_control_applications/{id}", "GET", None, 200),
        (
            "/v2/call_control_applications/{id}",
            "PATCH",
            Some(&app),
            200,
        ),
        ("/v2/calls", "POST", Some(&dial), 200),
        ("/v2/calls/{id}", "GET", None, 200),
        (
            "/v2/calls/{id}/actions/{action}",
            "PUT",
            Some(&client_state),
            200,
        ),
        (
            "/v2/calls/{id}/actions/{action}",
            "POST",
            Some(&hangup),
            200,
        ),
        // Walked on a simulator of its own below (it waits for the call to end).
        ("/_simulator/calls", "POST", None, 200),
    ];
    let walked: BTreeSet<(&str, &str)> = expected.iter().map(|(p, m, _, _)| (*p, *m)).collect();
    let listed: BTreeSet<(&str, &str)> = SIMULATED_RESOURCES
        .iter()
        .flat_map(|r| r.methods.iter().map(move |m| (r.path, *m)))
        .collect();
    assert_eq!(
        walked, listed,
        "every listed method is walked, nothing else"
    );
    for (path, method, body, want) in &expected {
        let url = match (*path, *method) {
            ("/_simulator/calls", _) => continue,
            (_, "PUT") => fill(path).replace("{action}", "client_state_update"),
            _ => fill(path).replace("{action}", "hangup"),
        };
        let (status, answer) = walk.send(method, &url, *body).await;
        assert_eq!(status, *want, "{method} {path}: {answer}");
    }
    // A call from another process (`telephony simulate call`), on a simulator whose calls
    // nobody answers: hung up after 50 ms, then summarised.
    let (_quick, quick_server) = start(
        SimulatorConfig::new(KEY, WebhookSigner::from_seed([7; 32]))
            .with_connection(APP, "http://127.0.0.1:9/voice")
            .with_webhook_retries(1, Duration::ZERO)
            .with_first_command_timeout(Duration::from_millis(50)),
    )
    .await;
    let quick = Walk {
        server: quick_server,
        http: reqwest::Client::new(),
    };
    let place = json!({"from": "+15550001111", "to": OURS});
    let (status, summary) = quick.send("POST", "/_simulator/calls", Some(&place)).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["answered"], false, "{summary}");

    for SimulatedResource {
        path,
        methods,
        filters,
    } in SIMULATED_RESOURCES
    {
        for method in ["GET", "POST", "DELETE", "PUT", "PATCH"] {
            if methods.contains(&method) {
                continue;
            }
            let (status, body) = walk.send(method, &fill(path), None).await;
            assert_eq!(status, 501, "{method} {path}: {body}");
            let error = &body["errors"][0];
            assert_eq!(error["code"], "10015");
            assert_eq!(error["title"], "Not supported by the simulator");
            assert_eq!(
                error["detail"],
                format!(
                    "The simulator does not support {method} {path} (it serves {} there); see the README's simulated resources.",
                    methods.join(", ")
                )
            );
        }
        let single = path.ends_with("{id}") || path.ends_with("{id}/messaging");
        if !methods.contains(&"GET") || single {
            continue;
        }
        // A list: every filter and paging parameter is taken, anything else refused.
        let base = match *path {
            "/v2/detail_records" => format!("{}?filter%5Brecord_type%5D=messaging&", fill(path)),
            _ => format!("{}?", fill(path)),
        };
        for filter in filters.iter().chain(PAGING_PARAMETERS) {
            let value = if PAGING_PARAMETERS.contains(filter) {
                "1"
            } else {
                sample(filter)
            };
            let query = serde_urlencoded::to_string([(filter, value)]).unwrap();
            let (status, body) = walk.send("GET", &format!("{base}{query}"), None).await;
            assert_eq!(status, 200, "GET {path}?{query}: {body}");
        }
        let (status, body) = walk.send("GET", &format!("{base}bogus=1"), None).await;
        assert_eq!(status, 400, "GET {path}?bogus=1: {body}");
        let error = &body["errors"][0];
        assert_eq!(error["code"], "10015");
        assert_eq!(error["source"]["parameter"], "bogus");
        let honoured = if filters.is_empty() {
            "page[number], page[size]".to_string()
        } else {
            format!("{}, page[number], page[size]", filters.join(", "))
        };
        assert_eq!(
            error["detail"],
            format!(
                "The simulator's GET {path} does not support the query parameter bogus; it honours {honoured}"
            )
        );
    }
}
