//! The crate's errors: [`Error`], and one small type for each kind of call
//! that can fail in one way only.
//!
//! | call | error |
//! |---|---|
//! | `try_lock`, `try_acquire` | [`WouldBlock`] |
//! | `lock_timeout`, `acquire_timeout` | [`Timeout`] |
//! | [`Barrier::wait`](crate::Barrier::wait), [`Barrier::wait_timeout`](crate::Barrier::wait_timeout) | [`BrokenBarrier`] |
//! | releases, constructors that check their arguments | [`Error`] |
//!
//! Each small type converts into [`Error`] (`?` works), so a function that
//! calls several primitives can return `Result<_, bingfa_sync::Error>`.

use std::time::Duration;

/// What went wrong in a bingfa-sync call.
///
/// Python raises different exceptions (or returns `False`) for these; the
/// docs of each variant name the Python counterpart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `try_` call found the primitive taken (Python: `acquire(blocking=False)`
    /// returning `False`). The `try_` calls themselves return [`WouldBlock`].
    #[error("would block: the primitive is held by another thread")]
    WouldBlock,
    /// A `_timeout` call gave up after waiting this long (Python:
    /// `acquire(timeout=...)` returning `False`). A zero timeout is a `try_`
    /// that reports `Timeout(Duration::ZERO)`. The `_timeout` calls
    /// themselves return [`Timeout`].
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A bounded semaphore was released more times than it was acquired
    /// (Python: `ValueError: Semaphore released too many times`).
    #[error("bounded semaphore released too many times: its bound is {bound} permits")]
    ReleasedTooMany {
        /// The bound, which is the semaphore's initial value.
        bound: usize,
    },
    /// A release would push a semaphore's permit count past what it can
    /// count (`Semaphore::MAX_PERMITS`).
    #[error(
        "semaphore permit count overflow: releasing {0} more permits would exceed the maximum"
    )]
    PermitOverflow(usize),
    /// The barrier is broken: a party timed out, its action panicked, or
    /// `abort()` or `reset()` was called while threads waited (Python:
    /// `threading.BrokenBarrierError`). Barrier waits return
    /// [`BrokenBarrier`].
    #[error(
        "barrier is broken: a party timed out, the action panicked, or abort() or reset() was called"
    )]
    Broken,
    /// [`Lock::release`](crate::Lock::release) on a lock that nobody holds
    /// (Python: `RuntimeError: release unlocked lock`).
    #[error("release of an unlocked lock")]
    NotLocked,
    /// An argument out of range (Python: `ValueError`), for instance a
    /// barrier for 0 parties or a release of 0 permits. The text says which.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

/// A `try_` call (`try_lock`, `try_acquire`) found the primitive taken by
/// another thread (or, for a lock that is not re-entrant, by this one).
///
/// Python: `acquire(blocking=False)` returning `False`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("would block: the primitive is held by another thread")]
pub struct WouldBlock;

/// A `_timeout` call (`lock_timeout`, `acquire_timeout`) gave up after
/// waiting this long. A zero timeout does not wait and reports
/// `Timeout(Duration::ZERO)`.
///
/// Python: `acquire(timeout=...)` returning `False`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("timed out after {0:?}")]
pub struct Timeout(pub Duration);

impl Timeout {
    /// How long the call waited before it gave up (the timeout it was given).
    pub fn duration(&self) -> Duration {
        self.0
    }
}

/// A [`Barrier`](crate::Barrier) wait ended because the barrier is broken:
/// a party timed out, the barrier's action panicked, or `abort()` or
/// `reset()` was called while threads waited.
///
/// Python: `threading.BrokenBarrierError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error(
    "barrier is broken: a party timed out, the action panicked, or abort() or reset() was called"
)]
#[doc(alias = "BrokenBarrierError")]
pub struct BrokenBarrier;

impl From<WouldBlock> for Error {
    fn from(_: WouldBlock) -> Self {
        Error::WouldBlock
    }
}

impl From<Timeout> for Error {
    fn from(t: Timeout) -> Self {
        Error::Timeout(t.0)
    }
}

impl From<BrokenBarrier> for Error {
    fn from(_: BrokenBarrier) -> Self {
        Error::Broken
    }
}
