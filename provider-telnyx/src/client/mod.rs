//! The Telnyx API v2 client: `POST /v2/messages`, `GET /v2/messages/{id}` and message
//! detail records (`GET /v2/detail_records`) to look an interrupted send up, and for
//! number setup
//! `GET /v2/phone_numbers`, `GET /v2/phone_numbers/{id}/messaging` and
//! `GET`/`PATCH /v2/messaging_profiles/{id}`.
//!
//! JSON in and out, `Authorization: Bearer <API key>`. **One attempt per call**: the
//! gateway's outbox owns retries and backoff, so a 429, a 5xx or a network error is
//! returned at once as a typed [`ProviderError`](telephony_core::ProviderError) (with
//! `Retry-After` when Telnyx sent one, read by [`telephony_core::retry::retry_after`]).
//!
//! Call Control: `POST /v2/calls` (dial), `POST /v2/calls/{id}/actions/{command}` and
//! `GET /v2/calls/{id}` (`calls`).
//!
//! One file per concept: `transport` (the client, auth, error decoding), `messages`,
//! `detail_records`, `numbers`, `calls`.

mod calls;
mod detail_records;
mod messages;
mod numbers;
mod recordings;
mod transport;

pub use calls::{CALL_ENDED_CODE, CallControlApplication, CallResource, DialAnswer};
pub use detail_records::{
    DetailRecordPage, FIND_SENT_MAX_PAGES, FIND_SENT_PAGE_SIZE, MessageDetailRecord, PageMeta,
    SentMessageQuery,
};
pub use messages::{CreateMessage, LIMITS, MAX_BODY_CHARS, MAX_MEDIA_URLS};
pub use recordings::{DownloadUrls, RecordingResource};
pub(crate) use transport::PROVIDER;
pub use transport::{OPTED_OUT_CODE, TelnyxClient};
