//! Markdown → plain SMS text.
//!
//! Assistant replies are usually written in Markdown, which reads badly on a
//! phone (`**`, `#`, backticks) and can push a message from GSM-7 into UCS-2
//! (the backtick is not a GSM-7 character). [`flatten_markdown`] keeps the
//! words and drops the markup.

/// Markdown → plain SMS text.
///
/// Rules, applied line by line outside fenced code blocks:
///
/// * Links: `[label](url)` becomes `label (url)`, or just `url` when the label
///   is the URL (or the URL is `mailto:`/`tel:` followed by the label, or the
///   label is empty). A link title (`[a](url "title")`) is dropped. Images
///   (`![alt](src)`) are treated the same way. Autolinks `<https://x>`
///   become `https://x`.
/// * Emphasis markers are removed: `**b**`, `__b__`, `*i*`, `_i_`, `~~s~~`.
///   A marker only opens at the start of a word and only closes at the end of
///   one, so `snake_case_words`, `2*3*4` and `a * b` are left alone, as are
///   bare URLs.
/// * Inline code: `` `code` `` becomes `code`, with its content untouched.
/// * Backslash escapes (`\*`) give the literal character.
/// * Heading markers (`#` to `######` and a space, and any closing `#`s) are
///   removed, and so are setext underlines (`===`) and thematic breaks
///   (`---`, `***`, `___`).
/// * Bullet list markers (`- `, `* `, `+ `) are removed, keeping the item's
///   indentation. Ordered list markers (`1. `, `1) `) are kept: the numbers
///   carry meaning (steps, ranking) that the reader needs.
/// * Blockquote markers (`> `) are removed.
/// * Fenced code blocks (```` ``` ```` or `~~~`): the fence lines, info
///   string included, are removed; the code lines are kept as they are (no
///   Markdown processing inside).
///
/// Then, on the whole text: CRLF becomes LF, trailing whitespace is trimmed
/// from every line, runs of three or more newlines become exactly two, and
/// the result is trimmed.
///
/// ```
/// use telephony_core::sms::flatten_markdown;
///
/// let reply = "## Your order\n\n\
///     - **Status:** shipped\n\
///     - Track it [here](https://example.com/t/42)\n\n\
///     Reply `STOP` to opt out.";
/// assert_eq!(
///     flatten_markdown(reply),
///     "Your order\n\nStatus: shipped\nTrack it here (https://example.com/t/42)\n\nReply STOP to opt out."
/// );
/// ```
pub fn flatten_markdown(input: &str) -> String {
    let text = input.replace("\r\n", "\n");
    let mut lines: Vec<String> = Vec::new();
    let mut fence: Option<Fence> = None;
    let mut prev_blank = true;

    for line in text.split('\n') {
        if let Some(open) = fence {
            if open.is_closed_by(line) {
                fence = None;
            } else {
                lines.push(line.to_owned());
            }
            continue;
        }
        if let Some(open) = Fence::opening(line) {
            fence = Some(open);
            continue;
        }
        let blank = line.trim().is_empty();
        if is_thematic_break(line) || (!prev_blank && is_setext_underline(line)) {
            lines.push(String::new());
            prev_blank = true;
            continue;
        }
        prev_blank = blank;
        lines.push(flatten_line(line));
    }

    // Trim line ends, collapse blank-line runs to one, trim the whole.
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in &lines {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_owned()
}

/// An open fenced code block: its fence character and length.
#[derive(Clone, Copy)]
struct Fence {
    ch: char,
    len: usize,
}

impl Fence {
    /// A line opening a fence: up to 3 spaces, then 3+ backticks or tildes,
    /// then an info string (which cannot contain a backtick for a backtick
    /// fence).
    fn opening(line: &str) -> Option<Fence> {
        let rest = strip_indent(line, 3)?;
        let ch = rest.chars().next().filter(|&c| c == '`' || c == '~')?;
        let len = rest.chars().take_while(|&c| c == ch).count();
        if len < 3 || (ch == '`' && rest[len..].contains('`')) {
            return None;
        }
        Some(Fence { ch, len })
    }

    /// A line closing this fence: up to 3 spaces, at least as many fence
    /// characters, then only whitespace.
    fn is_closed_by(self, line: &str) -> bool {
        let Some(rest) = strip_indent(line, 3) else {
            return false;
        };
        let len = rest.chars().take_while(|&c| c == self.ch).count();
        len >= self.len && rest[len * self.ch.len_utf8()..].trim().is_empty()
    }
}

/// `line` without up to `max` leading spaces, or `None` if it is indented
/// more.
fn strip_indent(line: &str, max: usize) -> Option<&str> {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    (spaces <= max).then(|| &line[spaces..])
}

/// `---`, `***`, `___` (3 or more, spaces allowed between).
fn is_thematic_break(line: &str) -> bool {
    let Some(rest) = strip_indent(line, 3) else {
        return false;
    };
    let mut marks = rest.chars().filter(|c| !c.is_whitespace());
    let Some(first) = marks.next() else {
        return false;
    };
    matches!(first, '-' | '*' | '_') && marks.clone().all(|c| c == first) && marks.count() >= 2
}

/// `===` under a paragraph line.
fn is_setext_underline(line: &str) -> bool {
    let Some(rest) = strip_indent(line, 3) else {
        return false;
    };
    let rest = rest.trim_end();
    !rest.is_empty() && rest.chars().all(|c| c == '=')
}

/// One line outside code blocks: block markers, then inline markup.
fn flatten_line(line: &str) -> String {
    let mut rest = line;
    // Blockquote markers, possibly nested ("> > ").
    while let Some(r) = strip_indent(rest, 3).and_then(|r| r.strip_prefix('>')) {
        rest = r.strip_prefix(' ').unwrap_or(r);
    }
    // Heading.
    if let Some(r) = strip_indent(rest, 3) {
        let hashes = r.chars().take_while(|&c| c == '#').count();
        let after = &r[hashes..];
        if (1..=6).contains(&hashes) && (after.is_empty() || after.starts_with([' ', '\t'])) {
            rest = strip_closing_hashes(after.trim());
        }
    }
    // Bullet list marker, keeping the indentation.
    let body = rest.trim_start_matches([' ', '\t']);
    let indent = &rest[..rest.len() - body.len()];
    let mut out = String::with_capacity(line.len());
    let body = match body.strip_prefix(['-', '*', '+']) {
        Some(after) if after.is_empty() || after.starts_with([' ', '\t']) => {
            out.push_str(indent);
            after.trim_start_matches([' ', '\t'])
        }
        _ => rest,
    };
    flatten_inline(body, &mut out);
    out
}

/// `Title ##` → `Title` (the closing sequence must follow a space).
fn strip_closing_hashes(s: &str) -> &str {
    let without = s.trim_end_matches('#');
    if without.len() == s.len() {
        s
    } else if without.is_empty() {
        ""
    } else if without.ends_with([' ', '\t']) {
        without.trim_end()
    } else {
        s
    }
}

/// ASCII punctuation, or anything that is not a letter, digit or space (so
/// emoji and Unicode punctuation count).
fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation() || !(c.is_alphanumeric() || c.is_whitespace())
}

/// A piece of a line: literal text, or a run of emphasis delimiters.
enum Piece {
    Text(String),
    Delim {
        ch: char,
        /// Delimiters left (matched ones are removed).
        count: usize,
        can_open: bool,
        can_close: bool,
    },
}

/// Inline markup of one line (or link label) into `out`.
fn flatten_inline(s: &str, out: &mut String) {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let c = rest.chars().next().unwrap_or(' ');
        let prev = s[..i].chars().next_back();

        // Backslash escape.
        if c == '\\' {
            if let Some(p) = rest[1..].chars().next().filter(char::is_ascii_punctuation) {
                text.push(p);
                i += 2;
                continue;
            }
        }
        // Code span.
        if c == '`' {
            let run = rest.len() - rest.trim_start_matches('`').len();
            if let Some((content, used)) = code_span(rest, run) {
                text.push_str(content);
                i += used;
            } else {
                text.push_str(&rest[..run]);
                i += run;
            }
            continue;
        }
        // Link or image.
        if c == '[' || (c == '!' && rest[1..].starts_with('[')) {
            let start = usize::from(c == '!');
            if let Some((flat, used)) = link(&rest[start..]) {
                text.push_str(&flat);
                i += start + used;
                continue;
            }
        }
        // Autolink.
        if c == '<' {
            if let Some((target, used)) = autolink(rest) {
                text.push_str(target);
                i += used;
                continue;
            }
        }
        // Bare URL: literal, so its `_` and `*` are not emphasis.
        if (rest.starts_with("http://") || rest.starts_with("https://"))
            && !prev.is_some_and(char::is_alphanumeric)
        {
            let len = bare_url_len(rest);
            text.push_str(&rest[..len]);
            i += len;
            continue;
        }
        // Emphasis delimiter run.
        if matches!(c, '*' | '_' | '~') {
            let count = rest.len() - rest.trim_start_matches(c).len();
            let next = rest[count..].chars().next();
            if c == '~' && count != 2 {
                text.push_str(&rest[..count]);
                i += count;
                continue;
            }
            // Open only at the start of a word, close only at its end.
            let open_side = prev.is_none_or(|p| p.is_whitespace() || is_punct(p));
            let close_side = next.is_none_or(|n| n.is_whitespace() || is_punct(n));
            let can_open = open_side && next.is_some_and(|n| !n.is_whitespace());
            let can_close = close_side && prev.is_some_and(|p| !p.is_whitespace());
            if can_open || can_close {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Delim {
                    ch: c,
                    count,
                    can_open,
                    can_close,
                });
            } else {
                text.push_str(&rest[..count]);
            }
            i += count;
            continue;
        }
        text.push(c);
        i += c.len_utf8();
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }

    match_emphasis(&mut pieces);
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Delim { ch, count, .. } => out.extend(std::iter::repeat_n(ch, count)),
        }
    }
}

/// Pairs openers with closers (nearest opener first) and removes the matched
/// delimiters: two at a time when both runs have two or more (`**`), else
/// one. Unmatched delimiters stay as literal text.
fn match_emphasis(pieces: &mut [Piece]) {
    let mut openers: Vec<usize> = Vec::new();
    for idx in 0..pieces.len() {
        let Piece::Delim {
            ch,
            can_open,
            can_close,
            ..
        } = pieces[idx]
        else {
            continue;
        };
        if can_close {
            while delim_count(&pieces[idx]) > 0 {
                let found = openers.iter().rposition(|&o| {
                    matches!(pieces[o], Piece::Delim { ch: oc, count, .. } if oc == ch && count > 0)
                });
                let Some(pos) = found else { break };
                let opener = openers[pos];
                let (open_n, close_n) = (delim_count(&pieces[opener]), delim_count(&pieces[idx]));
                let used = if ch == '~' || (open_n >= 2 && close_n >= 2) {
                    2
                } else {
                    1
                };
                if used > open_n || used > close_n {
                    break;
                }
                set_count(&mut pieces[opener], open_n - used);
                set_count(&mut pieces[idx], close_n - used);
                // Openers between the pair can no longer match.
                openers.truncate(pos + 1);
                if open_n - used == 0 {
                    openers.pop();
                }
            }
        }
        if can_open && delim_count(&pieces[idx]) > 0 {
            openers.push(idx);
        }
    }
}

fn delim_count(piece: &Piece) -> usize {
    match piece {
        Piece::Delim { count, .. } => *count,
        Piece::Text(_) => 0,
    }
}

fn set_count(piece: &mut Piece, n: usize) {
    if let Piece::Delim { count, .. } = piece {
        *count = n;
    }
}

/// A code span opened by `run` backticks at the start of `s`: its content
/// (one leading and trailing space stripped when both are there) and the
/// bytes used, or `None` when no closing run of the same length follows.
fn code_span(s: &str, run: usize) -> Option<(&str, usize)> {
    let body = &s[run..];
    let mut i = 0;
    while let Some(off) = body[i..].find('`') {
        let at = i + off;
        let len = body[at..].len() - body[at..].trim_start_matches('`').len();
        if len == run {
            let content = &body[..at];
            let content = if content.len() >= 2
                && content.starts_with(' ')
                && content.ends_with(' ')
                && !content.trim().is_empty()
            {
                &content[1..content.len() - 1]
            } else {
                content
            };
            return Some((content, run + at + len));
        }
        i = at + len;
    }
    None
}

/// `[label](destination "title")` at the start of `s`: the flattened text
/// and the bytes used.
fn link(s: &str) -> Option<(String, usize)> {
    let label_end = matching(s, '[', ']')?;
    let label = &s[1..label_end];
    let after = &s[label_end + 1..];
    if !after.starts_with('(') {
        return None;
    }
    let paren_end = matching(after, '(', ')')?;
    let inner = after[1..paren_end].trim();
    let url = if let Some(r) = inner.strip_prefix('<') {
        &r[..r.find('>')?]
    } else {
        inner.split_whitespace().next().unwrap_or("")
    };
    let mut flat = String::new();
    flatten_inline(label, &mut flat);
    let flat = flat.trim();
    let same = flat.is_empty()
        || flat == url
        || url.strip_prefix("mailto:") == Some(flat)
        || url.strip_prefix("tel:") == Some(flat);
    let text = match (same, url.is_empty()) {
        (_, true) => flat.to_owned(),
        (true, false) if flat.is_empty() => url.to_owned(),
        (true, false) if flat == url => url.to_owned(),
        (true, false) => flat.to_owned(),
        (false, false) => format!("{flat} ({url})"),
    };
    Some((text, label_end + 1 + paren_end + 1))
}

/// Index of the bracket closing the one `s` starts with (nesting and
/// backslash escapes respected).
fn matching(s: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// `<scheme:...>` or `<user@host>` at the start of `s`: the target and the
/// bytes used.
fn autolink(s: &str) -> Option<(&str, usize)> {
    let end = s.find('>')?;
    let inner = &s[1..end];
    if inner.is_empty() || inner.contains(|c: char| c.is_whitespace() || c == '<') {
        return None;
    }
    let is_uri = inner.split_once(':').is_some_and(|(scheme, _)| {
        (2..=32).contains(&scheme.len())
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
    });
    let is_email = inner
        .split_once('@')
        .is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !host.contains('@'));
    (is_uri || is_email).then_some((inner, end + 1))
}

/// Length of the bare URL at the start of `s`: up to whitespace or `<`,
/// without trailing punctuation or an unbalanced `)`.
fn bare_url_len(s: &str) -> usize {
    let mut end = s
        .find(|c: char| c.is_whitespace() || c == '<')
        .unwrap_or(s.len());
    loop {
        let url = &s[..end];
        let Some(last) = url.chars().next_back() else {
            break;
        };
        let unbalanced_paren = last == ')' && url.matches(')').count() > url.matches('(').count();
        if matches!(
            last,
            '.' | ',' | ':' | ';' | '!' | '?' | '"' | '\'' | '*' | '_' | '~'
        ) || unbalanced_paren
        {
            end -= last.len_utf8();
        } else {
            break;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::flatten_markdown as f;

    #[test]
    fn links() {
        assert_eq!(
            f("see [the docs](https://x.io/docs) now"),
            "see the docs (https://x.io/docs) now"
        );
        assert_eq!(f("[https://x.io](https://x.io)"), "https://x.io");
        assert_eq!(
            f("go to <https://x.io/a_b_c>."),
            "go to https://x.io/a_b_c."
        );
        assert_eq!(f("mail <help@x.io>"), "mail help@x.io");
        assert_eq!(f("[a](https://x.io \"Title\")"), "a (https://x.io)");
        assert_eq!(f("[](https://x.io)"), "https://x.io");
        assert_eq!(
            f("[**bold** label](https://x.io)"),
            "bold label (https://x.io)"
        );
        assert_eq!(
            f("[wiki](https://en.wikipedia.org/wiki/Rust_(language))"),
            "wiki (https://en.wikipedia.org/wiki/Rust_(language))"
        );
        assert_eq!(
            f("![logo](https://x.io/l.png)"),
            "logo (https://x.io/l.png)"
        );
        assert_eq!(
            f("call [+15551234567](tel:+15551234567)"),
            "call +15551234567"
        );
        assert_eq!(f("[help@x.io](mailto:help@x.io)"), "help@x.io");
        // Not links.
        assert_eq!(f("[not a link] (x)"), "[not a link] (x)");
        assert_eq!(f("a < b and c > d"), "a < b and c > d");
    }

    #[test]
    fn emphasis() {
        assert_eq!(f("**bold** and __bold__"), "bold and bold");
        assert_eq!(f("*italic* and _italic_"), "italic and italic");
        assert_eq!(f("~~struck~~ text"), "struck text");
        assert_eq!(f("***both***"), "both");
        assert_eq!(f("**Note:** done."), "Note: done.");
        assert_eq!(f("(*aside*)"), "(aside)");
        assert_eq!(
            f("**bold with *nested* italic**"),
            "bold with nested italic"
        );
    }

    #[test]
    fn emphasis_lookalikes_left_alone() {
        assert_eq!(
            f("use my_snake_case_var here"),
            "use my_snake_case_var here"
        );
        assert_eq!(f("2*3*4 = 24"), "2*3*4 = 24");
        assert_eq!(f("2 * 3 * 4 = 24"), "2 * 3 * 4 = 24");
        assert_eq!(f("~5 minutes"), "~5 minutes");
        assert_eq!(f("a ~ b ~~ c"), "a ~ b ~~ c");
        assert_eq!(f("an * alone"), "an * alone");
        assert_eq!(f("**unclosed"), "**unclosed");
        assert_eq!(
            f("https://x.io/_private_/a*b*c"),
            "https://x.io/_private_/a*b*c"
        );
        assert_eq!(f("*see https://x.io/a_b_*"), "see https://x.io/a_b_");
        assert_eq!(f(r"\*literal\* and \_x\_"), "*literal* and _x_");
    }

    #[test]
    fn inline_code() {
        assert_eq!(f("run `cargo test` now"), "run cargo test now");
        assert_eq!(f("`**not bold**` and `a_b_`"), "**not bold** and a_b_");
        assert_eq!(f("``a ` b``"), "a ` b");
        assert_eq!(f("unclosed ` tick"), "unclosed ` tick");
    }

    #[test]
    fn headings() {
        assert_eq!(f("# Title"), "Title");
        assert_eq!(f("###### Six"), "Six");
        assert_eq!(f("## Closed ##"), "Closed");
        assert_eq!(f("## **Bold** heading"), "Bold heading");
        assert_eq!(f("####### seven"), "####### seven");
        assert_eq!(f("#hashtag"), "#hashtag");
        assert_eq!(f("C# #1 fan"), "C# #1 fan");
        assert_eq!(f("Title\n=====\nbody"), "Title\n\nbody");
        assert_eq!(f("Title\n-----\nbody"), "Title\n\nbody");
    }

    #[test]
    fn lists() {
        assert_eq!(f("- one\n* two\n+ three"), "one\ntwo\nthree");
        assert_eq!(f("1. first\n2) second"), "1. first\n2) second");
        assert_eq!(f("- top\n  - nested"), "top\n  nested");
        assert_eq!(f("-5 degrees"), "-5 degrees");
        assert_eq!(f("* *italic item*"), "italic item");
        assert_eq!(f("1. **Step one**"), "1. Step one");
    }

    #[test]
    fn blockquotes() {
        assert_eq!(f("> quoted\n> > nested\n>tight"), "quoted\nnested\ntight");
        assert_eq!(f("> - item"), "item");
        assert_eq!(f("a > b"), "a > b");
    }

    #[test]
    fn thematic_break() {
        assert_eq!(f("above\n\n---\n\nbelow"), "above\n\nbelow");
        assert_eq!(f("above\n\n* * *\n\nbelow"), "above\n\nbelow");
    }

    #[test]
    fn fenced_code() {
        assert_eq!(
            f("Run:\n```bash\ncargo **build** --release\n  indented_line\n```\nDone."),
            "Run:\ncargo **build** --release\n  indented_line\nDone."
        );
        assert_eq!(
            f("~~~\n# not a heading\n- not a list\n~~~"),
            "# not a heading\n- not a list"
        );
        // A shorter or different fence does not close the block.
        assert_eq!(f("````\n```\n~~~\n````\nafter *x*"), "```\n~~~\nafter x");
        // Unclosed: code to the end.
        assert_eq!(f("```\n*kept*"), "*kept*");
    }

    #[test]
    fn whitespace() {
        assert_eq!(f("a\r\nb\r\n"), "a\nb");
        assert_eq!(f("a\n\n\n\nb"), "a\n\nb");
        assert_eq!(f("a\n \n\t\n\nb"), "a\n\nb");
        assert_eq!(f("a   \nb\t"), "a\nb");
        assert_eq!(f("\n\n  hello  \n\n"), "hello");
        assert_eq!(f(""), "");
        assert_eq!(f("   \n  "), "");
    }

    #[test]
    fn realistic_assistant_reply() {
        let reply = "\
## Appointment confirmed ✅\r\n\
\r\n\
Hi **Sam**, your appointment is booked:\r\n\
\r\n\
- **Date:** Tue, *June 4*\r\n\
- **Time:** 3:30pm\r\n\
- **Where:** [Main St clinic](https://maps.example.com/?q=main_st)\r\n\
\r\n\
\r\n\
\r\n\
> Please arrive ~10 minutes early.\r\n\
\r\n\
To reschedule:\r\n\
1. Reply `R`\r\n\
2. Or visit <https://example.com/r/abc_123>\r\n\
\r\n\
```\r\n\
Ref: APPT_2024_*0042*\r\n\
```\r\n\
---\r\n\
_Reply STOP to opt out._   \r\n";
        assert_eq!(
            f(reply),
            "Appointment confirmed ✅\n\
\n\
Hi Sam, your appointment is booked:\n\
\n\
Date: Tue, June 4\n\
Time: 3:30pm\n\
Where: Main St clinic (https://maps.example.com/?q=main_st)\n\
\n\
Please arrive ~10 minutes early.\n\
\n\
To reschedule:\n\
1. Reply R\n\
2. Or visit https://example.com/r/abc_123\n\
\n\
Ref: APPT_2024_*0042*\n\
\n\
Reply STOP to opt out."
        );
    }

    #[test]
    fn never_panics_and_is_idempotent_on_plain_output() {
        const PIECES: [&str; 24] = [
            "*",
            "**",
            "_",
            "__",
            "~~",
            "~",
            "`",
            "```",
            "[",
            "]",
            "(",
            ")",
            "<",
            ">",
            "#",
            "- ",
            "> ",
            "\\",
            "\n",
            "\r\n",
            " ",
            "word",
            "é😀",
            "https://x.io/a_b",
        ];
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let n = (next() % 40) as usize;
            let input: String = (0..n).map(|_| PIECES[(next() % 24) as usize]).collect();
            let out = f(&input);
            assert_eq!(out.trim(), out);
            assert!(!out.contains("\n\n\n"), "{input:?}");
            assert!(!out.contains('\r'), "{input:?}");
        }
    }
}
