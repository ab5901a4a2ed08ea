//! Fencing tokens for leased claims.

/// The fencing token of one claim: a worker that claims rows gets a fresh token and must
/// present it to record what became of them. A row claimed again by another worker (after
/// the first one's lease ran out) carries the new claim's token, so the first worker's late
/// outcome no longer matches and changes nothing.
///
/// Tokens are random 64-bit values, so every claim's token differs from every other
/// claim's (in every replica) for all practical purposes; stores keep them as a signed
/// 64-bit column.
///
/// ```
/// use telephony_core::store::LeaseToken;
///
/// let (a, b) = (LeaseToken::generate(), LeaseToken::generate());
/// assert_ne!(a, b);
/// assert_eq!(LeaseToken::from_i64(a.as_i64()), a);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken(i64);

impl LeaseToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        use rand::Rng;
        LeaseToken(rand::thread_rng().r#gen())
    }

    /// The token as stored.
    pub fn as_i64(self) -> i64 {
        self.0
    }

    /// A stored token.
    pub fn from_i64(v: i64) -> Self {
        LeaseToken(v)
    }
}

impl std::fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
