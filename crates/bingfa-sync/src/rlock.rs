//! [`RLock<T>`]: Python's `threading.RLock`, a lock its owner may take again.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::Location;
use std::time::Duration;

use crate::error::{Timeout, WouldBlock};
use crate::instrument::{self, Kind, Meta};
use crate::mutex::{lock_raw_timeout, lock_raw_tracked};
use crate::raw::atomic::{AtomicUsize, Ordering};
use crate::raw::cell::UnsafeCell;
use crate::raw::RawMutex;

/// A re-entrant lock: the thread that holds it may lock it again, and it is
/// free again when every guard of that thread has been dropped.
///
/// Python: `threading.RLock`. Python's RLock keeps an owner and a count; a
/// release by another thread raises `RuntimeError`, and so does one release
/// too many. Here release happens only by dropping an [`RLockGuard`], which
/// cannot leave its thread and exists once per acquisition, so "released only
/// by its owner, and only as many times as it was taken" holds by
/// construction: neither mistake compiles.
///
/// ```
/// use bingfa_sync::RLock;
///
/// let log = RLock::new(std::cell::RefCell::new(Vec::new()));
/// fn record(log: &RLock<std::cell::RefCell<Vec<&'static str>>>, what: &'static str) {
///     log.lock().borrow_mut().push(what); // locks again: fine, same thread
/// }
/// let outer = log.lock();
/// record(&log, "inner");
/// assert_eq!(log.count(), 1); // the inner guard is gone again
/// drop(outer);
/// assert!(!log.is_locked());
/// ```
///
/// Because several guards of one thread may be alive at once, a guard gives
/// only `&T`; put a `Cell` or `RefCell` inside for mutation (the example
/// above). For the same reason `RLock<T>` is `Sync` when `T: Send`, as
/// `std::sync::ReentrantLock` and parking_lot's `ReentrantMutex`: the `&T`
/// are only ever alive on one thread at a time, and a `&T` can leave that
/// thread only if `T: Sync` anyway.
#[doc(alias = "ReentrantMutex")]
#[doc(alias = "ReentrantLock")]
pub struct RLock<T: ?Sized> {
    raw: RawMutex,
    /// Id of the owning thread (see [`current_thread_id`]), 0 when free.
    owner: AtomicUsize,
    /// How many times the owner took it, and whether the outermost
    /// acquisition was reported to the detector. Touched by the owner only.
    hold: UnsafeCell<Hold>,
    meta: Meta,
    data: UnsafeCell<T>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Hold {
    count: usize,
    tracked: bool,
}

// SAFETY: moving the lock moves the `T` (and the lock is then free, since
// guards borrow it).
unsafe impl<T: ?Sized + Send> Send for RLock<T> {}
// SAFETY: only the owning thread reaches `&T` or `hold`; ownership passes
// between threads through the raw mutex (acquire/release), so `T` moves
// between threads but is never shared by two at once: `T: Send` suffices.
unsafe impl<T: ?Sized + Send> Sync for RLock<T> {}

/// A process-unique, non-zero id of the current thread.
#[inline]
fn current_thread_id() -> usize {
    use std::cell::Cell;
    // Ids come from a counter, not from thread-local addresses, so that an
    // id is never reused, even after its thread exits.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    fn fresh() -> usize {
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(bingfa_loom))]
    std::thread_local!(static ID: Cell<usize> = const { Cell::new(0) });
    #[cfg(bingfa_loom)]
    loom::thread_local!(static ID: Cell<usize> = Cell::new(0));
    ID.with(|id| match id.get() {
        0 => {
            let new = fresh();
            id.set(new);
            new
        }
        n => n,
    })
}

impl<T> RLock<T> {
    /// A free re-entrant lock holding `value`.
    ///
    /// Python: `threading.RLock()`.
    #[cfg(not(bingfa_loom))]
    pub const fn new(value: T) -> Self {
        RLock {
            raw: RawMutex::new(),
            owner: AtomicUsize::new(0),
            hold: UnsafeCell::new(Hold {
                count: 0,
                tracked: false,
            }),
            meta: Meta::new(Kind::RLock),
            data: UnsafeCell::new(value),
        }
    }

    /// A free re-entrant lock holding `value`.
    ///
    /// Python: `threading.RLock()`.
    #[cfg(bingfa_loom)]
    pub fn new(value: T) -> Self {
        Self::with_meta(Meta::new(Kind::RLock), value)
    }

    /// A free re-entrant lock holding `value`, with a name that the deadlock
    /// detector and the tracer show.
    pub fn named(name: impl Into<Cow<'static, str>>, value: T) -> Self {
        Self::with_meta(Meta::named(Kind::RLock, Some(name.into())), value)
    }

    fn with_meta(meta: Meta, value: T) -> Self {
        RLock {
            raw: RawMutex::new(),
            owner: AtomicUsize::new(0),
            hold: UnsafeCell::new(Hold::default()),
            meta,
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RLock<T> {
    /// Takes the lock: at once if this thread already holds it (the count
    /// goes up by one), otherwise blocking until it is free.
    ///
    /// Python: `threading.RLock.acquire()` (and `with rlock:`).
    ///
    /// # Panics
    /// If one thread holds it `usize::MAX` times.
    #[doc(alias = "acquire")]
    #[track_caller]
    #[inline]
    pub fn lock(&self) -> RLockGuard<'_, T> {
        let me = current_thread_id();
        if self.owner.load(Ordering::Relaxed) == me {
            return self.reenter();
        }
        let tracked = instrument::on();
        if tracked {
            lock_raw_tracked(&self.raw, &self.meta, Location::caller());
        } else {
            self.raw.lock();
        }
        self.first(me, tracked)
    }

    /// Takes the lock if this thread holds it already or it is free; never
    /// blocks.
    ///
    /// Python: `threading.RLock.acquire(blocking=False)`.
    ///
    /// # Errors
    /// [`WouldBlock`] if another thread holds it.
    ///
    /// # Panics
    /// If one thread holds it `usize::MAX` times.
    #[doc(alias = "acquire_nowait")]
    #[track_caller]
    #[inline]
    pub fn try_lock(&self) -> Result<RLockGuard<'_, T>, WouldBlock> {
        let me = current_thread_id();
        if self.owner.load(Ordering::Relaxed) == me {
            return Ok(self.reenter());
        }
        if !self.raw.try_lock() {
            return Err(WouldBlock);
        }
        let tracked = instrument::on();
        if tracked {
            instrument::acquired(&self.meta, Location::caller());
        }
        Ok(self.first(me, tracked))
    }

    /// Takes the lock, waiting at most `timeout` for another thread to free
    /// it. Succeeds at once if this thread holds it; a zero timeout makes it
    /// a [`try_lock`](Self::try_lock).
    ///
    /// Python: `threading.RLock.acquire(timeout=...)`.
    ///
    /// # Errors
    /// [`Timeout`] with `timeout` if another thread still held it.
    ///
    /// # Panics
    /// If one thread holds it `usize::MAX` times.
    #[doc(alias = "acquire")]
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<RLockGuard<'_, T>, Timeout> {
        let me = current_thread_id();
        if self.owner.load(Ordering::Relaxed) == me {
            return Ok(self.reenter());
        }
        let tracked = instrument::on();
        if lock_raw_timeout(&self.raw, &self.meta, Location::caller(), tracked, timeout) {
            Ok(self.first(me, tracked))
        } else {
            Err(Timeout(timeout))
        }
    }

    /// Whether some thread holds the lock (a snapshot).
    ///
    /// Python: `threading.RLock.locked()` (3.14).
    #[doc(alias = "locked")]
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Whether the current thread holds the lock.
    ///
    /// Python: `threading.RLock._is_owned()`.
    #[doc(alias = "_is_owned")]
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.owner.load(Ordering::Relaxed) == current_thread_id()
    }

    /// How many times the current thread holds the lock: 0 if it does not
    /// (even when another thread holds it).
    ///
    /// Python: `threading.RLock._recursion_count()`, and the count shown by
    /// `repr(rlock)`.
    #[doc(alias = "_recursion_count")]
    pub fn count(&self) -> usize {
        if self.is_owned_by_current_thread() {
            // SAFETY: we own the lock, and only the owner touches `hold`.
            self.hold.with(|h| unsafe { (*h).count })
        } else {
            0
        }
    }

    /// The data, through exclusive access to the lock: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The name given by [`named`](RLock::named), if any.
    ///
    /// Names are kept for the detector's reports and the recorder's traces:
    /// without the `detect` and `trace` features (both off) this is `None`.
    pub fn name(&self) -> Option<&str> {
        self.meta.name()
    }

    /// One more level for the owner.
    #[inline]
    fn reenter(&self) -> RLockGuard<'_, T> {
        // SAFETY: the caller checked that this thread owns the lock; only the
        // owner touches `hold`.
        self.hold.with_mut(|h| unsafe {
            (*h).count = (*h)
                .count
                .checked_add(1)
                .expect("RLock taken usize::MAX times by one thread");
        });
        RLockGuard::new(self)
    }

    /// The outermost level, after the raw lock was taken.
    #[inline]
    fn first(&self, me: usize, tracked: bool) -> RLockGuard<'_, T> {
        self.owner.store(me, Ordering::Relaxed);
        // SAFETY: we hold the raw lock, which makes us the owner.
        self.hold
            .with_mut(|h| unsafe { *h = Hold { count: 1, tracked } });
        RLockGuard::new(self)
    }
}

impl<T: Default> Default for RLock<T> {
    fn default() -> Self {
        RLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RLock");
        if let Some(name) = self.name() {
            d.field("name", &name);
        }
        d.field("locked", &self.is_locked())
            .field("count", &self.count());
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// What a condition wait saves of an [`RLock`] while it waits: how many
/// levels the thread held.
#[derive(Debug, Clone, Copy)]
pub struct Saved {
    count: usize,
}

/// One acquisition of an [`RLock`] by the current thread; gives `&T`. The
/// lock is free again once every guard of the owner is dropped.
///
/// Python: the body of `with rlock:`; dropping the guard is `rlock.release()`.
///
/// A guard cannot be sent to another thread, so only the owner releases:
///
/// ```compile_fail,E0277
/// let l = bingfa_sync::RLock::new(0);
/// let guard = l.lock();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(guard)); // error: `RLockGuard` cannot be sent between threads
/// });
/// ```
///
/// and it is released only by being dropped, which happens once per
/// acquisition:
///
/// ```compile_fail,E0382
/// let l = bingfa_sync::RLock::new(0);
/// let guard = l.lock();
/// drop(guard);
/// drop(guard); // error: use of moved value
/// ```
#[doc(alias = "release")]
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct RLockGuard<'a, T: ?Sized> {
    lock: &'a RLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard gives `&T` to whoever shares it: needs `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RLockGuard<'_, T> {}

impl<'a, T: ?Sized> RLockGuard<'a, T> {
    fn new(lock: &'a RLock<T>) -> Self {
        RLockGuard {
            lock,
            _not_send: PhantomData,
        }
    }

    /// For a condition wait: gives up every level this thread holds (the
    /// raw lock stays taken until `raw_unlock`).
    pub(crate) fn release_all_levels(&mut self) -> Saved {
        // SAFETY: the guard proves this thread owns the lock; only the owner
        // touches `hold`.
        let hold = self
            .lock
            .hold
            .with_mut(|h| unsafe { std::mem::take(&mut *h) });
        if hold.tracked {
            instrument::released(&self.lock.meta);
        }
        self.lock.owner.store(0, Ordering::Relaxed);
        Saved { count: hold.count }
    }

    /// For a condition wait: unlocks the raw lock after `release_all_levels`.
    ///
    /// # Safety
    /// `release_all_levels` ran on this thread and the lock was not taken
    /// again since; `restore_all_levels` must run before any guard of this
    /// thread is used or dropped.
    pub(crate) unsafe fn raw_unlock(&self) {
        // SAFETY: the caller's contract: this thread holds the raw lock and
        // has given up ownership.
        unsafe { self.lock.raw.unlock() };
    }

    /// After a condition wait: takes the lock again with the levels saved.
    pub(crate) fn restore_all_levels(&mut self, saved: Saved, loc: &'static Location<'static>) {
        let tracked = instrument::on();
        if tracked {
            lock_raw_tracked(&self.lock.raw, &self.lock.meta, loc);
        } else {
            self.lock.raw.lock();
        }
        self.lock
            .owner
            .store(current_thread_id(), Ordering::Relaxed);
        // SAFETY: we hold the raw lock again, which makes us the owner.
        self.lock.hold.with_mut(|h| unsafe {
            *h = Hold {
                count: saved.count,
                tracked,
            }
        });
    }
}

impl<T: ?Sized> Deref for RLockGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this thread owns the lock; only shared references to the
        // data are ever made, and none outlives its guard.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T: ?Sized> Drop for RLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard proves this thread owns the lock; only the owner
        // touches `hold`.
        let hold = self.lock.hold.with_mut(|h| unsafe {
            (*h).count -= 1;
            *h
        });
        if hold.count == 0 {
            if hold.tracked {
                instrument::released(&self.lock.meta);
            }
            self.lock.owner.store(0, Ordering::Relaxed);
            // SAFETY: the count reached zero: this is the outermost guard,
            // whose acquisition took the raw lock.
            unsafe { self.lock.raw.unlock() };
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
