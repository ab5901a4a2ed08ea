//! Request framing checked on the bytes as they arrive, before hyper parses them: a request
//! whose body length could be read two ways is refused (RFC 9112 §6.1, §6.3, §5.2).
//!
//! hyper lets some of these through (a `Content-Length` next to `Transfer-Encoding: chunked`
//! is dropped and the body read as chunked; a repeated, equal `Content-Length` is folded
//! into one) and closes others without an answer (a `Transfer-Encoding` whose last coding is
//! not `chunked`). A proxy in front that frames the request the other way would see a
//! different request than we do (request smuggling), so every such head is refused with
//! `400 Bad Request` before it reaches hyper:
//!
//! - both `Content-Length` and `Transfer-Encoding`;
//! - more than one `Content-Length` (equal or not), or one that is not a plain number;
//! - more than one `Transfer-Encoding`, or one that is not exactly `chunked`;
//! - a header line that starts with a space or a tab (obsolete line folding).
//!
//! To see every head of a keep-alive or pipelined connection, the checker follows each
//! accepted request's body (its `Content-Length`, or its chunks and trailers). A body it
//! cannot follow (chunk framing hyper will refuse anyway) stops the checks for the rest of
//! the connection ([`Framing::lost`]); the listener then refuses any further request on it.
//!
//! Memory is a few dozen bytes per connection: only the names and values of the two
//! framing headers are kept, each capped.

/// Longest header name kept ("transfer-encoding" is 17).
const NAME_MAX: usize = 18;
/// Longest framing header value kept; a longer one is refused.
const VALUE_MAX: usize = 64;

/// Why a request head was refused (logged, not sent).
pub(super) type Why = &'static str;

/// A refused head: `at` is the offset, in the bytes just fed, where it starts (0 when it
/// started in earlier bytes); nothing from `at` on may reach hyper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bad {
    pub(super) at: usize,
    pub(super) why: Why,
}

#[derive(Debug)]
enum State {
    /// In a request head; `line` is what is known of the current line.
    Head(Head),
    /// In a body with this many bytes left.
    Fixed(u64),
    /// In a chunked body.
    Chunk(Chunk),
    /// Not checking (upgraded, or a body it could not follow).
    Off,
}

#[derive(Debug, Default)]
struct Head {
    /// The request line is done (leading empty lines are skipped, as hyper does).
    past_request_line: bool,
    /// Bytes of the current line seen.
    line_len: usize,
    /// The current line's name, lowercased, while it fits and no ':' was seen.
    name: Vec<u8>,
    /// `Some(kind)` while reading the value of a framing header.
    value_of: Option<Framed>,
    value: Vec<u8>,
    content_length: Vec<Vec<u8>>,
    transfer_encoding: Vec<Vec<u8>>,
    /// The last byte was a CR (ignored before a LF).
    cr: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framed {
    ContentLength,
    TransferEncoding,
}

#[derive(Debug)]
enum Chunk {
    /// The size line: size so far, and whether a digit was seen / an extension started.
    Size { size: u64, digits: usize, ext: bool },
    /// Chunk data left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd { cr: bool },
    /// Trailer lines; `empty` while the current line has no bytes.
    Trailer { empty: bool },
}

/// The framing checker of one connection.
#[derive(Debug)]
pub(super) struct Framing {
    state: State,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            state: State::Head(Head::default()),
        }
    }
}

impl Framing {
    /// Checks the next bytes of the connection; the first refused head, if any. After a
    /// refusal the checker is off (the connection is closed).
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Result<(), Bad> {
        let mut head_start = 0usize;
        let mut i = 0usize;
        while i < bytes.len() {
            match &mut self.state {
                State::Off => return Ok(()),
                State::Fixed(left) => {
                    let take = (*left).min((bytes.len() - i) as u64);
                    *left -= take;
                    i += take as usize;
                    if *left == 0 {
                        self.state = State::Head(Head::default());
                        head_start = i;
                    }
                }
                State::Chunk(Chunk::Data(left)) => {
                    // Chunk data is skipped in one step.
                    let take = (*left).min((bytes.len() - i) as u64);
                    *left -= take;
                    i += take as usize;
                    if *left == 0 {
                        self.state = State::Chunk(Chunk::DataEnd { cr: false });
                    }
                }
                State::Chunk(chunk) => {
                    let b = bytes[i];
                    i += 1;
                    match chunk_step(chunk, b) {
                        Step::Go => {}
                        Step::Lost => self.state = State::Off,
                        Step::Done => {
                            self.state = State::Head(Head::default());
                            head_start = i;
                        }
                    }
                }
                State::Head(head) => {
                    let b = bytes[i];
                    i += 1;
                    match head_step(head, b) {
                        Ok(None) => {}
                        Ok(Some(next)) => {
                            self.state = next;
                            if matches!(self.state, State::Head(_)) {
                                head_start = i;
                            }
                        }
                        Err(why) => {
                            self.state = State::Off;
                            return Err(Bad {
                                at: head_start,
                                why,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Stops checking: the connection was upgraded (its bytes are no longer HTTP).
    pub(super) fn stop(&mut self) {
        self.state = State::Off;
    }

    /// The checker stopped: upgraded, or a body it could not follow. A request hyper finds
    /// after this point was not checked.
    pub(super) fn lost(&self) -> bool {
        matches!(self.state, State::Off)
    }
}

enum Step {
    Go,
    Lost,
    Done,
}

/// One byte of a head: `Ok(Some(state))` when the head ends (the body's state), `Err` when
/// it is refused.
fn head_step(h: &mut Head, b: u8) -> Result<Option<State>, Why> {
    if b == b'\n' {
        let cr = std::mem::take(&mut h.cr);
        let line_len = std::mem::take(&mut h.line_len) - usize::from(cr);
        h.name.clear();
        let value_of = h.value_of.take();
        let value = std::mem::take(&mut h.value);
        if !h.past_request_line {
            // Empty lines before the request line are skipped.
            h.past_request_line = line_len > 0;
            return Ok(None);
        }
        if line_len == 0 {
            return end_of_head(h).map(Some);
        }
        match value_of {
            Some(Framed::ContentLength) => h.content_length.push(value),
            Some(Framed::TransferEncoding) => h.transfer_encoding.push(value),
            None => {}
        }
        return Ok(None);
    }
    if h.cr {
        // A CR not followed by LF is hyper's to refuse; it is part of the line here.
        h.cr = false;
    }
    let first = h.line_len == 0;
    h.line_len += 1;
    if b == b'\r' {
        h.cr = true;
        return Ok(None);
    }
    if !h.past_request_line {
        return Ok(None);
    }
    if first && (b == b' ' || b == b'\t') {
        return Err("obsolete line folding (a header line starting with whitespace)");
    }
    match h.value_of {
        Some(_) => {
            if h.value.len() >= VALUE_MAX {
                return Err("Content-Length or Transfer-Encoding value too long");
            }
            h.value.push(b);
        }
        None if b == b':' => {
            h.value_of = match h.name.as_slice() {
                b"content-length" => Some(Framed::ContentLength),
                b"transfer-encoding" => Some(Framed::TransferEncoding),
                _ => None,
            };
            // No more name: mark it so later ':' bytes are value bytes.
            h.name.clear();
            h.name.push(b':');
        }
        None => {
            if h.name.first() != Some(&b':') && h.name.len() < NAME_MAX {
                h.name.push(b.to_ascii_lowercase());
            }
        }
    }
    Ok(None)
}

/// The head is complete: its framing, or why it is refused.
fn end_of_head(h: &Head) -> Result<State, Why> {
    let cl = &h.content_length;
    let te = &h.transfer_encoding;
    if !cl.is_empty() && !te.is_empty() {
        return Err("both Content-Length and Transfer-Encoding");
    }
    if cl.len() > 1 {
        return Err("more than one Content-Length");
    }
    if te.len() > 1 {
        return Err("more than one Transfer-Encoding");
    }
    if let Some(v) = te.first() {
        if !v.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err("Transfer-Encoding other than chunked");
        }
        return Ok(State::Chunk(Chunk::Size {
            size: 0,
            digits: 0,
            ext: false,
        }));
    }
    if let Some(v) = cl.first() {
        let v = v.trim_ascii();
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return Err("Content-Length is not a number");
        }
        let n: u64 = std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("Content-Length out of range")?;
        if n > 0 {
            return Ok(State::Fixed(n));
        }
    }
    Ok(State::Head(Head::default()))
}

/// One byte of a chunked body (chunk data is skipped by the caller).
fn chunk_step(c: &mut Chunk, b: u8) -> Step {
    match c {
        Chunk::Size { size, digits, ext } => match b {
            b'\n' => {
                if *digits == 0 {
                    return Step::Lost;
                }
                *c = if *size == 0 {
                    Chunk::Trailer { empty: true }
                } else {
                    Chunk::Data(*size)
                };
                Step::Go
            }
            _ if *ext => Step::Go,
            b';' | b' ' | b'\t' | b'\r' => {
                *ext = true;
                Step::Go
            }
            _ => match (b as char).to_digit(16) {
                Some(d) if *digits < 16 => {
                    *size = *size * 16 + u64::from(d);
                    *digits += 1;
                    Step::Go
                }
                _ => Step::Lost,
            },
        },
        // Skipped by the caller.
        Chunk::Data(_) => Step::Go,
        Chunk::DataEnd { cr } => match b {
            b'\r' if !*cr => {
                *cr = true;
                Step::Go
            }
            b'\n' => {
                *c = Chunk::Size {
                    size: 0,
                    digits: 0,
                    ext: false,
                };
                Step::Go
            }
            _ => Step::Lost,
        },
        Chunk::Trailer { empty } => match b {
            b'\n' if *empty => Step::Done,
            b'\n' => {
                *empty = true;
                Step::Go
            }
            b'\r' => Step::Go,
            _ => {
                *empty = false;
                Step::Go
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(stream: &[u8]) -> Result<(), Bad> {
        let mut f = Framing::default();
        f.feed(stream)
    }

    /// Fed one byte at a time, the same verdict, at the same place in the stream.
    fn check_bytewise(stream: &[u8]) -> Result<(), usize> {
        let mut f = Framing::default();
        for (i, b) in stream.iter().enumerate() {
            if f.feed(std::slice::from_ref(b)).is_err() {
                return Err(i);
            }
        }
        Ok(())
    }

    const GOOD: &[&[u8]] = &[
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\r\nGET /a HTTP/1.1\nHost: x\n\n",
        b"POST /a HTTP/1.1\r\ntransfer-encoding:  CHUNKED \r\n\r\n0\r\n\r\n",
        b"POST /a HTTP/1.1\r\nX-Content-Length: 1\r\nX-Transfer-Encoding: gzip\r\n\r\n",
    ];

    #[test]
    fn unambiguous_requests_pass_and_pipelined_ones_too() {
        for g in GOOD {
            assert_eq!(check(g), Ok(()), "{}", String::from_utf8_lossy(g));
        }
        let all: Vec<u8> = GOOD.concat();
        assert_eq!(check(&all), Ok(()));
        assert_eq!(check_bytewise(&all), Ok(()));
    }

    #[test]
    fn ambiguous_framing_is_refused_where_its_head_starts() {
        let cases: &[(&[u8], Why)] = &[
            (
                b"POST /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                "both Content-Length and Transfer-Encoding",
            ),
            (
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                "both Content-Length and Transfer-Encoding",
            ),
            (
                b"POST /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                "more than one Content-Length",
            ),
            (
                b"POST /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                "more than one Content-Length",
            ),
            (
                b"POST /a HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
                "Content-Length is not a number",
            ),
            (
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                "Transfer-Encoding other than chunked",
            ),
            (
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                "Transfer-Encoding other than chunked",
            ),
            (
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                "more than one Transfer-Encoding",
            ),
            (
                b"POST /a HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
                "obsolete line folding (a header line starting with whitespace)",
            ),
        ];
        for (bad, why) in cases {
            assert_eq!(
                check(bad),
                Err(Bad { at: 0, why }),
                "{}",
                String::from_utf8_lossy(bad)
            );
            // Behind a good request on the same connection: refused at its own start.
            let good = GOOD[1];
            let stream = [good, bad].concat();
            assert_eq!(
                check(&stream),
                Err(Bad {
                    at: good.len(),
                    why
                })
            );
            assert!(check_bytewise(&stream).is_err());
        }
    }

    #[test]
    fn a_body_is_not_read_as_a_head() {
        // A body that looks like a folded, doubly framed head is data.
        let body = b"\r\n Content-Length: 1\r\nTransfer-Encoding: x\r\n\r\n";
        let req = [
            format!("POST /a HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
            body,
            b"GET /b HTTP/1.1\r\n\r\n",
        ]
        .concat();
        assert_eq!(check(&req), Ok(()));
        assert_eq!(check_bytewise(&req), Ok(()));
    }

    #[test]
    fn a_chunked_body_it_cannot_follow_stops_the_checks() {
        let mut f = Framing::default();
        assert_eq!(
            f.feed(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Ok(())
        );
        assert!(f.lost());
        let mut f = Framing::default();
        assert_eq!(f.feed(b"GET / HTTP/1.1\r\n"), Ok(()));
        assert!(!f.lost());
    }
}
