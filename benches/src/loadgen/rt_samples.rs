//! The arithmetic of `loadgen --realtime` (which instants make which latency), and the bits
//! of Twilio's side that need parsing: the `<Connect>` TwiML, a frame's identity, an
//! HTTP request's extent.
//!
//! Every instant is nanoseconds since one [`std::time::Instant`] of the run (client,
//! gateway and app are one process, so their clocks agree); [`MISSING`] marks an instant
//! that never happened (a frame not seen, an echo not read).

/// An instant that never happened.
pub(crate) const MISSING: u64 = u64::MAX;
/// Bytes of μ-law in one 20 ms frame.
pub(crate) const FRAME_BYTES: usize = 160;
/// μ-law silence, the filler after a frame's identity.
const SILENCE: u8 = 0xFF;

/// The instants of one stream's frames, indexed by frame number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameTimes {
    /// The client is about to write the frame to its socket.
    pub written: Vec<u64>,
    /// The handler got the frame from `CallStream::next_event`.
    pub seen: Vec<u64>,
    /// The handler is about to hand the echo to `StreamSender::send_mulaw`.
    pub sent: Vec<u64>,
    /// The client has read the echo off its socket.
    pub read: Vec<u64>,
}

/// Frame latencies of any number of streams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Joined {
    /// Frame written → the handler saw it, per frame seen (ns).
    pub inbound: Vec<u64>,
    /// The handler sent the echo → the client read it, per echo read (ns).
    pub outbound: Vec<u64>,
    /// Frames written.
    pub written: u64,
    /// Frames written that the handler never saw.
    pub not_seen: u64,
    /// Echoes the handler sent that the client never read.
    pub not_echoed: u64,
}

impl Joined {
    /// Adds one stream's frames.
    pub(crate) fn add(&mut self, t: &FrameTimes) {
        for (i, &written) in t.written.iter().enumerate() {
            if written == MISSING {
                continue;
            }
            self.written += 1;
            let seen = t.seen.get(i).copied().unwrap_or(MISSING);
            if seen == MISSING {
                self.not_seen += 1;
                continue;
            }
            self.inbound.push(seen.saturating_sub(written));
            let sent = t.sent.get(i).copied().unwrap_or(MISSING);
            if sent == MISSING {
                continue;
            }
            match t.read.get(i).copied().unwrap_or(MISSING) {
                MISSING => self.not_echoed += 1,
                read => self.outbound.push(read.saturating_sub(sent)),
            }
        }
    }
}

/// The instants of one relay prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PromptTimes {
    /// The client is about to write the `prompt`.
    pub written: u64,
    /// The app has read the whole POST.
    pub app_received: u64,
    /// The app has written its whole answer.
    pub app_answered: u64,
    /// The client has read the first `text` token.
    pub read: u64,
}

impl PromptTimes {
    /// Prompt written → first token read, and the app's own time (answer written − POST
    /// read); `None` if an instant is missing.
    pub(crate) fn round_trip_and_app(&self) -> Option<(u64, u64)> {
        if [
            self.written,
            self.app_received,
            self.app_answered,
            self.read,
        ]
        .contains(&MISSING)
        {
            return None;
        }
        Some((
            self.read.saturating_sub(self.written),
            self.app_answered.saturating_sub(self.app_received),
        ))
    }

    /// The gateway's overhead: the round trip less the app's own time (ns).
    pub(crate) fn overhead(&self) -> Option<u64> {
        self.round_trip_and_app()
            .map(|(trip, app)| trip.saturating_sub(app))
    }
}

/// Frame `seq` of stream `stream`: its identity in the first six bytes (little endian),
/// silence after.
pub(crate) fn frame(stream: u16, seq: u32) -> [u8; FRAME_BYTES] {
    let mut f = [SILENCE; FRAME_BYTES];
    f[..2].copy_from_slice(&stream.to_le_bytes());
    f[2..6].copy_from_slice(&seq.to_le_bytes());
    f
}

/// `(stream, seq)` of a frame made by [`frame`]; `None` for anything else.
pub(crate) fn frame_id(mulaw: &[u8]) -> Option<(u16, u32)> {
    if mulaw.len() != FRAME_BYTES || mulaw[6..].iter().any(|&b| b != SILENCE) {
        return None;
    }
    Some((
        u16::from_le_bytes([mulaw[0], mulaw[1]]),
        u32::from_le_bytes([mulaw[2], mulaw[3], mulaw[4], mulaw[5]]),
    ))
}

/// The socket URL and the `telephonyToken` of the `<Connect><{verb} url=…>` in `twiml`
/// (`verb` is `Stream` or `ConversationRelay`), XML entities undone.
pub(crate) fn connect_target(twiml: &str, verb: &str) -> Result<(String, String), String> {
    let snippet = || twiml.chars().take(300).collect::<String>();
    let open = format!("<{verb} ");
    let at = twiml
        .find(&open)
        .ok_or_else(|| format!("no <{verb}> in the TwiML: {}", snippet()))?;
    let tag_end = twiml[at..]
        .find('>')
        .map(|e| at + e)
        .ok_or_else(|| format!("unterminated <{verb}> in the TwiML: {}", snippet()))?;
    let url = attribute(&twiml[at..tag_end], "url")
        .ok_or_else(|| format!("<{verb}> has no url: {}", snippet()))?;
    let param = r#"<Parameter name="telephonyToken" "#;
    let p = twiml[tag_end..]
        .find(param)
        .map(|p| tag_end + p)
        .ok_or_else(|| format!("no telephonyToken parameter in the TwiML: {}", snippet()))?;
    let p_end = twiml[p..].find("/>").map_or(twiml.len(), |e| p + e);
    let token = attribute(&twiml[p..p_end], "value")
        .ok_or_else(|| format!("the telephonyToken parameter has no value: {}", snippet()))?;
    Ok((url, token))
}

/// Attribute `name` of the start tag `tag`, unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(
        tag[start..start + len]
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// Where the first HTTP/1.1 request in `buf` ends: `(body start, body length)` once the
/// head and the whole `Content-Length` body are in; `Ok(None)` while they are not.
pub(crate) fn request_extent(buf: &[u8]) -> Result<Option<(usize, usize)>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 16 * 1024 {
            return Err("request head over 16 KiB".into());
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "request head is not UTF-8")?;
    let mut length = 0;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value
                .parse::<usize>()
                .map_err(|_| format!("bad content-length {value:?}"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!("unsupported transfer-encoding {value:?}"));
        }
    }
    let start = end + 4;
    Ok((buf.len() >= start + length).then_some((start, length)))
}

#[cfg(test)]
mod tests {
    use super::*;

    impl FrameTimes {
        fn new(frames: usize) -> FrameTimes {
            FrameTimes {
                written: vec![MISSING; frames],
                seen: vec![MISSING; frames],
                sent: vec![MISSING; frames],
                read: vec![MISSING; frames],
            }
        }
    }

    #[test]
    fn frames_join_into_inbound_and_outbound_latencies() {
        let mut t = FrameTimes::new(5);
        // Frame 0: written at 100, seen at 350, echo sent at 360, read at 1_000.
        (t.written[0], t.seen[0], t.sent[0], t.read[0]) = (100, 350, 360, 1_000);
        // Frame 1: seen, echo never read.
        (t.written[1], t.seen[1], t.sent[1]) = (2_000, 2_100, 2_110);
        // Frame 2: never seen.
        t.written[2] = 3_000;
        // Frame 3: fine. Frame 4: never written.
        (t.written[3], t.seen[3], t.sent[3], t.read[3]) = (4_000, 4_040, 4_045, 4_545);
        let mut j = Joined::default();
        j.add(&t);
        assert_eq!(
            j,
            Joined {
                inbound: vec![250, 100, 40],
                outbound: vec![640, 500],
                written: 4,
                not_seen: 1,
                not_echoed: 1,
            }
        );
        // A second stream adds to the first.
        let mut u = FrameTimes::new(1);
        (u.written[0], u.seen[0], u.sent[0], u.read[0]) = (10, 20, 30, 70);
        j.add(&u);
        assert_eq!(j.inbound, [250, 100, 40, 10]);
        assert_eq!(j.outbound, [640, 500, 40]);
        assert_eq!((j.written, j.not_seen, j.not_echoed), (5, 1, 1));
    }

    #[test]
    fn relay_overhead_is_the_round_trip_less_the_apps_time() {
        let p = PromptTimes {
            written: 1_000,
            app_received: 1_400,
            app_answered: 1_450,
            read: 2_200,
        };
        assert_eq!(p.round_trip_and_app(), Some((1_200, 50)));
        assert_eq!(p.overhead(), Some(1_150));
        assert_eq!(PromptTimes { read: MISSING, ..p }.overhead(), None);
        assert_eq!(
            PromptTimes {
                app_received: MISSING,
                ..p
            }
            .overhead(),
            None
        );
    }

    #[test]
    fn frames_carry_their_identity() {
        let f = frame(513, 70_000);
        assert_eq!(&f[..6], &[1, 2, 0x70, 0x11, 0x01, 0x00]);
        assert_eq!(frame_id(&f), Some((513, 70_000)));
        assert_eq!(frame_id(&f[..159]), None);
        let mut g = f;
        g[100] = 0;
        assert_eq!(frame_id(&g), None);
        assert_eq!(frame_id(&frame(0, u32::MAX)), Some((0, u32::MAX)));
    }

    #[test]
    fn connect_targets_come_out_of_the_twiml() {
        let stream = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="ws://127.0.0.1:4000/telephony/stream"><Parameter name="lang" value="en"/><Parameter name="telephonyToken" value="abc123"/></Stream></Connect><Say>Goodbye.</Say></Response>"#;
        assert_eq!(
            connect_target(stream, "Stream").unwrap(),
            (
                "ws://127.0.0.1:4000/telephony/stream".to_string(),
                "abc123".to_string()
            )
        );
        let relay = r#"<Response><Connect><ConversationRelay url="ws://h:1/s/relay?a=1&amp;b=2" welcomeGreeting="Hi &amp; welcome" interruptible="true"><Parameter name="telephonyToken" value="t0k"/></ConversationRelay></Connect><Hangup/></Response>"#;
        assert_eq!(
            connect_target(relay, "ConversationRelay").unwrap(),
            ("ws://h:1/s/relay?a=1&b=2".to_string(), "t0k".to_string())
        );
        assert_eq!(
            connect_target(relay, "Stream").unwrap_err(),
            format!("no <Stream> in the TwiML: {relay}")
        );
        let no_token = r#"<Response><Connect><Stream url="ws://h/s"/></Connect></Response>"#;
        assert!(
            connect_target(no_token, "Stream")
                .unwrap_err()
                .starts_with("no telephonyToken parameter in the TwiML")
        );
    }

    #[test]
    fn requests_end_after_their_content_length() {
        let req = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(request_extent(req).unwrap(), Some((48, 5)));
        assert_eq!(request_extent(&req[..47]).unwrap(), None);
        assert_eq!(request_extent(&req[..20]).unwrap(), None);
        // Pipelined: only the first request's extent.
        let two = [&req[..], &req[..]].concat();
        assert_eq!(request_extent(&two).unwrap(), Some((48, 5)));
        assert_eq!(
            request_extent(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap(),
            Some((27, 0))
        );
        assert_eq!(
            request_extent(b"POST / HTTP/1.1\r\ncontent-length: x\r\n\r\n").unwrap_err(),
            "bad content-length \"x\""
        );
        assert_eq!(
            request_extent(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap_err(),
            "unsupported transfer-encoding \"chunked\""
        );
    }
}
