//! What the test modules share: the test account, a simulator on a loopback port, and
//! small builders of expected values.

use telephony_twilio_simulator::{Heard, RunningSimulator, Simulator, SimulatorConfig};

/// The account every test's simulator serves.
pub(crate) const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
/// Its Auth Token.
pub(crate) const TOKEN: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f";

/// A simulator with `config`, served on a free port of 127.0.0.1.
pub(crate) async fn start(config: SimulatorConfig) -> (Simulator, RunningSimulator) {
    let sim = Simulator::new(config);
    let server = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (sim, server)
}

/// Owned form pairs.
pub(crate) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What the caller hears for a plain `<Say>` (no voice, no language).
pub(crate) fn say(text: &str) -> Heard {
    Heard::Say {
        text: text.into(),
        voice: None,
        language: None,
    }
}
