//! The errors of the queues' operations.
//!
//! In crossbeam-channel's style: one small type per operation, each listing
//! only what can happen to that operation, and every error of a `put` hands
//! the item back so that nothing is lost. Each message says what happened.

use core::fmt;

/// [`put`](crate::Queue::put) failed: the queue is closed. The item is
/// inside.
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("putting into a closed queue")]
pub struct PutError<T>(pub T);

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PutError(..)")
    }
}

/// [`try_put`](crate::Queue::try_put) failed. The item is inside.
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryPutError<T> {
    /// The queue is at its capacity (Python: `queue.Full`).
    #[error("putting into a full queue")]
    Full(T),
    /// The queue is closed.
    #[error("putting into a closed queue")]
    Closed(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(item) | TryPutError::Closed(item) => item,
        }
    }

    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, TryPutError::Closed(_))
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> From<PutError<T>> for TryPutError<T> {
    fn from(err: PutError<T>) -> Self {
        TryPutError::Closed(err.0)
    }
}

/// [`put_timeout`](crate::Queue::put_timeout) failed. The item is inside.
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PutTimeoutError<T> {
    /// The queue stayed full until the timeout (Python: `queue.Full`).
    #[error("timed out putting into a full queue")]
    Timeout(T),
    /// The queue is closed.
    #[error("putting into a closed queue")]
    Closed(T),
}

impl<T> PutTimeoutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutTimeoutError::Timeout(item) | PutTimeoutError::Closed(item) => item,
        }
    }

    /// Whether the wait timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, PutTimeoutError::Timeout(_))
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, PutTimeoutError::Closed(_))
    }
}

impl<T> fmt::Debug for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            PutTimeoutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> From<PutError<T>> for PutTimeoutError<T> {
    fn from(err: PutError<T>) -> Self {
        PutTimeoutError::Closed(err.0)
    }
}

/// [`get`](crate::Queue::get) failed: the queue is closed and empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("getting from a closed and empty queue")]
pub struct GetError;

/// [`try_get`](crate::Queue::try_get) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryGetError {
    /// The queue is empty (Python: `queue.Empty`).
    #[error("getting from an empty queue")]
    Empty,
    /// The queue is closed and empty (Python 3.13: `queue.ShutDown`).
    #[error("getting from a closed and empty queue")]
    Closed,
}

impl TryGetError {
    /// Whether the queue was empty but open.
    pub fn is_empty(&self) -> bool {
        matches!(self, TryGetError::Empty)
    }

    /// Whether the queue was closed (and empty).
    pub fn is_closed(&self) -> bool {
        matches!(self, TryGetError::Closed)
    }
}

impl From<GetError> for TryGetError {
    fn from(_: GetError) -> Self {
        TryGetError::Closed
    }
}

/// [`get_timeout`](crate::Queue::get_timeout) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GetTimeoutError {
    /// The queue stayed empty until the timeout (Python: `queue.Empty`).
    #[error("timed out getting from an empty queue")]
    Timeout,
    /// The queue is closed and empty (Python 3.13: `queue.ShutDown`).
    #[error("getting from a closed and empty queue")]
    Closed,
}

impl GetTimeoutError {
    /// Whether the wait timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, GetTimeoutError::Timeout)
    }

    /// Whether the queue was closed (and empty).
    pub fn is_closed(&self) -> bool {
        matches!(self, GetTimeoutError::Closed)
    }
}

impl From<GetError> for GetTimeoutError {
    fn from(_: GetError) -> Self {
        GetTimeoutError::Closed
    }
}

/// [`task_done`](crate::Queue::task_done) was called more times than items
/// were put (Python raises `ValueError` here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("task_done() called more times than there were items put in the queue")]
pub struct TaskDoneError;
