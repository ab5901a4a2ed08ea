//! The process-wide log capture: the one global `tracing` subscriber of this test binary,
//! installed on first use. From then on every test of the binary logs into it at TRACE
//! (the secrets tests search it all for secret values).

// Its only users today, the secrets tests, need the `telnyx` feature.
#![cfg_attr(not(feature = "telnyx"), allow(dead_code))]

use std::sync::{Arc, Mutex, OnceLock};

/// A buffer `tracing` writes its formatted lines into.
#[derive(Clone)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Everything logged so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The process-wide log buffer, installing the capturing subscriber on first use.
pub(crate) fn capture() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Captured(Arc::default());
        let writer = buf.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("the only subscriber of this test binary");
        // A first line, so the capture is seen to work whichever test runs first (a test
        // whose own code logs nothing would otherwise find the buffer empty).
        tracing::info!("secrets test: log capture started");
        buf
    })
}
