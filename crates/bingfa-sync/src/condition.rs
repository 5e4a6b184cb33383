//! [`Condition<T>`]: Python's `threading.Condition`, a lock and the state it
//! guards, with waiting for that state to change.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::condvar::Condvar;
use crate::error::{Timeout, WouldBlock};
use crate::instrument::{Kind, Meta};
use crate::mutex::{Mutex, MutexGuard};
use crate::raw::atomic::Ordering;
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
///
/// Python's `Condition()` makes its own lock an `RLock`; this one's is a
/// `Mutex`, whose guard gives `&mut T`. For a condition over an
/// [`RLock`](crate::RLock), a [`Lock`](crate::Lock) or a lock shared by
/// several conditions (Python's `Condition(lock)`), use a
/// [`Condvar`](crate::Condvar) beside the lock.
pub struct Condition<T: ?Sized> {
    pub(crate) cv: Condvar,
    mutex: Mutex<T>,
}

impl<T> Condition<T> {
    /// A condition owning `value`, with its lock free.
    ///
    /// Python: `threading.Condition()`.
    #[cfg(not(bingfa_loom))]
    pub const fn new(value: T) -> Self {
        Condition {
            cv: Condvar::new(),
            mutex: Mutex::new(value),
        }
    }

    /// A condition owning `value`, with its lock free.
    ///
    /// Python: `threading.Condition()`.
    #[cfg(bingfa_loom)]
    pub fn new(value: T) -> Self {
        Condition {
            cv: Condvar::new(),
            mutex: Mutex::new(value),
        }
    }

    /// A condition with a name that the deadlock detector and the tracer
    /// show, for the condition and for its lock.
    pub fn named(name: impl Into<Cow<'static, str>>, value: T) -> Self {
        let name = name.into();
        Condition {
            cv: Condvar::with_meta(Meta::named(Kind::Condition, Some(name.clone()))),
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
    /// [`WouldBlock`] if it is held.
    #[track_caller]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, WouldBlock> {
        self.mutex.try_lock()
    }

    /// Takes the condition's lock, waiting at most `timeout`.
    ///
    /// Python: `threading.Condition.acquire(timeout=...)`.
    ///
    /// # Errors
    /// [`Timeout`] if it was still held when the timeout passed.
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<MutexGuard<'_, T>, Timeout> {
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
        self.check_guard(guard);
        let notified = self.cv.wait_until(guard, None, Location::caller());
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
        self.check_guard(guard);
        self.cv.wait_timeout(guard, timeout)
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
            self.cv.wait_until(guard, None, loc);
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
            let notified = self.cv.wait_until(guard, deadline, loc);
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
        self.cv.notify(n)
    }

    /// Wakes one waiting thread, if any; returns whether it woke one.
    ///
    /// Python: `threading.Condition.notify()`.
    pub fn notify_one(&self) -> bool {
        self.cv.notify_one()
    }

    /// Wakes every waiting thread; returns how many.
    ///
    /// Python: `threading.Condition.notify_all()`.
    #[doc(alias = "notifyAll")]
    pub fn notify_all(&self) -> usize {
        self.cv.notify_all()
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
    ///
    /// Names are kept for the detector's reports and the recorder's traces:
    /// without the `detect` and `trace` features (both off) this is `None`.
    pub fn name(&self) -> Option<&str> {
        self.cv.name()
    }

    fn check_guard(&self, guard: &MutexGuard<'_, T>) {
        assert!(
            std::ptr::eq(guard.mutex, &self.mutex),
            "Condition::wait: the guard belongs to another lock than this condition's"
        );
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
        d.field("waiters", &self.cv.waiters.load(Ordering::Relaxed));
        match self.mutex.try_lock() {
            Ok(g) => d.field("data", &&*g),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}
