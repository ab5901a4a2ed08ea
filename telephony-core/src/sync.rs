//! The one way this workspace takes a `std::sync::Mutex`.
//!
//! A mutex is poisoned when a thread panicked while holding it. Every mutex here guards
//! state that each critical section leaves consistent before it can panic (maps, counters,
//! queues updated in one statement), so the data is still good and refusing it would turn
//! one panicked task into a gateway that fails every later request. So the guard is taken
//! back from the poison instead of unwrapping.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering the guard if a panicking thread poisoned it.
///
/// ```
/// use std::sync::Mutex;
/// use telephony_core::sync::lock;
///
/// let counter = Mutex::new(1);
/// *lock(&counter) += 1;
/// assert_eq!(*lock(&counter), 2);
/// ```
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_poisoned_mutex_still_locks() {
        let m = Arc::new(Mutex::new(vec![1]));
        let m2 = Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _guard = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        lock(&m).push(2);
        assert_eq!(*lock(&m), vec![1, 2]);
    }
}
