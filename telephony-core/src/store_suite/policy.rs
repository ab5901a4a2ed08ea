//! Sender policy cases: pairing and opt-outs.

use super::*;

/// Pairing: one request per sender, the pending cap, the hourly cap, expiry, approve/reject.
pub async fn pairing_lifecycle<S: PolicyStore + ?Sized>(s: &S) {
    use crate::pairing::{PairingLimits, PairingOutcome, PairingResolution, PairingStatus};
    let limits = PairingLimits::default();
    let a = num("+15550000001");
    let created = match s
        .pairing_request(&a, "AAAAAAAA", &limits, t0())
        .await
        .unwrap()
    {
        PairingOutcome::Created(r) => r,
        other => panic!("expected Created, got {other:?}"),
    };
    assert_eq!(created.code, "AAAAAAAA");
    assert_eq!(created.sender, a);
    assert_eq!(created.status, PairingStatus::Pending);
    assert_eq!(created.created_at, t0());
    assert_eq!(created.expires_at, t0() + Duration::from_secs(3600));
    // The same sender keeps its code.
    let again = s
        .pairing_request(&a, "ZZZZZZZZ", &limits, t0() + Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(again, PairingOutcome::Existing(created.clone()));
    for (i, code) in ["BBBBBBBB", "CCCCCCCC"].iter().enumerate() {
        let n = num(&format!("+1555000001{i}"));
        assert!(matches!(
            s.pairing_request(&n, code, &limits, t0()).await.unwrap(),
            PairingOutcome::Created(_)
        ));
    }
    // A fourth unknown sender: capped.
    assert_eq!(
        s.pairing_request(&num("+15550000099"), "DDDDDDDD", &limits, t0())
            .await
            .unwrap(),
        PairingOutcome::Limited
    );
    let pending = s.pending_pairings(t0()).await.unwrap();
    let codes: Vec<&str> = pending.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(codes, ["AAAAAAAA", "BBBBBBBB", "CCCCCCCC"]);

    // Approve, reject, unknown, already resolved.
    let approved = s.resolve_pairing("AAAAAAAA", true, t0()).await.unwrap();
    match approved {
        PairingResolution::Resolved(r) => {
            assert_eq!(r.status, PairingStatus::Approved);
            assert_eq!(r.sender, a);
        }
        other => panic!("expected Resolved, got {other:?}"),
    }
    assert!(s.is_approved_sender(&a).await.unwrap());
    assert!(matches!(
        s.resolve_pairing("AAAAAAAA", true, t0()).await.unwrap(),
        PairingResolution::AlreadyResolved(_)
    ));
    assert!(matches!(
        s.resolve_pairing("BBBBBBBB", false, t0()).await.unwrap(),
        PairingResolution::Resolved(ref r) if r.status == PairingStatus::Rejected
    ));
    assert!(!s.is_approved_sender(&num("+15550000010")).await.unwrap());
    // The same answers for many numbers in one read.
    let among = s
        .approved_senders_among(&[num("+15550000010"), a.clone(), num("+15550000099")])
        .await
        .unwrap();
    assert_eq!(among, std::collections::HashSet::from([a.clone()]));
    assert!(s.approved_senders_among(&[]).await.unwrap().is_empty());
    // Both answers in one read: the approved among the asked, and who waits (C only: A
    // was approved, B rejected).
    let state = s
        .pairing_state(&[num("+15550000010"), a.clone()], t0())
        .await
        .unwrap();
    assert_eq!(state.approved, std::collections::HashSet::from([a.clone()]));
    let waiting: Vec<&str> = state.pending.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(waiting, ["CCCCCCCC"]);
    assert_eq!(
        s.pairing_state(&[], t0()).await.unwrap().approved,
        std::collections::HashSet::new()
    );
    assert_eq!(
        s.resolve_pairing("NOPE2345", true, t0()).await.unwrap(),
        PairingResolution::NotFound
    );
    // Two pending slots are free now, but three were created this hour: still capped.
    assert_eq!(
        s.pairing_request(
            &num("+15550000099"),
            "DDDDDDDD",
            &limits,
            t0() + Duration::from_secs(600)
        )
        .await
        .unwrap(),
        PairingOutcome::Limited
    );
    // After the hour, the old pending one has expired and cannot be approved.
    let later = t0() + Duration::from_secs(3601);
    assert!(s.pending_pairings(later).await.unwrap().is_empty());
    assert!(matches!(
        s.resolve_pairing("CCCCCCCC", true, later).await.unwrap(),
        PairingResolution::Expired(ref r) if r.status == PairingStatus::Expired
    ));
    assert!(matches!(
        s.pairing_request(&num("+15550000099"), "EEEEEEEE", &limits, later)
            .await
            .unwrap(),
        PairingOutcome::Created(_)
    ));
}

/// Opt-outs are recorded and cleared.
pub async fn opt_out_and_in<S: PolicyStore + ?Sized>(s: &S) {
    let n = num("+15550000001");
    assert!(!s.is_opted_out(&n).await.unwrap());
    s.set_opted_out(&n, true, t0()).await.unwrap();
    s.set_opted_out(&n, true, t0()).await.unwrap();
    assert!(s.is_opted_out(&n).await.unwrap());
    assert!(!s.is_opted_out(&num("+15550000002")).await.unwrap());
    s.set_opted_out(&n, false, t0()).await.unwrap();
    assert!(!s.is_opted_out(&n).await.unwrap());
}
