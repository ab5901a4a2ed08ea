//! The requests of a voice run, signed before the clock starts, and the answers expected.
//!
//! Every call is three signed requests, as Twilio (the simulator's call driver) sends them
//! for an inbound call to a gateway running the default flow ([`voice_form`]):
//!
//! 1. [`Step::Incoming`]: the new call (`CallStatus=ringing`) to the webhook URL;
//! 2. [`Step::Gather`]: the speech result to the action URL of the answer's first
//!    `<Gather>`, `{webhook URL}?call={CallSid}&turn=1`;
//! 3. [`Step::Status`]: the `completed` status callback to the status URL.
//!
//! Each call has a `CallSid` no other run uses (`CA` + a 16-hex run id + a 16-hex counter,
//! 34 characters like Twilio's) and one of `callers` caller numbers. Every request of a
//! step has the same length, so the plan keeps one template per step and, per call, only
//! the three 28-byte signatures; [`VoicePlan::fill`] patches the SID, the caller and the
//! signature in. [`VoicePlan::build`] checks, for every request, that the patched bytes
//! equal the request built from scratch.
//!
//! The expected answers are the default flow's exact TwiML ([`voice_form::greeting`], whose
//! first action URL is the one the gather step posts to, and [`voice_form::closing`]) and
//! the empty TwiML acknowledgement of a status callback.

use telephony_twilio::RequestValidator;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use super::voice_form;

/// Length of a base64 HMAC-SHA1 signature.
const SIG_LEN: usize = 28;
/// Digits after `+1555` in a caller number.
const CALLER_DIGITS: usize = 7;
/// The number called (Twilio's magic valid number, the sandbox default).
const TO: &str = "+15005550006";
/// `CallDuration` in the status callback.
const CALL_SECS: u64 = 7;

/// The requests of one call, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The new call → the greeting.
    Incoming = 0,
    /// The speech result → the closing.
    Gather = 1,
    /// The `completed` status callback → an empty acknowledgement.
    Status = 2,
}

/// Every step, in the order a call sends them.
pub(crate) const STEPS: [Step; 3] = [Step::Incoming, Step::Gather, Step::Status];

impl Step {
    /// A short name for reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::Incoming => "incoming",
            Step::Gather => "gather",
            Step::Status => "status",
        }
    }
}

/// Where the requests go and who signs them.
#[derive(Debug, Clone)]
pub(crate) struct VoiceSpec {
    /// How many calls to prepare.
    pub calls: usize,
    /// Distinct caller numbers, used round robin.
    pub callers: usize,
    /// The URL the gateway checks an incoming call's signature against (no query); the
    /// gather URL is this plus `?call=…&turn=1`.
    pub webhook_url: String,
    /// The URL the gateway checks a status callback's signature against.
    pub status_url: String,
    /// The webhook path on the wire.
    pub webhook_path: String,
    /// The status path on the wire.
    pub status_path: String,
    /// `Host` header.
    pub host: String,
    /// The account SID sent as `AccountSid`.
    pub account_sid: String,
    /// The auth token to sign with.
    pub auth_token: String,
    /// Threads used to sign.
    pub threads: usize,
}

/// One step's request bytes for call 0, and where a call's SID, caller and signature go.
#[derive(Debug)]
struct Template {
    bytes: Vec<u8>,
    sid_offsets: Vec<usize>,
    caller_offsets: Vec<usize>,
    sig_offset: usize,
}

/// An expected answer body for call 0, and where the call's SID is in it.
#[derive(Debug)]
struct Expected {
    bytes: Vec<u8>,
    sid_offsets: Vec<usize>,
}

impl Expected {
    /// Whether `body` is this answer for the call whose SID is `sid` (no allocation).
    fn matches(&self, body: &[u8], sid: &[u8]) -> bool {
        if body.len() != self.bytes.len() {
            return false;
        }
        let mut at = 0;
        for &o in &self.sid_offsets {
            if body[at..o] != self.bytes[at..o] || &body[o..o + sid.len()] != sid {
                return false;
            }
            at = o + sid.len();
        }
        body[at..] == self.bytes[at..]
    }
}

/// Prepared calls.
#[derive(Debug)]
pub(crate) struct VoicePlan {
    /// The run id in every `CallSid` of this run (16 lowercase hex digits).
    pub run_id: String,
    templates: [Template; 3],
    expected: [Expected; 3],
    callers: usize,
    signatures: Vec<[[u8; SIG_LEN]; 3]>,
}

/// A call SID of this run.
pub(crate) fn call_sid(run_id: &str, index: usize) -> String {
    format!("CA{run_id}{index:016x}")
}

fn caller(index: usize, callers: usize) -> String {
    format!("+1555{:0width$}", index % callers, width = CALLER_DIGITS)
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// Request `step` of call `index`, built from scratch: the bytes on the wire and where its
/// signature starts.
fn request(
    spec: &VoiceSpec,
    validator: &RequestValidator,
    timestamp: &str,
    run_id: &str,
    step: Step,
    index: usize,
) -> Result<(Vec<u8>, usize), String> {
    let sid = call_sid(run_id, index);
    let from = caller(index, spec.callers);
    let acct = spec.account_sid.as_str();
    let (path, url, params) = match step {
        Step::Incoming => (
            spec.webhook_path.clone(),
            spec.webhook_url.clone(),
            voice_form::call_form(acct, &sid, &from, TO, "ringing"),
        ),
        Step::Gather => (
            voice_form::gather_url(&spec.webhook_path, &sid),
            voice_form::gather_url(&spec.webhook_url, &sid),
            voice_form::gather_form(acct, &sid, &from, TO),
        ),
        Step::Status => (
            spec.status_path.clone(),
            spec.status_url.clone(),
            voice_form::status_form(acct, &sid, &from, TO, timestamp, CALL_SECS),
        ),
    };
    signed_form_post(&path, &spec.host, &url, &params, validator)
}

/// A form POST to `path` signed like Twilio signs it (over `url`, the URL the gateway
/// checks against): the bytes on the wire and where the 28-byte signature starts.
pub(crate) fn signed_form_post(
    path: &str,
    host: &str,
    url: &str,
    params: &[(String, String)],
    validator: &RequestValidator,
) -> Result<(Vec<u8>, usize), String> {
    let body = serde_urlencoded::to_string(params).map_err(|e| e.to_string())?;
    let sig = validator.compute(url, params);
    if sig.len() != SIG_LEN {
        return Err(format!("signature {sig:?} is not {SIG_LEN} bytes"));
    }
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: TwilioProxy/1.1\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nAccept: */*\r\nX-Twilio-Signature: "
    );
    let sig_offset = head.len();
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(sig.as_bytes());
    bytes.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
    bytes.extend_from_slice(body.as_bytes());
    Ok((bytes, sig_offset))
}

fn render(r: &telephony_core::voice::VoiceResponse) -> Vec<u8> {
    telephony_twilio::twiml::voice_response(r).into_bytes()
}

impl VoicePlan {
    /// Signs `spec.calls` calls (on `spec.threads` threads) and checks every request.
    pub(crate) fn build(spec: &VoiceSpec) -> Result<VoicePlan, String> {
        if spec.callers == 0 || spec.callers > 10usize.pow(CALLER_DIGITS as u32) {
            return Err(format!(
                "--senders must be between 1 and {}",
                10usize.pow(CALLER_DIGITS as u32)
            ));
        }
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (u64::from(std::process::id()) << 48);
        let run_id = format!("{nonce:016x}");
        // One callback timestamp for the whole run (it is informational to the gateway).
        let timestamp = OffsetDateTime::now_utc()
            .format(&Rfc2822)
            .map_err(|e| e.to_string())?;
        let validator = RequestValidator::new(spec.auth_token.as_str());

        let sid0 = call_sid(&run_id, 0);
        let caller0 = format!("%2B1555{:0width$}", 0, width = CALLER_DIGITS);
        let mut templates = Vec::new();
        for step in STEPS {
            let (bytes, sig_offset) = request(spec, &validator, &timestamp, &run_id, step, 0)?;
            let sid_offsets = find_all(&bytes, sid0.as_bytes());
            // CallSid (and the gather URL's `call=`).
            let want = if step == Step::Gather { 2 } else { 1 };
            if sid_offsets.len() != want {
                return Err(format!(
                    "{}: expected the CallSid {want} time(s), found {}",
                    step.name(),
                    sid_offsets.len()
                ));
            }
            let caller_offsets: Vec<usize> = find_all(&bytes, caller0.as_bytes())
                .into_iter()
                .map(|o| o + caller0.len() - CALLER_DIGITS)
                .collect();
            // From and Caller; the status callback has From only.
            let want = if step == Step::Status { 1 } else { 2 };
            if caller_offsets.len() != want {
                return Err(format!(
                    "{}: expected the caller {want} time(s), found {}",
                    step.name(),
                    caller_offsets.len()
                ));
            }
            templates.push(Template {
                bytes,
                sid_offsets,
                caller_offsets,
                sig_offset,
            });
        }
        let greeting = render(&voice_form::greeting(&spec.webhook_url, &sid0));
        let expected = [
            Expected {
                sid_offsets: find_all(&greeting, sid0.as_bytes()),
                bytes: greeting,
            },
            Expected {
                bytes: render(&voice_form::closing()),
                sid_offsets: Vec::new(),
            },
            Expected {
                bytes: telephony_twilio::twiml::EMPTY_RESPONSE.as_bytes().to_vec(),
                sid_offsets: Vec::new(),
            },
        ];
        let templates: [Template; 3] = templates
            .try_into()
            .map_err(|_| "three templates".to_string())?;
        let mut plan = VoicePlan {
            run_id,
            templates,
            expected,
            callers: spec.callers,
            signatures: Vec::new(),
        };

        let threads = spec.threads.max(1);
        let chunk = spec.calls.div_ceil(threads).max(1);
        let (plan_ref, timestamp) = (&plan, timestamp.as_str());
        let parts: Vec<Result<Vec<[[u8; SIG_LEN]; 3]>, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..spec.calls)
                .step_by(chunk)
                .map(|start| {
                    let end = (start + chunk).min(spec.calls);
                    s.spawn(move || plan_ref.sign_range(spec, timestamp, start..end))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("signing thread panicked".into()))
                })
                .collect()
        });
        let mut signatures = Vec::with_capacity(spec.calls);
        for part in parts {
            signatures.extend(part?);
        }
        plan.signatures = signatures;
        Ok(plan)
    }

    /// Signs calls `range`, checking each patched request against the one built from scratch.
    fn sign_range(
        &self,
        spec: &VoiceSpec,
        timestamp: &str,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<[[u8; SIG_LEN]; 3]>, String> {
        let validator = RequestValidator::new(spec.auth_token.as_str());
        let mut buf = Vec::new();
        let mut out = Vec::with_capacity(range.len());
        for i in range {
            let mut sigs = [[0u8; SIG_LEN]; 3];
            for step in STEPS {
                let (bytes, sig_offset) =
                    request(spec, &validator, timestamp, &self.run_id, step, i)?;
                let sig = &mut sigs[step as usize];
                sig.copy_from_slice(&bytes[sig_offset..sig_offset + SIG_LEN]);
                self.patch(i, step, sig, &mut buf);
                if buf != bytes {
                    return Err(format!(
                        "call {i}, {}: patched request differs from the one built from scratch",
                        step.name()
                    ));
                }
            }
            out.push(sigs);
        }
        Ok(out)
    }

    fn patch(&self, index: usize, step: Step, sig: &[u8; SIG_LEN], buf: &mut Vec<u8>) {
        let t = &self.templates[step as usize];
        buf.clear();
        buf.extend_from_slice(&t.bytes);
        let sid = call_sid(&self.run_id, index);
        for &o in &t.sid_offsets {
            buf[o..o + sid.len()].copy_from_slice(sid.as_bytes());
        }
        let from = caller(index, self.callers);
        let digits = &from.as_bytes()[from.len() - CALLER_DIGITS..];
        for &o in &t.caller_offsets {
            buf[o..o + CALLER_DIGITS].copy_from_slice(digits);
        }
        buf[t.sig_offset..t.sig_offset + SIG_LEN].copy_from_slice(sig);
    }

    /// Writes request `step` of call `index` (headers and body) into `buf`.
    pub(crate) fn fill(&self, index: usize, step: Step, buf: &mut Vec<u8>) {
        self.patch(index, step, &self.signatures[index][step as usize], buf);
    }

    /// Whether `body` is the expected answer to request `step` of call `index`.
    pub(crate) fn expected(&self, index: usize, step: Step, body: &[u8]) -> bool {
        let e = &self.expected[step as usize];
        if e.sid_offsets.is_empty() {
            return body == e.bytes.as_slice();
        }
        e.matches(body, call_sid(&self.run_id, index).as_bytes())
    }

    /// Calls prepared.
    pub(crate) fn len(&self) -> usize {
        self.signatures.len()
    }

    /// Bytes of each step's request on the wire.
    pub(crate) fn request_bytes(&self) -> [usize; 3] {
        STEPS.map(|s| self.templates[s as usize].bytes.len())
    }

    /// The range of `CallSid`s this run uses: `[low, high)`.
    pub(crate) fn sid_range(&self) -> (String, String) {
        (format!("CA{}", self.run_id), format!("CA{}g", self.run_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_signed_and_answers_recognised() {
        let spec = VoiceSpec {
            calls: 20,
            callers: 7,
            webhook_url: "http://127.0.0.1:3335/telephony/webhook".into(),
            status_url: "http://127.0.0.1:3335/telephony/status".into(),
            webhook_path: "/telephony/webhook".into(),
            status_path: "/telephony/status".into(),
            host: "127.0.0.1:3335".into(),
            account_sid: "AC00000000000000000000000000000000".into(),
            auth_token: "token".into(),
            threads: 3,
        };
        let plan = VoicePlan::build(&spec).unwrap();
        assert_eq!(plan.len(), 20);
        let validator = RequestValidator::new("token");
        let mut buf = Vec::new();
        for i in 0..20 {
            let sid = call_sid(&plan.run_id, i);
            for step in STEPS {
                plan.fill(i, step, &mut buf);
                let text = String::from_utf8(buf.clone()).unwrap();
                let (head, body) = text.split_once("\r\n\r\n").unwrap();
                let path = head.split(' ').nth(1).unwrap();
                let sig = head
                    .lines()
                    .find_map(|l| l.strip_prefix("X-Twilio-Signature: "))
                    .unwrap();
                let params: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap();
                let url = format!("http://127.0.0.1:3335{path}");
                assert!(validator.validate(&url, &params, sig), "{}", step.name());
                let get = |k: &str| params.iter().find(|(n, _)| n == k).unwrap().1.clone();
                assert_eq!(get("CallSid"), sid);
                assert_eq!(get("From"), caller(i, 7));
                if step == Step::Gather {
                    assert_eq!(path, format!("/telephony/webhook?call={sid}&turn=1"));
                    assert_eq!(get("SpeechResult"), voice_form::SPEECH);
                }
            }
            let greeting = render(&voice_form::greeting(&spec.webhook_url, &sid));
            assert!(plan.expected(i, Step::Incoming, &greeting));
            assert!(!plan.expected(i + 1, Step::Incoming, &greeting));
            assert!(!plan.expected(i, Step::Incoming, &greeting[1..]));
            assert!(plan.expected(i, Step::Gather, &render(&voice_form::closing())));
        }
        let (low, high) = plan.sid_range();
        assert!(call_sid(&plan.run_id, 19) >= low && call_sid(&plan.run_id, 19) < high);
    }
}
