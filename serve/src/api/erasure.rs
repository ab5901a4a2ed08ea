//! Erasing a number: `DELETE /telephony/numbers/{number}` and `telephony forget --json`.

use serde::{Deserialize, Serialize};
use telephony_core::store as domain;

/// What erasing one number removed from one account's store, by kind.
///
/// ```
/// use telephony_serve::api::ForgetReport;
/// let body = r#"{"number":"+15557654321","inboundMessages":3,"sends":1,"queuedSends":0,
///   "calls":0,"callStatusChanges":0,"callTurns":0,"pairingRequests":0,"approvedSenders":0,
///   "approvedContacts":0,"forwardEvents":2,"optOutsHashed":1,"optedOut":true}"#;
/// let r: ForgetReport = serde_json::from_str(body).unwrap();
/// assert_eq!((r.inbound_messages, r.forward_events, r.opted_out), (3, 2, true));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgetReport {
    /// The number erased (E.164).
    pub number: String,
    /// Inbound messages from or to it.
    pub inbound_messages: u64,
    /// Sends to or from it (receipts with their history).
    pub sends: u64,
    /// Of those, sends still queued, retrying or held: cancelled.
    pub queued_sends: u64,
    /// Calls from or to it.
    pub calls: u64,
    /// Status history entries of those calls.
    pub call_status_changes: u64,
    /// Transcript turns of those calls.
    pub call_turns: u64,
    /// Its pairing requests.
    pub pairing_requests: u64,
    /// Its approval through pairing (0 or 1).
    pub approved_senders: u64,
    /// Its first-contact approval (0 or 1).
    pub approved_contacts: u64,
    /// Events for the forward URL about its messages.
    pub forward_events: u64,
    /// Its opt-out, now kept as a keyed hash (0 or 1).
    pub opt_outs_hashed: u64,
    /// True when sends to the number are still refused: it had opted out (STOP), and the
    /// hash keeps that.
    pub opted_out: bool,
    /// Recording metadata of its calls (the audio stays with the provider).
    #[serde(default)]
    pub call_recordings: u64,
}

impl ForgetReport {
    /// The API form of a store's report for `number`, with whether it is still opted out.
    pub fn new(
        number: &telephony_core::PhoneNumber,
        r: &domain::ForgetReport,
        opted_out: bool,
    ) -> Self {
        ForgetReport {
            number: number.as_str().to_string(),
            inbound_messages: r.inbound_messages,
            sends: r.sends,
            queued_sends: r.queued_sends,
            calls: r.calls,
            call_status_changes: r.call_status_changes,
            call_turns: r.call_turns,
            pairing_requests: r.pairing_requests,
            approved_senders: r.approved_senders,
            approved_contacts: r.approved_contacts,
            forward_events: r.forward_events,
            opt_outs_hashed: r.opt_outs_hashed,
            opted_out,
            call_recordings: r.call_recordings,
        }
    }

    /// Records removed (every count but `optOutsHashed` and `queuedSends`, which are kept
    /// in another form and counted in `sends`).
    pub fn removed(&self) -> u64 {
        self.inbound_messages
            + self.sends
            + self.calls
            + self.call_status_changes
            + self.call_turns
            + self.call_recordings
            + self.pairing_requests
            + self.approved_senders
            + self.approved_contacts
            + self.forward_events
    }
}
