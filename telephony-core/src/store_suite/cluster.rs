//! Replica heartbeat and singleton lease cases. (Wake-ups across replicas need two
//! processes on one database: each backend that has them tests them itself.)

use super::*;
use crate::store::{ClusterStore, ReplicaBeat, ReplicaHolds};

fn beat(id: &str, secs: u64) -> ReplicaBeat {
    ReplicaBeat {
        id: id.to_string(),
        host: "gw-host-1".into(),
        pid: 4242,
        version: "0.9.1".into(),
        started_at: t0(),
        last_seen: t0() + Duration::from_secs(secs),
        accounts: vec!["default".into(), "sales".into()],
        holds: ReplicaHolds::default(),
        extra: None,
    }
}

/// A reachable store answers its ping.
pub async fn ping_answers<S: ClusterStore + ?Sized>(s: &S) {
    s.ping().await.unwrap();
}

/// Heartbeats insert or replace a replica's row; `replicas` lists those seen since a time,
/// by id; `leave` removes one.
pub async fn heartbeats_list_live_replicas_and_leave<S: ClusterStore + ?Sized>(s: &S) {
    assert!(s.replicas(t0()).await.unwrap().is_empty());
    s.heartbeat(&beat("b-replica", 0)).await.unwrap();
    s.heartbeat(&beat("a-replica", 0)).await.unwrap();
    // a beats again, later, holding things and with extra data.
    let mut a = beat("a-replica", 10);
    a.last_seen += Duration::from_millis(250);
    a.holds = ReplicaHolds {
        realtime_calls: 2,
        sends_in_flight: 7,
        dispatching: 1,
    };
    a.extra = Some(serde_json::json!({"note": "héllo", "n": [1, 2]}));
    a.accounts = vec!["default".into()];
    s.heartbeat(&a).await.unwrap();

    assert_eq!(
        s.replicas(t0()).await.unwrap(),
        [a.clone(), beat("b-replica", 0)]
    );
    // b was last seen at t0: not live since t0 + 1 ms.
    assert_eq!(
        s.replicas(t0() + Duration::from_millis(1)).await.unwrap(),
        [a.clone()]
    );
    // The boundary is inclusive.
    assert_eq!(
        s.replicas(t0() + Duration::from_millis(10_250))
            .await
            .unwrap(),
        [a.clone()]
    );
    assert!(
        s.replicas(t0() + Duration::from_millis(10_251))
            .await
            .unwrap()
            .is_empty()
    );

    s.leave("b-replica").await.unwrap();
    s.leave("never-joined").await.unwrap();
    assert_eq!(s.replicas(t0()).await.unwrap(), [a]);
    s.leave("a-replica").await.unwrap();
    assert!(s.replicas(t0()).await.unwrap().is_empty());
}

/// A singleton lease has one holder until it expires; its holder renews it.
pub async fn singleton_lease_has_one_holder_until_expiry<S: ClusterStore + ?Sized>(s: &S) {
    let ttl = Duration::from_secs(30);
    let at = |secs: u64| t0() + Duration::from_secs(secs);
    assert!(s.try_lead("voice-reaper", "a", at(0), ttl).await.unwrap());
    assert!(!s.try_lead("voice-reaper", "b", at(10), ttl).await.unwrap());
    // Another task is another lease.
    assert!(s.try_lead("other-job", "b", at(10), ttl).await.unwrap());
    // a renews at 20: its lease now runs to 50.
    assert!(s.try_lead("voice-reaper", "a", at(20), ttl).await.unwrap());
    assert!(!s.try_lead("voice-reaper", "b", at(49), ttl).await.unwrap());
    // Expired at 50 (inclusive): b takes over, and a is refused until b's runs out.
    assert!(s.try_lead("voice-reaper", "b", at(50), ttl).await.unwrap());
    assert!(!s.try_lead("voice-reaper", "a", at(51), ttl).await.unwrap());
    assert!(!s.try_lead("voice-reaper", "a", at(79), ttl).await.unwrap());
    assert!(s.try_lead("voice-reaper", "a", at(80), ttl).await.unwrap());
}
