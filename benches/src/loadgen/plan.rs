//! The requests of a run, signed before the clock starts.
//!
//! Every request is an inbound SMS exactly as [`InboundSms`] (the simulator Twilio's shape,
//! PROTOCOL.md §2.1) builds and signs it, with a `MessageSid` no other run uses
//! (`SM` + a 16-hex run id + a 16-hex counter) and one of `senders` sender numbers. All
//! requests have the same length, so the plan keeps one request template and, per request,
//! only its 28-byte signature; [`Plan::fill`] patches the SID, the sender and the signature
//! into the template. [`Plan::build`] checks that the patched bytes equal the simulator's
//! own encoding for every request, so what is sent is what the simulator would send.

use telephony_twilio::RequestValidator;
use telephony_twilio_simulator::InboundSms;

/// Length of a base64 HMAC-SHA1 signature.
const SIG_LEN: usize = 28;
/// Digits after `+1555` in a sender number.
const SENDER_DIGITS: usize = 7;
/// The number the messages are sent to (Twilio's magic valid sender, the sandbox default).
const TO: &str = "+15005550006";
/// The message text.
const TEXT: &str = "Load test message";

/// What the requests look like and who signs them.
#[derive(Debug, Clone)]
pub(crate) struct PlanSpec {
    /// How many requests to prepare.
    pub requests: usize,
    /// Distinct sender numbers, used round robin.
    pub senders: usize,
    /// The URL the gateway checks the signature against.
    pub signed_url: String,
    /// Request target (path and query) on the wire.
    pub path: String,
    /// `Host` header.
    pub host: String,
    /// The account SID sent as `AccountSid`.
    pub account_sid: String,
    /// The auth token to sign with.
    pub auth_token: String,
    /// Threads used to sign.
    pub threads: usize,
}

/// Prepared requests.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The run id in every SID of this run (16 lowercase hex digits).
    pub run_id: String,
    template: Vec<u8>,
    sid_offsets: Vec<usize>,
    sender_offset: usize,
    sig_offset: usize,
    senders: usize,
    signatures: Vec<[u8; SIG_LEN]>,
}

/// A message SID of this run.
pub(crate) fn message_sid(run_id: &str, index: usize) -> String {
    format!("SM{run_id}{index:016x}")
}

fn sender(index: usize, senders: usize) -> String {
    format!("+1555{:0width$}", index % senders, width = SENDER_DIGITS)
}

fn sms(spec: &PlanSpec, run_id: &str, index: usize) -> InboundSms {
    let mut sms = InboundSms::new(
        spec.account_sid.clone(),
        sender(index, spec.senders),
        TO,
        TEXT,
    );
    sms.message_sid = Some(message_sid(run_id, index));
    sms
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// `b` as a Lua string literal: printable ASCII as is, everything else (quotes and
/// backslashes too) as a decimal escape.
fn lua_string(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        if c.is_ascii_alphanumeric() || b" /:.=&%+-_;,*()<>?!@#$".contains(&c) {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\{c:03}"));
        }
    }
    s.push('"');
    s
}

impl Plan {
    /// Signs `spec.requests` requests (on `spec.threads` threads) and checks every one.
    pub(crate) fn build(spec: &PlanSpec) -> Result<Plan, String> {
        if spec.senders == 0 || spec.senders > 10usize.pow(SENDER_DIGITS as u32) {
            return Err(format!(
                "--senders must be between 1 and {}",
                10usize.pow(SENDER_DIGITS as u32)
            ));
        }
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (u64::from(std::process::id()) << 48);
        let run_id = format!("{nonce:016x}");

        // The template is request 0; find where its SID, sender and signature sit.
        let first = sms(spec, &run_id, 0);
        let (body, sig) = first.signed(&spec.auth_token, &spec.signed_url);
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: TwilioProxy/1.1\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nAccept: */*\r\nX-Twilio-Signature: ",
            spec.path, spec.host
        );
        let sig_offset = head.len();
        let mut template = head.into_bytes();
        template.extend_from_slice(sig.as_bytes());
        template
            .extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
        let body_offset = template.len();
        template.extend_from_slice(body.as_bytes());
        let sid0 = message_sid(&run_id, 0);
        let sid_offsets: Vec<usize> = find_all(body.as_bytes(), sid0.as_bytes())
            .into_iter()
            .map(|o| o + body_offset)
            .collect();
        // MessageSid, SmsSid, SmsMessageSid.
        if sid_offsets.len() != 3 {
            return Err(format!(
                "expected the SID 3 times in the body, found {}",
                sid_offsets.len()
            ));
        }
        let from0 = format!("From=%2B1555{:0width$}", 0, width = SENDER_DIGITS);
        let from_at = find_all(body.as_bytes(), from0.as_bytes());
        let [from_at] = from_at[..] else {
            return Err("sender not found exactly once in the body".into());
        };
        let sender_offset = body_offset + from_at + from0.len() - SENDER_DIGITS;

        let mut plan = Plan {
            run_id,
            template,
            sid_offsets,
            sender_offset,
            sig_offset,
            senders: spec.senders,
            signatures: Vec::new(),
        };

        let threads = spec.threads.max(1);
        let chunk = spec.requests.div_ceil(threads).max(1);
        let plan_ref = &plan;
        let parts: Vec<Result<Vec<[u8; SIG_LEN]>, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..spec.requests)
                .step_by(chunk)
                .map(|start| {
                    let end = (start + chunk).min(spec.requests);
                    s.spawn(move || plan_ref.sign_range(spec, start..end))
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
        let mut signatures = Vec::with_capacity(spec.requests);
        for part in parts {
            signatures.extend(part?);
        }
        plan.signatures = signatures;
        Ok(plan)
    }

    /// Signs requests `range`, checking that the template patched for each one is
    /// byte for byte the simulator's body.
    fn sign_range(
        &self,
        spec: &PlanSpec,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<[u8; SIG_LEN]>, String> {
        let validator = RequestValidator::new(spec.auth_token.as_str());
        let body_offset = self.template.len() - self.body_len();
        let mut buf = Vec::with_capacity(self.template.len());
        let mut out = Vec::with_capacity(range.len());
        for i in range {
            let params = sms(spec, &self.run_id, i).form();
            let body = serde_urlencoded::to_string(&params).map_err(|e| e.to_string())?;
            let sig = validator.compute(&spec.signed_url, &params);
            let sig: [u8; SIG_LEN] = sig
                .as_bytes()
                .try_into()
                .map_err(|_| format!("signature {sig:?} is not {SIG_LEN} bytes"))?;
            self.patch(i, &sig, &mut buf);
            if &buf[body_offset..] != body.as_bytes() {
                return Err(format!(
                    "request {i}: patched body differs from the simulator's"
                ));
            }
            out.push(sig);
        }
        Ok(out)
    }

    fn body_len(&self) -> usize {
        let end = self
            .template
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("template has a header end");
        self.template.len() - end - 4
    }

    fn patch(&self, index: usize, sig: &[u8; SIG_LEN], buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(&self.template);
        let sid = message_sid(&self.run_id, index);
        for &o in &self.sid_offsets {
            buf[o..o + sid.len()].copy_from_slice(sid.as_bytes());
        }
        let from = sender(index, self.senders);
        buf[self.sender_offset..self.sender_offset + SENDER_DIGITS]
            .copy_from_slice(&from.as_bytes()[from.len() - SENDER_DIGITS..]);
        buf[self.sig_offset..self.sig_offset + SIG_LEN].copy_from_slice(sig);
    }

    /// Writes request `index` (headers and body) into `buf`.
    pub(crate) fn fill(&self, index: usize, buf: &mut Vec<u8>) {
        self.patch(index, &self.signatures[index], buf);
    }

    /// Requests prepared.
    pub(crate) fn len(&self) -> usize {
        self.signatures.len()
    }

    /// Bytes of one request on the wire.
    pub(crate) fn request_bytes(&self) -> usize {
        self.template.len()
    }

    /// The template cut at its variable parts: `pieces` (one more than `kinds`) and, between
    /// consecutive pieces, what goes there (`sig`, `sid` or `from`).
    fn wrk_parts(&self) -> (Vec<&[u8]>, Vec<&'static str>) {
        let mut cuts: Vec<(usize, usize, &'static str)> = self
            .sid_offsets
            .iter()
            .map(|&o| (o, message_sid(&self.run_id, 0).len(), "sid"))
            .collect();
        cuts.push((self.sender_offset, SENDER_DIGITS, "from"));
        cuts.push((self.sig_offset, SIG_LEN, "sig"));
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut at = 0;
        for &(o, len, _) in &cuts {
            pieces.push(&self.template[at..o]);
            at = o + len;
        }
        pieces.push(&self.template[at..]);
        (pieces, cuts.into_iter().map(|(_, _, k)| k).collect())
    }

    /// Writes the plan for `wrk` (`benches/wrk-signed.lua`) into `dir`: `plan.lua`, a Lua
    /// chunk returning the template cut at its variable parts (`pieces`, and between
    /// consecutive pieces the `kinds` patched in: `sig`, `sid` or `from`) with the run id
    /// and the sender count, and `signatures.bin`, the 28-byte signatures one after the
    /// other. Request `i` is the pieces joined with its signature, its SID
    /// (`SM` + run id + `i` as 16 hex digits) and its sender (`i % senders`, 7 digits).
    pub(crate) fn write_wrk(&self, dir: &std::path::Path) -> std::io::Result<()> {
        let (pieces, kinds) = self.wrk_parts();
        let mut lua = format!(
            "-- written by `loadgen --wrk-plan`: {} signed requests\nreturn {{\n  run_id = \"{}\",\n  senders = {},\n  count = {},\n  pieces = {{\n",
            self.signatures.len(),
            self.run_id,
            self.senders,
            self.signatures.len()
        );
        for p in &pieces {
            lua.push_str(&format!("    {},\n", lua_string(p)));
        }
        lua.push_str("  },\n  kinds = { ");
        for k in &kinds {
            lua.push_str(&format!("\"{k}\", "));
        }
        lua.push_str("},\n}\n");
        std::fs::write(dir.join("plan.lua"), lua)?;
        std::fs::write(dir.join("signatures.bin"), self.signatures.concat())
    }

    /// The range of `provider_sid` values this run writes: `[low, high)`.
    pub(crate) fn sid_range(&self) -> (String, String) {
        (format!("SM{}", self.run_id), format!("SM{}g", self.run_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes what [`lua_string`] wrote, as Lua reads it.
    fn unlua(lit: &str) -> Vec<u8> {
        let inner = lit
            .strip_prefix('"')
            .unwrap()
            .strip_suffix('"')
            .unwrap()
            .as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < inner.len() {
            if inner[i] == b'\\' {
                let digits = std::str::from_utf8(&inner[i + 1..i + 4]).unwrap();
                out.push(digits.parse::<u8>().unwrap());
                i += 4;
            } else {
                out.push(inner[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn wrk_plan_rebuilds_every_request() {
        let spec = PlanSpec {
            requests: 40,
            senders: 3,
            signed_url: "http://gateway.bench.invalid/telephony/webhook".into(),
            path: "/telephony/webhook".into(),
            host: "127.0.0.1:3335".into(),
            account_sid: "AC00000000000000000000000000000023".into(),
            auth_token: "token".into(),
            threads: 2,
        };
        let plan = Plan::build(&spec).unwrap();
        let dir = tempfile::tempdir().unwrap();
        plan.write_wrk(dir.path()).unwrap();
        let lua = std::fs::read_to_string(dir.path().join("plan.lua")).unwrap();
        let sigs = std::fs::read(dir.path().join("signatures.bin")).unwrap();
        assert_eq!(sigs.len(), 40 * SIG_LEN);
        assert!(lua.contains(&format!("run_id = \"{}\"", plan.run_id)));
        assert!(lua.contains("senders = 3,") && lua.contains("count = 40,"));
        // The pieces as the Lua chunk spells them, and the kinds between them.
        let pieces: Vec<Vec<u8>> = lua
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('"') && l.ends_with("\","))
            .map(|l| unlua(l.trim_end_matches(',')))
            .collect();
        let kinds_line = lua
            .lines()
            .find(|l| l.trim_start().starts_with("kinds"))
            .unwrap();
        let kinds: Vec<&str> = kinds_line.split('"').skip(1).step_by(2).collect();
        assert_eq!(kinds, ["sig", "sid", "sid", "sid", "from"]);
        assert_eq!(pieces.len(), kinds.len() + 1);
        // What wrk-signed.lua sends for request i is exactly what loadgen sends.
        let mut expected = Vec::new();
        for i in [0, 1, 2, 17, 39] {
            plan.fill(i, &mut expected);
            let mut built = pieces[0].clone();
            for (k, piece) in kinds.iter().zip(&pieces[1..]) {
                match *k {
                    "sig" => built.extend_from_slice(&sigs[i * SIG_LEN..(i + 1) * SIG_LEN]),
                    "sid" => built.extend_from_slice(message_sid(&plan.run_id, i).as_bytes()),
                    _ => built.extend_from_slice(format!("{:07}", i % 3).as_bytes()),
                }
                built.extend_from_slice(piece);
            }
            assert_eq!(
                String::from_utf8(built).unwrap(),
                String::from_utf8(expected.clone()).unwrap()
            );
        }
    }

    #[test]
    fn requests_are_signed_and_unique() {
        let spec = PlanSpec {
            requests: 50,
            senders: 7,
            signed_url: "http://127.0.0.1:3335/telephony/webhook".into(),
            path: "/telephony/webhook".into(),
            host: "127.0.0.1:3335".into(),
            account_sid: "AC00000000000000000000000000000000".into(),
            auth_token: "token".into(),
            threads: 3,
        };
        let plan = Plan::build(&spec).unwrap();
        assert_eq!(plan.len(), 50);
        let validator = RequestValidator::new("token");
        let mut buf = Vec::new();
        let mut sids = std::collections::HashSet::new();
        for i in 0..50 {
            plan.fill(i, &mut buf);
            let text = String::from_utf8(buf.clone()).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let sig = head
                .lines()
                .find_map(|l| l.strip_prefix("X-Twilio-Signature: "))
                .unwrap();
            let params: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap();
            assert!(validator.validate(&spec.signed_url, &params, sig));
            let get = |k: &str| params.iter().find(|(n, _)| n == k).unwrap().1.clone();
            assert_eq!(get("MessageSid"), message_sid(&plan.run_id, i));
            assert_eq!(get("From"), sender(i, 7));
            assert!(sids.insert(get("MessageSid")));
            let (low, high) = plan.sid_range();
            assert!(get("MessageSid") >= low && get("MessageSid") < high);
        }
    }
}
