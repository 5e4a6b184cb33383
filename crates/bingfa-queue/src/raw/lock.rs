//! A small spin-then-park lock for the locked stores (LIFO and
//! priority queues), built on `bingfa_sync::raw` so that loom sees it.
//!
//! Two bits, as in parking_lot's word-sized mutex: `LOCKED` and `PARKED`
//! (someone sleeps on the lock's address). Unlocking without `PARKED` is one
//! CAS; with it, the unlocker wakes one sleeper, which then competes again
//! (no hand-off: throughput over fairness, the critical sections here are
//! a few instructions long).

use bingfa_sync::raw::atomic::{AtomicU8, Ordering};
use bingfa_sync::raw::{park, SpinWait};

const LOCKED: u8 = 1;
const PARKED: u8 = 2;

/// The lock word. Protects nothing by itself: its owner pairs it with an
/// `UnsafeCell`.
#[derive(Debug)]
pub(crate) struct RawLock {
    state: AtomicU8,
}

impl RawLock {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(0),
        }
    }

    #[inline]
    fn key(&self) -> usize {
        self as *const Self as usize
    }

    /// Acquires the lock, spinning a little and then parking.
    #[inline]
    pub(crate) fn lock(&self) {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    #[cold]
    fn lock_slow(&self) {
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                match self.state.compare_exchange_weak(
                    state,
                    state | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(s) => state = s,
                }
                continue;
            }
            if state & PARKED == 0 {
                if spin.spin() {
                    state = self.state.load(Ordering::Relaxed);
                    continue;
                }
                if let Err(s) = self.state.compare_exchange_weak(
                    state,
                    state | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = s;
                    continue;
                }
            }
            // SAFETY: the key is this lock's address, used by nothing else;
            // `validate` only loads an atomic, the other closures are empty.
            unsafe {
                park::park(
                    self.key(),
                    || self.state.load(Ordering::Relaxed) == LOCKED | PARKED,
                    || {},
                    |_, _| {},
                    0,
                    None,
                );
            }
            spin.reset();
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// Releases the lock. The caller must hold it.
    #[inline]
    pub(crate) fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        // SAFETY: our own key; the callback only stores to our atomic (it
        // cannot panic, park or unpark). It runs under the bucket lock, so a
        // thread about to park re-validates after this store.
        unsafe {
            park::unpark_one(self.key(), |result| {
                let next = if result.have_more_threads { PARKED } else { 0 };
                self.state.store(next, Ordering::Release);
                0
            });
        }
    }
}
