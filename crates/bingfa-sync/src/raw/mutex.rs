//! `RawMutex`: the one-byte lock under [`Mutex`](crate::Mutex),
//! [`RLock`](crate::RLock) and [`Condition`](crate::Condition).
//!
//! The state is an `AtomicU8` with two bits, as in parking_lot:
//! `LOCKED` (someone holds it) and `PARKED` (someone may be parked on its
//! address). Locking is one CAS when free; a contended locker spins a little
//! while nobody is parked, then sets `PARKED` and parks on the state's
//! address. Unlocking is one `swap` to 0 (as std's mutex; cheaper on a byte
//! than parking_lot's CAS, see `unlock`); only when `PARKED` was set does it
//! go to the parking lot to wake one waiter, whose callback clears `PARKED`
//! when that was the last one and sets it again (the swap cleared it) when
//! others are left. Wake-ups are not hand-offs: the woken thread
//! competes for the lock again (a thread that arrives meanwhile may barge).
//!
//! It knows nothing of instrumentation: the public types call the hooks.

use super::atomic::{AtomicU8, Ordering};
use super::park::{self, ParkResult};
use super::{Deadline, SpinWait};

const LOCKED: u8 = 0b01;
const PARKED: u8 = 0b10;

/// Token passed to a waiter that [`RawMutex::unlock`] wakes.
const TOKEN_NORMAL: usize = 0;

/// A raw mutual-exclusion lock with no data and no guard.
///
/// Whoever calls [`lock`](Self::lock) (or a successful `try_lock` /
/// `lock_until`) must later call [`unlock`](Self::unlock) exactly once; the
/// lock does not record which thread holds it.
pub struct RawMutex {
    state: AtomicU8,
}

impl core::fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawMutex")
            .field("locked", &self.is_locked())
            .finish()
    }
}

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

impl RawMutex {
    /// An unlocked mutex.
    #[cfg(not(bingfa_loom))]
    #[inline]
    pub const fn new() -> Self {
        RawMutex {
            state: AtomicU8::new(0),
        }
    }

    /// An unlocked mutex.
    #[cfg(bingfa_loom)]
    pub fn new() -> Self {
        RawMutex {
            state: AtomicU8::new(0),
        }
    }

    /// Takes the lock, blocking until it is free.
    #[inline]
    pub fn lock(&self) {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            let locked = self.lock_slow(None);
            debug_assert!(locked);
        }
    }

    /// Takes the lock if it is free right now; never blocks.
    #[inline]
    pub fn try_lock(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// Takes the lock, giving up at `deadline` (`None`: never). Returns
    /// whether the lock was taken.
    #[inline]
    pub fn lock_until(&self, deadline: Option<Deadline>) -> bool {
        self.state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.lock_slow(deadline)
    }

    /// Whether some thread holds the lock (a snapshot).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// Releases the lock and wakes one waiter if there is one.
    ///
    /// # Safety
    /// The lock must be held, and this call must be the one release that
    /// matches the acquisition (the caller's guard, or its equivalent).
    #[inline]
    pub unsafe fn unlock(&self) {
        // One `swap`, as std's futex mutex, rather than parking_lot's
        // `LOCKED -> 0` CAS: on a byte, the CAS (or a `fetch_sub`) after the
        // locking CAS cost a lock+unlock pair 5.2 ns against the swap's 4.4
        // on an AMD EPYC (Zen 4), where std's 4-byte mutex took 4.4. The
        // swap also clears `PARKED`: `unlock_slow` sets it again, under
        // the parking lot's queue lock, while threads are still parked.
        let state = self.state.swap(0, Ordering::Release);
        debug_assert!(state & LOCKED != 0, "RawMutex::unlock on an unlocked mutex");
        if state & PARKED != 0 {
            self.unlock_slow();
        }
    }

    /// Releases the lock if it is held, whoever holds it, and wakes one
    /// waiter if there is one; returns `false` (and changes nothing) if it
    /// was free. For locks that any thread may release (Python's `Lock`).
    ///
    /// # Safety
    /// Nothing may rely on this lock for exclusive access on behalf of the
    /// holder that this call releases: a lock that protects data must only
    /// be released through [`unlock`](Self::unlock) by its holder.
    #[inline]
    pub unsafe fn unlock_if_locked(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state & !LOCKED,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(s) => state = s,
            }
        }
        if state & PARKED != 0 {
            self.unlock_slow();
        }
        true
    }

    fn key(&self) -> usize {
        &self.state as *const AtomicU8 as usize
    }

    #[cold]
    fn lock_slow(&self, deadline: Option<Deadline>) -> bool {
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            // Free: try to take it, whether or not others are parked.
            if state & LOCKED == 0 {
                match self.state.compare_exchange_weak(
                    state,
                    state | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(s) => state = s,
                }
                continue;
            }
            // Nobody parked yet: spin a little first.
            if state & PARKED == 0 && spin.spin() {
                state = self.state.load(Ordering::Relaxed);
                continue;
            }
            // Announce that we are about to park.
            if state & PARKED == 0 {
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
            let validate = || self.state.load(Ordering::Relaxed) == LOCKED | PARKED;
            let timed_out = |_key, was_last_thread: bool| {
                // The last parked thread leaving clears PARKED, so that the
                // next unlock takes the fast path.
                if was_last_thread {
                    self.state.fetch_and(!PARKED, Ordering::Relaxed);
                }
            };
            // SAFETY: the key is the address of our own state, which no other
            // primitive parks on; `validate` and `timed_out` only do atomic
            // operations on it: they neither panic nor (un)park.
            let r = unsafe { park::park(self.key(), validate, || {}, timed_out, 0, deadline) };
            match r {
                ParkResult::TimedOut => return false,
                ParkResult::Unparked(_) | ParkResult::Invalid => {}
            }
            spin.reset();
            state = self.state.load(Ordering::Relaxed);
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let callback = |r: park::UnparkResult| {
            // Under the queue lock: no other thread can be enqueuing now, so
            // "no more threads" is exact and PARKED may be cleared; and
            // while threads are left, PARKED is set again (`unlock` cleared
            // it with its swap; a thread that took the lock meanwhile and
            // released it without waking anyone was right to: this call
            // wakes one, and the next unlock sees PARKED and wakes the
            // next). A parker validates under the same lock, so none can
            // miss the bit it needs.
            if r.have_more_threads {
                self.state.fetch_or(PARKED, Ordering::Relaxed);
            } else {
                self.state.fetch_and(!PARKED, Ordering::Relaxed);
            }
            TOKEN_NORMAL
        };
        // SAFETY: our own key; the callback only does an atomic operation.
        unsafe {
            park::unpark_one(self.key(), callback);
        }
    }
}
