//! A Telnyx-compatible local server for tests, examples and the gateway's sandbox mode.
//!
//! It speaks the part of the Messaging API v2 the gateway uses, with Telnyx's bearer
//! authentication, error shape and status codes, and it POSTs `message.sent` then
//! `message.finalized` webhooks signed with Ed25519 exactly as Telnyx does, with its own
//! key pair: configure the gateway's `telnyx.publicKey` with
//! [`Simulator::public_key_base64`].
//!
//! | route | answer |
//! |---|---|
//! | `POST /v2/messages` | 200 `{"data": message}` with `to[0].status` `queued`, then signed webhooks; a `from` that is not one of the account's numbers in a messaging profile is 422 (40305) once the account has numbers |
//! | `POST /v2/messages/long_code` | the same, `from` required |
//! | `GET /v2/messages/{id}` | 200 `{"data": message}` in its current state |
//! | `GET /v2/detail_records?filter[record_type]=messaging…` | 200 `{"data": [record…], "meta": {…}}`: a message detail record per message (filters `direction`, `cli`, `cld`, `created_at[gte]`/`[lte]`; `sort`; `page[number]`, `page[size]`) |
//! | `GET /v2/phone_numbers?filter[phone_number]=…` | 200 `{"data": [number…], "meta": …}` (numbers containing the filter) |
//! | `GET /v2/phone_numbers/messaging` | 200 every number's messaging settings (by profile, number, part of a number; sorted by number) |
//! | `GET /v2/phone_numbers/{id}/messaging` | 200 `{"data": messaging settings}` (profile, SMS/MMS features) |
//! | `GET /v2/messaging_profiles` | 200 the profiles (by name) |
//! | `GET /v2/messaging_profiles/{id}` | 200 `{"data": profile}` |
//! | `PATCH /v2/messaging_profiles/{id}` | 200 `{"data": profile}` after applying `webhook_url` / `webhook_api_version` |
//! | `GET /v2/messaging_profiles/{id}/phone_numbers` | 200 the profile's numbers |
//! | another method on one of these | 501 (10015) naming it |
//! | a list parameter not listed | 400 (10015) naming it |
//! | anything else | 404, code 10005 |
//!
//! Lists answer `meta` (`page_number`, `page_size`, `total_pages`, `total_results`) and take
//! `page[number]`, `page[size]`. [`SIMULATED_RESOURCES`] lists every resource with its
//! methods and filters, as the README's "Simulated resources" table does.
//!
//! Numbers and profiles exist once added with [`Simulator::add_number`] and
//! [`Simulator::add_messaging_profile`]; [`Simulator::profile_updates`] lists the changes.
//!
//! Errors use Telnyx's body, `{"errors":[{"code":"10004","title":"…","detail":"…","source":{"pointer":"/to"}}]}`:
//! wrong or missing bearer key → 401 (10009); not JSON → 415 (10014) or 400 (10023);
//! validation → 422 (10004 missing `to`/sender/`text`, 40310 invalid `to`, 10015 too many
//! media or too long a text). Sending to [`OPTED_OUT_RECIPIENT`] answers 409 with 40300
//! ("Blocked due to STOP message"). Other failures are queued with [`Simulator::inject`].
//!
//! [`InboundSms`] with [`Simulator::signed_inbound`] / [`Simulator::post_inbound`] builds,
//! signs and posts the `message.received` webhook Telnyx would send to a gateway.

mod auth;
mod config;
mod dates;
mod detail_records;
mod errors;
mod events;
mod ids;
mod inbound;
mod inventory;
mod listings;
mod messages;
mod numbers;
mod paging;
mod router;
mod running;
mod simulator;
mod state;
mod surface;
mod webhooks;

pub use config::{Injection, OPTED_OUT_RECIPIENT, POOL_SENDER, SimulatorConfig};
pub use ids::new_uuid;
pub use inbound::InboundSms;
pub use inventory::{ProfileUpdate, SimNumber};
pub use running::RunningSimulator;
pub use simulator::Simulator;
pub use surface::{PAGING_PARAMETERS, SIMULATED_RESOURCES, SimulatedResource};
pub use webhooks::{SignedWebhook, WebhookRecord};
