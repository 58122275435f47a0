//! Scratch: an empty embedded API server on a port, for poking with kubectl.
#[tokio::main]
async fn main() {
    let cluster =
        swarmdeck::embedded::Cluster::new(swarmdeck::embedded::clock::Clock::system(), 10_000);
    let (addr, task) = swarmdeck::embedded::serve_tcp(&cluster, 18080)
        .await
        .unwrap();
    std::fs::write(
        "/tmp/embedded.kubeconfig",
        swarmdeck::embedded::kubeconfig(&format!("http://{addr}"), "default"),
    )
    .unwrap();
    println!("serving on {addr}");
    task.await.unwrap();
}
