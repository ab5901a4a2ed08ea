//! The simulator's in-memory state.

use std::collections::{HashMap, VecDeque};

use telephony_telnyx::resources::{MessageResource, MessagingProfileResource};

use crate::config::Injection;
use crate::errors::ApiError;
use crate::inventory::{ProfileUpdate, SimNumber};
use crate::webhooks::WebhookRecord;

#[derive(Debug, Default)]
pub(crate) struct SimState {
    /// Every created message, oldest first.
    pub(crate) messages: Vec<MessageResource>,
    /// Message id → index in `messages`.
    index: HashMap<String, usize>,
    /// Failures waiting for the next sends.
    pub(crate) injections: VecDeque<Injection>,
    /// Every webhook attempted.
    pub(crate) webhooks: Vec<WebhookRecord>,
    /// `POST /v2/messages` requests received (including refused ones).
    pub(crate) requests: usize,
    /// The account's phone numbers.
    pub(crate) numbers: Vec<SimNumber>,
    /// The account's messaging profiles.
    pub(crate) profiles: Vec<MessagingProfileResource>,
    /// Every profile update applied.
    pub(crate) profile_updates: Vec<ProfileUpdate>,
    /// Calls (Call Control).
    pub(crate) calls: crate::call_state::CallState,
    /// Finished call recordings, oldest first.
    pub(crate) recordings: Vec<crate::recordings::RecordingRecord>,
    /// Where the simulator is served (set by [`Simulator::serve`]), for download links.
    pub(crate) base_url: Option<String>,
}

impl SimState {
    pub(crate) fn insert(&mut self, m: MessageResource) {
        self.index.insert(m.id.clone(), self.messages.len());
        self.messages.push(m);
    }

    pub(crate) fn message(&self, id: &str) -> Option<&MessageResource> {
        self.index.get(id).map(|&i| &self.messages[i])
    }

    pub(crate) fn message_mut(&mut self, id: &str) -> Option<&mut MessageResource> {
        let i = *self.index.get(id)?;
        self.messages.get_mut(i)
    }

    /// Consumes one use of the oldest injection.
    pub(crate) fn take_injection(&mut self) -> Option<ApiError> {
        let inj = self.injections.front_mut()?;
        let err = ApiError {
            retry_after: inj.retry_after,
            ..ApiError::new(inj.status, inj.code, &inj.title, inj.detail.clone())
        };
        inj.times = inj.times.saturating_sub(1);
        if inj.times == 0 {
            self.injections.pop_front();
        }
        Some(err)
    }
}
