//! Provider-neutral building blocks of the telephony gateway.
//!
//! This crate has no HTTP server and no database driver: it holds the domain types
//! ([`PhoneNumber`], [`Address`], [`InboundMessage`], [`OutboundMessage`], [`Receipt`],
//! [`DeliveryStatus`]), the traits the gateway is built from ([`Provider`], [`Store`]),
//! and test doubles ([`StubProvider`], [`MemoryStore`]).
//!
//! # Providers
//!
//! | provider | crate | cargo feature | sends | receives webhooks |
//! |---|---|---|---|---|
//! | Twilio (SMS, MMS, WhatsApp) | `telephony-twilio` | — | yes | yes (signed) |
//! | Twilio simulator | `telephony-twilio-simulator` | — | yes (local) | posts signed callbacks |
//! | Telnyx (SMS, MMS) | `telephony-telnyx` | — | yes | yes (Ed25519-signed) |
//! | Telnyx simulator | `telephony-telnyx-simulator` | — | yes (local) | posts signed webhooks |
//! | [`StubProvider`] | `telephony-core` | — | records only | no |
//!
//! A provider implements one required method, [`Provider::send`]; providers that
//! receive webhooks also implement [`Provider::handle_webhook`], and providers with
//! voice also implement [`Provider::render_voice`] (see [`voice`]).
//!
//! # Stores
//!
//! | store | crate |
//! |---|---|
//! | [`MemoryStore`] | `telephony-core` |
//! | SQLite (WAL) | `telephony-store` |
//!
//! # Example
//!
//! ```
//! use telephony_core::{Address, Channel, OutboundMessage};
//!
//! let to: Address = "sms:+1 555 000 5678".parse()?;
//! assert_eq!(to.channel(), Channel::Sms);
//! let msg = OutboundMessage::new(to, "Hello!");
//! assert_eq!(msg.to.to_string(), "+15550005678");
//! # Ok::<(), telephony_core::AddressError>(())
//! ```

pub mod address;
pub mod audio;
pub mod memory;
pub mod message;
pub mod numbers;
pub mod optout;
pub mod pairing;
pub mod phone;
pub mod policy;
pub mod provider;
pub mod redact;
pub mod reroute;
pub mod retry;
pub mod rfc3339;
pub mod secret;
pub mod sms;
pub mod status;
pub mod store;
pub mod store_suite;
pub mod stub;
pub mod sync;
pub mod voice;

pub use address::{Address, AddressError, Channel};
pub use memory::MemoryStore;
pub use message::{
    ErrorInfo, InboundMessage, Media, MessageId, OutboundMessage, ProviderReceipt, Receipt,
    StatusEvent, StatusUpdate,
};
pub use pairing::{
    PairingLimits, PairingOutcome, PairingRequest, PairingResolution, PairingStatus,
};
pub use phone::{PhoneNumber, PhoneNumberError};
pub use policy::{
    Admission, AllowList, InboundPolicy, Policy, PolicyError, StandardPolicy, Unlisted,
};
pub use provider::{
    Provider, ProviderError, ProviderLimits, SendOptions, SignatureCheck, WebhookError,
    WebhookEvent, WebhookRequest, WebhookResponse, error_chain,
};
pub use secret::Secret;
pub use status::DeliveryStatus;
pub use store::{
    CallStore, ClusterStore, ContactStore, ForwardEvent, ForwardStats, ForwardStore, HealthStore,
    InboxEntry, InboxQuery, InboxState, InboxStore, InboxUpdate, InsertOutcome, LeaseToken,
    OutboxItem, OutboxStore, PairingState, PolicyStore, RetentionStore, SendRate, StatusOutcome,
    Store, StoreError, StoreErrorKind,
};
pub use stub::StubProvider;
