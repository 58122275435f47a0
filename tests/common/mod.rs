//! The embedded demo with its world ticking on a manual clock in a helper
//! thread, for engine tests that poll as they would against a real cluster.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use swarmdeck::embedded::scenario::{self, Scenario};
use swarmdeck::embedded::world::{Timing, World};
use swarmdeck::embedded::{Cluster, clock::Clock};

pub struct Demo {
    pub cluster: Cluster,
    pub client: kube::Client,
    stop: Arc<AtomicBool>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub fn demo(read_only: bool) -> Demo {
    let cluster = Cluster::new(Clock::manual(1_795_305_600_000), 100_000);
    scenario::install_crds(&cluster).unwrap();
    let s = Scenario::parse(scenario::DEMO).unwrap();
    s.load_into(&cluster).unwrap();
    let mut world = World::new(cluster.clone(), s.faults, Timing::default(), s.nodes);
    world.run_for(3_000);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                world.run_for(100);
                std::thread::sleep(Duration::from_millis(3));
            }
        });
    }
    let client = swarmdeck::cluster::gate::in_process(&cluster, "swarm", read_only);
    Demo {
        cluster,
        client,
        stop,
    }
}

/// The embedded demo served on TCP from this test process (so the test can
/// read the server's request log), its world ticking on real time.
pub struct Served {
    pub rt: tokio::runtime::Runtime,
    pub cluster: swarmdeck::embedded::Cluster,
    pub addr: std::net::SocketAddr,
    pub server: Option<tokio::task::JoinHandle<()>>,
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    pub ticker: Option<std::thread::JoinHandle<()>>,
    pub kubeconfig: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    pub fn start(namespace: &str) -> Served {
        Served::start_with(namespace, Vec::new())
    }

    /// The demo served with these faults in its world.
    pub fn start_with(namespace: &str, faults: Vec<swarmdeck::embedded::world::Fault>) -> Served {
        use swarmdeck::embedded::{Cluster, clock::Clock, scenario, serve_tcp};
        let rt = tokio::runtime::Runtime::new().unwrap();
        let cluster = Cluster::new(Clock::system(), 10_000);
        scenario::install_crds(&cluster).unwrap();
        scenario::Scenario::parse(scenario::DEMO)
            .unwrap()
            .load_into(&cluster)
            .unwrap();
        let world =
            swarmdeck::embedded::world::World::new(cluster.clone(), faults, Default::default(), 3);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker = swarmdeck::embedded::runtime::run_world(world, 0, stop.clone());
        let (addr, server) = rt.block_on(serve_tcp(&cluster, 0)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            swarmdeck::embedded::kubeconfig(&cluster, &format!("http://{addr}"), namespace),
        )
        .unwrap();
        Served {
            rt,
            cluster,
            addr,
            server: Some(server),
            stop,
            ticker: Some(ticker),
            kubeconfig,
            _dir: dir,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}
