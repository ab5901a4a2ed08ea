//! Pairing, approved senders and opt-outs ([`PolicyStore`]).

use super::*;

#[async_trait]
impl PolicyStore for MemoryStore {
    async fn pairing_request(
        &self,
        sender: &PhoneNumber,
        code: &str,
        limits: &PairingLimits,
        now: OffsetDateTime,
    ) -> Result<PairingOutcome, StoreError> {
        let mut g = self.lock();
        for p in g.pairings.iter_mut() {
            if p.status == PairingStatus::Pending && p.expires_at <= now {
                p.status = PairingStatus::Expired;
            }
        }
        if let Some(p) = g
            .pairings
            .iter()
            .find(|p| p.status == PairingStatus::Pending && &p.sender == sender)
        {
            return Ok(PairingOutcome::Existing(p.clone()));
        }
        let pending = g
            .pairings
            .iter()
            .filter(|p| p.status == PairingStatus::Pending)
            .count();
        let recent = g.pairings_created_last_hour(now);
        if pending >= limits.max_pending || recent >= limits.max_per_hour {
            return Ok(PairingOutcome::Limited);
        }
        let req = PairingRequest {
            code: code.to_string(),
            sender: sender.clone(),
            status: PairingStatus::Pending,
            created_at: now,
            expires_at: now + limits.ttl,
        };
        g.pairings.push(req.clone());
        Ok(PairingOutcome::Created(req))
    }

    async fn pending_pairings(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        Ok(self.lock().pending_pairings(now))
    }

    async fn resolve_pairing(
        &self,
        code: &str,
        approve: bool,
        now: OffsetDateTime,
    ) -> Result<PairingResolution, StoreError> {
        let mut g = self.lock();
        let Some(p) = g.pairings.iter_mut().rev().find(|p| p.code == code) else {
            return Ok(PairingResolution::NotFound);
        };
        match p.status {
            PairingStatus::Pending if p.expires_at <= now => {
                p.status = PairingStatus::Expired;
                return Ok(PairingResolution::Expired(p.clone()));
            }
            PairingStatus::Expired => return Ok(PairingResolution::Expired(p.clone())),
            PairingStatus::Approved | PairingStatus::Rejected => {
                return Ok(PairingResolution::AlreadyResolved(p.clone()));
            }
            PairingStatus::Pending => {}
        }
        p.status = if approve {
            PairingStatus::Approved
        } else {
            PairingStatus::Rejected
        };
        let p = p.clone();
        if approve {
            g.approved_senders.insert(p.sender.clone());
        }
        Ok(PairingResolution::Resolved(p))
    }

    async fn is_approved_sender(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        Ok(self.lock().approved_senders.contains(number))
    }

    async fn approved_senders_among(
        &self,
        numbers: &[PhoneNumber],
    ) -> Result<std::collections::HashSet<PhoneNumber>, StoreError> {
        let g = self.lock();
        Ok(numbers
            .iter()
            .filter(|n| g.approved_senders.contains(*n))
            .cloned()
            .collect())
    }

    async fn set_opted_out(
        &self,
        number: &PhoneNumber,
        opted_out: bool,
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        if opted_out {
            g.opted_out.insert(number.clone());
        } else {
            g.opted_out.remove(number);
            // An erased number that opts back in (START) is no longer blocked either.
            if let Some(hash) = g.opt_out_key.as_ref().map(|k| k.hash(number)) {
                g.opted_out_hashes.remove(&hash);
            }
        }
        Ok(())
    }

    async fn is_opted_out(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        let g = self.lock();
        Ok(g.opted_out.contains(number)
            || g.opt_out_key
                .as_ref()
                .is_some_and(|k| g.opted_out_hashes.contains(&k.hash(number))))
    }
}
