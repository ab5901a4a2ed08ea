//! Voice call sessions ([`CallStore`]).

use super::*;

#[async_trait]
impl CallStore for MemoryStore {
    async fn begin_call(
        &self,
        call: &NewCall,
        max_live: Option<usize>,
    ) -> Result<BeginOutcome, StoreError> {
        let mut g = self.lock();
        if let Some(existing) = g.calls.iter().find(|c| c.call_id == call.call_id) {
            return Ok(BeginOutcome::Existing(existing.clone()));
        }
        let live = g.calls.iter().filter(|c| c.is_live_session()).count();
        let full = call.session && max_live.is_some_and(|max| live >= max);
        let record = CallRecord {
            call_id: call.call_id.clone(),
            direction: call.direction,
            from: call.from.clone(),
            to: call.to.clone(),
            status: call.status,
            session: call.session && !full,
            started_at: call.at,
            answered_at: (call.status == crate::voice::CallStatus::InProgress).then_some(call.at),
            ended_at: call.status.is_terminal().then_some(call.at),
            updated_at: call.at,
            duration_secs: None,
            note: call.note.clone(),
            history: vec![CallStatusChange {
                status: call.status,
                at: call.at,
                source: call.source,
            }],
            transcript: Vec::new(),
            answered_by: None,
            update_epoch: 0,
        };
        g.calls.push(record.clone());
        Ok(if full {
            BeginOutcome::Full { live, record }
        } else {
            BeginOutcome::Started(record)
        })
    }

    async fn rename_call(&self, from_id: &str, to_id: &str) -> Result<(), StoreError> {
        let mut g = self.lock();
        g.call_mut(from_id)?.call_id = to_id.to_string();
        for r in g.recordings.iter_mut().filter(|r| r.call_id == from_id) {
            r.call_id = to_id.to_string();
        }
        if let Some(a) = g.pending_answers.remove(from_id) {
            g.pending_answers.insert(to_id.to_string(), a);
        }
        Ok(())
    }

    async fn update_call_status(
        &self,
        call_id: &str,
        status: crate::voice::CallStatus,
        duration_secs: Option<u64>,
        source: StatusSource,
        at: OffsetDateTime,
    ) -> Result<CallStatusOutcome, StoreError> {
        let mut g = self.lock();
        let Some(call) = g.calls.iter_mut().find(|c| c.call_id == call_id) else {
            g.orphan_calls.push(OrphanCallStatus {
                call_id: call_id.to_string(),
                status,
                at,
            });
            return Ok(CallStatusOutcome::Unknown);
        };
        call.updated_at = at;
        if !call.status.can_advance_to(status) {
            return Ok(CallStatusOutcome::Stale(call.clone()));
        }
        call.status = status;
        if status == crate::voice::CallStatus::InProgress && call.answered_at.is_none() {
            call.answered_at = Some(at);
        }
        if status.is_terminal() {
            call.ended_at = Some(at);
            if duration_secs.is_some() {
                call.duration_secs = duration_secs;
            }
        }
        call.history.push(CallStatusChange { status, at, source });
        let record = call.clone();
        if status.is_terminal() {
            g.pending_answers.remove(call_id);
        }
        Ok(CallStatusOutcome::Applied(record))
    }

    async fn set_call_note(&self, call_id: &str, note: &str) -> Result<(), StoreError> {
        self.lock().call_mut(call_id)?.note = Some(note.to_string());
        Ok(())
    }

    async fn add_call_turn(&self, call_id: &str, turn: &CallTurn) -> Result<(), StoreError> {
        let mut g = self.lock();
        let call = g.call_mut(call_id)?;
        call.transcript.push(turn.clone());
        call.updated_at = turn.at;
        Ok(())
    }

    async fn set_call_answered_by(
        &self,
        call_id: &str,
        answered_by: crate::voice::AnsweredBy,
        at: OffsetDateTime,
    ) -> Result<CallRecord, StoreError> {
        let mut g = self.lock();
        let call = g.call_mut(call_id)?;
        call.answered_by = Some(answered_by);
        call.updated_at = at;
        Ok(call.clone())
    }

    async fn touch_call(&self, call_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.lock().call_mut(call_id)?.updated_at = at;
        Ok(())
    }

    async fn call(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        Ok(self
            .lock()
            .calls
            .iter()
            .find(|c| c.call_id == call_id)
            .cloned())
    }

    async fn live_sessions(&self) -> Result<Vec<CallRecord>, StoreError> {
        Ok(self
            .lock()
            .calls
            .iter()
            .filter(|c| c.is_live_session())
            .cloned()
            .collect())
    }

    async fn calls(&self, query: &CallQuery) -> Result<Vec<CallRecord>, StoreError> {
        let g = self.lock();
        let matching: Vec<&CallRecord> = g
            .calls
            .iter()
            .filter(|c| query.since.is_none_or(|s| c.started_at >= s))
            .collect();
        let limit = default_limit(query.limit);
        let skip = matching.len().saturating_sub(limit);
        Ok(matching.into_iter().skip(skip).cloned().collect())
    }

    async fn orphan_call_statuses(
        &self,
        limit: usize,
    ) -> Result<Vec<OrphanCallStatus>, StoreError> {
        let g = self.lock();
        let limit = default_limit(limit);
        let skip = g.orphan_calls.len().saturating_sub(limit);
        Ok(g.orphan_calls.iter().skip(skip).cloned().collect())
    }

    async fn call_update_epoch(&self, call_id: &str) -> Result<u64, StoreError> {
        Ok(self.lock().call_mut(call_id)?.update_epoch)
    }

    async fn bump_call_update_epoch(&self, call_id: &str) -> Result<u64, StoreError> {
        let mut g = self.lock();
        let call = g.call_mut(call_id)?;
        call.update_epoch += 1;
        Ok(call.update_epoch)
    }

    async fn undo_call_update_epoch(&self, call_id: &str, bumped: u64) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let call = g.call_mut(call_id)?;
        if bumped == 0 || call.update_epoch != bumped {
            return Ok(false);
        }
        call.update_epoch -= 1;
        Ok(true)
    }

    async fn set_pending_answer(
        &self,
        call_id: &str,
        answer: &PendingAnswer,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        g.call_mut(call_id)?;
        g.pending_answers
            .insert(call_id.to_string(), answer.clone());
        Ok(())
    }

    async fn take_pending_answer(
        &self,
        call_id: &str,
    ) -> Result<Option<PendingAnswer>, StoreError> {
        Ok(self.lock().pending_answers.remove(call_id))
    }

    async fn put_stream_token(
        &self,
        call_id: &str,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.lock()
            .stream_tokens
            .insert((call_id.to_string(), token_hash.to_string()), expires_at);
        Ok(())
    }

    async fn take_stream_token(
        &self,
        call_id: &str,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let found = g
            .stream_tokens
            .remove(&(call_id.to_string(), token_hash.to_string()));
        // Expired tokens of other calls go too.
        g.stream_tokens.retain(|_, exp| *exp > now);
        Ok(found.is_some_and(|exp| exp > now))
    }

    async fn add_recording(
        &self,
        recording: &crate::voice::CallRecording,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        g.call_mut(&recording.call_id)?;
        match g
            .recordings
            .iter_mut()
            .find(|r| r.recording_id == recording.recording_id)
        {
            Some(r) => {
                *r = recording.clone();
                Ok(false)
            }
            None => {
                g.recordings.push(recording.clone());
                Ok(true)
            }
        }
    }

    async fn recordings(
        &self,
        call_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<crate::voice::CallRecording>, StoreError> {
        let g = self.lock();
        let mut list: Vec<_> = g
            .recordings
            .iter()
            .filter(|r| call_id.is_none_or(|id| r.call_id == id))
            .cloned()
            .collect();
        // Oldest first by start; arrival order breaks ties.
        list.sort_by_key(|r| r.created_at);
        let limit = default_limit(limit);
        let skip = list.len().saturating_sub(limit);
        Ok(list.split_off(skip))
    }

    async fn recording(
        &self,
        recording_id: &str,
    ) -> Result<Option<crate::voice::CallRecording>, StoreError> {
        Ok(self
            .lock()
            .recordings
            .iter()
            .find(|r| r.recording_id == recording_id)
            .cloned())
    }
}
