//! What may be shown of text that can carry secrets or untrusted bytes: URLs in logs and
//! errors, and excerpts of provider response bodies.
//!
//! One place for both, so every crate redacts the same way.

/// `url` safe to log: the password of a `user:password@` userinfo, every query
/// value and the fragment are replaced with `[redacted]`; scheme, user name,
/// host, port, path and query parameter names are kept as they are.
///
/// ```
/// use telephony_core::redact::redact_url;
///
/// assert_eq!(
///     redact_url("https://u:secret@gw.example.com:8443/hook?tenant=a&bodySHA256=0a1f&flag#x"),
///     "https://u:[redacted]@gw.example.com:8443/hook?tenant=[redacted]&bodySHA256=[redacted]&flag#[redacted]"
/// );
/// assert_eq!(redact_url("https://gw.example.com/hook"), "https://gw.example.com/hook");
/// ```
pub fn redact_url(url: &str) -> String {
    const R: &str = "[redacted]";
    let (rest, fragment) = match url.split_once('#') {
        Some((r, _)) => (r, Some(R)),
        None => (url, None),
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let mut out = String::with_capacity(url.len() + 16);
    match before_query.find("://") {
        Some(scheme_end) => {
            let authority_start = scheme_end + 3;
            let after = &before_query[authority_start..];
            let authority_end = after.find('/').unwrap_or(after.len());
            let authority = &after[..authority_end];
            out.push_str(&before_query[..authority_start]);
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    match userinfo.split_once(':') {
                        Some((user, _password)) => {
                            out.push_str(user);
                            out.push(':');
                            out.push_str(R);
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push_str(&authority[at..]);
                }
                None => out.push_str(authority),
            }
            out.push_str(&after[authority_end..]);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(R);
                }
                None => out.push_str(pair),
            }
        }
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// At most `max_chars` characters of an untrusted body (lossy UTF-8, whitespace runs
/// collapsed to one space), ending in `…` when cut: for error messages about a response
/// that could not be decoded.
///
/// ```
/// use telephony_core::redact::excerpt;
///
/// assert_eq!(excerpt(b"<html>\n  <b>bad gateway</b></html>", 200), "<html> <b>bad gateway</b></html>");
/// assert_eq!(excerpt("abcdef".as_bytes(), 4), "abc…");
/// ```
pub fn excerpt(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max_chars {
        return collapsed;
    }
    let mut out: String = collapsed
        .chars()
        .take(max_chars.saturating_sub(1))
        .collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_query_values_password_and_fragment() {
        assert_eq!(
            redact_url("https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1f"),
            "https://mycompany.com/myapp.php?foo=[redacted]&bar=[redacted]&bodySHA256=[redacted]"
        );
        assert_eq!(
            redact_url("https://user@h:1/p?=x&&k"),
            "https://user@h:1/p?=[redacted]&&k"
        );
        assert_eq!(
            redact_url("https://h?next=https://u:p@x/y"),
            "https://h?next=[redacted]"
        );
        assert_eq!(redact_url("/relative?a=b"), "/relative?a=[redacted]");
    }

    #[test]
    fn excerpt_counts_characters_not_bytes() {
        assert_eq!(excerpt("é é é".as_bytes(), 3), "é …");
        assert_eq!(excerpt(b"", 3), "");
    }
}
