//! Leader election: exactly one engine leads a namespace; the other observes,
//! and takes over once the lease expired or was released.

use std::time::Duration;

use swarmdeck::embedded::Cluster;
use swarmdeck::engine::lease::{LeaseConfig, Role, elect, release};
use swarmdeck::time::Clock;

fn engine(cluster: &Cluster, who: &str) -> (kube::Client, LeaseConfig) {
    let client = swarmdeck::cluster::gate::in_process(cluster, "swarm", false);
    (
        client,
        LeaseConfig {
            namespace: "default".into(),
            identity: who.into(),
            duration: Duration::from_secs(15),
        },
    )
}

#[tokio::test]
async fn exactly_one_leads_and_the_other_takes_over_after_expiry() {
    let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 1000);
    let (a, ca) = engine(&cluster, "console-a");
    let (b, cb) = engine(&cluster, "console-b");
    let t0 = 1_795_305_600_000;
    assert_eq!(elect(&a, &ca, t0).await.unwrap(), Role::Leader);
    assert_eq!(
        elect(&b, &cb, t0 + 1_000).await.unwrap(),
        Role::Observer {
            leader: Some("console-a".into())
        }
    );
    // A renews within the duration: B keeps observing.
    assert_eq!(elect(&a, &ca, t0 + 10_000).await.unwrap(), Role::Leader);
    assert_eq!(
        elect(&b, &cb, t0 + 20_000).await.unwrap(),
        Role::Observer {
            leader: Some("console-a".into())
        }
    );
    // A stops renewing: after the duration B takes over, and A learns it.
    assert_eq!(elect(&b, &cb, t0 + 26_000).await.unwrap(), Role::Leader);
    assert_eq!(
        elect(&a, &ca, t0 + 27_000).await.unwrap(),
        Role::Observer {
            leader: Some("console-b".into())
        }
    );
    // B releases on a clean exit: A leads at once, without waiting for expiry.
    release(&b, &cb).await.unwrap();
    assert_eq!(elect(&a, &ca, t0 + 28_000).await.unwrap(), Role::Leader);
}

#[tokio::test]
async fn a_race_for_an_expired_lease_has_one_winner() {
    let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 1000);
    let (a, ca) = engine(&cluster, "a");
    let (b, cb) = engine(&cluster, "b");
    let (c, cc) = engine(&cluster, "c");
    let t0 = 1_795_305_600_000;
    elect(&c, &cc, t0).await.unwrap();
    let later = t0 + 60_000;
    let (ra, rb) = tokio::join!(elect(&a, &ca, later), elect(&b, &cb, later));
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
