//! Helpers the CLI's process-level tests share: running a command, a `telephony serve`
//! child that is killed when dropped, and polling for a condition.

use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Runs `c` to completion: exit code (-1 when killed by a signal), stdout, stderr.
pub(crate) fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// A running `telephony serve`, killed when dropped (the test may have stopped it already,
/// or failed half-way).
pub(crate) struct Serve(pub Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `f` every 50 ms until it holds; panics naming `what` after 30 s.
pub(crate) fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}
