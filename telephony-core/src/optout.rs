//! Carrier opt-out keywords (Twilio's defaults): a whole-body, case-insensitive match.

/// Keywords that opt a sender out.
pub const OPT_OUT: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Keywords that opt a sender back in.
pub const OPT_IN: &[&str] = &["START", "YES", "UNSTOP"];
/// Help keywords (Twilio auto-replies; no state change).
pub const HELP: &[&str] = &["HELP", "INFO"];

/// What an inbound body means for opt-out state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// The sender opted out.
    OptOut,
    /// The sender opted back in.
    OptIn,
    /// The sender asked for help.
    Help,
}

/// Classifies a body: only an exact single keyword (ignoring case and surrounding
/// whitespace) counts, so "STOP PLEASE" does not.
///
/// ```
/// use telephony_core::optout::{classify, Keyword};
/// assert_eq!(classify(" stop "), Some(Keyword::OptOut));
/// assert_eq!(classify("Unstop"), Some(Keyword::OptIn));
/// assert_eq!(classify("STOP PLEASE"), None);
/// ```
pub fn classify(body: &str) -> Option<Keyword> {
    let b = body.trim();
    let is = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(b));
    if is(OPT_OUT) {
        Some(Keyword::OptOut)
    } else if is(OPT_IN) {
        Some(Keyword::OptIn)
    } else if is(HELP) {
        Some(Keyword::Help)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_body_only() {
        for k in [
            "STOP",
            "stop",
            "StopAll",
            "UNSUBSCRIBE",
            "cancel",
            "END",
            "quit",
            "revoke",
            "OPTOUT",
            "\tStop\n",
        ] {
            assert_eq!(classify(k), Some(Keyword::OptOut), "{k:?}");
        }
        for k in ["START", "yes", "Unstop"] {
            assert_eq!(classify(k), Some(Keyword::OptIn), "{k:?}");
        }
        assert_eq!(classify("help"), Some(Keyword::Help));
        assert_eq!(classify("info"), Some(Keyword::Help));
        for k in ["STOP PLEASE", "stop.", "please stop", "", "yes!", "S T O P"] {
            assert_eq!(classify(k), None, "{k:?}");
        }
    }
}
