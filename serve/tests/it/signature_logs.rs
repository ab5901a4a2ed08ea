//! What a refused webhook logs (captured with [`crate::support::logs`], which is safe
//! with other tests running in the same process): the URL variants tried with query
//! values and passwords redacted, the missing or malformed header, and never the token or
//! the signature.

use std::sync::Arc;

use telephony_core::MemoryStore;

use crate::support::*;

/// On a mismatch the log names the URL variants tried (query values and the password
/// redacted) or the header that was missing or malformed, and never the token or the
/// signature presented.
#[tokio::test]
async fn refusals_log_what_was_tried_without_secrets() {
    let logs = logs::capture();

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
