//! What a refused webhook logs (kept in its own test binary: a scoped `tracing`
//! subscriber only sees callsites whose interest other tests in the same process have not
//! already cached): the URL variants tried with query values and passwords redacted, the
//! missing or malformed header, and never the token or the signature.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use telephony_core::store::prelude::*;
use telephony_core::{InboxQuery, MemoryStore};
use telephony_serve::{Gateway, GatewayBuilder};
use telephony_twilio::simulator::InboundSms;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "12345678901234567890123456789012";
const ACCOUNT: &str = "AC00000000000000000000000000000001";
const FORM: &str = "application/x-www-form-urlencoded";

fn builder(token: &str, store: Arc<MemoryStore>) -> GatewayBuilder {
    let cfg = TwilioConfig::new(ACCOUNT, token).from_number("+15550001234".parse().unwrap());
    Gateway::builder(Arc::new(TwilioProvider::new(cfg).unwrap()), store)
}

/// Serves the gateway's public router on 127.0.0.1:0 until the test's runtime ends.
async fn serve(gw: &Gateway) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = gw
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// One HTTP/1.1 POST written byte for byte (the request target is sent exactly as
/// given, unlike an HTTP client that would re-encode it): (status, body).
async fn raw_post(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = Vec::new();
    write!(
        req,
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    )
    .unwrap();
    for (name, value) in headers {
        write!(req, "{name}: {value}\r\n").unwrap();
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    stream.write_all(&req).await.unwrap();
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8(resp).unwrap();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn inbox_len(store: &MemoryStore) -> usize {
    store.inbox(&InboxQuery::default()).await.unwrap().len()
}

fn sms(sid: &str, body: &str) -> InboundSms {
    InboundSms {
        account_sid: ACCOUNT.into(),
        from: "+15557654321".into(),
        to: "+15550001234".into(),
        body: body.into(),
        message_sid: Some(sid.into()),
        media: vec![],
    }
}

/// A `MakeWriter` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// On a mismatch the log names the URL variants tried (query values and the password
/// redacted) or the header that was missing or malformed, and never the token or the
/// signature presented.
#[tokio::test]
async fn refusals_log_what_was_tried_without_secrets() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .without_time()
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = Arc::new(MemoryStore::new());
    let gw = builder(TOKEN, store.clone())
        .public_url("https://twilio:pa55word@sms.example.com:8443")
        .build();
    let addr = serve(&gw).await;
    let (body, _) = sms("SM0000000000000000000000000000log1", "hi").signed(TOKEN, "");
    // Signed for the right URL with another token: a well-formed signature that matches
    // no variant.
    let (_, forged) = sms("SM0000000000000000000000000000log1", "hi").signed(
        "00000000000000000000000000000000",
        "https://twilio:pa55word@sms.example.com:8443/telephony/webhook?tenant=acme&k",
    );
    let target = "/telephony/webhook?tenant=acme&k";
    let (status, _) = raw_post(
        addr,
        target,
        &[("Content-Type", FORM), ("X-Twilio-Signature", &forged)],
        body.as_bytes(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = raw_post(addr, target, &[("Content-Type", FORM)], body.as_bytes()).await;
    assert_eq!(status, 403);
    let (status, _) = raw_post(
        addr,
        target,
        &[
            ("Content-Type", FORM),
            ("X-Twilio-Signature", "c2lnbmF0dXJl"),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = raw_post(
        addr,
        "/telephony/webhook?bodySHA256=00",
        &[
            ("Content-Type", "application/json"),
            ("X-Twilio-Signature", &forged),
        ],
        b"{}",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(inbox_len(&store).await, 0);

    let lines = logs.lines();
    let redacted =
        "https://twilio:[redacted]@sms.example.com:8443/telephony/webhook?tenant=[redacted]&k";
    let stripped =
        "https://twilio:[redacted]@sms.example.com/telephony/webhook?tenant=[redacted]&k";
    let body_url =
        "https://twilio:[redacted]@sms.example.com:8443/telephony/webhook?bodySHA256=[redacted]";
    let body_url_stripped =
        "https://twilio:[redacted]@sms.example.com/telephony/webhook?bodySHA256=[redacted]";
    assert_eq!(
        lines,
        [
            format!(" WARN telephony_twilio::provider: rejected a Twilio request: signature does not match any URL variant (check publicUrl against the URL configured at Twilio) kind=\"form\" variants_tried=[\"{redacted}\", \"{stripped}\"] params=19"),
            format!(" WARN telephony_serve::routes::public: webhook refused path=\"/telephony/webhook\" status=403 reason=invalid webhook signature for {redacted}"),
            format!(" WARN telephony_twilio::provider: rejected a Twilio request: no signature header kind=\"form\" url={redacted} missing_header=\"X-Twilio-Signature\""),
            " WARN telephony_serve::routes::public: webhook refused path=\"/telephony/webhook\" status=403 reason=missing X-Twilio-Signature header".to_string(),
            format!(" WARN telephony_twilio::provider: rejected a Twilio request: malformed signature header kind=\"form\" url={redacted} malformed_header=\"X-Twilio-Signature\" reason=expected 28 characters of padded base64, got 12"),
            " WARN telephony_serve::routes::public: webhook refused path=\"/telephony/webhook\" status=403 reason=malformed X-Twilio-Signature header: expected 28 characters of padded base64, got 12".to_string(),
            format!(" WARN telephony_twilio::provider: rejected a Twilio request: URL signature or bodySHA256 does not match kind=\"json-body\" url={body_url} variants_tried=[\"{body_url}\", \"{body_url_stripped}\"] body_hash=\"mismatch\""),
            format!(" WARN telephony_serve::routes::public: webhook refused path=\"/telephony/webhook\" status=403 reason=invalid webhook signature for {body_url}"),
        ]
    );
    let all = lines.join("\n");
    for secret in [TOKEN, forged.as_str(), "c2lnbmF0dXJl", "pa55word", "acme"] {
        assert!(!all.contains(secret), "{secret:?} logged:\n{all}");
    }
}
