//! The crate's one error type.

use std::time::Duration;

/// What went wrong in a bingfa-sync call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `try_` call found the primitive taken (Python: `acquire(blocking=False)`
    /// returning `False`).
    #[error("would block: the primitive is held by another thread")]
    WouldBlock,
    /// A `_timeout` call gave up.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}
