//! `telephony export`: the store's messages, calls or sends as JSON lines or CSV, read a
//! page at a time ([`ExportStore`]), so memory holds one page however large the export.
//!
//! Records are the admin API's JSON ([`api::InboxEntry`], [`api::Call`], [`api::Receipt`]):
//! one object per line, or one CSV row per record with a column per top-level field
//! (nested values — media, history, transcript, extra parameters — as compact JSON text in
//! their cell, keys sorted).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use telephony::config::StoreBackend;
use telephony_core::store::{ExportCursor, ExportRange};
use telephony_serve::api;
use time::OffsetDateTime;

use super::direct::open_store;
use super::history::parse_since;
use crate::context::{CliError, Context};
use crate::{ExportFormat, ExportKind};

/// The command line of `telephony export`.
pub(crate) struct Options {
    pub since: Option<String>,
    pub until: Option<String>,
    pub kind: ExportKind,
    pub format: ExportFormat,
    pub output: Option<PathBuf>,
    pub page_size: usize,
}

/// The CSV columns of each kind: the admin API's field names, in its order.
const MESSAGE_COLUMNS: &[&str] = &[
    "id",
    "providerSid",
    "accountSid",
    "channel",
    "from",
    "to",
    "body",
    "media",
    "numSegments",
    "receivedAt",
    "extra",
    "state",
    "note",
];
const SEND_COLUMNS: &[&str] = &[
    "id",
    "to",
    "body",
    "mediaUrls",
    "status",
    "providerSids",
    "from",
    "segments",
    "price",
    "priceUnit",
    "error",
    "attempts",
    "history",
    "createdAt",
    "updatedAt",
];
const CALL_COLUMNS: &[&str] = &[
    "id",
    "direction",
    "from",
    "to",
    "status",
    "live",
    "startedAt",
    "answeredAt",
    "endedAt",
    "durationSecs",
    "note",
    "history",
    "transcript",
    "answeredBy",
];

fn columns(kind: ExportKind) -> &'static [&'static str] {
    match kind {
        ExportKind::Messages => MESSAGE_COLUMNS,
        ExportKind::Sends => SEND_COLUMNS,
        ExportKind::Calls => CALL_COLUMNS,
    }
}

fn noun(kind: ExportKind) -> &'static str {
    match kind {
        ExportKind::Messages => "message(s)",
        ExportKind::Sends => "send(s)",
        ExportKind::Calls => "call(s)",
    }
}

pub(super) async fn export(ctx: Context, o: Options) -> Result<(), CliError> {
    let now = OffsetDateTime::now_utc();
    let since = o
        .since
        .as_deref()
        .map(|s| parse_since(s, now))
        .transpose()?;
    let until = o
        .until
        .as_deref()
        .map(|s| {
            parse_since(s, now)
                .map_err(|e| CliError::config(e.message.replace("--since", "--until")))
        })
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(CliError::config(format!(
                "--since ({}) must be before --until ({})",
                crate::output::ts(s),
                crate::output::ts(u)
            )));
        }
    }
    if let StoreBackend::Sqlite { path } = ctx.config.store_backend() {
        if !path.exists() {
            return Err(CliError::failure(format!(
                "there is no store at {} (nothing was ever stored, or dataDir points elsewhere)",
                path.display()
            )));
        }
    }
    let store = open_store(&ctx.config).await?;
    let sink: Box<dyn Write> = match &o.output {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .map_err(|e| CliError::failure(format!("cannot write {}: {e}", p.display())))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = Exporter::new(std::io::BufWriter::new(sink), o.format, o.kind);
    let range = ExportRange { since, until };
    let progress = std::io::stderr().is_terminal();
    let mut after: Option<ExportCursor> = None;
    let mut pages = 0usize;
    let written = loop {
        let (rows, next) = page(&*store, o.kind, &range, after.as_ref(), o.page_size).await?;
        pages += 1;
        let more = next.is_some();
        match rows.write(&mut out) {
            Ok(()) => {}
            // The reader went away (`| head`): stop, as other tools do.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(write_error(&o, e)),
        }
        if progress && (more || pages > 1) {
            eprint!("\rexported {} {}…", out.rows, noun(o.kind));
        }
        match next {
            Some(c) => after = Some(c),
            None => break out.rows,
        }
    };
    match out.finish() {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => return Err(write_error(&o, e)),
    }
    if progress && pages > 1 {
        eprint!("\r\x1b[K");
    }
    let to = match &o.output {
        Some(p) => format!(" to {}", p.display()),
        None => String::new(),
    };
    eprintln!("exported {written} {} in {pages} page(s){to}", noun(o.kind));
    Ok(())
}

fn write_error(o: &Options, e: std::io::Error) -> CliError {
    match &o.output {
        Some(p) => CliError::failure(format!("writing {}: {e}", p.display())),
        None => CliError::failure(format!("writing the export: {e}")),
    }
}

/// One page of records in the admin API's form.
enum Rows {
    Messages(Vec<api::InboxEntry>),
    Sends(Vec<api::Receipt>),
    Calls(Vec<api::Call>),
}

impl Rows {
    fn write<W: Write>(&self, out: &mut Exporter<W>) -> std::io::Result<()> {
        match self {
            Rows::Messages(r) => r.iter().try_for_each(|x| out.record(x)),
            Rows::Sends(r) => r.iter().try_for_each(|x| out.record(x)),
            Rows::Calls(r) => r.iter().try_for_each(|x| out.record(x)),
        }
    }
}

/// One page of `kind`, and the cursor of the next.
async fn page(
    store: &dyn telephony_core::Store,
    kind: ExportKind,
    range: &ExportRange,
    after: Option<&ExportCursor>,
    limit: usize,
) -> Result<(Rows, Option<ExportCursor>), CliError> {
    Ok(match kind {
        ExportKind::Messages => {
            let p = store.inbox_page(range, after, limit).await?;
            let rows = p.items.iter().map(api::InboxEntry::from).collect();
            (Rows::Messages(rows), p.next)
        }
        ExportKind::Sends => {
            let p = store.receipts_page(range, after, limit).await?;
            let rows = p.items.iter().map(api::Receipt::from).collect();
            (Rows::Sends(rows), p.next)
        }
        ExportKind::Calls => {
            let p = store.calls_page(range, after, limit).await?;
            let rows = p.items.iter().map(api::Call::from).collect();
            (Rows::Calls(rows), p.next)
        }
    })
}

/// Writes records as JSON lines or CSV rows (the header before the first).
struct Exporter<W: Write> {
    out: W,
    format: ExportFormat,
    columns: &'static [&'static str],
    rows: usize,
}

impl<W: Write> Exporter<W> {
    fn new(out: W, format: ExportFormat, kind: ExportKind) -> Self {
        Exporter {
            out,
            format,
            columns: columns(kind),
            rows: 0,
        }
    }

    /// Writes one record: as one JSON line in the API's field order, or as a CSV row.
    fn record(&mut self, r: &impl serde::Serialize) -> std::io::Result<()> {
        match self.format {
            ExportFormat::Jsonl => {
                serde_json::to_writer(&mut self.out, r)?;
                self.out.write_all(b"\n")?;
            }
            ExportFormat::Csv => {
                if self.rows == 0 {
                    self.header()?;
                }
                let v = serde_json::to_value(r)?;
                let cells: Vec<String> = self.columns.iter().map(|c| cell(&v[*c])).collect();
                self.line(cells.iter().map(String::as_str))?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn header(&mut self) -> std::io::Result<()> {
        let columns = self.columns;
        self.line(columns.iter().copied())
    }

    fn line<'a>(&mut self, cells: impl Iterator<Item = &'a str>) -> std::io::Result<()> {
        for (i, c) in cells.enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            self.out.write_all(csv_field(c).as_bytes())?;
        }
        self.out.write_all(b"\r\n")
    }

    /// Flushes; an empty CSV export still gets its header.
    fn finish(mut self) -> std::io::Result<()> {
        if self.format == ExportFormat::Csv && self.rows == 0 {
            self.header()?;
        }
        self.out.flush()
    }
}

/// A JSON value as CSV cell text: strings as they are, numbers and booleans as JSON
/// writes them, arrays and objects as compact JSON (keys sorted), null or absent as an
/// empty cell.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a double quote, a CR or an LF
/// (or starts or ends with a space, which some readers trim), with its quotes doubled.
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    let needs = s.contains([',', '"', '\r', '\n']) || s.starts_with(' ') || s.ends_with(' ');
    if needs {
        std::borrow::Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("+15557654321"), "+15557654321");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\rlf"), "\"cr\rlf\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
        assert_eq!(csv_field("\""), "\"\"\"\"");
    }

    #[test]
    fn csv_rows_follow_the_columns_and_encode_nested_values() {
        let mut buf = Vec::new();
        let mut e = Exporter::new(&mut buf, ExportFormat::Csv, ExportKind::Messages);
        e.record(&serde_json::json!({
            "id": "msg_1", "providerSid": "SM1", "channel": "sms", "from": "+15557654321",
            "to": "+15550001234", "body": "hi, \"you\"\nthere", "numSegments": 1,
            "receivedAt": "2026-01-02T03:04:05Z", "extra": {"FromCity": "X"},
            "state": "accepted"
        }))
        .unwrap();
        e.finish().unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "id,providerSid,accountSid,channel,from,to,body,media,numSegments,receivedAt,extra,state,note\r\n\
             msg_1,SM1,,sms,+15557654321,+15550001234,\"hi, \"\"you\"\"\nthere\",,1,2026-01-02T03:04:05Z,\"{\"\"FromCity\"\":\"\"X\"\"}\",accepted,\r\n"
        );
    }

    /// The CSV columns are exactly the fields the admin API writes for a record with
    /// every field set, so a field added to the API cannot be left out of CSV silently.
    #[test]
    fn csv_columns_are_the_api_fields() {
        use telephony_core::store::{
            CallRecord, CallStatusChange, CallTurn, InboxEntry, InboxState, StatusSource,
        };
        use telephony_core::voice::{CallDirection, CallStatus};
        use telephony_core::{ErrorInfo, Media, Receipt};
        let t = telephony_core::store_suite::t0();
        let keys = |v: serde_json::Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let sorted = |c: &[&str]| -> Vec<String> {
            let mut k: Vec<String> = c.iter().map(|s| s.to_string()).collect();
            k.sort();
            k
        };

        let mut m = telephony_core::store_suite::inbound("SM1", "+15557654321", "hi", 0);
        m.media = vec![Media {
            url: "https://x/1".into(),
            content_type: None,
            size: None,
        }];
        let entry = InboxEntry {
            message: m,
            state: InboxState::Accepted,
            note: Some("n".into()),
        };
        assert_eq!(
            keys(serde_json::to_value(api::InboxEntry::from(&entry)).unwrap()),
            sorted(MESSAGE_COLUMNS)
        );

        let mut r = Receipt::new_pending(
            telephony_core::MessageId::from_string("msg_1"),
            &telephony_core::OutboundMessage::new("+15557654321".parse().unwrap(), "hi")
                .with_media("https://x/2"),
            t,
        );
        r.provider_sids = vec!["SM1".into()];
        r.from = Some("+15550001234".into());
        r.segments = Some(1);
        r.price = Some("-0.0079".into());
        r.price_unit = Some("USD".into());
        r.error = Some(ErrorInfo {
            code: Some(1),
            message: "m".into(),
            more_info: None,
        });
        assert_eq!(
            keys(serde_json::to_value(api::Receipt::from(&r)).unwrap()),
            sorted(SEND_COLUMNS)
        );

        let c = CallRecord {
            call_id: "CA1".into(),
            direction: CallDirection::Inbound,
            from: "+15557654321".into(),
            to: "+15550001234".into(),
            status: CallStatus::Completed,
            session: true,
            started_at: t,
            answered_at: Some(t),
            ended_at: Some(t),
            updated_at: t,
            duration_secs: Some(3),
            note: Some("n".into()),
            history: vec![CallStatusChange {
                status: CallStatus::Completed,
                at: t,
                source: StatusSource::Callback,
            }],
            transcript: vec![CallTurn {
                at: t,
                speech: Some("s".into()),
                confidence: None,
                digits: None,
            }],
            answered_by: Some(telephony_core::voice::AnsweredBy::MachineBeep),
            update_epoch: 0,
        };
        assert_eq!(
            keys(serde_json::to_value(api::Call::from(&c)).unwrap()),
            sorted(CALL_COLUMNS)
        );
    }
}
