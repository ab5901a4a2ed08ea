//! Twilio webhook signatures (`X-Twilio-Signature`).
//!
//! Twilio signs every webhook request it sends with the account's auth token.
//! This module computes and verifies that signature.
//!
//! # Algorithm
//!
//! 1. Start with the full URL Twilio requested, **exactly as configured**:
//!    scheme, optional `user:pass@`, host (original case), optional port, path
//!    and the raw query string. The URL is never run through a URL parser, so
//!    the host is not lower-cased and the query is not re-encoded (`%20`, `%2B`
//!    and non-ASCII bytes are signed as they appear).
//! 2. For form-encoded POSTs, sort the decoded parameters by name in byte
//!    order (`CALLSID` < `CallSid` < `callSid`) and append `name` + `value`
//!    for each, with no delimiters. An empty value contributes just the name.
//!    A repeated name contributes each of its **distinct** values once, in
//!    byte order: `Digits=5678&Digits=1234&Digits=1234` adds
//!    `Digits1234Digits5678` (the behaviour of twilio-node, twilio-python and
//!    twilio-php). For GET webhooks the parameters already sit in the URL
//!    query, so the parameter list is empty.
//! 3. The signature is the standard (padded) base64 of
//!    HMAC-SHA1(key = auth token, message = the string built above).
//!
//! # URL variants
//!
//! Twilio has not always signed the URL with the port it actually used, and an
//! HTTP client puts non-ASCII characters on the wire percent-encoded while
//! Twilio signs them as raw UTF-8, so a signature is accepted if it matches any
//! of these URL variants (see [`url_variants`]):
//!
//! 1. the URL as received;
//! 2. if the URL has a port: the same URL with `:port` removed;
//! 3. if the URL has no port: the same URL with the scheme's default port
//!    added (`:443` for `https`, `:80` for `http`; schemes are matched
//!    case-insensitively, other schemes get no added port);
//! 4. if the URL has percent-escapes of non-ASCII UTF-8 (`%C3%B1`): the URL
//!    with those sequences decoded (`ñ`), then its port variant as in 2–3.
//!    Escapes of ASCII bytes (`%20`, `%2B`, `%27`) are never decoded.
//!
//! The port is added or removed by string surgery on the authority component
//! only; everything else in the URL stays byte for byte the same. The host is
//! never lower-cased, and a `user:pass@` userinfo is kept in every variant (the
//! SDKs sign it; Twilio's old "the username and password are dropped" note was
//! never implemented by any of them).
//!
//! # JSON bodies
//!
//! For `application/json` webhooks Twilio adds `bodySHA256=<lowercase hex
//! SHA-256 of the raw body>` to the query string and signs the URL alone (no
//! parameters). [`RequestValidator::validate_body`] accepts such a request only
//! if the URL signature matches (with the variants above) **and** the body
//! hashes to the `bodySHA256` value. A URL without `bodySHA256` is rejected.
//!
//! Signatures are compared in constant time on the decoded HMAC bytes.
//!
//! # Diagnostics
//!
//! [`RequestValidator::verify_form`] and [`RequestValidator::verify_body`] say
//! why a request failed ([`Rejection`]): a header that cannot be a signature,
//! or which URL variants were tried and, for JSON bodies, whether the body hash
//! matched. [`redact_url`](telephony_core::redact::redact_url) makes those URLs safe to log. Neither the token nor
//! the presented signature is part of a [`Rejection`].

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// Length of a base64-encoded (padded) HMAC-SHA1 signature.
const SIGNATURE_B64_LEN: usize = 28;

/// Length of an HMAC-SHA1 tag in bytes.
const TAG_LEN: usize = 20;

/// Name of the query parameter carrying the body hash in JSON-body webhooks.
pub const BODY_HASH_PARAM: &str = "bodySHA256";

/// Verifies and computes `X-Twilio-Signature` values.
///
/// The validator is cheap to clone and holds the HMAC key schedule derived
/// from the auth token, so each request only hashes the URL and parameters.
/// Its [`Debug`](std::fmt::Debug) output never shows the token.
///
/// # Example
///
/// The worked example from Twilio's webhook security documentation:
///
/// ```
/// use telephony_twilio::signature::RequestValidator;
///
/// let validator = RequestValidator::new("12345");
/// let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
/// let params: Vec<(String, String)> = [
///     ("CallSid", "CA1234567890ABCDE"),
///     ("Caller", "+14158675310"),
///     ("Digits", "1234"),
///     ("From", "+14158675310"),
///     ("To", "+18005551212"),
/// ]
/// .into_iter()
/// .map(|(k, v)| (k.to_owned(), v.to_owned()))
/// .collect();
///
/// let signature = validator.compute(url, &params);
/// assert_eq!(signature, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
/// assert!(validator.validate(url, &params, &signature));
/// // The same request on an explicit :443 is still accepted.
/// assert!(validator.validate("https://mycompany.com:443/myapp.php?foo=1&bar=2", &params, &signature));
/// // Any change to the signed data is not.
/// assert!(!validator.validate("https://mycompany.com/myapp.php?foo=1&bar=3", &params, &signature));
/// ```
#[derive(Clone)]
pub struct RequestValidator {
    /// HMAC-SHA1 state keyed with the auth token, cloned for every message.
    keyed: HmacSha1,
}

/// Why a request failed verification. Holds neither the auth token nor the
/// presented signature, so it can be logged (after [`redact_url`](telephony_core::redact::redact_url) on the URLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The header value cannot be an HMAC-SHA1 signature: the reason, never the value.
    Malformed(String),
    /// The signature is well-formed but does not match.
    Mismatch(Mismatch),
}

/// A well-formed signature that did not verify: what was tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The exact URL strings the signature was checked against, in order (see
    /// [`url_variants`]). Empty for a JSON body whose URL has no `bodySHA256`,
    /// which is refused before any HMAC is computed.
    pub variants_tried: Vec<String>,
    /// For JSON bodies: the `bodySHA256` check. `None` for form bodies.
    pub body_hash: Option<BodyHash>,
}

/// The `bodySHA256` check of a JSON-body webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyHash {
    /// The URL has no `bodySHA256` query parameter.
    Missing,
    /// The parameter is not the lowercase hex SHA-256 of the body.
    Mismatch,
    /// The body hash matches (so only the URL signature failed).
    Match,
}

impl BodyHash {
    /// `missing`, `mismatch` or `match`, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyHash::Missing => "missing",
            BodyHash::Mismatch => "mismatch",
            BodyHash::Match => "match",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Malformed(reason) => write!(f, "malformed signature: {reason}"),
            Rejection::Mismatch(m) => match m.body_hash {
                Some(BodyHash::Missing) => {
                    write!(f, "the URL has no {BODY_HASH_PARAM} parameter")
                }
                Some(BodyHash::Mismatch) => write!(
                    f,
                    "the body does not hash to the URL's {BODY_HASH_PARAM} parameter"
                ),
                _ => write!(
                    f,
                    "no URL variant matched ({} tried)",
                    m.variants_tried.len()
                ),
            },
        }
    }
}

impl RequestValidator {
    /// Creates a validator for the account whose auth token is `auth_token`.
    pub fn new(auth_token: impl Into<String>) -> Self {
        let auth_token: String = auth_token.into();
        let keyed = HmacSha1::new_from_slice(auth_token.as_bytes())
            .expect("HMAC accepts keys of any length");
        Self { keyed }
    }

    /// The signature Twilio would send for this exact URL and these form params (no port variants).
    ///
    /// `params` are the decoded form pairs in any order; repeated names are
    /// handled as described in the [module documentation](crate::signature).
    pub fn compute(&self, url: &str, params: &[(String, String)]) -> String {
        let sorted = canonical_params(params);
        let mac = self.mac_for(url, &sorted);
        STANDARD.encode(mac.finalize().into_bytes())
    }

    /// true if `signature` matches for any allowed variant of `url`.
    ///
    /// `params` are the decoded form pairs exactly as received (duplicates
    /// allowed, any order). Pass an empty slice for GET webhooks.
    pub fn validate(&self, url: &str, params: &[(String, String)], signature: &str) -> bool {
        self.verify_form(url, params, signature).is_ok()
    }

    /// JSON-body webhooks (bodySHA256 in the query).
    ///
    /// Valid iff the signature of `url` with no parameters matches (for any
    /// allowed variant) and the lowercase hex SHA-256 of `body` equals the
    /// `bodySHA256` query parameter of `url`. Returns false if `url` has no
    /// `bodySHA256` parameter.
    pub fn validate_body(&self, url: &str, body: &[u8], signature: &str) -> bool {
        self.verify_body(url, body, signature).is_ok()
    }

    /// [`validate`](Self::validate) saying why on failure.
    ///
    /// `params` may be decoded text or raw decoded bytes (a form value that is
    /// not UTF-8 still verifies exactly; rejecting it is the parser's job, after
    /// the signature).
    ///
    /// ```
    /// use telephony_twilio::signature::{Rejection, RequestValidator};
    ///
    /// let v = RequestValidator::new("12345");
    /// let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    /// let params = [(b"CallSid".as_slice(), b"CA1".as_slice())];
    /// let Err(Rejection::Mismatch(m)) = v.verify_form(url, &params, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=") else { panic!() };
    /// assert_eq!(m.variants_tried, [url, "https://mycompany.com:443/myapp.php?foo=1&bar=2"]);
    /// assert_eq!(
    ///     v.verify_form(url, &params, "short"),
    ///     Err(Rejection::Malformed("expected 28 characters of padded base64, got 5".into()))
    /// );
    /// ```
    pub fn verify_form<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        url: &str,
        params: &[(K, V)],
        signature: &str,
    ) -> Result<(), Rejection> {
        let tag = decode_signature(signature)?;
        let sorted = canonical_params(params);
        let variants = url_variants(url);
        if self.matches_any(&variants, &sorted, &tag) {
            return Ok(());
        }
        Err(Rejection::Mismatch(Mismatch {
            variants_tried: variants,
            body_hash: None,
        }))
    }

    /// [`validate_body`](Self::validate_body) saying why on failure.
    ///
    /// Both checks run whatever the outcome of the other, so a [`Mismatch`]
    /// reports the body hash even when the URL signature also failed.
    pub fn verify_body(&self, url: &str, body: &[u8], signature: &str) -> Result<(), Rejection> {
        let tag = decode_signature(signature)?;
        let Some(claimed_hash) = query_param(url, BODY_HASH_PARAM) else {
            return Err(Rejection::Mismatch(Mismatch {
                variants_tried: Vec::new(),
                body_hash: Some(BodyHash::Missing),
            }));
        };
        let variants = url_variants(url);
        let no_params: [(&[u8], &[u8]); 0] = [];
        let signature_ok = self.matches_any(&variants, &canonical_params(&no_params), &tag);
        let body_hex = lower_hex_sha256(body);
        let hash_ok: bool = body_hex[..].ct_eq(claimed_hash.as_bytes()).into();
        if signature_ok & hash_ok {
            return Ok(());
        }
        Err(Rejection::Mismatch(Mismatch {
            variants_tried: variants,
            body_hash: Some(if hash_ok {
                BodyHash::Match
            } else {
                BodyHash::Mismatch
            }),
        }))
    }

    /// Checks `tag` against each URL variant in turn.
    fn matches_any(&self, variants: &[String], sorted: &[(&[u8], &[u8])], tag: &[u8]) -> bool {
        variants
            .iter()
            .any(|url| self.mac_for(url, sorted).verify_slice(tag).is_ok())
    }

    /// HMAC state after feeding the URL and the canonical parameters.
    fn mac_for(&self, url: &str, sorted: &[(&[u8], &[u8])]) -> HmacSha1 {
        let mut mac = self.keyed.clone();
        mac.update(url.as_bytes());
        for (name, value) in sorted {
            mac.update(name);
            mac.update(value);
        }
        mac
    }
}

impl std::fmt::Debug for RequestValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestValidator")
            .field("auth_token", &"[redacted]")
            .finish()
    }
}

/// The URL variants checked, in order, deduplicated: as received, its port
/// variant (port removed, or default port added), then the same two for the URL
/// with percent-escaped non-ASCII UTF-8 decoded (when it has any).
///
/// A URL with a port yields itself and the URL without the port; a URL
/// without a port yields itself and, for `http`/`https`, the URL with `:80` /
/// `:443` added. A URL whose authority cannot be located (no `scheme://`, an
/// empty host, a non-numeric port) yields only itself (and its decoded form).
///
/// ```
/// use telephony_twilio::signature::url_variants;
///
/// assert_eq!(
///     url_variants("https://user:pass@Example.com/a?b=c"),
///     ["https://user:pass@Example.com/a?b=c", "https://user:pass@Example.com:443/a?b=c"],
/// );
/// assert_eq!(
///     url_variants("http://example.com:8080/a"),
///     ["http://example.com:8080/a", "http://example.com/a"],
/// );
/// assert_eq!(
///     url_variants("https://h/Espa%C3%B1a?q=a%20b"),
///     [
///         "https://h/Espa%C3%B1a?q=a%20b",
///         "https://h:443/Espa%C3%B1a?q=a%20b",
///         "https://h/España?q=a%20b",
///         "https://h:443/España?q=a%20b",
///     ],
/// );
/// ```
pub fn url_variants(url: &str) -> Vec<String> {
    let mut variants = Vec::with_capacity(4);
    let decoded = decode_non_ascii_escapes(url);
    for base in std::iter::once(url).chain(decoded.as_deref()) {
        for candidate in std::iter::once(base.to_owned()).chain(port_variant(base)) {
            if !variants.contains(&candidate) {
                variants.push(candidate);
            }
        }
    }
    variants
}

/// The alternative URL to try besides `url` itself: with a port present, the
/// port (and its colon) cut out; without one, the scheme's default port
/// inserted at the end of the authority.
fn port_variant(url: &str) -> Option<String> {
    let scheme_end = url.find("://")?;
    let scheme = &url[..scheme_end];
    if !is_scheme(scheme) {
        return None;
    }
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_end = authority_start + rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &url[authority_start..authority_end];

    // Userinfo ends at the last '@' of the authority.
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];

    // Position of the port's ':' inside `host_port`, if any.
    let colon = if host_port.starts_with('[') {
        // IPv6 literal: the port can only follow the closing bracket.
        let close = host_port.find(']')?;
        match &host_port[close + 1..] {
            "" => None,
            after if after.starts_with(':') => Some(close + 1),
            _ => return None,
        }
    } else {
        host_port.rfind(':')
    };

    let host_len = colon.unwrap_or(host_port.len());
    if host_len == 0 {
        return None;
    }

    match colon {
        Some(colon) => {
            let port = &host_port[colon + 1..];
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let colon_at = authority_start + host_start + colon;
            Some([&url[..colon_at], &url[authority_end..]].concat())
        }
        None => {
            let port = default_port(scheme)?;
            Some([&url[..authority_end], port, &url[authority_end..]].concat())
        }
    }
}

/// `url` with every percent-escaped non-ASCII UTF-8 sequence (`%C3%B1`)
/// decoded to its character, or `None` when there is none. Escapes of ASCII
/// bytes, and escaped bytes that do not form valid UTF-8, are left as they are.
fn decode_non_ascii_escapes(url: &str) -> Option<String> {
    /// The byte escaped at `s[i..i + 3]`, if it is a `%XX` escape.
    fn escaped(s: &[u8], i: usize) -> Option<u8> {
        if s.get(i) != Some(&b'%') {
            return None;
        }
        let hex = std::str::from_utf8(s.get(i + 1..i + 3)?).ok()?;
        u8::from_str_radix(hex, 16).ok()
    }
    let bytes = url.as_bytes();
    let mut out: Option<String> = None;
    let mut copied_to = 0;
    let mut i = 0;
    while i < bytes.len() {
        let Some(lead) = escaped(bytes, i).filter(|b| *b >= 0x80) else {
            i += 1;
            continue;
        };
        let len = match lead {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 0,
        };
        let mut seq = Vec::with_capacity(4);
        seq.push(lead);
        for k in 1..len {
            match escaped(bytes, i + 3 * k) {
                Some(b) => seq.push(b),
                None => break,
            }
        }
        match std::str::from_utf8(&seq) {
            Ok(ch) if len > 0 && seq.len() == len => {
                let out = out.get_or_insert_with(|| String::with_capacity(url.len()));
                out.push_str(&url[copied_to..i]);
                out.push_str(ch);
                i += 3 * len;
                copied_to = i;
            }
            _ => i += 3,
        }
    }
    out.map(|mut s| {
        s.push_str(&url[copied_to..]);
        s
    })
}

/// RFC 3986 scheme syntax: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// The `:port` suffix added to URLs of `scheme` that carry no port.
fn default_port(scheme: &str) -> Option<&'static str> {
    if scheme.eq_ignore_ascii_case("https") {
        Some(":443")
    } else if scheme.eq_ignore_ascii_case("http") {
        Some(":80")
    } else {
        None
    }
}

/// Parameters in signing order: sorted by name then value (byte order), with
/// exact duplicate pairs removed.
fn canonical_params<K: AsRef<[u8]>, V: AsRef<[u8]>>(params: &[(K, V)]) -> Vec<(&[u8], &[u8])> {
    let mut sorted: Vec<(&[u8], &[u8])> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}

/// Decodes a base64 signature into its 20 tag bytes, or says why it cannot be
/// an HMAC-SHA1 signature (never quoting it).
fn decode_signature(signature: &str) -> Result<[u8; TAG_LEN], Rejection> {
    if signature.len() != SIGNATURE_B64_LEN {
        return Err(Rejection::Malformed(format!(
            "expected {SIGNATURE_B64_LEN} characters of padded base64, got {}",
            signature.len()
        )));
    }
    let mut buf = [0u8; 24];
    let len = STANDARD.decode_slice(signature, &mut buf).map_err(|_| {
        Rejection::Malformed("not standard base64 (A-Z a-z 0-9 + / with = padding)".into())
    })?;
    if len != TAG_LEN {
        return Err(Rejection::Malformed(format!(
            "decodes to {len} bytes, an HMAC-SHA1 has {TAG_LEN}"
        )));
    }
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&buf[..TAG_LEN]);
    Ok(tag)
}

/// The raw (undecoded) value of the first `name` parameter in the URL's query.
fn query_param<'u>(url: &'u str, name: &str) -> Option<&'u str> {
    let (_, query) = url.split_once('?')?;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// Lowercase hexadecimal SHA-256 of `data`.
fn lower_hex_sha256(data: &[u8]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(data);
    let mut out = [0u8; 64];
    for (i, byte) in digest.iter().enumerate() {
        out[2 * i] = HEX[usize::from(byte >> 4)];
        out[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// One row of `testdata/signature_vectors.json`.
    #[derive(serde::Deserialize)]
    struct Vector {
        label: String,
        source: String,
        auth_token: String,
        url: String,
        params: Option<Vec<(String, String)>>,
        body: Option<String>,
        /// Literal signature from the SDK test. Absent when the SDK test
        /// derives it with its own signer from `signed_url` (twilio-node's
        /// `getExpectedTwilioSignature`); then it is `compute(signed_url, params)`.
        signature: Option<String>,
        signed_url: Option<String>,
        valid: bool,
        skip: Option<String>,
    }

    const VECTORS: &str = include_str!("../testdata/signature_vectors.json");

    #[test]
    fn sdk_vectors() {
        let vectors: Vec<Vector> = serde_json::from_str(VECTORS).expect("vector table parses");
        let mut checked = 0;
        let mut skipped = Vec::new();
        let mut failures = Vec::new();
        for v in &vectors {
            if let Some(reason) = &v.skip {
                skipped.push(format!("{} ({reason})", v.label));
                continue;
            }
            let validator = RequestValidator::new(v.auth_token.as_str());
            let params = v.params.clone().unwrap_or_default();
            let signature = match (&v.signature, &v.signed_url) {
                (Some(sig), None) => sig.clone(),
                (None, Some(signed_url)) => validator.compute(signed_url, &params),
                _ => panic!("{}: needs exactly one of signature / signed_url", v.label),
            };
            let got = match &v.body {
                Some(body) => {
                    assert!(v.params.is_none(), "{}: body rows take no params", v.label);
                    validator.validate_body(&v.url, body.as_bytes(), &signature)
                }
                None => validator.validate(&v.url, &params, &signature),
            };
            if got != v.valid {
                failures.push(format!(
                    "{}: expected valid={}, got {} [{}]",
                    v.label, v.valid, got, v.source
                ));
            }
            checked += 1;
        }
        for s in &skipped {
            println!("skipped: {s}");
        }
        assert!(
            failures.is_empty(),
            "failing vectors:\n{}",
            failures.join("\n")
        );
        assert!(checked >= 30, "only {checked} vectors checked");
    }

    #[test]
    fn vector_labels_are_unique() {
        let vectors: Vec<Vector> = serde_json::from_str(VECTORS).expect("vector table parses");
        let mut labels: Vec<&str> = vectors.iter().map(|v| v.label.as_str()).collect();
        labels.sort_unstable();
        let before = labels.len();
        labels.dedup();
        assert_eq!(before, labels.len(), "duplicate labels in the vector table");
    }

    // Expected values below are literals from the SDK test suites.

    #[test]
    fn compute_matches_sdk_signatures() {
        let v = RequestValidator::new("12345");
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        // twilio-python test_compute_signature / twilio-ruby "should build a correct signature".
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ]);
        assert_eq!(v.compute(url, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        // twilio-python test_compute_signature_duplicate_query_dict.
        let repeated = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(v.compute(url, &repeated), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        // twilio-java testValidateWithEmptyParams: URL only.
        assert_eq!(v.compute(url, &[]), "zYQTYrRWXE7LtzbG4PfP7/bkkGo=");
    }

    #[test]
    fn compute_does_not_try_port_variants() {
        let v = RequestValidator::new("12345");
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ]);
        // twilio-python: RSOY... is the signature of the port-less URL, so the
        // URL with :1234 must compute to something else.
        assert_ne!(
            v.compute("https://mycompany.com:1234/myapp.php?foo=1&bar=2", &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn url_variants_add_default_port() {
        assert_eq!(
            url_variants("https://mycompany.com/myapp.php?foo=1&bar=2"),
            [
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            ]
        );
        assert_eq!(
            url_variants("http://mycompany.com/myapp.php"),
            [
                "http://mycompany.com/myapp.php",
                "http://mycompany.com:80/myapp.php"
            ]
        );
        // Authority ending at '?', '#' or the end of the string.
        assert_eq!(
            url_variants("https://mycompany.com?x=1"),
            ["https://mycompany.com?x=1", "https://mycompany.com:443?x=1"]
        );
        assert_eq!(
            url_variants("https://mycompany.com#frag"),
            [
                "https://mycompany.com#frag",
                "https://mycompany.com:443#frag"
            ]
        );
        assert_eq!(
            url_variants("http://mycompany.com"),
            ["http://mycompany.com", "http://mycompany.com:80"]
        );
    }

    #[test]
    fn url_variants_remove_any_port() {
        assert_eq!(
            url_variants("https://mycompany.com:1234/myapp.php?foo=1&bar=2"),
            [
                "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
            ]
        );
        assert_eq!(
            url_variants("https://mycompany.com:443//myapp.php"),
            [
                "https://mycompany.com:443//myapp.php",
                "https://mycompany.com//myapp.php"
            ]
        );
        assert_eq!(
            url_variants("http://mycompany.com:80"),
            ["http://mycompany.com:80", "http://mycompany.com"]
        );
    }

    #[test]
    fn url_variants_keep_case_userinfo_and_query_bytes() {
        assert_eq!(
            url_variants("HTTP://Username:Password@MyCompany.com/myapp.php?foo=1&bar=2"),
            [
                "HTTP://Username:Password@MyCompany.com/myapp.php?foo=1&bar=2",
                "HTTP://Username:Password@MyCompany.com:80/myapp.php?foo=1&bar=2",
            ]
        );
        // A ':' in the userinfo is not a port.
        assert_eq!(
            url_variants("https://user:pass@mycompany.com:8443/p"),
            [
                "https://user:pass@mycompany.com:8443/p",
                "https://user:pass@mycompany.com/p"
            ]
        );
        // Escapes, '+', apostrophes, non-ASCII and ':' in path/query are untouched.
        assert_eq!(
            url_variants("https://mycompany.com/webhook/España?año=2023&q=a%20b+c'd&t=10:30"),
            [
                "https://mycompany.com/webhook/España?año=2023&q=a%20b+c'd&t=10:30",
                "https://mycompany.com:443/webhook/España?año=2023&q=a%20b+c'd&t=10:30",
            ]
        );
    }

    #[test]
    fn url_variants_ipv6_hosts() {
        assert_eq!(
            url_variants("https://[::1]:8443/hook"),
            ["https://[::1]:8443/hook", "https://[::1]/hook"]
        );
        assert_eq!(
            url_variants("http://[2001:db8::1]/hook"),
            ["http://[2001:db8::1]/hook", "http://[2001:db8::1]:80/hook"]
        );
    }

    #[test]
    fn url_variants_without_usable_authority() {
        // No scheme, unknown scheme, empty host, non-numeric port, `://` only in the query.
        assert_eq!(url_variants("/myapp.php?x=1"), ["/myapp.php?x=1"]);
        assert_eq!(
            url_variants("ftp://files.example.com/x"),
            ["ftp://files.example.com/x"]
        );
        assert_eq!(url_variants("https:///path"), ["https:///path"]);
        assert_eq!(
            url_variants("https://host:abc/path"),
            ["https://host:abc/path"]
        );
        assert_eq!(
            url_variants("/cb?next=https://example.com"),
            ["/cb?next=https://example.com"]
        );
        assert_eq!(url_variants(""), [""]);
    }

    #[test]
    fn debug_redacts_token() {
        let token = "s3cr3t-auth-token-value";
        let validator = RequestValidator::new(token);
        let shown = format!("{validator:?}");
        assert_eq!(shown, r#"RequestValidator { auth_token: "[redacted]" }"#);
        assert!(!shown.contains(token));
        assert!(!format!("{validator:#?}").contains(token));
    }

    #[test]
    fn malformed_signatures_are_rejected() {
        let v = RequestValidator::new("12345");
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        for sig in [
            "",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8",   // padding stripped
            "RSOYDt4T1cUTdK1PDd93/VVr8B8==", // extra padding
            "RSOYDt4T1cUTdK1PDd93_VVr8B8=",  // URL-safe alphabet
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=\n",
            "not base64 at all, 28 chars!",
        ] {
            assert!(!v.validate(url, &[], sig), "accepted {sig:?}");
            assert!(!v.validate_body(url, b"", sig), "accepted {sig:?}");
        }
    }

    #[test]
    fn query_param_lookup() {
        assert_eq!(
            query_param("https://h/p?bodySHA256=ab&x=1", "bodySHA256"),
            Some("ab")
        );
        assert_eq!(
            query_param("https://h/p?x=1&bodySHA256=ab#f", "bodySHA256"),
            Some("ab")
        );
        assert_eq!(
            query_param("https://h/p?bodySHA256", "bodySHA256"),
            Some("")
        );
        assert_eq!(query_param("https://h/p?bodysha256=ab", "bodySHA256"), None);
        assert_eq!(query_param("https://h/bodySHA256=ab", "bodySHA256"), None);
    }

    #[test]
    fn url_variants_decode_non_ascii_escapes_only() {
        // Java vector 35 signs the raw UTF-8; on the wire it arrives percent-encoded.
        assert_eq!(
            url_variants("https://mycompany.com/webhook/Espa%C3%B1a?a%C3%B1o=2023"),
            [
                "https://mycompany.com/webhook/Espa%C3%B1a?a%C3%B1o=2023",
                "https://mycompany.com:443/webhook/Espa%C3%B1a?a%C3%B1o=2023",
                "https://mycompany.com/webhook/España?año=2023",
                "https://mycompany.com:443/webhook/España?año=2023",
            ]
        );
        // ASCII escapes stay; a 4-byte sequence (emoji) decodes; lower-case hex too.
        assert_eq!(
            decode_non_ascii_escapes("https://h/p?q=a%20b%2B%27&e=%f0%9f%91%8d"),
            Some("https://h/p?q=a%20b%2B%27&e=\u{1F44D}".to_string())
        );
        // Invalid UTF-8 (lone continuation byte, truncated sequence, overlong lead) is kept.
        assert_eq!(decode_non_ascii_escapes("https://h/%80x%C3%41%C0%AF"), None);
        assert_eq!(
            decode_non_ascii_escapes("https://h/%C3%B1%C3"),
            Some("https://h/ñ%C3".to_string())
        );
        assert_eq!(decode_non_ascii_escapes("https://h/a%2"), None);
        assert_eq!(decode_non_ascii_escapes("https://h/plain"), None);
    }

    #[test]
    fn non_ascii_signed_raw_verifies_when_received_encoded() {
        // java testValidateWithInternationalCharactersInUrl: the URL as Twilio signs it.
        let v = RequestValidator::new("12345");
        let signed = "https://mycompany.com/webhook/España?año=2023";
        let sig = v.compute(signed, &[]);
        assert!(v.validate(
            "https://mycompany.com/webhook/Espa%C3%B1a?a%C3%B1o=2023",
            &[],
            &sig
        ));
        // An ASCII escape is a different signed string (Java vector 30).
        let sig = v.compute("https://mycompany.com/a?q=a b", &[]);
        assert!(!v.validate("https://mycompany.com/a?q=a%20b", &[], &sig));
    }

    #[test]
    fn verify_form_reports_what_was_tried() {
        let v = RequestValidator::new("12345");
        let url = "https://user:pw@mycompany.com:8443/myapp.php?foo=1";
        let params = pairs(&[("Body", "hi")]);
        let sig = v.compute("https://user:pw@mycompany.com/other", &params);
        assert_eq!(
            v.verify_form(url, &params, &sig),
            Err(Rejection::Mismatch(Mismatch {
                variants_tried: vec![
                    "https://user:pw@mycompany.com:8443/myapp.php?foo=1".into(),
                    "https://user:pw@mycompany.com/myapp.php?foo=1".into(),
                ],
                body_hash: None,
            }))
        );
        assert_eq!(
            v.verify_form(url, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=="),
            Err(Rejection::Malformed(
                "expected 28 characters of padded base64, got 29".into()
            ))
        );
        assert_eq!(
            v.verify_form(url, &params, "RSOYDt4T1cUTdK1PDd93_VVr8B8="),
            Err(Rejection::Malformed(
                "not standard base64 (A-Z a-z 0-9 + / with = padding)".into()
            ))
        );
        assert_eq!(
            v.verify_form(url, &params, "AAAAAAAAAAAAAAAAAAAAAAAAAA=="),
            Err(Rejection::Malformed(
                "decodes to 19 bytes, an HMAC-SHA1 has 20".into()
            ))
        );
        // The port-less signature is accepted.
        let sig = v.compute("https://user:pw@mycompany.com/myapp.php?foo=1", &params);
        assert_eq!(v.verify_form(url, &params, &sig), Ok(()));
    }

    #[test]
    fn verify_form_signs_raw_bytes_of_non_utf8_values() {
        let v = RequestValidator::new("12345");
        let url = "https://mycompany.com/a";
        let mut mac = HmacSha1::new_from_slice(b"12345").unwrap();
        mac.update(b"https://mycompany.com/aBody\xff\xfe");
        let sig = STANDARD.encode(mac.finalize().into_bytes());
        let params = [(b"Body".to_vec(), vec![0xff, 0xfe])];
        assert_eq!(v.verify_form(url, &params, &sig), Ok(()));
        let other = [(b"Body".to_vec(), vec![0xff])];
        assert!(v.verify_form(url, &other, &sig).is_err());
    }

    #[test]
    fn verify_body_reports_the_hash_check() {
        // twilio-python test_validation_of_body_succeeds.
        let v = RequestValidator::new("12345");
        let body = br#"{"property": "value", "boolean": true}"#;
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let sig = v.compute(url, &[]);
        assert_eq!(sig, "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert_eq!(v.verify_body(url, body, &sig), Ok(()));
        let tampered = br#"{"property": "value", "boolean": false}"#;
        let Err(Rejection::Mismatch(m)) = v.verify_body(url, tampered, &sig) else {
            panic!("tampered body accepted")
        };
        assert_eq!(m.body_hash, Some(BodyHash::Mismatch));
        assert_eq!(m.variants_tried.len(), 2);
        let Err(Rejection::Mismatch(m)) = v.verify_body(url, body, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        else {
            panic!("forged signature accepted")
        };
        assert_eq!(m.body_hash, Some(BodyHash::Match));
        assert_eq!(
            v.verify_body("https://mycompany.com/myapp.php", body, &sig),
            Err(Rejection::Mismatch(Mismatch {
                variants_tried: vec![],
                body_hash: Some(BodyHash::Missing)
            }))
        );
        assert_eq!(
            Rejection::Mismatch(Mismatch {
                variants_tried: vec![],
                body_hash: Some(BodyHash::Missing)
            })
            .to_string(),
            "the URL has no bodySHA256 parameter"
        );
    }

    #[test]
    fn body_hash_is_lowercase_hex() {
        // twilio-python test_compute_hash_unicode.
        let hex = lower_hex_sha256(br#"{"property": "value", "boolean": true}"#);
        assert_eq!(
            &hex[..],
            b"0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
    }
}
