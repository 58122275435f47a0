//! Running the embedded cluster: build it from a scenario, tick its world.

/// Build the embedded cluster with CRDs, the scenario and load pods, and its world.
pub fn embedded_world(scenario: &str, pods: usize) -> Result<super::world::World, String> {
    use super::{
        Cluster,
        scenario::{self, Scenario},
        world::{Timing, World},
    };
    use crate::time::Clock;
    let text = match scenario {
        "demo" => scenario::DEMO.to_owned(),
        "none" => String::new(),
        path => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read scenario {path}: {e}"))?,
    };
    let parsed = if text.is_empty() {
        Scenario {
            nodes: 3,
            ..Default::default()
        }
    } else {
        Scenario::parse(&text).map_err(|e| format!("scenario {scenario}: {e}"))?
    };
    let cluster = Cluster::new(Clock::system(), 20_000);
    scenario::install_crds(&cluster)?;
    parsed
        .load_into(&cluster)
        .map_err(|e| format!("scenario {scenario}: {e}"))?;
    scenario::load_pods(&cluster, pods)?;
    Ok(World::new(
        cluster,
        parsed.faults,
        Timing::default(),
        parsed.nodes,
    ))
}

/// Tick the world on real time in a thread of its own until `stop` is set.
pub fn run_world(
    mut world: super::world::World,
    churn: u32,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut cursor = 0usize;
        let mut owed = 0.0f64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let started = std::time::Instant::now();
            world.tick();
            if churn > 0 {
                owed += f64::from(churn) / 10.0;
                let n = owed.floor() as usize;
                owed -= n as f64;
                world.churn(n, &mut cursor);
            }
            std::thread::sleep(
                std::time::Duration::from_millis(100).saturating_sub(started.elapsed()),
            );
        }
    })
}
