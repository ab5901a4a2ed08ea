//! Segment counts as Twilio reports them, from [`telephony_core::sms::analyze`].

use telephony_twilio::resources::MessageResource;

/// Number of SMS segments Twilio reports for `body` (at least 1, as for media-only messages).
pub(crate) fn count(body: &str) -> usize {
    telephony_core::sms::analyze(body).segments.max(1)
}

/// Segments to report for a stored message (MMS counts as one).
pub(crate) fn segments_for(m: &MessageResource) -> usize {
    if m.num_media.as_deref().is_some_and(|n| n != "0") {
        1
    } else {
        count(m.body.as_deref().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn gsm_and_ucs2_boundaries() {
        assert_eq!(count(""), 1);
        assert_eq!(count(&"1".repeat(160)), 1);
        assert_eq!(count(&"1".repeat(161)), 2);
        assert_eq!(count(&"1".repeat(306)), 2);
        assert_eq!(count(&"1".repeat(307)), 3);
        assert_eq!(count(&"€".repeat(80)), 1);
        assert_eq!(count(&"€".repeat(81)), 2);
        assert_eq!(count(&"é".repeat(160)), 1);
        assert_eq!(count(&"ç".repeat(70)), 1);
        assert_eq!(count(&"ç".repeat(71)), 2);
        assert_eq!(count(&"👍".repeat(35)), 1);
        assert_eq!(count(&"👍".repeat(36)), 2);
    }
}
