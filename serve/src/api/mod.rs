//! The wire format of the admin API and of forwarded events: one JSON casing (camelCase),
//! one set of typed structs that the admin routes serialize and the `telephony` CLI
//! deserializes.
//!
//! | module | types | used by |
//! |---|---|---|
//! | [`messages`] | [`InboundMessage`], [`Media`], [`InboxEntry`], [`InboxList`] | `GET /telephony/inbox`, `message.received` events |
//! | [`receipts`] | [`SendRequest`], [`SendResponse`], [`Receipt`], [`StatusEvent`], [`ErrorInfo`], [`ReceiptList`] | `POST /telephony/send`, `GET /telephony/messages/{id}`, `GET /telephony/log`, `GET /telephony/contacts/held` |
//! | [`status`] | [`GatewayStatus`], [`ForwardingStatus`] | `GET /telephony/status` |
//! | [`pairing`] | [`PairingRequest`], [`PairingList`], [`PairingDecision`] | `GET /telephony/pairing`, `POST …/approve`, `POST …/reject` |
//! | [`contacts`] | [`ContactApproval`] | `POST /telephony/contacts/{number}/approve` |
//! | [`error`] | [`AdminError`], [`ErrorCode`], [`ErrorResponse`] | every admin error: `{"error":{"code":"not_found","message":"…"}}` |
//! | [`events`] | [`ForwardedEvent`], [`EventData`], [`StatusChange`] | the body POSTed to `forward.url` |
//!
//! The core types ([`telephony_core::Receipt`], …) keep their serde shape, which is the
//! storage format (JSON columns in SQLite); these structs are the API format, built from
//! them with `From`. So a database written by an older version loads unchanged, and a
//! rename in the domain cannot silently change the wire.
//!
//! ```
//! use telephony_serve::api::{ErrorCode, ErrorResponse};
//! let body = r#"{"error":{"code":"not_found","message":"no message with id \"msg_x\""}}"#;
//! let e: ErrorResponse = serde_json::from_str(body).unwrap();
//! assert_eq!(e.error.code, ErrorCode::NotFound);
//! ```

pub mod contacts;
pub mod error;
pub mod events;
pub mod messages;
pub mod pairing;
pub mod receipts;
pub mod status;

pub use contacts::ContactApproval;
pub use error::{AdminError, ErrorBody, ErrorCode, ErrorResponse};
pub use events::{EventData, ForwardedEvent, StatusChange};
pub use messages::{InboundMessage, InboxEntry, InboxList, Media};
pub use pairing::{PairingDecision, PairingList, PairingRequest};
pub use receipts::{ErrorInfo, Receipt, ReceiptList, SendRequest, SendResponse, StatusEvent};
pub use status::{ForwardingStatus, GatewayStatus};
