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
