//! `status --probe` against a running sandbox gateway: every check passes after the
//! sandbox points its number at the gateway; then each thing an operator gets wrong in the
//! console shows up as a named finding with its fix.

use telephony::config::Config;
use telephony::probe::{self, Finding};
use telephony::server::{self, ServeOptions};

fn checks(f: &[Finding]) -> Vec<(&'static str, bool, Option<&str>)> {
    f.iter()
        .map(|f| (f.check, f.ok, f.problem.as_deref()))
        .collect()
}

#[tokio::test]
async fn a_sandbox_gateway_passes_then_console_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_json5_str(&format!(
        "{{ serve: {{ port: 0 }}, admin: {{ port: 0 }}, dataDir: {:?}, voice: {{ enabled: true }} }}",
        dir.path().display().to_string()
    ))
    .unwrap();
    let running = server::start(
        &config,
        ServeOptions {
            sandbox: true,
            handler: None,
        },
    )
    .await
    .unwrap();
    let (provider, parts) = probe::for_gateway(&config, Some(&running.runtime)).unwrap();
    let findings = probe::probe(&parts.target(provider.as_ref())).await;
    assert_eq!(
        checks(&findings),
        [
            ("credentials", true, None),
            ("number", true, None),
            ("number-setup", true, None),
            ("webhook-failures", true, None),
            ("public-url", true, None),
            ("signed-probe", true, None),
        ],
        "{findings:#?}"
    );
    // The probe was recognized and not stored as a message.
    assert_eq!(
        running
            .gateway
            .store()
            .inbox(&telephony_core::InboxQuery::default())
            .await
            .unwrap()
            .len(),
        0
    );

    // Someone edits the number in the console.
    let sim = running.simulator.as_ref().unwrap().twilio().unwrap();
    let number = parts.number.clone().unwrap();
    sim.edit_number(number.as_str(), |n| {
        n.sms_url = Some("https://old.example.com/sms".into());
        n.voice_method = Some("GET".into());
    });
    let findings = probe::probe(&parts.target(provider.as_ref())).await;
    assert_eq!(
        checks(&findings),
        [
            ("credentials", true, None),
            ("number", true, None),
            ("number-setup", false, Some("url-mismatch")),
            ("number-setup", false, Some("method-mismatch")),
            ("webhook-failures", true, None),
            ("public-url", true, None),
            ("signed-probe", true, None),
        ],
        "{findings:#?}"
    );
    assert_eq!(
        findings[2].detail,
        format!(
            "messaging URL: found https://old.example.com/sms, expected {}",
            running.runtime.webhook_url
        )
    );

    // Twilio delivers one message while the number pointed elsewhere (nothing listens
    // there: 11200 in the message log) and one to the gateway (200: not a failure).
    // Bound, not listening: a connection is refused, and no other test's listener
    // can be given the port while this socket is held.
    let gone = tokio::net::TcpSocket::new_v4().unwrap();
    gone.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = format!("http://{}/sms", gone.local_addr().unwrap());
    let sid = sim.config().account_sid.clone();
    let lost =
        telephony_twilio_simulator::InboundSms::new(&sid, "+15550009999", number.as_str(), "lost");
    let lost = sim.deliver_sms(&lost, &dead).await;
    assert_eq!((lost.http_status, lost.error_code), (None, Some(11200)));
    let fine =
        telephony_twilio_simulator::InboundSms::new(&sid, "+15550009999", number.as_str(), "fine");
    let fine = sim.deliver_sms(&fine, &running.runtime.webhook_url).await;
    assert_eq!((fine.http_status, fine.error_code), (Some(200), None));
    let findings = probe::probe(&parts.target(provider.as_ref())).await;
    let failures = findings
        .iter()
        .find(|f| f.check == "webhook-failures")
        .unwrap();
    assert_eq!(
        (failures.ok, failures.problem.as_deref()),
        (false, Some("11200"))
    );
    assert_eq!(
        failures.detail,
        format!(
            "1 of the last 50 inbound messages to {number} could not reach the webhook (11200 HTTP retrieval failure); the latest: {} at {}",
            lost.message_sid,
            sim.message(&lost.message_sid)
                .unwrap()
                .date_created
                .unwrap()
        )
    );

    // A public URL that reaches something else: the signed probe is not answered.
    let mut wrong = parts.clone();
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_url = format!("http://{}", other.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
        axum::serve(other, app).await.unwrap()
    });
    wrong.public_url = Some(other_url.clone());
    let findings = probe::probe(&wrong.target(provider.as_ref())).await;
    let last = findings.last().unwrap();
    assert_eq!(
        (last.check, last.ok, last.problem.as_deref()),
        ("signed-probe", false, Some("not-this-gateway"))
    );
    assert_eq!(
        last.detail,
        format!("{other_url}/telephony/webhook answered 404 Not Found without the probe's answer")
    );
    running.shutdown().await;
}

#[tokio::test]
async fn a_dead_public_url_on_ts_net_gets_the_funnel_command() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_json5_str(&format!(
        "{{ serve: {{ port: 0 }}, admin: {{ port: 0 }}, dataDir: {:?} }}",
        dir.path().display().to_string()
    ))
    .unwrap();
    let running = server::start(
        &config,
        ServeOptions {
            sandbox: true,
            handler: None,
        },
    )
    .await
    .unwrap();
    let (provider, mut parts) = probe::for_gateway(&config, Some(&running.runtime)).unwrap();
    // The Funnel name pinned to a loopback port where nothing listens, as a Funnel whose
    // mount is missing fails (no traffic leaves the machine).
    // Bound, not listening: a connection is refused, and no other test's listener
    // can be given the port while this socket is held.
    let gone = tokio::net::TcpSocket::new_v4().unwrap();
    gone.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = gone.local_addr().unwrap();
    parts.public_url = Some(format!("http://gw.tail1234.ts.net:{}", dead.port()));
    parts.resolve = vec![("gw.tail1234.ts.net".into(), dead)];
    parts.local_port = 3335;
    let findings = probe::probe(&parts.target(provider.as_ref())).await;
    let signed = findings.iter().find(|f| f.check == "signed-probe").unwrap();
    assert_eq!(signed.problem.as_deref(), Some("unreachable"));
    assert_eq!(
        signed.fix.as_deref(),
        Some(
            "tailscale funnel --bg --yes --https=443 --set-path=/telephony/webhook http://127.0.0.1:3335/telephony/webhook"
        )
    );
    running.shutdown().await;
}
