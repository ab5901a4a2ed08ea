//! Log capture for tests that check what the gateway logs.
//!
//! All tests share one process, and `tracing` caches per callsite whether anyone is
//! interested in it: a scoped subscriber (`set_default`) misses events whose callsite
//! another test thread registered, with no subscriber listening, at the wrong moment. So
//! one global subscriber is installed once (WARN and above, no time, no colours; every
//! callsite's interest is rebuilt when a capture starts) and
//! writes each event to the buffer of the thread that emitted it, when that thread is
//! capturing, and nowhere otherwise. Tests run on their own thread and (with
//! `#[tokio::test]`'s current-thread runtime) so do the servers and tasks they start.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

thread_local! {
    static BUFFER: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
}

/// Captures the WARN and ERROR lines this thread logs until dropped.
pub(crate) struct Captured {
    buffer: Arc<Mutex<Vec<u8>>>,
}

/// Starts capturing this thread's log lines.
pub(crate) fn capture() -> Captured {
    install();
    // Callsites another thread registered before the subscriber was installed may have
    // cached "nobody listens": ask every callsite again.
    tracing::callsite::rebuild_interest_cache();
    let buffer = Arc::new(Mutex::new(Vec::new()));
    BUFFER.with(|b| *b.borrow_mut() = Some(buffer.clone()));
    Captured { buffer }
}

impl Captured {
    /// The lines captured so far.
    pub(crate) fn lines(&self) -> Vec<String> {
        String::from_utf8(self.buffer.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        BUFFER.with(|b| *b.borrow_mut() = None);
    }
}

/// Installs the global subscriber, once per process.
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadWriter)
            .with_ansi(false)
            .without_time()
            .with_max_level(tracing::Level::WARN)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the serve tests");
    });
}

/// Writes to the current thread's capture buffer, if any.
struct ThreadWriter;

impl std::io::Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        BUFFER.with(|b| {
            if let Some(buffer) = &*b.borrow() {
                buffer.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
