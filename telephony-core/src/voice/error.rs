//! [`VoiceError`]: why a voice response could not be rendered.

/// Why a [`VoiceResponse`](crate::voice::VoiceResponse) could not be turned into a
/// provider's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VoiceError {
    /// The provider has no voice support.
    #[error("provider {provider} does not support voice")]
    Unsupported {
        /// The provider's name.
        provider: &'static str,
    },
    /// The response uses something the provider cannot express.
    #[error("provider {provider} cannot render this voice response: {reason}")]
    Invalid {
        /// The provider's name.
        provider: &'static str,
        /// What it cannot express.
        reason: String,
    },
}
