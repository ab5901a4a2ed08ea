//! Printing helpers shared by the commands.

use telephony_serve::api;

/// A time in CLI text output: UTC, always three fraction digits
/// (`2026-01-02T03:04:05.180Z`), so columns line up (JSON keeps full RFC 3339).
pub(crate) fn ts(t: time::OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let utc = t.to_offset(time::UtcOffset::UTC);
    utc.format(FORMAT)
        .unwrap_or_else(|_| telephony_core::rfc3339::format(utc))
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_keep_a_fixed_width() {
        use time::macros::datetime;
        assert_eq!(
            super::ts(datetime!(2026-01-02 03:04:12.18 UTC)),
            "2026-01-02T03:04:12.180Z"
        );
        assert_eq!(
            super::ts(datetime!(2026-01-02 03:04:12 UTC)),
            "2026-01-02T03:04:12.000Z"
        );
        assert_eq!(
            super::ts(datetime!(2026-01-02 03:04:12.123456789 UTC)),
            "2026-01-02T03:04:12.123Z"
        );
        assert_eq!(
            super::ts(datetime!(2026-01-02 04:04:12.5 +01:00)),
            "2026-01-02T03:04:12.500Z"
        );
    }
}

pub(crate) fn print_json(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: could not encode JSON: {e}"),
    }
}

/// `telephony send --json`: the gateway's [`api::SendResponse`] and how it was sent.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SendReport<'a> {
    /// "through the running gateway at …" or "directly with the configured credentials …".
    pub via: String,
    /// The receipts and whether they are held.
    #[serde(flatten)]
    pub sent: &'a api::SendResponse,
}

pub(crate) fn receipt_line(r: &api::Receipt) -> String {
    let mut s = format!("{}  to {}  status {}", r.id, r.to, r.status);
    if !r.provider_sids.is_empty() {
        s.push_str(&format!("  sid {}", r.provider_sids.join(",")));
    }
    if let Some(n) = r.segments {
        s.push_str(&format!("  segments {n}"));
    }
    if let Some(e) = &r.error {
        s.push_str(&format!("\n  {e}"));
    }
    s
}

pub(crate) fn print_receipt_detail(r: &api::Receipt) {
    println!("{}", receipt_line(r));
    for h in &r.history {
        let sid = h.provider_sid.as_deref().unwrap_or("");
        match &h.error {
            Some(e) => println!("  {}  {:<12} {sid}  {e}", ts(h.at), h.status.as_str()),
            None => println!("  {}  {:<12} {sid}", ts(h.at), h.status.as_str()),
        }
    }
}

pub(crate) fn print_inbox(entries: &[api::InboxEntry]) {
    if entries.is_empty() {
        println!("inbox is empty");
        return;
    }
    for e in entries {
        let m = &e.message;
        let media = if m.media.is_empty() {
            String::new()
        } else {
            format!("  [+{} media]", m.media.len())
        };
        // A transcript of what a caller said is not a text message: say so.
        let voice = if m.channel == telephony_core::Channel::Voice {
            "  (voice transcript)"
        } else {
            ""
        };
        println!(
            "{}  {}  from {}  [{}]{}{}\n  {}",
            ts(m.received_at),
            m.provider_sid,
            m.from,
            e.state.as_str(),
            media,
            voice,
            m.body.replace('\n', "\n  ")
        );
    }
    println!("{} message(s)", entries.len());
}

pub(crate) fn call_line(c: &api::Call) -> String {
    let direction = serde_json::to_value(c.direction)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut s = format!(
        "{}  {}  {} -> {}  {}",
        c.id, direction, c.from, c.to, c.status
    );
    if c.live {
        s.push_str("  (live)");
    }
    if let Some(d) = c.duration_secs {
        s.push_str(&format!("  {d}s"));
    }
    s
}

pub(crate) fn print_recordings(recordings: &[api::Recording]) {
    if recordings.is_empty() {
        println!("no recordings");
        return;
    }
    for r in recordings {
        let secs = r
            .duration_secs
            .map(|d| format!("{d}s"))
            .unwrap_or_else(|| "?s".into());
        println!(
            "{}  {}  call {}  {secs}  {} {}  {}",
            ts(r.created_at),
            r.id,
            r.call_id,
            r.channels,
            r.format,
            r.source.as_deref().unwrap_or("call")
        );
    }
    println!("{} recording(s)", recordings.len());
}

pub(crate) fn print_calls(calls: &[api::Call]) {
    if calls.is_empty() {
        println!("no calls");
        return;
    }
    for c in calls {
        println!("{}  {}", ts(c.started_at), call_line(c));
        if let Some(n) = &c.note {
            println!("  note: {n}");
        }
        if let Some(a) = c.answered_by {
            println!("  answered by: {a}");
        }
        for h in &c.history {
            println!("  {}  {:<12} ({})", ts(h.at), h.status.as_str(), h.source);
        }
        for t in &c.transcript {
            let mut line = String::new();
            if let Some(sp) = &t.speech {
                line.push_str(&format!("said {sp:?}"));
                if let Some(conf) = t.confidence {
                    line.push_str(&format!(" (confidence {conf:.2})"));
                }
            }
            if let Some(d) = &t.digits {
                if !line.is_empty() {
                    line.push_str(", ");
                }
                line.push_str(&format!("pressed {d}"));
            }
            println!("  {}  {line}", ts(t.at));
        }
    }
    println!("{} call(s)", calls.len());
}
