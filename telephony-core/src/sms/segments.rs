//! SMS encoding detection and segment counting.
//!
//! This follows the model of Twilio's message segment calculator
//! (TwilioDevEd/message-segment-calculator):
//!
//! * A segment carries 1120 bits (140 octets) of user data.
//! * Once a message needs two or more segments, every segment spends 48 bits
//!   on a User Data Header (UDH), leaving 1072 bits for text.
//! * GSM-7: a character from the basic table costs 7 bits; a character from
//!   the extension table is sent as `ESC` + code and costs 14 bits. That gives
//!   160 characters in one segment, 153 per segment once concatenated.
//! * UCS-2: every UTF-16 code unit costs 16 bits, so a character outside the
//!   Basic Multilingual Plane (most emoji) costs 32 bits and a grapheme made of
//!   several code points costs 16 bits per code unit. That gives 70 units in
//!   one segment, 67 per segment once concatenated.
//! * The encoding is chosen for the whole message: one grapheme that is not
//!   in the GSM-7 tables (or that is made of more than one code point) makes
//!   the whole message UCS-2.
//! * A grapheme (user-perceived character) is never split across segments,
//!   and neither is an `ESC` + extension-table pair.
//! * `\r\n` counts as two characters (`\r` and `\n`), as in the calculator,
//!   even though Unicode treats it as one grapheme cluster.

use std::collections::HashSet;

use serde::Serialize;
use unicode_segmentation::UnicodeSegmentation;

/// Bits of user data in one SMS segment (140 octets).
pub(crate) const SEGMENT_BITS: usize = 1120;
/// Bits spent on the concatenation User Data Header in each segment of a
/// multi-segment message (6 octets).
pub(crate) const UDH_BITS: usize = 48;
/// Bits of text in each segment of a multi-segment message.
const CONCAT_SEGMENT_BITS: usize = SEGMENT_BITS - UDH_BITS;

/// The character encoding a message is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Encoding {
    /// The 7-bit GSM 03.38 default alphabet (with its extension table).
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UCS-2 (in practice UTF-16): 16 bits per code unit.
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// The result of [`analyze`]: how a carrier would encode and segment a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentInfo {
    /// The encoding the whole message is sent with.
    pub encoding: Encoding,
    /// Number of graphemes (user-perceived characters), with `\r\n` counted as
    /// two.
    pub characters: usize,
    /// Encoded length: for GSM-7 the number of septets (extension-table
    /// characters count 2); for UCS-2 the number of UTF-16 code units.
    pub code_units: usize,
    /// Number of SMS segments the message is billed as: 0 for the empty
    /// text, otherwise 1 or more.
    pub segments: usize,
    /// The graphemes that forced UCS-2, each distinct one listed once in
    /// order of first appearance. Empty for GSM-7.
    pub unicode_characters: Vec<String>,
}

/// Septets `c` takes in GSM-7: `Some(1)` for the basic table, `Some(2)` for
/// the extension table (`ESC` + code), `None` when it has no GSM-7 form.
pub(crate) fn gsm7_septets(c: char) -> Option<usize> {
    match c {
        // Basic table: ASCII part.
        '\n' | '\r' | ' '..='?' | '@' | 'A'..='Z' | '_' | 'a'..='z' => Some(1),
        // Basic table: the rest. Note U+00C7 (upper-case Ç) is GSM-7 but
        // U+00E7 (lower-case ç) is not, and neither is the backtick.
        '\u{A1}' | '\u{A3}' | '\u{A4}' | '\u{A5}' | '\u{A7}' | '\u{BF}' | '\u{C4}' | '\u{C5}'
        | '\u{C6}' | '\u{C7}' | '\u{C9}' | '\u{D1}' | '\u{D6}' | '\u{D8}' | '\u{DC}' | '\u{DF}'
        | '\u{E0}' | '\u{E4}' | '\u{E5}' | '\u{E6}' | '\u{E8}' | '\u{E9}' | '\u{EC}' | '\u{F1}'
        | '\u{F2}' | '\u{F6}' | '\u{F8}' | '\u{F9}' | '\u{FC}' | '\u{393}' | '\u{394}'
        | '\u{398}' | '\u{39B}' | '\u{39E}' | '\u{3A0}' | '\u{3A3}' | '\u{3A6}' | '\u{3A8}'
        | '\u{3A9}' => Some(1),
        // Extension table: form feed ^ { } \ [ ~ ] | €
        '\u{0C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '\u{20AC}' => Some(2),
        _ => None,
    }
}

/// Septets a grapheme takes in GSM-7, or `None` if it forces UCS-2 (it is
/// not in the tables, or it is made of more than one code point).
pub(crate) fn grapheme_gsm7_septets(g: &str) -> Option<usize> {
    let mut chars = g.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => gsm7_septets(c),
        _ => None,
    }
}

/// UTF-16 code units in `g`.
pub(crate) fn utf16_len(g: &str) -> usize {
    g.chars().map(char::len_utf16).sum()
}

/// The text's graphemes as the calculator sees them: extended grapheme
/// clusters, except that `\r\n` is two (`\r`, `\n`). Yields `(byte offset,
/// grapheme)`.
pub(crate) fn sms_graphemes(text: &str) -> impl Iterator<Item = (usize, &str)> + '_ {
    text.grapheme_indices(true).flat_map(|(i, g)| {
        let pair = if g == "\r\n" {
            [Some((i, &g[..1])), Some((i + 1, &g[1..]))]
        } else {
            [Some((i, g)), None]
        };
        pair.into_iter().flatten()
    })
}

/// Returns `true` if the whole text can be sent as GSM-7 (the empty text
/// can).
///
/// Every GSM-7 character is a grapheme on its own (none of them combines with
/// a neighbour, except `\r\n`, which counts as two characters anyway), so
/// this is a plain per-`char` check.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

/// Greedy packer of graphemes into segments.
///
/// It packs with the multi-segment capacity (1072 bits); the caller decides
/// at the end whether the message fits in a single 1120-bit segment instead.
#[derive(Default)]
struct Packer {
    total_bits: usize,
    used_bits: usize,
    multi_segments: usize,
}

impl Packer {
    /// Adds one grapheme of `bits`; returns `true` if it starts a new
    /// segment (in the multi-segment layout). A grapheme bigger than a
    /// segment gets a segment of its own.
    fn push(&mut self, bits: usize) -> bool {
        self.total_bits += bits;
        let new_segment = self.multi_segments == 0 || self.used_bits + bits > CONCAT_SEGMENT_BITS;
        if new_segment {
            self.multi_segments += 1;
            self.used_bits = 0;
        }
        self.used_bits += bits;
        new_segment
    }

    fn segments(&self) -> usize {
        match self.total_bits {
            0 => 0,
            bits if bits <= SEGMENT_BITS => 1,
            _ => self.multi_segments,
        }
    }
}

/// Detects the encoding of `text` and counts its characters, code units and
/// segments, the way Twilio's segment calculator does.
///
/// ```
/// use telephony_core::sms::{analyze, Encoding};
///
/// let info = analyze("Hello! Your code is 1234.");
/// assert_eq!(info.encoding, Encoding::Gsm7);
/// assert_eq!(info.segments, 1);
///
/// // One emoji makes the whole message UCS-2 (70 units per single segment).
/// let info = analyze("Thanks 👍");
/// assert_eq!(info.encoding, Encoding::Ucs2);
/// assert_eq!(info.characters, 8);
/// assert_eq!(info.code_units, 9); // the emoji is a surrogate pair
/// assert_eq!(info.unicode_characters, vec!["👍".to_string()]);
///
/// // 161 GSM-7 characters need two segments (153 + 8).
/// assert_eq!(analyze(&"a".repeat(161)).segments, 2);
/// ```
pub fn analyze(text: &str) -> SegmentInfo {
    if is_gsm7(text) {
        // Every char is its own grapheme here.
        let mut packer = Packer::default();
        let mut characters = 0;
        let mut septets = 0;
        for c in text.chars() {
            let n = gsm7_septets(c).unwrap_or(1);
            characters += 1;
            septets += n;
            packer.push(7 * n);
        }
        return SegmentInfo {
            encoding: Encoding::Gsm7,
            characters,
            code_units: septets,
            segments: packer.segments(),
            unicode_characters: Vec::new(),
        };
    }

    let mut packer = Packer::default();
    let mut characters = 0;
    let mut units = 0;
    let mut seen: HashSet<&str> = HashSet::new();
    let mut unicode_characters = Vec::new();
    for (_, g) in sms_graphemes(text) {
        let n = utf16_len(g);
        characters += 1;
        units += n;
        packer.push(16 * n);
        if grapheme_gsm7_septets(g).is_none() && seen.insert(g) {
            unicode_characters.push(g.to_owned());
        }
    }
    SegmentInfo {
        encoding: Encoding::Ucs2,
        characters,
        code_units: units,
        segments: packer.segments(),
        unicode_characters,
    }
}

/// Splits text into the segments the carrier would see, never splitting a
/// grapheme or an `ESC` + extension-table pair. Concatenating the result
/// gives back `text`; the empty text gives no segments.
///
/// The segment texts exclude the UDH; when there are two or more, each holds
/// at most 153 GSM-7 septets or 67 UCS-2 code units.
pub fn split_segments(text: &str) -> Vec<String> {
    let gsm7 = is_gsm7(text);
    let bits_of = |g: &str| {
        if gsm7 {
            7 * grapheme_gsm7_septets(g).unwrap_or(1)
        } else {
            16 * utf16_len(g)
        }
    };
    let mut packer = Packer::default();
    let mut starts = Vec::new();
    for (i, g) in sms_graphemes(text) {
        if packer.push(bits_of(g)) {
            starts.push(i);
        }
    }
    match packer.segments() {
        0 => Vec::new(),
        1 => vec![text.to_owned()],
        _ => {
            let mut out = Vec::with_capacity(starts.len());
            for (k, &start) in starts.iter().enumerate() {
                let end = starts.get(k + 1).copied().unwrap_or(text.len());
                out.push(text[start..end].to_owned());
            }
            out
        }
    }
}

/// `(message bits, total bits)` as the calculator reports them
/// (`messageSize`, `totalSize`): the text alone, and the text plus one UDH
/// per segment when there are two or more.
#[cfg(test)]
fn bit_sizes(text: &str) -> (usize, usize) {
    let info = analyze(text);
    let message = match info.encoding {
        Encoding::Gsm7 => 7 * info.code_units,
        Encoding::Ucs2 => 16 * info.code_units,
    };
    let udh = if info.segments >= 2 {
        UDH_BITS * info.segments
    } else {
        0
    };
    (message, message + udh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// `testdata/segments.json`: the calculator's published test cases.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Table {
        #[allow(dead_code)]
        about: Vec<String>,
        cases: Vec<Case>,
        skipped: Vec<Skipped>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Case {
        label: String,
        source: String,
        text: String,
        encoding: String,
        segments: usize,
        /// The calculator's `numberOfCharacters`: septets for GSM-7,
        /// graphemes for UCS-2.
        characters: Option<usize>,
        /// UTF-16 code units (UCS-2) the suite states for the message.
        code_units: Option<usize>,
        /// The calculator's `numberOfUnicodeScalars` (checks the text itself).
        unicode_scalars: Option<usize>,
        /// The calculator's `messageSize` (bits, without UDH).
        message_bits: Option<usize>,
        /// The calculator's `totalSize` (bits, with UDH).
        total_bits: Option<usize>,
        /// The non-GSM characters (`getNonGsmCharacters()` / `isGSM7 == false`).
        unicode_chars: Option<Vec<String>>,
        /// The text of the last segment.
        last_segment: Option<String>,
        /// Graphemes in each segment.
        segment_graphemes: Option<Vec<usize>>,
        /// Expectations not asserted by the suite itself but implied by it.
        #[allow(dead_code)]
        derived: Option<Vec<String>>,
        #[allow(dead_code)]
        note: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Skipped {
        source: String,
        reason: String,
    }

    fn table() -> Table {
        serde_json::from_str(include_str!("../../testdata/segments.json")).expect("valid JSON")
    }

    #[test]
    fn calculator_cases() {
        let table = table();
        assert!(table.cases.len() >= 50, "only {} cases", table.cases.len());
        let mut failures = Vec::new();
        for case in &table.cases {
            let info = analyze(&case.text);
            let mut check = |what: &str, got: String, want: String| {
                if got != want {
                    failures.push(format!(
                        "{} [{}]: {what} = {got}, want {want}",
                        case.label, case.source
                    ));
                }
            };
            let encoding = serde_json::to_value(info.encoding).unwrap();
            check(
                "encoding",
                encoding.as_str().unwrap().to_owned(),
                case.encoding.clone(),
            );
            check(
                "segments",
                info.segments.to_string(),
                case.segments.to_string(),
            );
            check(
                "split_segments().len()",
                split_segments(&case.text).len().to_string(),
                case.segments.to_string(),
            );
            if let Some(want) = case.characters {
                let got = match info.encoding {
                    Encoding::Gsm7 => info.code_units,
                    Encoding::Ucs2 => info.characters,
                };
                check("characters", got.to_string(), want.to_string());
            }
            if let Some(want) = case.code_units {
                check("code_units", info.code_units.to_string(), want.to_string());
            }
            if let Some(want) = case.unicode_scalars {
                check(
                    "unicode scalars",
                    case.text.chars().count().to_string(),
                    want.to_string(),
                );
            }
            let (message_bits, total_bits) = bit_sizes(&case.text);
            if let Some(want) = case.message_bits {
                check("message bits", message_bits.to_string(), want.to_string());
            }
            if let Some(want) = case.total_bits {
                check("total bits", total_bits.to_string(), want.to_string());
            }
            if let Some(want) = &case.unicode_chars {
                check(
                    "unicode_characters",
                    format!("{:?}", info.unicode_characters),
                    format!("{want:?}"),
                );
            }
            let parts = split_segments(&case.text);
            check(
                "split_segments joined",
                format!("{:?}", parts.concat()),
                format!("{:?}", case.text),
            );
            if let Some(want) = &case.last_segment {
                check(
                    "last segment",
                    format!("{:?}", parts.last()),
                    format!("{:?}", Some(want)),
                );
            }
            if let Some(want) = &case.segment_graphemes {
                let got: Vec<usize> = parts.iter().map(|p| sms_graphemes(p).count()).collect();
                check("segment graphemes", format!("{got:?}"), format!("{want:?}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn skipped_cases_say_why() {
        for s in table().skipped {
            assert!(
                s.source.starts_with("message-segment-calculator "),
                "{}",
                s.source
            );
            assert!(!s.reason.is_empty(), "{}", s.source);
        }
    }

    #[test]
    fn case_sources_are_the_calculator_suite() {
        for c in table().cases {
            assert!(
                c.source.starts_with("message-segment-calculator tests/"),
                "{}",
                c.source
            );
        }
    }

    #[test]
    fn empty_text() {
        let info = analyze("");
        assert_eq!(
            info,
            SegmentInfo {
                encoding: Encoding::Gsm7,
                characters: 0,
                code_units: 0,
                segments: 0,
                unicode_characters: vec![],
            }
        );
        assert!(split_segments("").is_empty());
        assert!(is_gsm7(""));
    }

    #[test]
    fn gsm7_table_sizes() {
        let basic = (0..=0x3000u32)
            .filter_map(char::from_u32)
            .filter(|&c| gsm7_septets(c) == Some(1))
            .count();
        let ext: String = (0..=0x3000u32)
            .filter_map(char::from_u32)
            .filter(|&c| gsm7_septets(c) == Some(2))
            .collect();
        assert_eq!(basic, 127);
        assert_eq!(ext, "\u{c}[\\]^{|}~\u{20ac}");
        assert_eq!(gsm7_septets('\u{20ac}'), Some(2));
    }

    #[test]
    fn c_cedilla_case_matters() {
        assert!(is_gsm7("Ç"));
        assert!(!is_gsm7("ç"));
        assert!(!is_gsm7("`"));
        let info = analyze("Façade");
        assert_eq!(info.encoding, Encoding::Ucs2);
        assert_eq!(info.unicode_characters, vec!["ç"]);
        assert_eq!(analyze("FAÇADE").encoding, Encoding::Gsm7);
    }

    #[test]
    fn one_non_gsm_char_makes_everything_ucs2() {
        let text = format!("{}ó", "a".repeat(69));
        let info = analyze(&text);
        assert_eq!(info.encoding, Encoding::Ucs2);
        assert_eq!(
            (info.characters, info.code_units, info.segments),
            (70, 70, 1)
        );
        let text = format!("{}ó", "a".repeat(70));
        assert_eq!(analyze(&text).segments, 2);
    }

    #[test]
    fn unicode_characters_are_distinct_in_order() {
        let info = analyze("ó 😀 á ó 😀 e\u{301}");
        assert_eq!(info.unicode_characters, vec!["ó", "😀", "á", "e\u{301}"]);
    }

    #[test]
    fn extension_char_never_split() {
        // 152 septets, then `€` (2 septets) would straddle the 153-septet
        // boundary: it moves whole to segment 2.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let info = analyze(&text);
        assert_eq!(info.encoding, Encoding::Gsm7);
        assert_eq!(
            (info.characters, info.code_units, info.segments),
            (163, 164, 2)
        );
        let parts = split_segments(&text);
        assert_eq!(parts, vec!["a".repeat(152), format!("€{}", "b".repeat(10))]);
    }

    #[test]
    fn gsm7_three_segments_layout() {
        let text = "x".repeat(307);
        let parts = split_segments(&text);
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(lens, vec![153, 153, 1]);
        assert_eq!(analyze(&"x".repeat(306)).segments, 2);
    }

    #[test]
    fn ucs2_exact_fit_segments() {
        // 67 units fill a concatenated segment exactly: 134 BMP chars is two
        // segments, 135 is three.
        assert_eq!(analyze(&"ж".repeat(134)).segments, 2);
        assert_eq!(analyze(&"ж".repeat(135)).segments, 3);
        let lens: Vec<usize> = split_segments(&"ж".repeat(134))
            .iter()
            .map(|p| p.chars().count())
            .collect();
        assert_eq!(lens, vec![67, 67]);
    }

    #[test]
    fn surrogate_pair_never_split() {
        // 66 units + an emoji (2 units) does not fit in 67: the emoji moves.
        let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(10));
        let parts = split_segments(&text);
        assert_eq!(parts, vec!["ж".repeat(66), format!("😀{}", "ж".repeat(10))]);
        assert_eq!(analyze(&text).code_units, 78);
    }

    #[test]
    fn multi_codepoint_grapheme_never_split() {
        // Family emoji: 5 code points, 8 UTF-16 units, one grapheme.
        let family = "👨\u{200d}👩\u{200d}👧";
        let info = analyze(family);
        assert_eq!((info.characters, info.code_units, info.segments), (1, 8, 1));
        let text = format!("{}{family}tail", "ж".repeat(60));
        let parts = split_segments(&text);
        assert_eq!(parts, vec!["ж".repeat(60), format!("{family}tail")]);
    }

    #[test]
    fn crlf_counts_two() {
        let info = analyze("a\r\nb");
        assert_eq!(
            (info.encoding, info.characters, info.code_units),
            (Encoding::Gsm7, 4, 4)
        );
        // In UCS-2 too.
        let info = analyze("ó\r\nb");
        assert_eq!((info.characters, info.code_units), (4, 4));
        // And a segment boundary may fall between them, like the calculator.
        let text = format!("{}\r\n{}", "a".repeat(152), "b".repeat(10));
        let parts = split_segments(&text);
        assert_eq!(parts[0], format!("{}\r", "a".repeat(152)));
    }

    #[test]
    fn segment_info_serializes() {
        let json = serde_json::to_value(analyze("hé😀")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "encoding": "UCS-2",
                "characters": 3,
                "code_units": 4,
                "segments": 1,
                "unicode_characters": ["😀"],
            })
        );
        assert_eq!(serde_json::to_value(Encoding::Gsm7).unwrap(), "GSM-7");
    }
}
