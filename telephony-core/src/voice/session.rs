//! [`Session`]: one live conversation with a remote party, a call or a message thread.

use time::OffsetDateTime;

use crate::address::Channel;

use super::response::VoiceResponse;

/// How a session talks to the remote party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionChannel {
    /// A phone call.
    Voice,
    /// A thread of messages on a messaging channel.
    Messages(Channel),
}

/// Whether a session is still live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// Being set up (a call that rings).
    Starting,
    /// Live: the remote party can hear or read us.
    Active,
    /// Over (the call hung up, the thread was closed).
    Ended,
}

/// A live conversation: a call, or a message thread.
///
/// The gateway keeps these; it answers through a [`SessionReply`].
///
/// ```
/// use telephony_core::voice::{Session, SessionChannel, SessionReply, SessionState, VoiceResponse};
/// let s = Session::new("CA1", "+15550005678", SessionChannel::Voice, time::OffsetDateTime::UNIX_EPOCH);
/// assert_eq!(s.state, SessionState::Starting);
/// assert!(s.accepts(&SessionReply::Voice(VoiceResponse::new().say("Hi"))));
/// assert!(!s.accepts(&SessionReply::Text("Hi".into())));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Session {
    /// The session id (the provider's call id for a call).
    pub id: String,
    /// The other party (a phone number or channel address).
    pub remote: String,
    /// How we talk to them.
    pub channel: SessionChannel,
    /// When the session started.
    pub started_at: OffsetDateTime,
    /// Whether it is live.
    pub state: SessionState,
}

impl Session {
    /// A session in [`SessionState::Starting`].
    pub fn new(
        id: impl Into<String>,
        remote: impl Into<String>,
        channel: SessionChannel,
        started_at: OffsetDateTime,
    ) -> Self {
        Session {
            id: id.into(),
            remote: remote.into(),
            channel,
            started_at,
            state: SessionState::Starting,
        }
    }

    /// Whether `reply` fits this session's channel (voice for calls, text for threads).
    pub fn accepts(&self, reply: &SessionReply) -> bool {
        matches!(
            (self.channel, reply),
            (SessionChannel::Voice, SessionReply::Voice(_))
                | (SessionChannel::Messages(_), SessionReply::Text(_))
        )
    }
}

/// What the gateway says back in a session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionReply {
    /// The next instructions for a call.
    Voice(VoiceResponse),
    /// A text message in a thread.
    Text(String),
}
