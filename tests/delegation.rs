//! A command that hands its request to the engine that leads stops waiting
//! when no engine leads any more: it withdraws the request (nobody will
//! carry out later what the operator was told did not happen) and says so.

mod common;
use common::Served;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use swarmdeck::engine::run::{Engine, EngineConfig, EngineRole};
use swarmdeck::engine::swarm::REBALANCE_ANNOTATION;

#[test]
fn a_request_to_an_engine_that_died_is_withdrawn() {
    let served = Served::start("swarm");
    let client = served.rt.block_on(async {
        swarmdeck::embedded::tcp_client(&served.cluster, served.addr, "swarm")
            .await
            .unwrap()
    });
    // An engine takes the lease, then dies without handing it back.
    let status = served.rt.block_on(async {
        let mut cfg = EngineConfig::new(vec!["swarm".into()], "doomed-engine".into());
        cfg.renew_every = Duration::from_millis(200);
        let engine = Engine::new(client.clone(), cfg, None);
        let mut status = engine.status();
        let handle = tokio::spawn(engine.run(std::future::pending()));
        while status.borrow().namespaces["swarm"].role != EngineRole::Leader {
            status.changed().await.unwrap();
        }
        handle.abort();
        let _ = handle.await;
        status
    });
    drop(status);
    let state = tempfile::tempdir().unwrap();
    let out = common::swarmdeck(
        &["rebalance", "swarm-worker", "-n", "swarm"],
        Some(&served.kubeconfig),
        state.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no engine leads namespace swarm any more"),
        "{err}"
    );
    assert!(
        err.contains("was withdrawn, nothing was rebalanced"),
        "{err}"
    );
    let cm: ConfigMap = served.rt.block_on(async {
        kube::Api::namespaced(client.clone(), "swarm")
            .get("swarm-controller-config")
            .await
            .unwrap()
    });
    let annotations = cm.metadata.annotations.unwrap_or_default();
    assert!(
        !annotations.contains_key(REBALANCE_ANNOTATION),
        "{annotations:?}"
    );
}
