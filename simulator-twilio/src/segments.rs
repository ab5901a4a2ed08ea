//! Segment counts as Twilio reports them, from [`telephony_core::sms::analyze`].

/// Number of SMS segments Twilio reports for `body` (at least 1, as for media-only messages).
pub(crate) fn count(body: &str) -> usize {
    telephony_core::sms::analyze(body).segments.max(1)
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
