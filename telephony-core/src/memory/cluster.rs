//! Replicas and singleton leases ([`ClusterStore`]). One process holds a memory store, so
//! its work watches never fire: the gateway's in-process wake-ups cover every enqueue.

use super::*;

#[async_trait]
impl ClusterStore for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn heartbeat(&self, beat: &ReplicaBeat) -> Result<(), StoreError> {
        self.lock().replicas.insert(beat.id.clone(), beat.clone());
        Ok(())
    }

    async fn replicas(&self, live_since: OffsetDateTime) -> Result<Vec<ReplicaBeat>, StoreError> {
        // A BTreeMap: already ordered by id.
        Ok(self
            .lock()
            .replicas
            .values()
            .filter(|b| b.last_seen >= live_since)
            .cloned()
            .collect())
    }

    async fn leave(&self, id: &str) -> Result<(), StoreError> {
        self.lock().replicas.remove(id);
        Ok(())
    }

    async fn try_lead(
        &self,
        task: &str,
        holder: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let free = match g.leases.get(task) {
            Some((current, until)) => current == holder || *until <= now,
            None => true,
        };
        if free {
            g.leases
                .insert(task.to_string(), (holder.to_string(), now + ttl));
        }
        Ok(free)
    }

    fn watch_work(&self, _kind: WorkKind) -> WorkWatch {
        WorkWatch::never()
    }
}
