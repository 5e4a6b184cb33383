//! [`Condition<T>`]: Python's `threading.Condition`, a lock and the state it
//! guards, with waiting for that state to change.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::error::Error;
use crate::instrument::{self, Kind, Meta};
use crate::mutex::{Mutex, MutexGuard};
use crate::raw::atomic::{AtomicUsize, Ordering};
use crate::raw::park::{self, FilterOp, ParkResult};
use crate::raw::Deadline;

/// A lock that owns some state, and a way to sleep until another thread
/// changes that state and says so.
///
/// Python: `threading.Condition`. Python's condition wraps a lock, and the
/// state lives elsewhere; here the state lives inside, so it can only be
/// read or changed while holding the lock. [`lock`](Self::lock) gives a
/// [`MutexGuard`]; [`wait`](Self::wait) releases the lock while it sleeps and
/// holds it again when it returns, so the waiter can look at the state
/// again.
///
/// ```
/// use bingfa_sync::Condition;
///
/// let items = Condition::new(Vec::new());
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         items.lock().push("made");
///         items.notify_one();
///     });
///     let mut guard = items.lock();
///     // Python: cond.wait_for(lambda: items)
///     items.wait_while(&mut guard, |items| items.is_empty());
///     assert_eq!(guard.pop(), Some("made"));
/// });
/// ```
///
/// No wake-up is lost: a waiter is queued before it releases the lock, so a
/// thread that changes the state under the lock and then notifies (with or
/// without still holding it) always finds it. Unlike Python, `notify` does
/// not require holding the lock. Wake-ups may still arrive for a state that
/// another thread changed back in the meantime, so wait in a loop, or use
/// [`wait_while`](Self::wait_while).
///
/// The lock is a real [`Mutex`] of this crate: the deadlock detector sees it
/// (under the condition's name) like any other.
pub struct Condition<T: ?Sized> {
    meta: Meta,
    /// Threads queued (or about to be) on this condition; the parking key is
    /// this field's address.
    pub(crate) waiters: AtomicUsize,
    mutex: Mutex<T>,
}

impl<T> Condition<T> {
    /// A condition owning `value`, with its lock free.
    ///
    /// Python: `threading.Condition()`.
    #[cfg(not(bingfa_loom))]
    pub const fn new(value: T) -> Self {
        Condition {
            meta: Meta::new(Kind::Condition, None),
            waiters: AtomicUsize::new(0),
            mutex: Mutex::new(value),
        }
    }

    /// A condition owning `value`, with its lock free.
    ///
    /// Python: `threading.Condition()`.
    #[cfg(bingfa_loom)]
    pub fn new(value: T) -> Self {
        Condition {
            meta: Meta::new(Kind::Condition, None),
            waiters: AtomicUsize::new(0),
            mutex: Mutex::new(value),
        }
    }

    /// A condition with a name that the deadlock detector and the tracer
    /// show, for the condition and for its lock.
    pub fn named(name: impl Into<Cow<'static, str>>, value: T) -> Self {
        let name = name.into();
        Condition {
            meta: Meta::new(Kind::Condition, Some(name.clone())),
            waiters: AtomicUsize::new(0),
            mutex: Mutex::named(name, value),
        }
    }

    /// Consumes the condition and returns the state.
    pub fn into_inner(self) -> T {
        self.mutex.into_inner()
    }
}

impl<T: ?Sized> Condition<T> {
    /// Takes the condition's lock, blocking until it is free.
    ///
    /// Python: `threading.Condition.acquire()` (and `with cond:`).
    #[doc(alias = "acquire")]
    #[track_caller]
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.mutex.lock()
    }

    /// Takes the condition's lock if it is free; never blocks.
    ///
    /// Python: `threading.Condition.acquire(blocking=False)`.
    ///
    /// # Errors
    /// [`Error::WouldBlock`] if it is held.
    #[track_caller]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, Error> {
        self.mutex.try_lock()
    }

    /// Takes the condition's lock, waiting at most `timeout`.
    ///
    /// Python: `threading.Condition.acquire(timeout=...)`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if it was still held when the timeout passed.
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<MutexGuard<'_, T>, Error> {
        self.mutex.lock_timeout(timeout)
    }

    /// Releases the lock, sleeps until notified, and takes the lock again
    /// before returning.
    ///
    /// Python: `threading.Condition.wait()`.
    ///
    /// # Panics
    /// If `guard` belongs to another lock than this condition's.
    #[track_caller]
    pub fn wait(&self, guard: &mut MutexGuard<'_, T>) {
        let notified = self.wait_internal(guard, None, Location::caller());
        debug_assert!(notified);
    }

    /// As [`wait`](Self::wait), giving up after `timeout`; returns `false`
    /// if it timed out, `true` if it was notified. Either way the lock is
    /// held again on return. A zero timeout releases and retakes the lock
    /// without sleeping.
    ///
    /// Python: `threading.Condition.wait(timeout)`.
    ///
    /// # Panics
    /// If `guard` belongs to another lock than this condition's.
    #[doc(alias = "wait")]
    #[track_caller]
    pub fn wait_timeout(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) -> bool {
        let loc = Location::caller();
        if timeout.is_zero() {
            self.check_guard(guard);
            // Give other threads their chance at the lock, as Python does.
            self.relock(guard, loc);
            return false;
        }
        self.wait_internal(guard, Deadline::after(timeout), loc)
    }

    /// Waits as long as `condition` returns `true`, checking it first and
    /// after every wake-up, with the lock held.
    ///
    /// Python: `threading.Condition.wait_for(predicate)`, with the predicate
    /// negated: Python waits *for* the predicate, this waits *while* the
    /// condition holds (as `std::sync::Condvar::wait_while`).
    ///
    /// # Panics
    /// If `guard` belongs to another lock than this condition's.
    #[doc(alias = "wait_for")]
    #[track_caller]
    pub fn wait_while(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) {
        let loc = Location::caller();
        self.check_guard(guard);
        while condition(&mut **guard) {
            self.wait_internal(guard, None, loc);
        }
    }

    /// As [`wait_while`](Self::wait_while), giving up once `timeout` has
    /// passed in total. Returns `true` if the wait ended because `condition`
    /// became `false`, `false` if it timed out with `condition` still `true`.
    /// The lock is held on return either way.
    ///
    /// Python: `threading.Condition.wait_for(predicate, timeout)`, which
    /// returns the predicate's last value.
    ///
    /// # Panics
    /// If `guard` belongs to another lock than this condition's.
    #[doc(alias = "wait_for")]
    #[track_caller]
    pub fn wait_while_timeout(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> bool {
        let loc = Location::caller();
        self.check_guard(guard);
        if !condition(&mut **guard) {
            return true;
        }
        if timeout.is_zero() {
            return false;
        }
        let deadline = Deadline::after(timeout);
        loop {
            let notified = self.wait_internal(guard, deadline, loc);
            if !condition(&mut **guard) {
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
    /// for must have been made under the lock (which owning the state
    /// enforces).
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

    /// Whether the condition's lock is held (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.mutex.is_locked()
    }

    /// The state, through exclusive access: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.mutex.get_mut()
    }

    /// The name given by [`named`](Condition::named), if any.
    pub fn name(&self) -> Option<&str> {
        self.meta.name()
    }

    fn key(&self) -> usize {
        &self.waiters as *const AtomicUsize as usize
    }

    fn check_guard(&self, guard: &MutexGuard<'_, T>) {
        assert!(
            std::ptr::eq(guard.mutex, &self.mutex),
            "Condition::wait: the guard belongs to another lock than this condition's"
        );
    }

    /// Releases the lock and takes it again, with the detector's hooks.
    fn relock(&self, guard: &mut MutexGuard<'_, T>, loc: &'static Location<'static>) {
        if guard.tracked {
            instrument::released(&self.mutex.meta);
        }
        // SAFETY: the guard proves we hold the lock; we take it again below
        // before the guard can be used or dropped.
        unsafe { self.mutex.raw.unlock() };
        self.lock_again(guard, loc);
    }

    fn lock_again(&self, guard: &mut MutexGuard<'_, T>, loc: &'static Location<'static>) {
        let tracked = instrument::on();
        if tracked {
            self.mutex.lock_instrumented(loc);
        } else {
            self.mutex.raw.lock();
        }
        guard.tracked = tracked;
    }

    /// Queues the thread, releases the lock, sleeps, retakes the lock.
    /// Returns `false` on timeout.
    fn wait_internal(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Option<Deadline>,
        loc: &'static Location<'static>,
    ) -> bool {
        self.check_guard(guard);
        if guard.tracked {
            instrument::released(&self.mutex.meta);
        }
        let tracked = instrument::on();
        if tracked {
            instrument::blocking(&self.meta, loc);
        }
        // Registered while we still hold the lock (see `notify`).
        self.waiters.fetch_add(1, Ordering::Relaxed);
        let before_sleep = || {
            // SAFETY: the guard proves we hold the lock; it is taken again
            // below before the guard can be used or dropped. We are already
            // queued, so a notify after this unlock finds us.
            unsafe { self.mutex.raw.unlock() };
        };
        let timed_out = |_key, _was_last| {
            self.waiters.fetch_sub(1, Ordering::Relaxed);
        };
        // SAFETY: our own key; `validate` and `timed_out` neither panic nor
        // park; `before_sleep` runs outside the queue lock and only unparks
        // (on the mutex's key), as parking_lot's own Condvar does.
        let r = unsafe { park::park(self.key(), || true, before_sleep, timed_out, 0, deadline) };
        if tracked {
            instrument::unblocked(&self.meta);
        }
        self.lock_again(guard, loc);
        r != ParkResult::TimedOut
    }
}

impl<T: Default> Default for Condition<T> {
    fn default() -> Self {
        Condition::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Condition");
        if let Some(name) = self.name() {
            d.field("name", &name);
        }
        d.field("waiters", &self.waiters.load(Ordering::Relaxed));
        match self.mutex.try_lock() {
            Ok(g) => d.field("data", &&*g),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}
