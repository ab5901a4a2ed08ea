//! The README's "Simulated resources" table for Twilio is the simulator's
//! `SIMULATED_RESOURCES`, and the simulator serves every row of it: each listed method
//! answers (with the status a walk through the resources expects), each other method is
//! 501 naming it, each listed filter is taken and any other list parameter is 400 naming it.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use telephony_twilio::resources::NumberCapabilities;
use telephony_twilio_simulator::{
    PAGING_PARAMETERS, RunningSimulator, SIMULATED_RESOURCES, SimulatedResource, SimulatorConfig,
};

use crate::support::{ACCOUNT, TOKEN, start};

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
    assert_eq!(readme_table("twilio"), ours);
}

/// A sample value each filter takes.
fn sample(filter: &str) -> &'static str {
    match filter {
        "To" | "From" | "PhoneNumber" => "+15550001111",
        "ParentCallSid" => "CA00000000000000000000000000000000",
        "Status" => "completed",
        f if f.starts_with("Date") || f.starts_with("StartTime") || f.starts_with("EndTime") => {
            "2024-05-01"
        }
        other => panic!("no sample value for the filter {other}: add one"),
    }
}

/// One step of the walk: resource, method, form, the status it gets.
type Step<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], u16);

struct Walk {
    server: RunningSimulator,
    http: reqwest::Client,
}

impl Walk {
    async fn send(&self, method: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}{path}", self.server.url()),
            )
            .basic_auth(ACCOUNT, Some(TOKEN));
        let req = if method == "POST" {
            req.form(form)
        } else {
            req
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

#[tokio::test]
async fn every_row_is_served_and_nothing_else_is_silently_accepted() {
    // Frozen: messages stay `queued` and calls `queued`, so every step is deterministic.
    let (sim, server) =
        start(SimulatorConfig::new(ACCOUNT, TOKEN).with_callback_delay(Duration::from_secs(3600)))
            .await;
    let number = sim.add_number(
        "+15550002222",
        NumberCapabilities {
            voice: true,
            sms: true,
            mms: true,
            fax: false,
        },
    );
    let service = sim.add_messaging_service(false);
    let walk = Walk {
        server,
        http: reqwest::Client::new(),
    };
    let acct = format!("/2010-04-01/Accounts/{ACCOUNT}");
    let send_form = [
        ("To", "+15550001111"),
        ("From", "+15550002222"),
        ("Body", "hi"),
        ("MediaUrl", "https://example.com/cat.png"),
    ];
    let (status, mms) = walk
        .send("POST", &format!("{acct}/Messages.json"), &send_form)
        .await;
    assert_eq!(status, 201);
    let mms = mms["sid"].as_str().unwrap().to_string();
    let (_, media) = walk
        .send("GET", &format!("{acct}/Messages/{mms}/Media.json"), &[])
        .await;
    let media = media["media_list"][0]["sid"].as_str().unwrap().to_string();
    let call_form = [
        ("To", "+15550001111"),
        ("From", "+15550002222"),
        ("Twiml", "<Response><Hangup/></Response>"),
    ];
    let (status, call) = walk
        .send("POST", &format!("{acct}/Calls.json"), &call_form)
        .await;
    assert_eq!(status, 201);
    let call = call["sid"].as_str().unwrap().to_string();

    // (resource, method) → the request and the status it gets.
    let fill = |path: &str| {
        path.replace("{AccountSid}", ACCOUNT)
            .replace("/Messages/{Sid}", &format!("/Messages/{mms}"))
            .replace("{MessageSid}", &mms)
            .replace("/Media/{Sid}", &format!("/Media/{media}"))
            .replace("/Calls/{Sid}", &format!("/Calls/{call}"))
            .replace(
                "/Recordings/{Sid}",
                "/Recordings/RE00000000000000000000000000000000.wav",
            )
            .replace(
                "/IncomingPhoneNumbers/{Sid}",
                &format!("/IncomingPhoneNumbers/{number}"),
            )
            .replace("/Services/{Sid}", &format!("/Services/{service}"))
    };
    let expected: Vec<Step<'_>> = vec![
        ("/2010-04-01/Accounts/{AccountSid}.json", "GET", &[], 200),
        (
            "/2010-04-01/Accounts/{AccountSid}/Messages.json",
            "GET",
            &[],
            200,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/Messages.json",
            "POST",
            &send_form,
            201,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json",
            "GET",
            &[],
            200,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json",
            "POST",
            &[("Body", "")],
            200,
        ),
        // Not final yet: Twilio's 20009.
        (
            "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json",
            "DELETE",
            &[],
            409,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json",
            "GET",
            &[],
            200,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json",
            "GET",
            &[],
            200,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json",
            "DELETE",
            &[],
            204,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/Calls.json",
            "GET",
            &[],
            200,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/Calls.json",
            "POST",
            &call_form,
            201,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
            "GET",
            &[],
            200,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
            "POST",
            &[("Status", "completed")],
            200,
        ),
        // No call was recorded: the media of an unknown recording is 404 / 20404.
        (
            "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}",
            "GET",
            &[],
            404,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json",
            "GET",
            &[],
            200,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
            "GET",
            &[],
            200,
        ),
        (
            "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
            "POST",
            &[("SmsMethod", "POST")],
            200,
        ),
        ("/v1/Services/{Sid}", "GET", &[], 200),
        (
            "/v1/Services/{Sid}",
            "POST",
            &[("InboundMethod", "POST")],
            200,
        ),
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
    for (path, method, form, want) in &expected {
        let (status, body) = walk.send(method, &fill(path), form).await;
        assert_eq!(status, *want, "{method} {path}: {body}");
    }

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
            let (status, body) = walk.send(method, &fill(path), &[]).await;
            assert_eq!(status, 501, "{method} {path}: {body}");
            assert_eq!(body["code"], 20004);
            assert_eq!(
                body["message"],
                format!(
                    "The simulator does not support {method} {path} (it serves {} there); see the README's simulated resources",
                    methods.join(", ")
                )
            );
        }
        if filters.is_empty() {
            continue;
        }
        for filter in filters.iter().chain(PAGING_PARAMETERS) {
            let value = if PAGING_PARAMETERS.contains(filter) {
                "1"
            } else {
                sample(filter)
            };
            let query = serde_urlencoded::to_string([(filter, value)]).unwrap();
            let (status, body) = walk
                .send("GET", &format!("{}?{query}", fill(path)), &[])
                .await;
            assert_eq!(status, 200, "GET {path}?{query}: {body}");
        }
        let (status, body) = walk
            .send("GET", &format!("{}?Bogus=1", fill(path)), &[])
            .await;
        assert_eq!(status, 400, "GET {path}?Bogus=1: {body}");
        assert_eq!(body["code"], 20001);
        assert_eq!(
            body["message"],
            format!(
                "Invalid parameter Bogus: the simulator's {path} honours {} (and PageSize, Page, PageToken); it does not support Bogus",
                filters.join(", ")
            )
        );
    }
}
