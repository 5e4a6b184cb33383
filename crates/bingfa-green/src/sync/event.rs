//! Green `Event`.

use std::time::{Duration, Instant};

use super::waiter::{wait_until, Locked, WaitList};

/// A flag that green threads (and OS threads) wait for: [`wait`] returns
/// once some thread [`set`]s it; it stays set until [`clear`].
///
/// `Send + Sync`: share it in an `Arc` with other OS threads. Setting it
/// from a plain thread wakes green threads on any hub; waiting on it from a
/// plain thread blocks that thread (it is not in a hub).
///
/// Python: `gevent.event.Event`.
///
/// [`wait`]: Event::wait
/// [`set`]: Event::set
/// [`clear`]: Event::clear
///
/// ```
/// use std::sync::Arc;
/// use bingfa_green::{run, spawn, sync::Event};
///
/// run(|| {
///     let ev = Arc::new(Event::new());
///     let e = ev.clone();
///     let waiter = spawn(move || { e.wait(); "released" });
///     // Set from a plain OS thread: wakes the green thread on its hub.
///     let e = ev.clone();
///     std::thread::spawn(move || e.set()).join().unwrap();
///     assert_eq!(waiter.join().unwrap(), "released");
/// })
/// .unwrap();
/// ```
pub struct Event {
    state: Locked<(bool, WaitList)>,
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl Event {
    /// A clear event.
    pub fn new() -> Event {
        Event {
            state: Locked::new((false, WaitList::default())),
        }
    }

    /// Sets the flag and wakes every waiter.
    ///
    /// Python: `event.set()`.
    pub fn set(&self) {
        let ws = self.state.with(|s| {
            s.0 = true;
            s.1.take_all()
        });
        for w in ws {
            w.wake();
        }
    }

    /// Clears the flag.
    ///
    /// Python: `event.clear()`.
    pub fn clear(&self) {
        self.state.with(|s| s.0 = false);
    }

    /// Whether the flag is set.
    ///
    /// Python: `event.is_set()`.
    pub fn is_set(&self) -> bool {
        self.state.with(|s| s.0)
    }

    /// Waits until the flag is set (at once if it is).
    ///
    /// Python: `event.wait()`.
    pub fn wait(&self) {
        wait_until(&self.state, None, |s| &mut s.1, |s| s.0.then_some(()));
    }

    /// Waits at most `timeout`; returns whether the flag is set.
    ///
    /// Python: `event.wait(timeout)`.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        wait_until(&self.state, deadline, |s| &mut s.1, |s| s.0.then_some(())).is_some()
    }

    /// How many are waiting now.
    pub fn waiters(&self) -> usize {
        self.state.with(|s| s.1.len())
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}
