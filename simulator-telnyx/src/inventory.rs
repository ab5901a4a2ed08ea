//! What the simulated account owns besides messages: its numbers (each on a messaging
//! profile or none), and the profile changes made through the API.

use telephony_telnyx::resources::PhoneNumberResource;

/// A number of the simulated account, with what it can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimNumber {
    /// The number as `GET /v2/phone_numbers` lists it.
    pub resource: PhoneNumberResource,
    /// SMS available (`features.sms` is an object, else `null`).
    pub sms: bool,
    /// MMS available.
    pub mms: bool,
}

/// A `PATCH /v2/messaging_profiles/{id}` the simulator applied (for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileUpdate {
    /// The profile id.
    pub id: String,
    /// The body as received.
    pub body: serde_json::Value,
}
