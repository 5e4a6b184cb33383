//! A parking spot with a waiter counter.
//!
//! A thread that must wait registers in `waiting` first, then parks with a
//! condition that the parking lot checks under its bucket lock. A thread
//! that made the condition false (pushed an item, popped one, finished the
//! last task) calls `notify_*`, which touches the parking lot only when
//! `waiting` is non-zero. The two sides form a Dekker pair over `SeqCst`
//! operations: the waiter does `waiting += 1` then reads the state; the
//! notifier changes the state (a `SeqCst` RMW or store) then reads
//! `waiting`. In the single total order of `SeqCst` operations one of the
//! two reads comes last and sees the other side's write, so either the
//! notifier sees the waiter or the waiter sees the new state and does not
//! sleep. No wake-up is lost.

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
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the key is this struct's address, owned by the queue and
        // used for no other primitive. `still_blocked` only reads atomics
        // (documented contract of this fn, upheld by every caller in this
        // crate), and the other closures do nothing, so nothing runs under
        // the bucket lock that could panic, park or unpark.
        let result = unsafe {
            park::park(
                self.key(),
                still_blocked,
                || {},
                |_, _| {},
                0,
                deadline,
            )
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Wakes one parked thread, if any is registered.
    #[inline]
    pub(crate) fn notify_one(&self) {
        if self.waiting.load(Ordering::SeqCst) != 0 {
            // SAFETY: our own key; the callback only returns a token.
            unsafe {
                park::unpark_one(self.key(), |_| 0);
            }
        }
    }

    /// Wakes every parked thread, if any is registered.
    #[inline]
    pub(crate) fn notify_all(&self) {
        if self.waiting.load(Ordering::SeqCst) != 0 {
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
