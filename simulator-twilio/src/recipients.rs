//! Phone numbers as the API's `To`/`From` carry them (E.164, or `whatsapp:` + E.164):
//! normalization, comparison, redaction for logs, and the country a number belongs to.

use telephony_core::PhoneNumber;

/// Splits `whatsapp:+1555…` into (`whatsapp:`, `+1555…`).
pub(crate) fn split_channel(address: &str) -> (&str, &str) {
    match address.find(':') {
        Some(i) => address.split_at(i + 1),
        None => ("", address),
    }
}

/// `whatsapp:`-preserving E.164 normalization; `None` if the number is not E.164.
pub(crate) fn normalize_recipient(address: &str) -> Option<String> {
    let (prefix, number) = split_channel(address.trim());
    if !(prefix.is_empty() || prefix.eq_ignore_ascii_case("whatsapp:")) {
        return None;
    }
    let n = PhoneNumber::parse(number).ok()?;
    Some(format!("{}{}", prefix.to_ascii_lowercase(), n.as_str()))
}

/// Whether two recipient strings name the same address.
pub(crate) fn same_recipient(a: &str, b: &str) -> bool {
    match (normalize_recipient(a), normalize_recipient(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim() == b.trim(),
    }
}

/// A recipient for logs: `+1555*****67`.
pub(crate) fn redacted(to: &str) -> String {
    let (prefix, number) = split_channel(to);
    match PhoneNumber::parse(number) {
        Ok(n) => format!("{prefix}{}", n.redacted()),
        Err(_) => "[unparsed]".to_string(),
    }
}

/// Best-effort ISO country of an E.164 number (optionally `channel:`-prefixed).
pub(crate) fn country_of(number: &str) -> &'static str {
    let n = number.rsplit(':').next().unwrap_or(number);
    const TABLE: &[(&str, &str)] = &[
        ("+1", "US"),
        ("+44", "GB"),
        ("+33", "FR"),
        ("+49", "DE"),
        ("+34", "ES"),
        ("+39", "IT"),
        ("+31", "NL"),
        ("+61", "AU"),
        ("+81", "JP"),
        ("+55", "BR"),
        ("+52", "MX"),
        ("+91", "IN"),
    ];
    TABLE
        .iter()
        .find(|(prefix, _)| n.starts_with(prefix))
        .map(|(_, c)| *c)
        .unwrap_or("")
}
