//! [`Lock`]: Python's `threading.Lock` as Python has it, a lock without data
//! that any thread may release.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::error::{Error, Timeout, WouldBlock};
use crate::instrument::{self, Kind, Meta};
use crate::mutex::{lock_raw_timeout, lock_raw_tracked};
use crate::raw::RawMutex;

/// A lock that protects no data and that any thread may release: Python's
/// `threading.Lock`, exactly.
///
/// Python: `threading.Lock`. Most Rust code wants [`Mutex<T>`](crate::Mutex)
/// instead, which keeps the data inside so that it cannot be touched
/// unlocked. `Lock` is for what a `Mutex` cannot do: a lock taken by one
/// thread and released by another (a hand-off, a "done" signal), a lock
/// released explicitly rather than at the end of a scope, or a lock shared
/// by several [`Condvar`](crate::Condvar)s, as `queue.Queue` builds its
/// three conditions on one lock.
///
/// ```
/// use bingfa_sync::Lock;
///
/// let done = Lock::new();
/// done.acquire().forget(); // held, with no guard: someone must release it
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         // ... work ...
///         done.release().unwrap(); // another thread releases it
///     });
///     let _again = done.acquire(); // waits for the release
/// });
/// assert!(!done.is_locked());
/// assert!(done.release().is_err()); // not held: Python's RuntimeError
/// ```
///
/// [`acquire`](Self::acquire) returns a [`LockGuard`] that releases the lock
/// when dropped (Python's `with lock:`); [`LockGuard::forget`] keeps it held
/// without a guard, and [`release`](Self::release) releases it from any
/// thread, returning [`Error::NotLocked`] when it is not held. The guard is
/// `Send`, since the lock has no owner.
///
/// The lock is not re-entrant: a thread that acquires it twice waits for
/// some thread to release it, as in Python (which is how a `Lock` works as a
/// signal).
#[doc(alias = "threading.Lock")]
pub struct Lock {
    raw: RawMutex,
    meta: Meta,
}

impl Lock {
    /// A free lock, without a name.
    ///
    /// Python: `threading.Lock()`.
    #[cfg(not(bingfa_loom))]
    pub const fn new() -> Self {
        Lock {
            raw: RawMutex::new(),
            meta: Meta::new(Kind::Lock),
        }
    }

    /// A free lock, without a name.
    ///
    /// Python: `threading.Lock()`.
    #[cfg(bingfa_loom)]
    pub fn new() -> Self {
        Lock {
            raw: RawMutex::new(),
            meta: Meta::new(Kind::Lock),
        }
    }

    /// A free lock with a name that the deadlock detector and the tracer
    /// show.
    pub fn named(name: impl Into<Cow<'static, str>>) -> Self {
        Lock {
            raw: RawMutex::new(),
            meta: Meta::named(Kind::Lock, Some(name.into())),
        }
    }

    /// Takes the lock, blocking until it is free, and returns a guard that
    /// releases it when dropped.
    ///
    /// Python: `threading.Lock.acquire()` (and `with lock:`).
    ///
    /// A thread that already holds the lock waits until another thread
    /// releases it (the lock is not re-entrant).
    #[doc(alias = "lock")]
    #[track_caller]
    #[inline]
    pub fn acquire(&self) -> LockGuard<'_> {
        let tracked = instrument::on();
        if tracked {
            lock_raw_tracked(&self.raw, &self.meta, Location::caller());
        } else {
            self.raw.lock();
        }
        LockGuard::new(self, tracked)
    }

    /// Takes the lock if it is free right now; never blocks.
    ///
    /// Python: `threading.Lock.acquire(blocking=False)`.
    ///
    /// # Errors
    /// [`WouldBlock`] if it is held (by any thread, this one included).
    #[doc(alias = "try_lock")]
    #[track_caller]
    #[inline]
    pub fn try_acquire(&self) -> Result<LockGuard<'_>, WouldBlock> {
        if !self.raw.try_lock() {
            return Err(WouldBlock);
        }
        let tracked = instrument::on();
        if tracked {
            instrument::acquired(&self.meta, Location::caller());
        }
        Ok(LockGuard::new(self, tracked))
    }

    /// Takes the lock, waiting at most `timeout`. A zero timeout makes it a
    /// [`try_acquire`](Self::try_acquire); a timeout too large to represent
    /// waits forever.
    ///
    /// Python: `threading.Lock.acquire(timeout=...)`.
    ///
    /// # Errors
    /// [`Timeout`] with `timeout` if the lock was still held when it passed.
    #[doc(alias = "lock_timeout")]
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>, Timeout> {
        let tracked = instrument::on();
        if lock_raw_timeout(&self.raw, &self.meta, Location::caller(), tracked, timeout) {
            Ok(LockGuard::new(self, tracked))
        } else {
            Err(Timeout(timeout))
        }
    }

    /// Releases the lock, whichever thread acquired it, and wakes one thread
    /// waiting for it.
    ///
    /// Python: `threading.Lock.release()`.
    ///
    /// Use it for an acquisition whose guard was [`forget`](LockGuard::forget)-ed.
    /// Releasing a lock while a [`LockGuard`] of it is alive makes that
    /// guard's drop release the lock again later (whoever holds it then),
    /// as a Python `with lock:` block would.
    ///
    /// # Errors
    /// [`Error::NotLocked`] if nobody holds the lock (Python:
    /// `RuntimeError: release unlocked lock`); nothing changes.
    pub fn release(&self) -> Result<(), Error> {
        // SAFETY: a `Lock` protects no data, so releasing it on behalf of
        // whichever thread holds it cannot break memory safety.
        if unsafe { self.raw.unlock_if_locked() } {
            if instrument::on() {
                instrument::released(&self.meta);
            }
            Ok(())
        } else {
            Err(Error::NotLocked)
        }
    }

    /// Whether some thread holds the lock right now (a snapshot).
    ///
    /// Python: `threading.Lock.locked()`.
    #[doc(alias = "locked")]
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The name given by [`named`](Self::named), if any.
    ///
    /// Names are kept for the detector's reports and the recorder's traces:
    /// without the `detect` and `trace` features (both off) this is `None`.
    pub fn name(&self) -> Option<&str> {
        self.meta.name()
    }

    pub(crate) fn raw(&self) -> &RawMutex {
        &self.raw
    }

    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        if let Some(name) = self.name() {
            d.field("name", &name);
        }
        d.field("locked", &self.is_locked()).finish()
    }
}

/// One acquisition of a [`Lock`]; releases it when dropped.
///
/// Python: the body of `with lock:`; dropping the guard is `lock.release()`.
///
/// Unlike a [`MutexGuard`](crate::MutexGuard) it may be sent to another
/// thread and dropped there, since a `Lock` has no owner.
///
/// # Panics
/// Dropping the guard panics if the lock is no longer held, which means
/// [`Lock::release`] was called while the guard was alive and nobody took
/// the lock since (Python raises `RuntimeError` at the end of the `with`
/// block). It does not panic while the thread is already panicking.
#[doc(alias = "release")]
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    /// Whether `acquired` was reported, so `released` must be.
    pub(crate) tracked: bool,
}

impl<'a> LockGuard<'a> {
    fn new(lock: &'a Lock, tracked: bool) -> Self {
        LockGuard { lock, tracked }
    }

    /// Keeps the lock held without a guard: some thread must call
    /// [`Lock::release`] later.
    ///
    /// Python: an `acquire()` without the matching `release()` (yet).
    pub fn forget(self) {
        std::mem::forget(self);
    }

    /// The lock this guard holds.
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }

    /// Takes the lock again after a condition wait released it.
    pub(crate) fn relock(&mut self, loc: &'static Location<'static>) {
        let tracked = instrument::on();
        if tracked {
            lock_raw_tracked(&self.lock.raw, &self.lock.meta, loc);
        } else {
            self.lock.raw.lock();
        }
        self.tracked = tracked;
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: a `Lock` protects no data (see `Lock::release`).
        if unsafe { self.lock.raw.unlock_if_locked() } {
            if self.tracked {
                instrument::released(&self.lock.meta);
            }
        } else if !std::thread::panicking() {
            panic!("dropping a LockGuard: the lock was already released (Lock::release while the guard was alive)");
        }
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("lock", self.lock)
            .finish()
    }
}
