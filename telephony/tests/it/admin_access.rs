//! The admin API off loopback: only with `admin.token` and `admin.tls` (HTTPS, rustls) or
//! `admin.allowNetworks` (peers outside are closed at accept); anything else is a config
//! error that says what to add.

use std::path::{Path, PathBuf};

use telephony::config::Config;
use telephony::server::{admin_access, check_security};

use crate::support::start;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/admin-tls")
        .join(name)
}

fn refused(json5: &str) -> String {
    let cfg = Config::from_json5_str(json5).unwrap();
    check_security(&cfg, true, false).unwrap_err().to_string()
}

#[test]
fn off_loopback_needs_a_token_and_tls_or_a_network_list() {
    assert_eq!(
        refused(r#"{ admin: { bind: "0.0.0.0", token: "t0ken" } }"#),
        "admin.bind: 0.0.0.0 is not a loopback address, and the admin API can send messages: off loopback it needs admin.token and either admin.tls: { cert, key } (PEM files; clients connect with https) or admin.allowNetworks: [\"10.0.0.0/8\", …] (the only peers allowed to connect, for a private network behind a proxy); or bind it to 127.0.0.1"
    );
    assert_eq!(
        refused(r#"{ admin: { bind: "0.0.0.0", tls: { cert: "c.pem", key: "k.pem" } } }"#),
        "admin.token: required when admin.bind 0.0.0.0 is not loopback: set a long random token (a SecretRef works); a generated one is only for a loopback admin listener"
    );
    assert_eq!(
        refused(r#"{ admin: { bind: "10.1.2.3", allowNetworks: ["10.0.0.0/8"] } }"#),
        "admin.token: required when admin.bind 10.1.2.3 is not loopback: set a long random token (a SecretRef works); a generated one is only for a loopback admin listener"
    );
    assert_eq!(
        refused(
            r#"{ admin: { bind: "0.0.0.0", token: "t0ken", allowNetworks: ["10.0.0.0/8"], bridgeApi: true } }"#
        ),
        "admin.bridgeApi: refused because admin.bind 0.0.0.0 is not loopback: the SMS bridge routes answer without a token, so they are served on a loopback admin listener only"
    );
    for ok in [
        r#"{ admin: { bind: "0.0.0.0", token: "t0ken", tls: { cert: "c.pem", key: "k.pem" } } }"#,
        r#"{ admin: { bind: "10.1.2.3", token: "t0ken", allowNetworks: ["10.0.0.0/8", "192.168.1.5"] } }"#,
    ] {
        let cfg = Config::from_json5_str(ok).unwrap();
        check_security(&cfg, true, false).unwrap();
    }
    let access = |j: &str| admin_access(&Config::from_json5_str(j).unwrap());
    assert_eq!(access("{}"), "loopback");
    assert_eq!(
        access(r#"{ admin: { tls: { cert: "c.pem", key: "k.pem" } } }"#),
        "tls"
    );
    assert_eq!(
        access(
            r#"{ admin: { tls: { cert: "c.pem", key: "k.pem" }, allowNetworks: ["10.0.0.0/8"] } }"#
        ),
        "tls+allowNetworks"
    );
    // Bad entries and unknown keys fail at load.
    assert_eq!(
        Config::from_json5_str(r#"{ admin: { allowNetworks: ["10.0.0.0/33"] } }"#)
            .unwrap_err()
            .to_string(),
        "invalid configuration: admin.allowNetworks: \"10.0.0.0/33\" is not an IP address or CIDR range (e.g. 10.0.0.0/8, 192.168.1.5, ::1)"
    );
    assert_eq!(
        Config::from_json5_str(r#"{ admin: { tls: { cert: "c.pem" } } }"#)
            .unwrap_err()
            .to_string(),
        "missing field `key` for key \"admin.tls\" in JSON5 source string"
    );
}

fn config(dir: &Path, admin: &str) -> Config {
    Config::from_json5_str(&format!(
        r#"{{ serve: {{ port: 0 }}, admin: {{ port: 0, token: "s3cret-admin-token", {admin} }}, dataDir: {:?} }}"#,
        dir.display().to_string()
    ))
    .unwrap()
}

#[tokio::test]
async fn tls_admin_answers_https_with_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "tls: {{ cert: {:?}, key: {:?} }}",
            fixture("cert.pem").display().to_string(),
            fixture("key.pem").display().to_string()
        ),
    );
    let gw = start(&cfg).await.unwrap();
    let cert =
        reqwest::Certificate::from_pem(&std::fs::read(fixture("cert.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(cert)
        .build()
        .unwrap();
    let port = gw.admin_addr.port();
    let r = client
        .get(format!("https://127.0.0.1:{port}/telephony/inbox"))
        .bearer_auth("s3cret-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"messages": []})
    );
    let r = client
        .get(format!("https://localhost:{port}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The token still applies.
    let r = client
        .get(format!("https://127.0.0.1:{port}/telephony/inbox"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Plain HTTP gets no answer, and a client that does not trust the certificate fails.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/health/live"))
            .await
            .is_err()
    );
    assert!(
        reqwest::get(format!("https://127.0.0.1:{port}/health/live"))
            .await
            .is_err()
    );
    let text = gw.gateway.metrics_text().await.unwrap();
    assert!(
        text.contains("telephony_admin_refused_total{reason=\"tls\"} 2"),
        "{text}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_bad_certificate_or_key_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "tls: {{ cert: {:?}, key: {:?} }}",
            fixture("key.pem").display().to_string(),
            fixture("key.pem").display().to_string()
        ),
    );
    let err = start(&cfg).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "admin.tls.cert: {}: holds no CERTIFICATE block",
            fixture("key.pem").display()
        )
    );
    let cfg = config(
        dir.path(),
        &format!(
            "tls: {{ cert: {:?}, key: {:?} }}",
            fixture("cert.pem").display().to_string(),
            fixture("cert.pem").display().to_string()
        ),
    );
    let err = start(&cfg).await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "admin.tls.key: {}: cannot read a PEM private key (",
            fixture("cert.pem").display()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn allow_networks_closes_other_peers_at_accept() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&config(dir.path(), r#"allowNetworks: ["10.0.0.0/8"]"#))
        .await
        .unwrap();
    let url = format!("http://{}/health/live", gw.admin_addr);
    assert!(reqwest::get(&url).await.is_err());
    assert!(reqwest::get(&url).await.is_err());
    let text = gw.gateway.metrics_text().await.unwrap();
    assert!(
        text.contains("telephony_admin_refused_total{reason=\"network\"} 2"),
        "{text}"
    );
    gw.shutdown().await;

    // A peer inside the list is served, with the token.
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&config(dir.path(), r#"allowNetworks: ["127.0.0.0/8"]"#))
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .get(format!("http://{}/telephony/inbox", gw.admin_addr))
        .bearer_auth("s3cret-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.shutdown().await;
}
