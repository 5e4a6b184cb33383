//! A parking spot with a waiter counter.
//!
//! A thread that must wait registers in `waiting` first (`fetch_add`),
//! then parks with a condition that the parking lot checks under its bucket
//! lock. A thread that made the condition false (pushed an item, popped
//! one, finished the last task) calls `notify_*`, which touches the parking
//! lot only when `waiting` is non-zero.
//!
//! No wake-up is lost: the notifier reads `waiting` with a read-modify-write
//! (`fetch_add(0)`), not a plain load. Both sides' RMWs on `waiting` are
//! totally ordered. If the notifier's comes first, the waiter's `AcqRel` RMW
//! reads from it and so sees every write the notifier made before it (the
//! new item), and its condition fails: it does not sleep. If the waiter's
//! comes first, the notifier sees a non-zero count and unparks. This
//! argument needs only acquire/release, which loom models exactly; a plain
//! `SeqCst` load would also be correct in the C++ model, but loom cannot
//! check that pattern (it reports a false lost wake-up). The RMW costs about
//! what the `SeqCst` fence it replaces would, and the counter's cache line
//! stays with the notifying side while nobody waits.

use bingfa_sync::raw::atomic::{AtomicUsize, Ordering};
use bingfa_sync::raw::{park, Deadline, ParkResult};

/// Threads parked (or about to park) on one condition of one queue.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    waiting: AtomicUsize,
}

impl Waiters {
    pub(crate) fn new() -> Self {
        Self {
            waiting: AtomicUsize::new(0),
        }
    }

    /// The parking key: this struct's address, which belongs to the queue
    /// (it sits in the queue's shared allocation and has a non-zero size, so
    /// two `Waiters` never share a key).
    #[inline]
    fn key(&self) -> usize {
        self as *const Self as usize
    }

    /// Parks until notified, while `still_blocked` holds (checked under the
    /// parking lot's bucket lock after registering). Returns at once with
    /// `Invalid` when `still_blocked` is already false.
    ///
    /// `still_blocked` runs with the bucket lock held: it may only read
    /// atomics (no panics, no parking).
    pub(crate) fn wait(
        &self,
        still_blocked: impl FnOnce() -> bool,
        deadline: Option<Deadline>,
    ) -> ParkResult {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        // SAFETY: the key is this struct's address, owned by the queue and
        // used for no other primitive. `still_blocked` only reads atomics
        // (documented contract of this fn, upheld by every caller in this
        // crate), and the other closures do nothing, so nothing runs under
        // the bucket lock that could panic, park or unpark.
        let result =
            unsafe { park::park(self.key(), still_blocked, || {}, |_, _| {}, 0, deadline) };
        self.waiting.fetch_sub(1, Ordering::Release);
        result
    }

    /// Wakes one parked thread, if any is registered.
    #[inline]
    pub(crate) fn notify_one(&self) {
        if self.waiting.fetch_add(0, Ordering::AcqRel) != 0 {
            // SAFETY: our own key; the callback only returns a token.
            unsafe {
                park::unpark_one(self.key(), |_| 0);
            }
        }
    }

    /// Wakes every parked thread, if any is registered.
    #[inline]
    pub(crate) fn notify_all(&self) {
        if self.waiting.fetch_add(0, Ordering::AcqRel) != 0 {
            self.notify_all_unconditionally();
        }
    }

    /// Wakes every parked thread without looking at the counter (used by
    /// `close`, which is rare and must not depend on the counter's fence
    /// pairing with a flag other than the one it just set).
    pub(crate) fn notify_all_unconditionally(&self) {
        // SAFETY: our own key.
        unsafe {
            park::unpark_all(self.key(), 0);
        }
    }
}
