//! A parking spot with a waiter counter.
//!
//! A thread that must wait registers in `waiting` first (a `SeqCst`
//! `fetch_add`), then parks with a condition that the parking lot checks
//! under its bucket lock, reading the queue's state with `SeqCst` loads. A
//! thread that made the condition false (pushed an item, popped one,
//! finished the last task) did so with a `SeqCst` read-modify-write (or
//! store) on a word that the condition reads, and then calls `notify_*`,
//! which is one `SeqCst` load of `waiting` and touches the parking lot only
//! when it is non-zero. On x86 that load is a plain `mov`: the notifier's
//! fast path costs nothing beyond the CAS that it made anyway (the same
//! shape as crossbeam-channel's `SyncWaker::is_empty`).
//!
//! No wake-up is lost (Dekker's pattern, all four accesses `SeqCst`): they
//! are in one total order. If the waiter's `fetch_add` comes before the
//! notifier's load, the notifier sees a non-zero count and unparks (the
//! waiter is parked, or will validate under the bucket lock after the
//! notifier's write and not sleep). Otherwise the notifier's write came
//! before the waiter's condition load, which therefore sees it, and the
//! waiter does not sleep.
//!
//! `waiting` counts the threads registered and not yet woken: a thread
//! that a notifier unparks is taken off the count by that notifier (under
//! the parking lot's bucket lock for `notify_one`), so that notifications
//! that come while it is still waking up do not go to the parking lot for
//! nothing; a thread that does not sleep, or times out, takes itself off.
//!
//! Loom checks this pattern only if the words involved start with a
//! `SeqCst` store (it treats an initial value as a plain release store that
//! a `SeqCst` load may read past a newer `SeqCst` write, which the C++
//! model forbids): `waiting` is made with `seq_cst_atomic_usize`, and so
//! are the words the conditions read.

use bingfa_sync::raw::atomic::{AtomicUsize, Ordering};
use bingfa_sync::raw::{park, Deadline, ParkResult};

use super::seq_cst_atomic_usize;

/// Threads parked (or about to park) on one condition of one queue.
#[derive(Debug)]
pub(crate) struct Waiters {
    waiting: AtomicUsize,
}

impl Waiters {
    pub(crate) fn new() -> Self {
        Self {
            waiting: seq_cst_atomic_usize(0),
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
    /// atomics (no panics, no parking), and it must read the words whose
    /// change it waits for with `SeqCst` loads.
    pub(crate) fn wait(
        &self,
        still_blocked: impl FnOnce() -> bool,
        deadline: Option<Deadline>,
    ) -> ParkResult {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the key is this struct's address, owned by the queue and
        // used for no other primitive. `still_blocked` only reads atomics
        // (documented contract of this fn, upheld by every caller in this
        // crate), and the other closures do nothing, so nothing runs under
        // the bucket lock that could panic, park or unpark.
        let result =
            unsafe { park::park(self.key(), still_blocked, || {}, |_, _| {}, 0, deadline) };
        if !matches!(result, ParkResult::Unparked(_)) {
            // Not woken by a notifier (which would have counted us off).
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        result
    }

    /// Whether a thread is registered. Callers make the change that ends
    /// the wait with a `SeqCst` write first.
    #[inline]
    fn anyone(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) != 0
    }

    /// Wakes one parked thread, if any is registered.
    #[inline]
    pub(crate) fn notify_one(&self) {
        if self.anyone() {
            // SAFETY: our own key; the callback, which runs under the
            // bucket lock, only does an atomic RMW and returns a token.
            unsafe {
                park::unpark_one(self.key(), |result| {
                    if result.unparked_threads != 0 {
                        self.waiting.fetch_sub(1, Ordering::SeqCst);
                    }
                    0
                });
            }
        }
    }

    /// Wakes every parked thread, if any is registered.
    #[inline]
    pub(crate) fn notify_all(&self) {
        if self.anyone() {
            self.notify_all_unconditionally();
        }
    }

    /// Wakes every parked thread without looking at the counter (used by
    /// `close`, which is rare).
    pub(crate) fn notify_all_unconditionally(&self) {
        // SAFETY: our own key.
        let woken = unsafe { park::unpark_all(self.key(), 0) };
        if woken != 0 {
            self.waiting.fetch_sub(woken, Ordering::SeqCst);
        }
    }
}
