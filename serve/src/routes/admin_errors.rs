//! How the gateway's errors answer on the admin API: each domain error mapped to an
//! [`AdminError`] (its HTTP status and error code). Here, with the routes that return them,
//! so the JSON types of [`crate::api`] never import the gateway's parts.

use crate::api::{AdminError, ErrorCode};

impl From<crate::SendError> for AdminError {
    fn from(e: crate::SendError) -> Self {
        use crate::SendError as E;
        match e {
            E::Store(s) => {
                tracing::error!(error = %telephony_core::error_chain(&s), "admin send failed");
                Self::new(ErrorCode::StoreUnavailable, E::Store(s).to_string())
            }
            e @ E::DailyLimit { .. } => Self::new(ErrorCode::RateLimited, e.to_string()),
            e => Self::bad_request(e.to_string()),
        }
    }
}

impl From<crate::CallError> for AdminError {
    fn from(e: crate::CallError) -> Self {
        use crate::CallError as E;
        let code = match &e {
            E::InvalidNumber { .. } => ErrorCode::BadRequest,
            E::Disabled | E::TooManySessions { .. } => ErrorCode::Unavailable,
            E::RecordingDisabled => ErrorCode::Conflict,
            E::Provider(_) if e.is_bad_input() => ErrorCode::BadRequest,
            E::Provider(_) => ErrorCode::ProviderFailed,
            E::Store(s) => {
                tracing::error!(error = %telephony_core::error_chain(s), "call failed in the store");
                ErrorCode::StoreUnavailable
            }
        };
        Self::new(code, e.to_string())
    }
}

impl From<crate::CallControlError> for AdminError {
    fn from(e: crate::CallControlError) -> Self {
        use crate::CallControlError as E;
        let code = match &e {
            E::UnknownCall(_) => ErrorCode::NotFound,
            E::Ended { .. } => ErrorCode::Conflict,
            E::InvalidTarget(_) | E::Invalid(_) => ErrorCode::BadRequest,
            E::Disabled => ErrorCode::Unavailable,
            E::Provider(_) if e.is_bad_input() => ErrorCode::BadRequest,
            E::Provider(_) => ErrorCode::ProviderFailed,
            E::Store(s) => {
                tracing::error!(error = %telephony_core::error_chain(s), "call control failed in the store");
                ErrorCode::StoreUnavailable
            }
        };
        Self::new(code, e.to_string())
    }
}

impl From<crate::PairingError> for AdminError {
    fn from(e: crate::PairingError) -> Self {
        use crate::PairingError as E;
        let code = match &e {
            E::UnknownCode(_) => ErrorCode::NotFound,
            E::Expired { .. } => ErrorCode::Expired,
            E::AlreadyResolved { .. } => ErrorCode::Conflict,
            E::Store(s) => {
                tracing::error!(error = %telephony_core::error_chain(s), "pairing update failed");
                ErrorCode::StoreUnavailable
            }
        };
        Self::new(code, e.to_string())
    }
}
