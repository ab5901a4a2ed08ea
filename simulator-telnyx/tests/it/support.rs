//! What the test modules share: a simulator on a loopback port.

use telephony_telnyx_simulator::{RunningSimulator, Simulator, SimulatorConfig};

/// A simulator with `config`, served on a free port of 127.0.0.1.
pub(crate) async fn start(config: SimulatorConfig) -> (Simulator, RunningSimulator) {
    let sim = Simulator::new(config);
    let server = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (sim, server)
}
