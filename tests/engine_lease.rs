//! Leader election: exactly one engine leads a namespace; the other observes,
//! and takes over once the lease has not changed for its duration as the
//! other saw it, or was released. The holder's own timestamps judge nothing.

use std::time::Duration;

use swarmdeck::embedded::Cluster;
use swarmdeck::engine::lease::{Elector, LeaseConfig, Role, release};
use swarmdeck::time::Clock;

fn engine(cluster: &Cluster, who: &str) -> (kube::Client, Elector) {
    let client = swarmdeck::cluster::gate::in_process(cluster, "swarm", false);
    (
        client,
        Elector::new(LeaseConfig {
            namespace: "default".into(),
            identity: who.into(),
            duration: Duration::from_secs(15),
        }),
    )
}

#[tokio::test]
async fn exactly_one_leads_and_the_other_takes_over_after_expiry() {
    let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 1000);
    let (a, mut ea) = engine(&cluster, "console-a");
    let (b, mut eb) = engine(&cluster, "console-b");
    let t0 = 1_795_305_600_000;
    // Each round: the time written, and this process's own clock.
    assert_eq!(ea.round(&a, t0, t0).await.unwrap(), Role::Leader);
    assert_eq!(
        eb.round(&b, t0 + 1_000, t0 + 1_000).await.unwrap(),
        Role::Observer {
            leader: Some("console-a".into())
        }
    );
    // A renews within the duration: B keeps observing.
    assert_eq!(
        ea.round(&a, t0 + 10_000, t0 + 10_000).await.unwrap(),
        Role::Leader
    );
    assert_eq!(
        eb.round(&b, t0 + 20_000, t0 + 20_000).await.unwrap(),
        Role::Observer {
            leader: Some("console-a".into())
        }
    );
    // A stops renewing. B saw the renewal at 20 s: the lease lasts until
    // 35 s by B's clock, whatever A's renewTime says.
    assert_eq!(
        eb.round(&b, t0 + 30_000, t0 + 30_000).await.unwrap(),
        Role::Observer {
            leader: Some("console-a".into())
        }
    );
    assert_eq!(
        eb.round(&b, t0 + 36_000, t0 + 36_000).await.unwrap(),
        Role::Leader
    );
    assert_eq!(
        ea.round(&a, t0 + 37_000, t0 + 37_000).await.unwrap(),
        Role::Observer {
            leader: Some("console-b".into())
        }
    );
    // B releases on a clean exit: A leads at once, without waiting for expiry.
    release(&b, &eb.cfg).await.unwrap();
    assert_eq!(
        ea.round(&a, t0 + 38_000, t0 + 38_000).await.unwrap(),
        Role::Leader
    );
}

/// A holder whose clock runs an hour ahead (its renewTime in the future)
/// still loses the lease once it stops renewing; one an hour behind (its
/// renewTime long past) keeps it while it renews.
#[tokio::test]
async fn the_holders_clock_decides_nothing() {
    let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 1000);
    let (a, mut ea) = engine(&cluster, "ahead");
    let (b, mut eb) = engine(&cluster, "behind");
    let t0 = 1_795_305_600_000;
    let hour = 3_600_000;
    assert_eq!(ea.round(&a, t0 + hour, t0).await.unwrap(), Role::Leader);
    assert!(matches!(
        eb.round(&b, t0, t0).await.unwrap(),
        Role::Observer { .. }
    ));
    assert_eq!(
        eb.round(&b, t0 + 16_000, t0 + 16_000).await.unwrap(),
        Role::Leader
    );
    // Now B, an hour behind, renews every 10 s: A never takes over.
    let (_, mut ea) = engine(&cluster, "ahead");
    for step in 1..6 {
        let t = t0 + 16_000 + step * 10_000;
        assert_eq!(eb.round(&b, t - hour, t).await.unwrap(), Role::Leader);
        assert!(matches!(
            ea.round(&a, t + hour, t).await.unwrap(),
            Role::Observer { .. }
        ));
    }
}

#[tokio::test]
async fn a_race_for_an_expired_lease_has_one_winner() {
    let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 1000);
    let (a, mut ea) = engine(&cluster, "a");
    let (b, mut eb) = engine(&cluster, "b");
    let (c, mut ec) = engine(&cluster, "c");
    let t0 = 1_795_305_600_000;
    ec.round(&c, t0, t0).await.unwrap();
    // Both see c's lease, which then does not change for its duration.
    ea.round(&a, t0 + 1_000, t0 + 1_000).await.unwrap();
    eb.round(&b, t0 + 1_000, t0 + 1_000).await.unwrap();
    let later = t0 + 60_000;
    let (ra, rb) = tokio::join!(ea.round(&a, later, later), eb.round(&b, later, later));
    let leaders = [ra.unwrap(), rb.unwrap()]
        .into_iter()
        .filter(|r| *r == Role::Leader)
        .count();
    assert_eq!(leaders, 1, "exactly one of the two took the expired lease");
    let writes = cluster
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert!(writes >= 1);
}
