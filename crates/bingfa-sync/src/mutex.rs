//! [`Mutex<T>`]: Python's `threading.Lock`, holding the data it protects.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::time::Duration;

use crate::error::{Timeout, WouldBlock};
use crate::instrument::{self, Kind, Meta};
use crate::raw::cell::UnsafeCell;
use crate::raw::{Deadline, RawMutex};

/// A mutual-exclusion lock that owns the data it protects.
///
/// Python: `threading.Lock`. Where Python code writes
///
/// ```python
/// with lock:
///     counter += 1
/// ```
///
/// Rust puts `counter` inside the lock, so that it cannot be touched without
/// holding it:
///
/// ```
/// use bingfa_sync::Mutex;
///
/// let counter = Mutex::new(0);
/// *counter.lock() += 1; // the guard unlocks at the end of the statement
/// assert_eq!(*counter.lock(), 1);
/// ```
///
/// [`lock`](Self::lock) blocks, [`try_lock`](Self::try_lock) never does,
/// [`lock_timeout`](Self::lock_timeout) gives up after a while. Each returns
/// a [`MutexGuard`] that unlocks when dropped. The lock is not re-entrant: a
/// thread that locks it twice deadlocks, exactly as with Python's `Lock`
/// (use [`RLock`](crate::RLock) for that).
///
/// A mutex may carry a name ([`named`](Self::named)) that the deadlock
/// detector prints. Unlike `std::sync::Mutex` it does not poison: a panic
/// while holding the guard unlocks it and leaves the data as it was.
///
/// `Mutex<T>` is `Send` and `Sync` when `T: Send`, as `std::sync::Mutex`:
/// it hands `&mut T` to one thread at a time.
#[doc(alias = "Lock")]
pub struct Mutex<T: ?Sized> {
    pub(crate) raw: RawMutex,
    pub(crate) meta: Meta,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached only through a guard, and the lock hands out
// at most one guard at a time; moving the mutex moves the `T`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: sharing the mutex lets several threads take turns holding `&mut T`,
// which needs `T: Send` only (as `std::sync::Mutex`).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`, without a name.
    ///
    /// Python: `threading.Lock()`.
    #[cfg(not(bingfa_loom))]
    #[inline]
    pub const fn new(value: T) -> Self {
        Mutex {
            raw: RawMutex::new(),
            meta: Meta::new(Kind::Mutex),
            data: UnsafeCell::new(value),
        }
    }

    /// An unlocked mutex holding `value`, without a name.
    ///
    /// Python: `threading.Lock()`.
    #[cfg(bingfa_loom)]
    pub fn new(value: T) -> Self {
        Mutex {
            raw: RawMutex::new(),
            meta: Meta::new(Kind::Mutex),
            data: UnsafeCell::new(value),
        }
    }

    /// An unlocked mutex holding `value`, with a name that the deadlock
    /// detector and the tracer show.
    ///
    /// ```
    /// let accounts = bingfa_sync::Mutex::named("accounts", vec![100, 50]);
    /// # #[cfg(any(feature = "detect", feature = "trace"))]
    /// assert_eq!(accounts.name(), Some("accounts"));
    /// ```
    pub fn named(name: impl Into<Cow<'static, str>>, value: T) -> Self {
        Mutex {
            raw: RawMutex::new(),
            meta: Meta::named(Kind::Mutex, Some(name.into())),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Takes the lock, blocking until it is free, and returns a guard that
    /// unlocks it when dropped.
    ///
    /// Python: `threading.Lock.acquire()` (and `with lock:`).
    ///
    /// Locking a mutex that the current thread already holds deadlocks (the
    /// deadlock detector reports it when on).
    #[doc(alias = "acquire")]
    #[track_caller]
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let tracked = instrument::on();
        if tracked {
            self.lock_instrumented(Location::caller());
        } else {
            self.raw.lock();
        }
        MutexGuard::new(self, tracked)
    }

    /// Takes the lock if it is free right now; never blocks.
    ///
    /// Python: `threading.Lock.acquire(blocking=False)`.
    ///
    /// # Errors
    /// [`WouldBlock`] if another thread (or this one) holds it.
    #[doc(alias = "acquire_nowait")]
    #[track_caller]
    #[inline]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, WouldBlock> {
        if !self.raw.try_lock() {
            return Err(WouldBlock);
        }
        let tracked = instrument::on();
        if tracked {
            instrument::acquired(&self.meta, Location::caller());
        }
        Ok(MutexGuard::new(self, tracked))
    }

    /// Takes the lock, waiting at most `timeout`. A zero timeout makes it a
    /// [`try_lock`](Self::try_lock); a timeout too large to represent waits
    /// forever.
    ///
    /// Python: `threading.Lock.acquire(timeout=...)`.
    ///
    /// # Errors
    /// [`Timeout`] with `timeout` if the lock was still held when it passed
    /// (a zero timeout too reports `Timeout`, not `WouldBlock`).
    #[doc(alias = "acquire")]
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<MutexGuard<'_, T>, Timeout> {
        let tracked = instrument::on();
        if lock_raw_timeout(&self.raw, &self.meta, Location::caller(), tracked, timeout) {
            Ok(MutexGuard::new(self, tracked))
        } else {
            Err(Timeout(timeout))
        }
    }

    /// Whether some thread holds the lock right now (a snapshot that may be
    /// stale by the time it is read).
    ///
    /// Python: `threading.Lock.locked()`.
    #[doc(alias = "locked")]
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The data, through exclusive access to the mutex: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The name given by [`named`](Mutex::named), if any.
    ///
    /// Names are kept for the detector's reports and the recorder's traces:
    /// without the `detect` and `trace` features (both off) this is `None`.
    pub fn name(&self) -> Option<&str> {
        self.meta.name()
    }

    /// Locks on the instrumented path: reports to the detector and tracer.
    #[cold]
    #[inline(never)]
    pub(crate) fn lock_instrumented(&self, loc: &'static Location<'static>) {
        lock_raw_tracked(&self.raw, &self.meta, loc);
    }
}

/// Takes `raw`, blocking, and tells the hooks: the instrumented path of
/// [`Mutex::lock`] and [`RLock::lock`](crate::RLock::lock).
#[cold]
pub(crate) fn lock_raw_tracked(raw: &RawMutex, meta: &Meta, loc: &'static Location<'static>) {
    if !raw.try_lock() {
        instrument::blocking(meta, loc);
        raw.lock();
    }
    instrument::acquired(meta, loc);
}

/// Takes `raw` within `timeout` (zero: one try), telling the hooks when
/// `tracked`; returns whether it was taken. Shared by the `lock_timeout` of
/// [`Mutex`] and [`RLock`](crate::RLock).
pub(crate) fn lock_raw_timeout(
    raw: &RawMutex,
    meta: &Meta,
    loc: &'static Location<'static>,
    tracked: bool,
    timeout: Duration,
) -> bool {
    let locked = if raw.try_lock() {
        true
    } else if timeout.is_zero() {
        false
    } else if tracked {
        instrument::blocking(meta, loc);
        let locked = raw.lock_until(Deadline::after(timeout));
        if !locked {
            instrument::unblocked(meta);
        }
        locked
    } else {
        raw.lock_until(Deadline::after(timeout))
    };
    if locked && tracked {
        instrument::acquired(meta, loc);
    }
    locked
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        if let Some(name) = self.name() {
            d.field("name", &name);
        }
        match self.raw.try_lock() {
            true => {
                // SAFETY: we hold the lock for the duration of the access.
                self.data.with(|p| d.field("data", &unsafe { &*p }));
                // SAFETY: the try_lock above succeeded; this is its release.
                unsafe { self.raw.unlock() };
            }
            false => {
                d.field("data", &format_args!("<locked>"));
            }
        }
        d.finish_non_exhaustive()
    }
}

/// Proof that the current thread holds a [`Mutex`]; gives `&T` and `&mut T`
/// and unlocks when dropped.
///
/// Python: the body of `with lock:`; dropping the guard is `lock.release()`.
///
/// A guard is not `Send`: the thread that locked is the one that unlocks
/// (the deadlock detector relies on it). This does not compile:
///
/// ```compile_fail,E0277
/// let m = bingfa_sync::Mutex::new(0);
/// let guard = m.lock();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(guard)); // error: `MutexGuard` cannot be sent between threads
/// });
/// ```
#[doc(alias = "release")]
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) mutex: &'a Mutex<T>,
    /// Whether `acquired` was reported, so `released` must be.
    pub(crate) tracked: bool,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`, which is fine to share when
// `T: Sync` (as `std::sync::MutexGuard`).
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    #[inline]
    fn new(mutex: &'a Mutex<T>, tracked: bool) -> Self {
        MutexGuard {
            mutex,
            tracked,
            _not_send: PhantomData,
        }
    }

    /// The mutex this guard holds.
    pub fn mutex(guard: &Self) -> &'a Mutex<T> {
        guard.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held, so no `&mut T` exists
        // outside this guard, whose borrow rules hold for the result.
        self.mutex.data.with(|p| unsafe { &*p })
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held by us alone, and `&mut
        // self` that no other reference from this guard is alive.
        self.mutex.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.tracked {
            instrument::released(&self.mutex.meta);
        }
        // SAFETY: the guard is the one proof of this acquisition, and drop
        // runs once.
        unsafe { self.mutex.raw.unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
