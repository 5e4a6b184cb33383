//! [`Semaphore`]: Python's `threading.Semaphore` and `BoundedSemaphore`.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::time::Duration;

use crate::error::{Error, Timeout, WouldBlock};
use crate::instrument::{self, Kind, Meta};
use crate::raw::atomic::{AtomicUsize, Ordering};
use crate::raw::park::{self, FilterOp, ParkResult};
use crate::raw::{Deadline, SpinWait};

/// Low bit of the state: some thread may be parked on the semaphore.
const PARKED: usize = 1;
/// The permit count sits above the `PARKED` bit.
const ONE: usize = 2;

/// A counter of permits: [`acquire`](Self::acquire) takes one, waiting while
/// there are none; releasing gives one back and wakes a waiter.
///
/// Python: `threading.Semaphore` ([`new`](Self::new)) and
/// `threading.BoundedSemaphore` ([`bounded`](Self::bounded)).
///
/// ```
/// use bingfa_sync::Semaphore;
///
/// let pool = Semaphore::new(2); // at most two threads in at once
/// let a = pool.acquire();
/// let b = pool.acquire();
/// assert!(pool.try_acquire().is_err());
/// drop(a); // a permit guard releases when dropped (`with sem:` in Python)
/// assert_eq!(pool.available(), 1);
/// # drop(b);
/// ```
///
/// A semaphore is not a lock: Python code often releases it from another
/// thread than the one that acquired it (a producer signalling a consumer).
/// The permit guard covers the `with sem:` case and stays on its thread;
/// [`release`](Self::release) is the free-standing `sem.release()`, callable
/// from any thread, and [`SemaphorePermit::forget`] turns a guard into a
/// plain `acquire()` without release.
///
/// A bounded semaphore refuses to go above its initial value:
/// [`release`](Self::release) then returns [`Error::ReleasedTooMany`]
/// (Python raises `ValueError`).
///
/// Waking is not first-come first-served: a thread that arrives while a
/// woken waiter is on its way may take the permit first (as in Python).
#[doc(alias = "BoundedSemaphore")]
pub struct Semaphore {
    /// `permits * ONE | PARKED`.
    state: AtomicUsize,
    /// `usize::MAX` for a plain semaphore, else the bound.
    bound: usize,
    meta: Meta,
}

impl Semaphore {
    /// The largest permit count a semaphore can hold.
    pub const MAX_PERMITS: usize = usize::MAX / ONE;

    /// A semaphore holding `permits` permits, with no upper bound.
    ///
    /// Python: `threading.Semaphore(value)`.
    ///
    /// # Panics
    /// If `permits > Semaphore::MAX_PERMITS`.
    pub fn new(permits: usize) -> Self {
        Self::build(permits, usize::MAX, None)
    }

    /// A semaphore holding `permits` permits that refuses to be released
    /// above that many.
    ///
    /// Python: `threading.BoundedSemaphore(value)`.
    ///
    /// # Panics
    /// If `permits > Semaphore::MAX_PERMITS`.
    #[doc(alias = "BoundedSemaphore")]
    pub fn bounded(permits: usize) -> Self {
        Self::build(permits, permits, None)
    }

    /// [`new`](Self::new) with a name that the deadlock detector and the
    /// tracer show.
    ///
    /// # Panics
    /// If `permits > Semaphore::MAX_PERMITS`.
    pub fn named(name: impl Into<Cow<'static, str>>, permits: usize) -> Self {
        Self::build(permits, usize::MAX, Some(name.into()))
    }

    /// [`bounded`](Self::bounded) with a name that the deadlock detector and
    /// the tracer show.
    ///
    /// # Panics
    /// If `permits > Semaphore::MAX_PERMITS`.
    pub fn bounded_named(name: impl Into<Cow<'static, str>>, permits: usize) -> Self {
        Self::build(permits, permits, Some(name.into()))
    }

    fn build(permits: usize, bound: usize, name: Option<Cow<'static, str>>) -> Self {
        assert!(
            permits <= Self::MAX_PERMITS,
            "Semaphore: {permits} permits is more than MAX_PERMITS"
        );
        Semaphore {
            state: AtomicUsize::new(permits * ONE),
            bound,
            meta: Meta::named(Kind::Semaphore, name),
        }
    }

    /// Takes a permit, blocking while there is none.
    ///
    /// Python: `threading.Semaphore.acquire()` (and `with sem:`).
    #[track_caller]
    #[inline]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        let tracked = instrument::on();
        if tracked {
            self.acquire_instrumented(Location::caller());
        } else if !self.try_take() {
            let taken = self.acquire_slow(None);
            debug_assert!(taken);
        }
        SemaphorePermit::new(self, tracked)
    }

    /// Takes a permit if one is available right now; never blocks.
    ///
    /// Python: `threading.Semaphore.acquire(blocking=False)`.
    ///
    /// # Errors
    /// [`WouldBlock`] when no permit is available.
    #[doc(alias = "acquire_nowait")]
    #[track_caller]
    #[inline]
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, WouldBlock> {
        if !self.try_take() {
            return Err(WouldBlock);
        }
        let tracked = instrument::on();
        if tracked {
            instrument::acquired(&self.meta, Location::caller());
        }
        Ok(SemaphorePermit::new(self, tracked))
    }

    /// Takes a permit, waiting at most `timeout` for one. A zero timeout
    /// makes it a [`try_acquire`](Self::try_acquire).
    ///
    /// Python: `threading.Semaphore.acquire(timeout=...)`.
    ///
    /// # Errors
    /// [`Timeout`] with `timeout` when no permit came in time.
    #[doc(alias = "acquire")]
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphorePermit<'_>, Timeout> {
        let loc = Location::caller();
        let tracked = instrument::on();
        let taken = if self.try_take() {
            true
        } else if timeout.is_zero() {
            false
        } else if tracked {
            instrument::blocking(&self.meta, loc);
            let taken = self.acquire_slow(Deadline::after(timeout));
            if !taken {
                instrument::unblocked(&self.meta);
            }
            taken
        } else {
            self.acquire_slow(Deadline::after(timeout))
        };
        if !taken {
            return Err(Timeout(timeout));
        }
        if tracked {
            instrument::acquired(&self.meta, loc);
        }
        Ok(SemaphorePermit::new(self, tracked))
    }

    /// Gives one permit back, waking one waiter. Any thread may call it,
    /// whether or not it acquired.
    ///
    /// Python: `threading.Semaphore.release()`.
    ///
    /// # Errors
    /// [`Error::ReleasedTooMany`] if the semaphore is bounded and already
    /// holds its bound (nothing changes); [`Error::PermitOverflow`] if the
    /// count would pass [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn release(&self) -> Result<(), Error> {
        self.release_n(1)
    }

    /// Gives `n` permits back at once, waking up to `n` waiters. All or
    /// nothing: on error no permit is added.
    ///
    /// Python: `threading.Semaphore.release(n)`.
    ///
    /// # Errors
    /// As [`release`](Self::release), and [`Error::InvalidArgument`] if `n`
    /// is 0 (Python raises `ValueError: n must be one or more`).
    #[doc(alias = "release")]
    pub fn release_n(&self, n: usize) -> Result<(), Error> {
        if n == 0 {
            return Err(Error::InvalidArgument("n must be one or more"));
        }
        self.release_n_quiet(n)?;
        if instrument::on() {
            for _ in 0..n {
                instrument::released(&self.meta);
            }
        }
        Ok(())
    }

    /// How many permits are free right now (a snapshot).
    ///
    /// Python: `threading.Semaphore._value`.
    #[doc(alias = "_value")]
    pub fn available(&self) -> usize {
        self.state.load(Ordering::Relaxed) / ONE
    }

    /// The bound of a bounded semaphore (its initial value), `None` for a
    /// plain one.
    pub fn bound(&self) -> Option<usize> {
        (self.bound != usize::MAX).then_some(self.bound)
    }

    /// The name given by [`named`](Self::named) or
    /// [`bounded_named`](Self::bounded_named), if any.
    ///
    /// Names are kept for the detector's reports and the recorder's traces:
    /// without the `detect` and `trace` features (both off) this is `None`.
    pub fn name(&self) -> Option<&str> {
        self.meta.name()
    }

    /// One attempt to take a permit: a CAS while there are permits.
    #[inline]
    fn try_take(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state >= ONE {
            match self.state.compare_exchange_weak(
                state,
                state - ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
        false
    }

    #[cold]
    #[inline(never)]
    fn acquire_instrumented(&self, loc: &'static Location<'static>) {
        if !self.try_take() {
            instrument::blocking(&self.meta, loc);
            let taken = self.acquire_slow(None);
            debug_assert!(taken);
        }
        instrument::acquired(&self.meta, loc);
    }

    fn key(&self) -> usize {
        &self.state as *const AtomicUsize as usize
    }

    /// Waits for a permit and takes it; `false` if `deadline` passed first.
    #[cold]
    fn acquire_slow(&self, deadline: Option<Deadline>) -> bool {
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state >= ONE {
                match self.state.compare_exchange_weak(
                    state,
                    state - ONE,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(s) => state = s,
                }
                continue;
            }
            if state & PARKED == 0 && spin.spin() {
                state = self.state.load(Ordering::Relaxed);
                continue;
            }
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
            // Sleep only if there is still no permit and PARKED is still set:
            // a release after this check finds us in the queue.
            let validate = || self.state.load(Ordering::Relaxed) == PARKED;
            let timed_out = |_key, was_last_thread: bool| {
                if was_last_thread {
                    self.state.fetch_and(!PARKED, Ordering::Relaxed);
                }
            };
            // SAFETY: our own key; the closures only do atomic operations.
            let r = unsafe { park::park(self.key(), validate, || {}, timed_out, 0, deadline) };
            if r == ParkResult::TimedOut {
                return false;
            }
            spin.reset();
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// Wakes up to `n` parked threads after a release of `n` permits.
    #[cold]
    fn wake(&self, n: usize) {
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
            // Under the queue lock: exact, no thread is enqueuing now.
            if !r.have_more_threads {
                self.state.fetch_and(!PARKED, Ordering::Relaxed);
            }
            0
        };
        // SAFETY: our own key; filter and callback neither panic nor park.
        unsafe {
            park::unpark_filter(self.key(), filter, callback);
        }
    }
}

/// A semaphore with one permit and no bound.
///
/// Python: `threading.Semaphore()` (whose default value is 1).
impl Default for Semaphore {
    fn default() -> Self {
        Semaphore::new(1)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Semaphore");
        if let Some(name) = self.name() {
            d.field("name", &name);
        }
        d.field("available", &self.available());
        if let Some(bound) = self.bound() {
            d.field("bound", &bound);
        }
        d.finish()
    }
}

/// One permit of a [`Semaphore`], given back when dropped.
///
/// Python: the body of `with sem:`.
///
/// Like a lock guard it stays on the thread that acquired (the deadlock
/// detector relies on it); to hand a permit to another thread, `forget` it
/// and call [`Semaphore::release`] there.
///
/// ```compile_fail,E0277
/// let sem = bingfa_sync::Semaphore::new(1);
/// let permit = sem.acquire();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(permit)); // error: `SemaphorePermit` cannot be sent between threads
/// });
/// ```
///
/// # Panics
/// Dropping the permit panics if the semaphore is bounded and already full,
/// which means [`Semaphore::release`] was called once too often while the
/// permit was held (Python raises `ValueError` at the end of the `with`
/// block). It does not panic while the thread is already panicking.
#[must_use = "the permit is released at once if it is not kept"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    tracked: bool,
    _not_send: PhantomData<*const ()>,
}

impl<'a> SemaphorePermit<'a> {
    fn new(sem: &'a Semaphore, tracked: bool) -> Self {
        SemaphorePermit {
            sem,
            tracked,
            _not_send: PhantomData,
        }
    }

    /// Keeps the permit taken: the semaphore's count stays one lower until
    /// someone calls [`Semaphore::release`].
    ///
    /// Python: an `acquire()` without the matching `release()`.
    pub fn forget(self) {
        std::mem::forget(self);
    }

    /// The semaphore this permit belongs to.
    pub fn semaphore(&self) -> &'a Semaphore {
        self.sem
    }
}

impl Drop for SemaphorePermit<'_> {
    /// Gives the permit back.
    ///
    /// # Panics
    /// If the semaphore is bounded and already full, which means that
    /// [`Semaphore::release`] was called once too often while this permit was
    /// held (Python raises `ValueError` at the end of the `with` block). Does
    /// not panic while the thread is already panicking.
    fn drop(&mut self) {
        if let Err(e) = self.sem.release_n_quiet(1) {
            if !std::thread::panicking() {
                panic!("dropping a SemaphorePermit: {e}");
            }
        } else if self.tracked {
            instrument::released(&self.sem.meta);
        }
    }
}

impl Semaphore {
    /// `release_n` without the `released` hook (the permit reports its own).
    fn release_n_quiet(&self, n: usize) -> Result<(), Error> {
        let limit = self.bound.min(Self::MAX_PERMITS);
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let permits = state / ONE;
            let Some(new) = permits.checked_add(n).filter(|&p| p <= limit) else {
                return Err(if self.bound == usize::MAX {
                    Error::PermitOverflow(n)
                } else {
                    Error::ReleasedTooMany { bound: self.bound }
                });
            };
            match self.state.compare_exchange_weak(
                state,
                (new * ONE) | (state & PARKED),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(s) => state = s,
            }
        }
        if state & PARKED != 0 {
            self.wake(n);
        }
        Ok(())
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("semaphore", self.sem)
            .finish()
    }
}
