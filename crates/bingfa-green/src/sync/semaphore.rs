//! Green `Semaphore` and `Lock<T>`.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use bingfa_sync::raw::cell::UnsafeCell;

use super::wait::sealed::{Armed, Me, Sealed};
use super::wait::Waitable;
use super::waiter::{wait_until, Locked, WaitList};
use crate::error::Error;

/// A counter of permits: [`acquire`](Self::acquire) takes one (waiting,
/// switching away, while there are none), dropping the permit (or
/// [`release`](Self::release)) gives it back and wakes the longest waiter.
///
/// `Send + Sync`: permits can be released from other OS threads.
///
/// Python: `gevent.lock.Semaphore` (and `BoundedSemaphore` with
/// [`bounded`](Self::bounded)).
pub struct Semaphore {
    state: Locked<(usize, WaitList)>,
    bound: Option<usize>,
}

/// A permit of a [`Semaphore`], given back when dropped.
#[must_use = "the permit is released at once if dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    ///
    /// Python: `Semaphore(value)`.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: Locked::new((permits, WaitList::default())),
            bound: None,
        }
    }

    /// A semaphore that may never hold more than `permits`: a
    /// [`release`](Self::release) above that returns
    /// [`Error::ReleasedTooMany`].
    ///
    /// Python: `BoundedSemaphore(value)`.
    #[doc(alias = "BoundedSemaphore")]
    pub fn bounded(permits: usize) -> Semaphore {
        Semaphore {
            state: Locked::new((permits, WaitList::default())),
            bound: Some(permits),
        }
    }

    fn take(s: &mut (usize, WaitList)) -> Option<()> {
        if s.0 > 0 {
            s.0 -= 1;
            Some(())
        } else {
            None
        }
    }

    /// Takes a permit, waiting for one.
    ///
    /// Python: `sem.acquire()` / `with sem:`.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        wait_until(&self.state, None, |s| &mut s.1, Self::take);
        SemaphorePermit { sem: self }
    }

    /// Takes a permit if one is free now.
    ///
    /// Python: `sem.acquire(blocking=False)`.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.state
            .with(Self::take)
            .map(|()| SemaphorePermit { sem: self })
    }

    /// Takes a permit, waiting at most `timeout`.
    ///
    /// Python: `sem.acquire(timeout=t)`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        let deadline = Instant::now().checked_add(timeout);
        wait_until(&self.state, deadline, |s| &mut s.1, Self::take)
            .map(|()| SemaphorePermit { sem: self })
    }

    /// Takes a permit with no guard; give it back with
    /// [`release`](Self::release).
    ///
    /// Python: `sem.acquire()`.
    pub fn acquire_forget(&self) {
        std::mem::forget(self.acquire());
    }

    /// Gives one permit back and wakes the longest waiter. Callable from
    /// any green thread or OS thread (a semaphore is not a lock).
    ///
    /// Python: `sem.release()`.
    ///
    /// # Errors
    /// [`Error::ReleasedTooMany`] for a [`bounded`](Self::bounded)
    /// semaphore that already holds its bound (Python: `ValueError`);
    /// [`Error::PermitOverflow`] if the count would pass `usize::MAX`. The
    /// count is unchanged either way.
    pub fn release(&self) -> Result<(), Error> {
        self.release_n(1)
    }

    /// Gives `n` permits back and wakes up to `n` waiters, longest waiting
    /// first. All or nothing: on an error no permit is given back.
    ///
    /// Python: `threading.Semaphore.release(n)`.
    ///
    /// # Errors
    /// As [`release`](Self::release).
    #[doc(alias = "release")]
    pub fn release_n(&self, n: usize) -> Result<(), Error> {
        let ws = self.state.with(|s| {
            let limit = self.bound.unwrap_or(usize::MAX);
            match s.0.checked_add(n) {
                Some(v) if v <= limit => s.0 = v,
                _ => {
                    return Err(match self.bound {
                        Some(bound) => Error::ReleasedTooMany { bound },
                        None => Error::PermitOverflow(n),
                    })
                }
            }
            let mut ws = Vec::new();
            while ws.len() < n {
                match s.1.pop() {
                    Some(w) => ws.push(w),
                    None => break,
                }
            }
            Ok(ws)
        })?;
        for w in ws {
            w.wake();
        }
        Ok(())
    }

    /// Free permits now.
    ///
    /// Python: `sem.counter`.
    pub fn available(&self) -> usize {
        self.state.with(|s| s.0)
    }

    /// Whether no permit is free.
    ///
    /// Python: `sem.locked()`.
    pub fn locked(&self) -> bool {
        self.available() == 0
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken: the count stays one lower until someone
    /// calls [`Semaphore::release`].
    ///
    /// Python: an `acquire()` without the matching `release()`.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Sealed for Semaphore {
    fn arm(&self, me: &Me, _mark: &mut Option<u64>) -> Armed {
        self.state.with(|s| {
            if s.0 > 0 {
                Armed::ready_now()
            } else {
                Armed {
                    now: false,
                    id: s.1.push(me.0.clone()),
                    mark: 0,
                }
            }
        })
    }

    fn disarm(&self, armed: Armed) -> bool {
        if armed.now {
            return true;
        }
        let (free, next) = self.state.with(|s| {
            // Popped by a release: `wait` takes no permit, so the wake-up
            // goes on to the next waiter.
            let next = if s.1.remove(armed.id) {
                None
            } else {
                s.1.pop()
            };
            (s.0 > 0, next)
        });
        if let Some(w) = next {
            w.wake();
        }
        free
    }
}

/// Ready while a permit is free; [`wait`](super::wait) takes none.
impl Waitable for Semaphore {
    fn is_ready(&self) -> bool {
        self.available() > 0
    }
}

impl Drop for SemaphorePermit<'_> {
    /// Gives the permit back.
    ///
    /// # Panics
    /// If the semaphore is bounded and already full, which means that
    /// [`Semaphore::release`] was called once too often while this permit
    /// was held (Python raises `ValueError` at the end of the `with`
    /// block). Not while the thread is already panicking.
    fn drop(&mut self) {
        if let Err(e) = self.sem.release() {
            if !std::thread::panicking() {
                panic!("dropping a green SemaphorePermit: {e}");
            }
        }
    }
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .finish()
    }
}

impl std::fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SemaphorePermit")
    }
}

/// A green mutual-exclusion lock around a `T`: while one green thread
/// holds the guard, others that [`lock`](Self::lock) switch away until it
/// is dropped. The guard may be held across switch points (sleeps, IO).
///
/// Python: `gevent.lock.Lock` (`BoundedSemaphore(1)`), with the data it
/// protects inside.
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use bingfa_green::{joinall, run, sleep, spawn, sync::Lock};
///
/// run(|| {
///     let tickets = Rc::new(Lock::new(3));
///     let hs: Vec<_> = (0..5).map(|_| {
///         let t = tickets.clone();
///         spawn(move || {
///             let mut n = t.lock();
///             let left = *n;
///             sleep(Duration::from_millis(1)); // think time: others run
///             if left > 0 { *n = left - 1; true } else { false }
///         })
///     }).collect();
///     joinall(&hs);
///     assert_eq!(hs.iter().filter(|h| h.value() == Some(true)).count(), 3);
///     assert_eq!(*tickets.lock(), 0);
/// })
/// .unwrap();
/// ```
pub struct Lock<T = ()> {
    sem: Semaphore,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached only through a guard, and guards exclude
// each other through the semaphore of one permit.
unsafe impl<T: Send> Send for Lock<T> {}
// SAFETY: as above; `&Lock` hands out `&mut T` to one holder at a time.
unsafe impl<T: Send> Sync for Lock<T> {}

/// Holds a [`Lock`]; unlocks when dropped.
#[must_use = "the lock is released at once if the guard is dropped"]
pub struct LockGuard<'a, T> {
    lock: &'a Lock<T>,
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> Lock<T> {
    /// An unlocked lock around `value`.
    pub fn new(value: T) -> Lock<T> {
        Lock {
            sem: Semaphore::new(1),
            data: UnsafeCell::new(value),
        }
    }

    /// Locks, waiting while another holds it.
    ///
    /// Python: `lock.acquire()` / `with lock:`.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockGuard<'_, T> {
        std::mem::forget(self.sem.acquire());
        LockGuard { lock: self }
    }

    /// Locks if free now.
    ///
    /// Python: `lock.acquire(blocking=False)`.
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.sem.try_acquire().map(|p| {
            std::mem::forget(p);
            LockGuard { lock: self }
        })
    }

    /// Locks, waiting at most `timeout`.
    ///
    /// Python: `lock.acquire(timeout=t)`.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        self.sem.acquire_timeout(timeout).map(|p| {
            std::mem::forget(p);
            LockGuard { lock: self }
        })
    }

    /// Whether someone holds it.
    ///
    /// Python: `lock.locked()`.
    pub fn is_locked(&self) -> bool {
        self.sem.locked()
    }

    /// The data, without locking (the `&mut` proves no guard exists).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Unwraps the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock's only permit: no other guard,
        // hence no other access, exists.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        self.lock.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        // Cannot fail: the guard holds the one permit, so the count is 0.
        let _ = self.lock.sem.release();
    }
}

impl<T> std::fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.is_locked())
            .finish()
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}
