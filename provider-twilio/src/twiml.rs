//! TwiML responses for messaging webhooks.
//!
//! Twilio reads the body of the answer to an inbound-message webhook as TwiML: an empty
//! `<Response>` acknowledges the message without replying, and `<Message>` replies with
//! text. The strings match what the official SDKs produce (twilio-python
//! `MessagingResponse`), with the XML declaration first.

/// The empty TwiML document: acknowledges a webhook without doing anything.
///
/// ```
/// assert_eq!(
///     telephony_twilio::twiml::EMPTY_RESPONSE,
///     r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
/// );
/// ```
pub const EMPTY_RESPONSE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// The XML declaration every document starts with.
const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// A TwiML document that replies to the sender with `text`.
///
/// `&`, `<`, `>`, `"` and `'` are escaped; characters that XML 1.0 cannot carry at all
/// (C0 controls other than tab, LF and CR; U+FFFE and U+FFFF) are dropped, so the result
/// is always a well-formed document.
///
/// ```
/// use telephony_twilio::twiml::message_response;
/// assert_eq!(
///     message_response("Tom & Jerry <3"),
///     r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>Tom &amp; Jerry &lt;3</Message></Response>"#
/// );
/// ```
pub fn message_response(text: &str) -> String {
    let mut out = String::with_capacity(XML_DECLARATION.len() + 40 + text.len());
    out.push_str(XML_DECLARATION);
    out.push_str("<Response><Message>");
    push_escaped(&mut out, text);
    out.push_str("</Message></Response>");
    out
}

/// Appends `text` to `out` with the five XML special characters escaped and characters
/// that are not allowed in XML 1.0 removed.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_response_is_exact() {
        assert_eq!(
            EMPTY_RESPONSE,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
        );
    }

    #[test]
    fn message_response_plain() {
        // twilio-python test_messaging_response: `<Message>Hello</Message>`.
        assert_eq!(
            message_response("Hello"),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>Hello</Message></Response>"#
        );
    }

    #[test]
    fn message_response_escapes_all_five() {
        assert_eq!(
            message_response(r#"a & b < c > d "e" 'f'"#),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;</Message></Response>"#
        );
    }

    #[test]
    fn message_response_does_not_double_escape() {
        assert_eq!(
            message_response("&amp;"),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>&amp;amp;</Message></Response>"#
        );
    }

    #[test]
    fn message_response_keeps_unicode_and_whitespace() {
        assert_eq!(
            message_response("Olá 👍\n\tline two\r\n"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>Olá 👍\n\tline two\r\n</Message></Response>"
        );
    }

    #[test]
    fn message_response_drops_characters_xml_cannot_carry() {
        assert_eq!(
            message_response("a\u{0}b\u{7}c\u{1b}d\u{FFFF}e"),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>abcde</Message></Response>"#
        );
    }

    #[test]
    fn message_response_empty_text() {
        assert_eq!(
            message_response(""),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message></Message></Response>"#
        );
    }
}
