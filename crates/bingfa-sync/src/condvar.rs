//! [`Condvar`]: Python's `threading.Condition(lock)`, a condition variable
//! over a lock of the caller's choice.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::instrument::{self, Kind, Meta};
use crate::raw::atomic::{AtomicUsize, Ordering};
use crate::raw::park::{self, FilterOp, ParkResult};
use crate::raw::Deadline;

pub(crate) mod sealed {
    use std::panic::Location;

    /// What a condition wait needs of a guard. Sealed: only this crate's
    /// guards can release their lock for a wait and take it back.
    pub trait Relock {
        /// What `release_for_wait` must hand to `reacquire_after_wait`.
        #[doc(hidden)]
        type Saved;
        /// Tells the hooks that the lock is given up and does the lock's own
        /// bookkeeping (an RLock forgets its owner and levels), without
        /// unlocking yet.
        #[doc(hidden)]
        fn prepare_release(&mut self) -> Self::Saved;
        /// Unlocks the raw lock. Runs after the thread is queued on the
        /// condition, outside the parking lot's queue lock.
        #[doc(hidden)]
        fn unlock_raw(&self);
        /// Takes the lock again and restores what `prepare_release` saved.
        #[doc(hidden)]
        fn reacquire(&mut self, saved: Self::Saved, loc: &'static Location<'static>);
    }
}

/// A guard that a [`Condvar`] can wait with: [`MutexGuard`](crate::MutexGuard),
/// [`RLockGuard`](crate::RLockGuard) (every level of the re-entrant lock is
/// released for the wait and restored after it) and
/// [`LockGuard`](crate::LockGuard). Sealed: it cannot be implemented
/// outside this crate.
pub trait WaitGuard: sealed::Relock {}

/// A condition variable that waits with a guard of a lock it does not own:
/// several `Condvar`s may share one lock, and the lock may be a
/// [`Mutex`](crate::Mutex), an [`RLock`](crate::RLock) or a
/// [`Lock`](crate::Lock).
///
/// Python: `threading.Condition(lock)`. [`Condition<T>`](crate::Condition)
/// is the lock and one condition in one value (Python's `Condition()`
/// with its own lock); `Condvar` is for what that cannot do: several
/// conditions on one lock, as `queue.Queue` waits for "not empty", "not
/// full" and "all tasks done" under one mutex, or a condition over a
/// re-entrant lock.
///
/// ```
/// use bingfa_sync::{Condvar, Mutex};
/// use std::collections::VecDeque;
///
/// // A bounded buffer: one lock, two conditions.
/// let buf = Mutex::new(VecDeque::new());
/// let (not_empty, not_full) = (Condvar::new(), Condvar::new());
/// const CAP: usize = 2;
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         for i in 0..10 {
///             let mut b = buf.lock();
///             not_full.wait_while(&mut b, |b| b.len() == CAP);
///             b.push_back(i);
///             not_empty.notify_one();
///         }
///     });
///     let mut got = Vec::new();
///     while got.len() < 10 {
///         let mut b = buf.lock();
///         not_empty.wait_while(&mut b, |b| b.is_empty());
///         got.push(b.pop_front().unwrap());
///         not_full.notify_one();
///     }
///     assert_eq!(got, (0..10).collect::<Vec<_>>());
/// });
/// ```
///
/// No wake-up is lost: a waiter is queued on the condition before it
/// releases the lock, so a thread that changes the state under the lock and
/// then notifies (holding the lock or not) always finds it. Unlike Python,
/// `notify` does not require holding the lock. Wait in a loop, or with
/// [`wait_while`](Self::wait_while): a woken thread may find that another
/// one changed the state back first.
///
/// A `Condvar` is not tied to one lock: each wait releases the lock of the
/// guard it is given. Give every wait on one condition guards of the same
/// lock (the lock that protects the state the condition is about); that is
/// what makes the no-lost-wake-up guarantee hold.
pub struct Condvar {
    /// Threads queued (or about to be) on this condition; the parking key is
    /// this field's address.
    pub(crate) waiters: AtomicUsize,
    meta: Meta,
}

impl Condvar {
    /// A condition variable with no waiters.
    ///
    /// Python: `threading.Condition(lock)` (the lock is given to each wait).
    #[cfg(not(bingfa_loom))]
    pub const fn new() -> Self {
        Condvar {
            waiters: AtomicUsize::new(0),
            meta: Meta::new(Kind::Condition),
        }
    }

    /// A condition variable with no waiters.
    ///
    /// Python: `threading.Condition(lock)` (the lock is given to each wait).
    #[cfg(bingfa_loom)]
    pub fn new() -> Self {
        Condvar {
            waiters: AtomicUsize::new(0),
            meta: Meta::new(Kind::Condition),
        }
    }

    /// A condition variable with a name that the tracer shows.
    pub fn named(name: impl Into<Cow<'static, str>>) -> Self {
        Condvar {
            waiters: AtomicUsize::new(0),
            meta: Meta::named(Kind::Condition, Some(name.into())),
        }
    }

    /// Releases the guard's lock, sleeps until notified, and takes the lock
    /// again before returning. With an [`RLockGuard`](crate::RLockGuard),
    /// every level the thread holds is released and restored.
    ///
    /// Python: `threading.Condition.wait()`.
    #[track_caller]
    pub fn wait<G: WaitGuard>(&self, guard: &mut G) {
        let notified = self.wait_until(guard, None, Location::caller());
        debug_assert!(notified);
    }

    /// As [`wait`](Self::wait), giving up after `timeout`; returns `false`
    /// if it timed out, `true` if it was notified. Either way the lock is
    /// held again on return. A zero timeout releases and retakes the lock
    /// without sleeping.
    ///
    /// Python: `threading.Condition.wait(timeout)`.
    #[doc(alias = "wait")]
    #[track_caller]
    pub fn wait_timeout<G: WaitGuard>(&self, guard: &mut G, timeout: Duration) -> bool {
        let loc = Location::caller();
        if timeout.is_zero() {
            // Give other threads their chance at the lock, as Python does.
            let saved = guard.prepare_release();
            guard.unlock_raw();
            guard.reacquire(saved, loc);
            return false;
        }
        self.wait_until(guard, Deadline::after(timeout), loc)
    }

    /// Waits as long as `condition` returns `true`, checking it first and
    /// after every wake-up, with the lock held.
    ///
    /// Python: `threading.Condition.wait_for(predicate)`, with the predicate
    /// negated: Python waits *for* the predicate, this waits *while* the
    /// condition holds (as `std::sync::Condvar::wait_while`).
    #[doc(alias = "wait_for")]
    #[track_caller]
    pub fn wait_while<G: WaitGuard>(
        &self,
        guard: &mut G,
        mut condition: impl FnMut(&mut G) -> bool,
    ) {
        let loc = Location::caller();
        while condition(guard) {
            self.wait_until(guard, None, loc);
        }
    }

    /// As [`wait_while`](Self::wait_while), giving up once `timeout` has
    /// passed in total. Returns `true` if the wait ended because `condition`
    /// became `false`, `false` if it timed out with `condition` still `true`.
    /// The lock is held on return either way.
    ///
    /// Python: `threading.Condition.wait_for(predicate, timeout)`, which
    /// returns the predicate's last value.
    #[doc(alias = "wait_for")]
    #[track_caller]
    pub fn wait_while_timeout<G: WaitGuard>(
        &self,
        guard: &mut G,
        timeout: Duration,
        mut condition: impl FnMut(&mut G) -> bool,
    ) -> bool {
        let loc = Location::caller();
        if !condition(guard) {
            return true;
        }
        if timeout.is_zero() {
            return false;
        }
        let deadline = Deadline::after(timeout);
        loop {
            let notified = self.wait_until(guard, deadline, loc);
            if !condition(guard) {
                return true;
            }
            if !notified {
                return false;
            }
        }
    }

    /// Wakes at most `n` waiting threads; returns how many it woke.
    ///
    /// Python: `threading.Condition.notify(n)`. Python requires holding the
    /// lock; here it is not required, but the state change the waiters look
    /// for must have been made under the lock they wait with.
    pub fn notify(&self, n: usize) -> usize {
        // A waiter registers before it releases the lock, and the notifier
        // changed the state under the lock after that: the lock's
        // acquire/release makes the registration visible here.
        if n == 0 || self.waiters.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let mut left = n;
        let filter = |_token| {
            if left == 0 {
                FilterOp::Stop
            } else {
                left -= 1;
                FilterOp::Unpark
            }
        };
        let callback = |r: park::UnparkResult| {
            self.waiters
                .fetch_sub(r.unparked_threads, Ordering::Relaxed);
            0
        };
        // SAFETY: our own key; filter and callback neither panic nor park.
        let r = unsafe { park::unpark_filter(self.key(), filter, callback) };
        r.unparked_threads
    }

    /// Wakes one waiting thread, if any; returns whether it woke one.
    ///
    /// Python: `threading.Condition.notify()`.
    pub fn notify_one(&self) -> bool {
        self.notify(1) == 1
    }

    /// Wakes every waiting thread; returns how many.
    ///
    /// Python: `threading.Condition.notify_all()`.
    #[doc(alias = "notifyAll")]
    pub fn notify_all(&self) -> usize {
        self.notify(usize::MAX)
    }

    /// The name given by [`named`](Self::named), if any.
    ///
    /// Names are kept for the detector's reports and the recorder's traces:
    /// without the `detect` and `trace` features (both off) this is `None`.
    pub fn name(&self) -> Option<&str> {
        self.meta.name()
    }

    pub(crate) fn with_meta(meta: Meta) -> Self {
        Condvar {
            waiters: AtomicUsize::new(0),
            meta,
        }
    }

    fn key(&self) -> usize {
        &self.waiters as *const AtomicUsize as usize
    }

    /// Queues the thread, releases the lock, sleeps, retakes the lock.
    /// Returns `false` on timeout.
    pub(crate) fn wait_until<G: WaitGuard>(
        &self,
        guard: &mut G,
        deadline: Option<Deadline>,
        loc: &'static Location<'static>,
    ) -> bool {
        let saved = guard.prepare_release();
        let tracked = instrument::on();
        if tracked {
            instrument::blocking(&self.meta, loc);
        }
        // Registered while we still hold the lock (see `notify`).
        self.waiters.fetch_add(1, Ordering::Relaxed);
        let unlock = || {
            // We are already queued, so a notify after this unlock finds us.
            guard.unlock_raw();
        };
        let timed_out = |_key, _was_last| {
            self.waiters.fetch_sub(1, Ordering::Relaxed);
        };
        // SAFETY: our own key; `validate` and `timed_out` neither panic nor
        // park; `before_sleep` runs outside the queue lock and only unparks
        // (on the lock's key), as parking_lot's own Condvar does.
        let r = unsafe { park::park(self.key(), || true, unlock, timed_out, 0, deadline) };
        if tracked {
            instrument::unblocked(&self.meta);
        }
        guard.reacquire(saved, loc);
        r != ParkResult::TimedOut
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Condvar");
        if let Some(name) = self.name() {
            d.field("name", &name);
        }
        d.field("waiters", &self.waiters.load(Ordering::Relaxed))
            .finish()
    }
}

// ---- the guards ----

impl<T: ?Sized> sealed::Relock for crate::MutexGuard<'_, T> {
    type Saved = ();

    fn prepare_release(&mut self) {
        if self.tracked {
            instrument::released(&self.mutex.meta);
        }
    }

    fn unlock_raw(&self) {
        // SAFETY: the guard proves we hold the lock; `reacquire` takes it
        // again before the guard can be used or dropped.
        unsafe { self.mutex.raw.unlock() };
    }

    fn reacquire(&mut self, (): (), loc: &'static Location<'static>) {
        let tracked = instrument::on();
        if tracked {
            self.mutex.lock_instrumented(loc);
        } else {
            self.mutex.raw.lock();
        }
        self.tracked = tracked;
    }
}

impl<T: ?Sized> WaitGuard for crate::MutexGuard<'_, T> {}

impl sealed::Relock for crate::LockGuard<'_> {
    type Saved = ();

    fn prepare_release(&mut self) {
        if self.tracked {
            instrument::released(self.lock().meta());
        }
    }

    fn unlock_raw(&self) {
        // SAFETY: a `Lock` protects no data; `reacquire` takes it again
        // before the guard can be used or dropped.
        unsafe {
            self.lock().raw().unlock_if_locked();
        }
    }

    fn reacquire(&mut self, (): (), loc: &'static Location<'static>) {
        self.relock(loc);
    }
}

impl WaitGuard for crate::LockGuard<'_> {}

impl<T: ?Sized> sealed::Relock for crate::RLockGuard<'_, T> {
    type Saved = crate::rlock::Saved;

    fn prepare_release(&mut self) -> crate::rlock::Saved {
        self.release_all_levels()
    }

    fn unlock_raw(&self) {
        // SAFETY: `prepare_release` gave up ownership and every level;
        // the raw lock is still ours until this unlock, and `reacquire`
        // takes it again before any guard of this thread can be used.
        unsafe { self.raw_unlock() };
    }

    fn reacquire(&mut self, saved: crate::rlock::Saved, loc: &'static Location<'static>) {
        self.restore_all_levels(saved, loc);
    }
}

impl<T: ?Sized> WaitGuard for crate::RLockGuard<'_, T> {}
