//! The crate's one error type.

use std::time::Duration;

/// What went wrong in a bingfa-sync call.
///
/// Python raises different exceptions (or returns `False`) for these; the
/// docs of each variant name the Python counterpart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `try_` call found the primitive taken (Python: `acquire(blocking=False)`
    /// returning `False`).
    #[error("would block: the primitive is held by another thread")]
    WouldBlock,
    /// A `_timeout` call gave up after waiting this long (Python:
    /// `acquire(timeout=...)` returning `False`). A zero timeout is a `try_`
    /// that reports `Timeout(Duration::ZERO)`.
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
    /// The barrier is broken: a party timed out, or `abort()` or `reset()`
    /// was called while threads waited (Python: `threading.BrokenBarrierError`).
    #[error("barrier is broken: a party timed out, or abort() or reset() was called")]
    Broken,
}
