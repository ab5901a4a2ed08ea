//! The simulator's in-memory state.

use std::collections::{HashMap, VecDeque};

use telephony_twilio::resources::MessageResource;

use crate::config::Injection;
use crate::errors::ApiError;
use crate::recipients::same_recipient;
use crate::records::{CallbackRecord, CreateRequestRecord};

#[derive(Debug, Default)]
pub(crate) struct SimState {
    /// Every created message, oldest first.
    pub(crate) messages: Vec<MessageResource>,
    /// SID → index in `messages`.
    index: HashMap<String, usize>,
    /// Failures waiting for a matching create.
    pub(crate) injections: VecDeque<Injection>,
    /// Every status callback attempted.
    pub(crate) callbacks: Vec<CallbackRecord>,
    /// Every `POST …/Messages.json` received, oldest first.
    pub(crate) create_requests: Vec<CreateRequestRecord>,
    /// Calls, their create requests and status callbacks.
    pub(crate) calls: crate::call_state::CallState,
    /// The account's phone numbers.
    pub(crate) numbers: Vec<telephony_twilio::resources::IncomingPhoneNumberResource>,
    /// Messaging Services.
    pub(crate) services: Vec<telephony_twilio::resources::MessagingServiceResource>,
    /// Number and service updates, oldest first.
    pub(crate) settings_updates: Vec<crate::records::SettingsUpdate>,
    /// Media records by message SID.
    pub(crate) media: HashMap<String, Vec<crate::media::MediaResource>>,
    /// Call recordings, in progress and done.
    pub(crate) recordings: crate::recordings::RecordingState,
}

impl SimState {
    pub(crate) fn insert(&mut self, m: MessageResource) {
        self.index.insert(m.sid.clone(), self.messages.len());
        self.messages.push(m);
    }

    pub(crate) fn message(&self, sid: &str) -> Option<&MessageResource> {
        self.index.get(sid).map(|&i| &self.messages[i])
    }

    /// Deletes a message and its media.
    pub(crate) fn remove(&mut self, sid: &str) {
        if let Some(i) = self.index.remove(sid) {
            self.messages.remove(i);
            for (pos, m) in self.messages.iter().enumerate().skip(i) {
                self.index.insert(m.sid.clone(), pos);
            }
        }
        self.media.remove(sid);
    }

    pub(crate) fn message_mut(&mut self, sid: &str) -> Option<&mut MessageResource> {
        let i = *self.index.get(sid)?;
        self.messages.get_mut(i)
    }

    /// Consumes one use of the oldest injection that applies to a create for `to`.
    pub(crate) fn take_injection(&mut self, to: Option<&str>) -> Option<ApiError> {
        let pos = self.injections.iter().position(|inj| match &inj.to {
            None => true,
            Some(want) => to.is_some_and(|to| same_recipient(want, to)),
        })?;
        let inj = &mut self.injections[pos];
        let err = ApiError {
            status: inj.status,
            code: inj.code,
            message: inj.message.clone(),
            retry_after: inj.retry_after,
        };
        inj.times = inj.times.saturating_sub(1);
        if inj.times == 0 {
            self.injections.remove(pos);
        }
        Some(err)
    }
}
