//! The watchdog thread: wakes every interval while detection is on, runs
//! the search and hands new deadlocks to the handler.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use bingfa_trace::flags;

/// The default interval: a deadlock is reported within about this long
/// (plus the search), well under a second.
pub(super) const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

static INTERVAL_US: AtomicU64 = AtomicU64::new(DEFAULT_INTERVAL.as_micros() as u64);
static THREAD: OnceLock<std::thread::Thread> = OnceLock::new();

/// The interval in force.
pub(super) fn interval() -> Duration {
    Duration::from_micros(INTERVAL_US.load(Ordering::Relaxed))
}

/// Sets the interval (at least 1 ms) and wakes the watchdog so it applies.
pub(super) fn set_interval(d: Duration) {
    let us = d.as_micros().clamp(1_000, u64::MAX as u128) as u64;
    INTERVAL_US.store(us, Ordering::Relaxed);
    wake();
}

/// Starts the watchdog thread if it is not running, and wakes it.
pub(super) fn start() {
    let t = THREAD.get_or_init(|| {
        std::thread::Builder::new()
            .name("bingfa-deadlock-watchdog".into())
            .spawn(run)
            .expect("bingfa: cannot spawn the deadlock watchdog thread")
            .thread()
            .clone()
    });
    t.unpark();
}

fn wake() {
    if let Some(t) = THREAD.get() {
        t.unpark();
    }
}

fn run() {
    loop {
        if !flags::is_on(flags::DEADLOCK) {
            // Sleeps until `enable` unparks it (spurious wake-ups loop).
            std::thread::park();
            continue;
        }
        std::thread::park_timeout(interval());
        if flags::is_on(flags::DEADLOCK) {
            super::scan();
        }
    }
}
