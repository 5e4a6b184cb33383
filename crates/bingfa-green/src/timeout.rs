//! `Timeout`: a deadline around any blocking green call.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::sched::{self, TimeoutUnwind};

/// A deadline for green code: if the code is blocked in a green call
/// (sleep, join, a lock, a queue, a socket...) when the time is up, that
/// call unwinds (destructors run) up to this Timeout's
/// [`run`](Timeout::run) (or [`catch`](Timeout::catch)), which returns
/// [`Error::Timeout`].
///
/// Code that computes without switching is not interrupted: the deadline
/// is checked at switch points, as in gevent.
///
/// Timeouts nest, and each one's expiry comes out only of its own `run`
/// or `catch`: an inner one that expires is handled by the inner `run`
/// and the outer goes on; an outer one that expires unwinds through the
/// inner (which never swallows it) to the outer `run`. If both are due at
/// one switch point, the outer one wins.
///
/// Python: `gevent.Timeout(seconds)`: `with Timeout(s): ...` is
/// [`run`](Self::run); `start`, `cancel`, `pending` as in gevent.
///
/// ```
/// use std::time::Duration;
/// use bingfa_green::{run, sleep, Error, Timeout};
///
/// run(|| {
///     let r = Timeout::new(Duration::from_millis(20)).run(|| {
///         sleep(Duration::from_secs(10));
///         "slept"
///     });
///     assert!(matches!(r, Err(Error::Timeout(_))));
///     let r = Timeout::new(Duration::from_secs(10)).run(|| "quick");
///     assert_eq!(r.unwrap(), "quick");
///
///     // Started, then caught around the code it should cut short.
///     let t = Timeout::start_new(Duration::from_millis(10)).unwrap();
///     assert!(t.pending());
///     let r = t.catch(|| sleep(Duration::from_secs(10)));
///     assert!(matches!(r, Err(Error::Timeout(d)) if d == Duration::from_millis(10)));
///     assert!(!t.pending());
/// })
/// .unwrap();
/// ```
///
/// A `Timeout` is `!Send`: it belongs to the green thread that starts it.
#[derive(Debug)]
pub struct Timeout {
    duration: Duration,
    /// The green thread and scope id of the last start (kept after it
    /// expired, so `catch` knows its own expiry).
    scope: Cell<Option<(u64, u64)>>,
}

impl Timeout {
    /// A timeout of `duration`, not started: its countdown begins at
    /// [`start`](Self::start) or [`run`](Self::run).
    ///
    /// Python: `gevent.Timeout(seconds)`.
    pub fn new(duration: Duration) -> Self {
        Timeout {
            duration,
            scope: Cell::new(None),
        }
    }

    /// A timeout of `duration`, started in the calling green thread.
    ///
    /// Python: `gevent.Timeout.start_new(seconds)`.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_new(duration: Duration) -> Result<Self, Error> {
        let t = Timeout::new(duration);
        t.start()?;
        Ok(t)
    }

    /// The duration.
    ///
    /// Python: `t.seconds`.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Starts the countdown in the calling green thread: once `duration`
    /// has passed, its next switch point (or the one it waits in) unwinds
    /// to this Timeout's [`catch`](Self::catch) or [`run`](Self::run); if
    /// nothing catches it, it ends the green thread, whose `join` gives
    /// [`Error::Timeout`]. Starting a pending Timeout starts it again from
    /// now (Python refuses that). Dropping the Timeout cancels it.
    ///
    /// Python: `t.start()`.
    ///
    /// # Errors
    /// [`Error::NotInHub`] outside a green thread;
    /// [`Error::NeedsUnwind`] in a build with `panic = "abort"` (the expiry
    /// unwinds the green thread, which would abort the process).
    pub fn start(&self) -> Result<(), Error> {
        if cfg!(panic = "abort") {
            return Err(Error::NeedsUnwind("Timeout"));
        }
        let s = sched::try_sched()
            .filter(|_| crate::hub::in_green_thread())
            .ok_or(Error::NotInHub("Timeout::start"))?;
        self.cancel();
        // A duration too long for a deadline never expires: nothing to arm.
        if let Some(at) = Instant::now().checked_add(self.duration) {
            self.scope.set(Some(s.push_scope(at, self.duration)));
        }
        Ok(())
    }

    /// Stops the countdown (a Timeout that expired or was never started
    /// is left as it is). It can be started again.
    ///
    /// Python: `t.cancel()` / `t.close()`.
    #[doc(alias = "close")]
    pub fn cancel(&self) {
        if let (Some((key, id)), Some(s)) = (self.scope.get(), sched::try_sched()) {
            s.cancel_scope(key, id);
        }
    }

    /// Whether it is started and has neither expired nor been cancelled.
    ///
    /// Python: `t.pending`.
    pub fn pending(&self) -> bool {
        match (self.scope.get(), sched::try_sched()) {
            (Some((key, id)), Some(s)) => s.scope_open(key, id),
            _ => false,
        }
    }

    /// Runs `f` under this Timeout, started now: interrupts it at its
    /// next switch point once the duration has passed, then cancels it.
    ///
    /// Python: `with gevent.Timeout(s): f()`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if the duration passed while `f` was blocked (or
    /// before it next switched); [`Error::NeedsUnwind`], without running
    /// `f`, in a build with `panic = "abort"`.
    ///
    /// # Panics
    /// Outside a green thread; a panic of `f` (or the expiry of an outer
    /// Timeout) goes on unwinding.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> Result<R, Error> {
        match self.start() {
            Ok(()) => {}
            Err(e @ Error::NeedsUnwind(_)) => return Err(e),
            Err(e) => panic!("{e}"),
        }
        let r = self.catch(f);
        self.cancel();
        r
    }

    /// Runs `f`, turning this Timeout's expiry during it into
    /// [`Error::Timeout`]; anything else that unwinds out of `f` (another
    /// Timeout's expiry among them) goes on unwinding. It neither starts
    /// nor cancels the Timeout.
    ///
    /// Python: `try: f() except Timeout as e: if e is not t: raise`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if this Timeout expired while `f` ran.
    pub fn catch<R>(&self, f: impl FnOnce() -> R) -> Result<R, Error> {
        match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => Ok(v),
            Err(p) => match p.downcast::<TimeoutUnwind>() {
                Ok(t) if self.scope.get().is_some_and(|(_, id)| id == t.0) => {
                    // The unwind is over: the green thread may be
                    // interrupted again.
                    sched::sched("Timeout::catch").unwound();
                    Err(Error::Timeout(self.duration))
                }
                Ok(t) => panic::resume_unwind(t),
                Err(p) => panic::resume_unwind(p),
            },
        }
    }
}

impl Drop for Timeout {
    /// Cancels it.
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Runs `f` under a [`Timeout`] of `duration`.
///
/// Python: `gevent.with_timeout(seconds, f)` (`timeout_value=v`:
/// `with_timeout(d, f).unwrap_or(v)`).
///
/// # Errors
/// As [`Timeout::run`].
///
/// # Panics
/// Outside a green thread.
pub fn with_timeout<R>(duration: Duration, f: impl FnOnce() -> R) -> Result<R, Error> {
    Timeout::new(duration).run(f)
}
