//! Webhook signatures over real loopback HTTP (PROTOCOL.md §1): the gateway router served
//! with `axum::serve` on 127.0.0.1:0 (with the peer address as `ConnectInfo`, as the
//! server does), requests sent byte for byte over TCP or with reqwest, exact statuses, and
//! nothing stored on refusal.

use std::sync::Arc;

use telephony_core::store::prelude::*;
use telephony_core::{InboxQuery, MemoryStore, WebhookEvent};
use telephony_serve::client_ip::TrustedProxies;
use telephony_twilio::RequestValidator;

use crate::support::*;

/// Percent-encodes the non-ASCII bytes of a request target, as an HTTP client does.
fn encode_non_ascii(target: &str) -> String {
    let mut out = String::new();
    for ch in target.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut buf = [0u8; 4];
            for b in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// One row of provider-twilio's `testdata/signature_vectors.json` (values from the
/// official SDKs' request-validator tests).
#[derive(serde::Deserialize)]
struct Vector {
    label: String,
    auth_token: String,
    url: String,
    params: Option<Vec<(String, String)>>,
    body: Option<String>,
    signature: Option<String>,
    signed_url: Option<String>,
    valid: bool,
    skip: Option<String>,
}

const VECTORS: &str = include_str!("../../../provider-twilio/testdata/signature_vectors.json");

/// Every SDK vector as a real request: the gateway's publicUrl is the vector URL's origin
/// (scheme, userinfo, host as written, port), its webhook path the vector's path, and the
/// request carries the vector's query, form parameters (or JSON body) and signature.
/// Valid form vectors get past the signature (200, or 400 for parameter sets that are
/// not a Twilio event); valid JSON vectors are verified, then refused with 415; invalid
/// ones get 403 and store nothing.
#[tokio::test]
async fn sdk_vectors_over_http() {
    let vectors: Vec<Vector> = serde_json::from_str(VECTORS).unwrap();
    let mut checked = 0;
    for v in vectors.iter().filter(|v| v.skip.is_none()) {
        let scheme_end = v.url.find("://").unwrap() + 3;
        let origin_end = scheme_end + v.url[scheme_end..].find(['/', '?']).unwrap();
        let (origin, target) = v.url.split_at(origin_end);
        let path = target.split('?').next().unwrap();
        let wire_target = encode_non_ascii(target);
        let wire_path = encode_non_ascii(path);
        let store = Arc::new(MemoryStore::new());
        let gw = builder(&v.auth_token, store.clone())
            .public_url(origin)
            .webhook_path(wire_path)
            .build();
        let addr = serve(&gw).await;
        let params = v.params.clone().unwrap_or_default();
        let signature = match (&v.signature, &v.signed_url) {
            (Some(sig), None) => sig.clone(),
            (None, Some(signed)) => {
                RequestValidator::new(v.auth_token.as_str()).compute(signed, &params)
            }
            _ => panic!("{}: needs one of signature / signed_url", v.label),
        };
        let (status, text) = match &v.body {
            Some(body) => {
                raw_post(
                    addr,
                    &wire_target,
                    &[
                        ("Content-Type", "application/json"),
                        ("X-Twilio-Signature", &signature),
                    ],
                    body.as_bytes(),
                )
                .await
            }
            None => {
                let body = serde_urlencoded::to_string(&params).unwrap();
                raw_post(
                    addr,
                    &wire_target,
                    &[("Content-Type", FORM), ("X-Twilio-Signature", &signature)],
                    body.as_bytes(),
                )
                .await
            }
        };
        let parsed =
            telephony_twilio::webhook::parse_event(&params, time::OffsetDateTime::UNIX_EPOCH);
        let (expected, stored) = match (v.valid, &v.body, &parsed) {
            (false, _, _) => (403, 0),
            (true, Some(_), _) => (415, 0),
            (true, None, Ok(WebhookEvent::Message(_))) => (200, 1),
            (true, None, Ok(_)) => (200, 0),
            (true, None, Err(_)) => (400, 0),
        };
        assert_eq!(status, expected, "{}: {text}", v.label);
        if v.body.is_some() && v.valid {
            assert_eq!(
                text,
                "unsupported content type \"application/json\"; expected application/x-www-form-urlencoded\n",
                "{}",
                v.label
            );
        }
        assert_eq!(inbox_len(&store).await, stored, "{}", v.label);
        checked += 1;
    }
    assert_eq!(checked, 75);
}

/// PROTOCOL §1.4: a JSON webhook is verified by its URL signature and the SHA-256 of its
/// raw body before its content type is looked at; only then is it refused (415).
#[tokio::test]
async fn json_bodies_are_verified_before_they_are_refused() {
    let store = Arc::new(MemoryStore::new());
    let gw = builder(TOKEN, store.clone())
        .public_url("https://sms.example.com")
        .build();
    let addr = serve(&gw).await;
    let client = reqwest::Client::new();
    let body = r#"{"MessageSid":"SM1","From":"+15557654321","Body":"hi"}"#;
    let hash = "ce2c1c9df4c0be1f7e9d6b78d6bbd6d94f3f5cbd8bc1da19a9c9d22d38d2e0f0";
    let real_hash = {
        use sha2::Digest as _;
        let d = sha2::Sha256::digest(body.as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_ne!(hash, real_hash);
    let post = |query: String, sig: Option<String>, body: &'static str| {
        let mut req = client
            .post(format!("http://{addr}/telephony/webhook{query}"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(sig) = sig {
            req = req.header("x-twilio-signature", sig);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let v = RequestValidator::new(TOKEN);
    let signed = |query: &str| {
        v.compute(
            &format!("https://sms.example.com/telephony/webhook{query}"),
            &[],
        )
    };

    // Verified (URL signature and body hash), then refused as unused.
    let q = format!("?bodySHA256={real_hash}");
    assert_eq!(
        post(q.clone(), Some(signed(&q)), body).await,
        (
            415,
            "unsupported content type \"application/json\"; expected application/x-www-form-urlencoded\n".into()
        )
    );
    // No signature: 403 before the content type is looked at.
    assert_eq!(
        post(q.clone(), None, body).await,
        (403, "missing X-Twilio-Signature header\n".into())
    );
    // Signed URL, but the body is not the one hashed.
    let q2 = format!("?bodySHA256={hash}");
    assert_eq!(
        post(q2.clone(), Some(signed(&q2)), body).await,
        (
            403,
            "invalid webhook signature for https://sms.example.com/telephony/webhook?bodySHA256=[redacted]\n".into()
        )
    );
    // The hash matches but the URL signature is for another URL.
    assert_eq!(
        post(q.clone(), Some(signed("?bodySHA256=0")), body).await.0,
        403
    );
    // A JSON body without bodySHA256 cannot be verified.
    assert_eq!(
        post(String::new(), Some(signed("")), body).await,
        (
            403,
            "invalid webhook signature for https://sms.example.com/telephony/webhook\n".into()
        )
    );
    assert_eq!(inbox_len(&store).await, 0);
}

/// Where publicUrl has a port, a userinfo or a fragment, the gateway accepts exactly what
/// Twilio signs (PROTOCOL §1.2): the URL as configured or with its port removed (or the
/// default port added); the userinfo always included; never the fragment.
#[tokio::test]
async fn public_url_port_userinfo_and_fragment() {
    let cases: &[(&str, &[(&str, u16)])] = &[
        (
            "https://gw.example.com:8443",
            &[
                ("https://gw.example.com:8443", 200),
                ("https://gw.example.com", 200),
                ("https://gw.example.com:443", 403),
                ("https://gw.example.com:9443", 403),
            ],
        ),
        (
            "https://gw.example.com",
            &[
                ("https://gw.example.com", 200),
                ("https://gw.example.com:443", 200),
                ("https://gw.example.com:80", 403),
                ("http://gw.example.com", 403),
                ("https://GW.example.com", 403),
            ],
        ),
        (
            "https://twilio:s3cret@gw.example.com",
            &[
                ("https://twilio:s3cret@gw.example.com", 200),
                ("https://twilio:s3cret@gw.example.com:443", 200),
                ("https://gw.example.com", 403),
                ("https://twilio@gw.example.com", 403),
            ],
        ),
        (
            "https://gw.example.com/#from-the-console",
            &[
                ("https://gw.example.com", 200),
                ("https://gw.example.com#from-the-console", 403),
            ],
        ),
    ];
    let mut n = 0;
    for (public, signed_as) in cases {
        for (signed_origin, expected) in *signed_as {
            n += 1;
            let store = Arc::new(MemoryStore::new());
            let gw = builder(TOKEN, store.clone()).public_url(*public).build();
            let addr = serve(&gw).await;
            let sid = format!("SM{n:032}");
            let (body, sig) =
                sms(&sid, "hi").signed(TOKEN, &format!("{signed_origin}/telephony/webhook?x=1"));
            let (status, text) = raw_post(
                addr,
                "/telephony/webhook?x=1",
                &[("Content-Type", FORM), ("X-Twilio-Signature", &sig)],
                body.as_bytes(),
            )
            .await;
            assert_eq!(
                status, *expected,
                "publicUrl {public}, signed for {signed_origin}"
            );
            let stored = if *expected == 200 { 1 } else { 0 };
            assert_eq!(
                inbox_len(&store).await,
                stored,
                "{public} / {signed_origin}"
            );
            if *expected == 200 {
                assert_eq!(text, EMPTY_TWIML);
            }
        }
    }
}

/// Sorted and repeated keys, empty values, non-ASCII and percent-escapes kept, through
/// reqwest (which percent-encodes the non-ASCII query on the wire, as Twilio's client does
/// for a URL that Twilio signs as raw UTF-8).
#[tokio::test]
async fn form_edge_cases_over_http() {
    let store = Arc::new(MemoryStore::new());
    let gw = builder(TOKEN, store.clone())
        .public_url("https://sms.example.com")
        .build();
    let addr = serve(&gw).await;
    let client = reqwest::Client::new();
    let params: Vec<(String, String)> = [
        ("MessageSid", "SM00000000000000000000000000000aaa"),
        ("From", "+15557654321"),
        ("To", "+15550001234"),
        ("Body", "Señor 👍 a+b=c & 100%"),
        ("ToCity", ""),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
        ("CALLSID", "x"),
        ("callSid", "y"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let body = serde_urlencoded::to_string(&params).unwrap();
    let v = RequestValidator::new(TOKEN);
    let send = |query: &str, sig: String| {
        let req = client
            .post(format!("http://{addr}/telephony/webhook{query}"))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header("x-twilio-signature", sig)
            .body(body.clone());
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // Non-ASCII query signed raw, sent percent-encoded by the client.
    let sig = v.compute(
        "https://sms.example.com/telephony/webhook?año=2023",
        &params,
    );
    assert_eq!(send("?año=2023", sig).await, 200);
    // Percent-escapes are signed as they are: %20 is not a space.
    let sig = v.compute(
        "https://sms.example.com/telephony/webhook?q=a%20b%2Bc",
        &params,
    );
    assert_eq!(send("?q=a%20b%2Bc", sig).await, 200);
    let sig = v.compute("https://sms.example.com/telephony/webhook?q=a b+c", &params);
    assert_eq!(send("?q=a%20b%2Bc", sig).await, 403);
    // The repeated Digits must each count once (PROTOCOL §1.1): a signature over only the
    // first value does not verify.
    let first_only: Vec<(String, String)> = params
        .iter()
        .filter(|(k, v)| k != "Digits" || v == "5678")
        .cloned()
        .collect();
    let sig = v.compute("https://sms.example.com/telephony/webhook", &first_only);
    assert_eq!(send("", sig).await, 403);
    let inbox = store.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.body, "Señor 👍 a+b=c & 100%");
    assert_eq!(inbox[0].message.extra["ToCity"], "");
}

/// `trustForwardingHeaders`: X-Forwarded-Host/-Proto are believed only from a peer in
/// `trustedProxies` when that list is set; from any other peer only Host counts, which
/// must itself be an allowed host.
#[tokio::test]
async fn forwarded_headers_only_from_trusted_proxies() {
    let url = "https://gw.example.com/telephony/webhook";
    let run = |proxies: &'static [&'static str]| async move {
        let store = Arc::new(MemoryStore::new());
        let list: Vec<String> = proxies.iter().map(|p| p.to_string()).collect();
        let gw = builder(TOKEN, store.clone())
            .trust_forwarding_headers(vec!["gw.example.com".into()])
            .trusted_proxies(TrustedProxies::parse(&list).unwrap())
            .build();
        let addr = serve(&gw).await;
        let (body, sig) = sms("SM0000000000000000000000000000fwd1", "hi").signed(TOKEN, url);
        let resp = raw_post(
            addr,
            "/telephony/webhook",
            &[
                ("Content-Type", FORM),
                ("X-Twilio-Signature", &sig),
                ("X-Forwarded-Host", "gw.example.com"),
                ("X-Forwarded-Proto", "https"),
            ],
            body.as_bytes(),
        )
        .await;
        (resp, inbox_len(&store).await, addr)
    };
    // The loopback peer is a trusted proxy.
    let ((status, _), stored, _) = run(&["127.0.0.1"]).await;
    assert_eq!((status, stored), (200, 1));
    // No list: forwarded headers are believed from anyone (allowedHosts still applies).
    let ((status, _), stored, _) = run(&[]).await;
    assert_eq!((status, stored), (200, 1));
    // The peer is not in the list: the Host header (127.0.0.1:port) is used, and refused.
    let ((status, text), stored, addr) = run(&["10.0.0.0/8"]).await;
    assert_eq!(
        (status, text, stored),
        (
            403,
            format!("forwarded host \"{addr}\" is not in webhookSecurity.allowedHosts\n"),
            0
        )
    );
}
