//! `Timeout`: a deadline around any blocking green call.

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::sched::{self, TimeoutUnwind};

/// A deadline for a block of green code: if the block is still blocked in
/// a green call (sleep, join, a lock, a queue, a socket...) when the time
/// is up, that call unwinds out of the block (destructors run) and
/// [`run`](Timeout::run) returns [`Error::Timeout`].
///
/// Code that computes without switching is not interrupted: the deadline
/// is checked at switch points, as in gevent.
///
/// Python: `gevent.Timeout(seconds)` used as `with Timeout(s): ...`.
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
/// })
/// .unwrap();
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Timeout {
    duration: Duration,
}

impl Timeout {
    /// A timeout of `duration`, counted from when [`run`](Self::run)
    /// starts.
    ///
    /// Python: `gevent.Timeout(seconds)`.
    pub fn new(duration: Duration) -> Self {
        Timeout { duration }
    }

    /// The duration.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Runs `f`; interrupts it at its next switch point once the duration
    /// has passed. Scopes nest: the first to expire wins.
    ///
    /// Python: `with gevent.Timeout(s): f()`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if the duration passed while `f` was blocked (or
    /// before it next switched).
    ///
    /// # Panics
    /// Outside a green thread; a panic of `f` goes on unwinding.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> Result<R, Error> {
        let s = sched::sched("Timeout::run");
        let Some(at) = Instant::now().checked_add(self.duration) else {
            return Ok(f());
        };
        let id = s.push_scope(at);
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        s.pop_scope(id);
        match r {
            Ok(v) => Ok(v),
            Err(p) => match p.downcast::<TimeoutUnwind>() {
                Ok(t) if t.0 == id => {
                    s.unwound();
                    Err(Error::Timeout(self.duration))
                }
                Ok(t) => panic::resume_unwind(t),
                Err(p) => panic::resume_unwind(p),
            },
        }
    }
}

/// Runs `f` under a [`Timeout`] of `duration`.
///
/// Python: `gevent.with_timeout(seconds, f)`.
///
/// # Errors
/// [`Error::Timeout`] as [`Timeout::run`].
///
/// # Panics
/// Outside a green thread.
pub fn with_timeout<R>(duration: Duration, f: impl FnOnce() -> R) -> Result<R, Error> {
    Timeout::new(duration).run(f)
}
