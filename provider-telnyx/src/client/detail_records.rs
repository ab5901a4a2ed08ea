//! Message detail records (`GET /v2/detail_records` with `filter[record_type]=messaging`)
//! and one message (`GET /v2/messages/{id}`): the log the gateway looks a send up in when
//! the attempt that may have sent it was interrupted.
//!
//! A detail record has the sender (`cli`), the recipient (`cld`), the direction and when
//! the message was created, but not its text; the text is read from the message itself,
//! whose id is the record's `uuid`.

use serde::{Deserialize, Serialize};
use telephony_core::ProviderError;
use time::OffsetDateTime;

use super::transport::{PROVIDER, TelnyxClient, path_segment};
use crate::resources::{Data, MessageResource};

/// One message detail record, as `GET /v2/detail_records` lists it (the fields the gateway
/// reads; others are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDetailRecord {
    /// `"message_detail_record"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// The message's id.
    #[serde(default)]
    pub uuid: String,
    /// The sender number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli: Option<String>,
    /// The recipient number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cld: Option<String>,
    /// `"outbound"` or `"inbound"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// The messaging profile the message went through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// Its status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// When the message was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// A page of detail records: `{"data": […], "meta": {…}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailRecordPage {
    /// The records on this page.
    #[serde(default)]
    pub data: Vec<MessageDetailRecord>,
    /// Where this page is among all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<PageMeta>,
}

/// Telnyx's page numbers (`page[number]` counts from 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMeta {
    /// This page's number.
    #[serde(default)]
    pub page_number: u32,
    /// Records per page.
    #[serde(default)]
    pub page_size: u32,
    /// How many pages there are.
    #[serde(default)]
    pub total_pages: u32,
    /// How many records there are.
    #[serde(default)]
    pub total_results: u64,
}

/// A message the gateway may have sent, to look up ([`TelnyxClient::find_sent_message`]):
/// its create request's `to`, sender (`from` or `messaging_profile_id`), `text` and number
/// of media, and when the attempt that may have sent it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessageQuery {
    /// The request's `to`.
    pub to: String,
    /// The request's `from`, when it named one.
    pub from: Option<String>,
    /// The request's `messaging_profile_id`.
    pub messaging_profile_id: Option<String>,
    /// The request's `text` (empty for media only).
    pub text: String,
    /// How many `media_urls` the request had.
    pub media: usize,
    /// Messages created before this are not it (compared to the whole second: Telnyx
    /// writes creation times with milliseconds at most, so a message created in the same
    /// second as `since` may read as earlier).
    pub since: OffsetDateTime,
}

/// Records per page when looking a sent message up.
pub const FIND_SENT_PAGE_SIZE: u32 = 50;

/// Pages of records looked at, at most, when looking a sent message up.
pub const FIND_SENT_MAX_PAGES: u32 = 5;

impl SentMessageQuery {
    /// `since` rounded down to its second: the bound every comparison uses.
    pub fn since_second(&self) -> OffsetDateTime {
        self.since.replace_nanosecond(0).unwrap_or(self.since)
    }

    /// Whether the record can be this message (outbound, same recipient and sender,
    /// created at or after `since`); its text is checked on the message itself.
    pub fn may_be(&self, r: &MessageDetailRecord) -> bool {
        let sender = match (&self.from, &self.messaging_profile_id) {
            (Some(from), _) => r.cli.as_deref() == Some(from.as_str()),
            (None, Some(profile)) => r.profile_id.as_deref() == Some(profile.as_str()),
            (None, None) => false,
        };
        r.direction.as_deref() == Some("outbound")
            && sender
            && r.cld.as_deref() == Some(self.to.as_str())
            && r.created_at
                .as_deref()
                .and_then(|t| telephony_core::rfc3339::parse(t).ok())
                .is_some_and(|t| t >= self.since_second())
    }

    /// Whether the message is this one: the record's checks, and the same text and number
    /// of media.
    pub fn is(&self, m: &MessageResource) -> bool {
        m.text.as_deref().unwrap_or_default() == self.text
            && m.media.len() == self.media
            && m.to.iter().any(|t| t.phone_number == self.to)
    }
}

impl TelnyxClient {
    /// One page of outbound message detail records to `q.to` (from `q.from` when set)
    /// created at or after `q.since`, oldest first: `GET /v2/detail_records` with
    /// `filter[record_type]=messaging`, `filter[direction]=outbound`, `filter[cld]`,
    /// `filter[cli]`, `filter[created_at][gte]`, `sort=created_at`, `page[number]` (from
    /// 1) and `page[size]`.
    pub async fn message_detail_records(
        &self,
        q: &SentMessageQuery,
        page: u32,
    ) -> Result<DetailRecordPage, ProviderError> {
        let since = telephony_core::rfc3339::format(q.since_second());
        let (page, size) = (page.max(1).to_string(), FIND_SENT_PAGE_SIZE.to_string());
        let mut query: Vec<(&str, &str)> = vec![
            ("filter[record_type]", "messaging"),
            ("filter[direction]", "outbound"),
            ("filter[cld]", &q.to),
        ];
        if let Some(from) = &q.from {
            query.push(("filter[cli]", from));
        }
        query.extend([
            ("filter[created_at][gte]", since.as_str()),
            ("sort", "created_at"),
            ("page[number]", page.as_str()),
            ("page[size]", size.as_str()),
        ]);
        self.json(
            reqwest::Method::GET,
            "/v2/detail_records",
            &query,
            None,
            "detail record page",
        )
        .await
    }

    /// One message: `GET /v2/messages/{id}`.
    pub async fn fetch_message(&self, id: &str) -> Result<MessageResource, ProviderError> {
        let path = format!("/v2/messages/{}", path_segment(id)?);
        let d: Data<MessageResource> = self
            .json(reqwest::Method::GET, &path, &[], None, "message")
            .await?;
        Ok(d.data)
    }

    /// Looks a message the gateway may have sent up: the detail records that
    /// [may be it](SentMessageQuery::may_be), oldest first, each checked against its
    /// message's text ([`SentMessageQuery::is`]); the first match, or `None`. At most
    /// [`FIND_SENT_MAX_PAGES`] pages: more is a [`ProviderError::Protocol`] (it cannot say
    /// "not sent"). One attempt per request, like every call of this client.
    pub async fn find_sent_message(
        &self,
        q: &SentMessageQuery,
    ) -> Result<Option<MessageResource>, ProviderError> {
        for page in 1..=FIND_SENT_MAX_PAGES {
            let records = self.message_detail_records(q, page).await?;
            for record in records.data.iter().filter(|r| q.may_be(r)) {
                let message = self.fetch_message(&record.uuid).await?;
                if q.is(&message) {
                    return Ok(Some(message));
                }
            }
            let last = records
                .meta
                .as_ref()
                .is_none_or(|m| m.page_number >= m.total_pages);
            if last || records.data.is_empty() {
                return Ok(None);
            }
        }
        Err(ProviderError::protocol(
            PROVIDER,
            format!(
                "more than {FIND_SENT_MAX_PAGES} pages of {FIND_SENT_PAGE_SIZE} detail records to this recipient since the interrupted attempt; not looking further"
            ),
        ))
    }
}
