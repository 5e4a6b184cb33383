//! The crate's errors: one [`Error`] enum for everything that fails without
//! an item to give back, [`PutError`] for the puts that hand their item
//! back, and [`LockError`] for the locks, whose "owner died" case carries the
//! guard.

use std::fmt;
use std::io;

/// What went wrong in a process or IPC operation.
///
/// Python raises a different exception for each of these (`queue.Empty`,
/// `queue.Full`, `OSError`, `EOFError`, ...); here they are the variants of
/// one enum.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    #[error("system call failed: {0}")]
    Os(#[from] io::Error),
    /// A non-blocking get found nothing (Python: `queue.Empty`).
    #[error("the queue is empty")]
    Empty,
    /// A non-blocking put found no room (Python: `queue.Full`).
    #[error("the queue is full")]
    Full,
    /// A timed operation gave up.
    #[error("the operation timed out")]
    Timeout,
    /// The queue or pipe is closed (Python: `ValueError: Queue is closed`,
    /// or `EOFError` on a pipe whose other end is gone).
    #[error("the channel is closed")]
    Closed,
    /// Bytes that should hold a message do not: bad length, bad checksum, or
    /// a payload that does not decode as the expected type.
    #[error("corrupt message: {0}")]
    Corrupt(String),
    /// An item's encoding is larger than the channel takes: a [`Queue`]'s
    /// maximum message size (the one it was made with, see
    /// [`Queue::with_max_message`]), or a [`Pipe`]'s
    /// [`MAX_PIPE_MESSAGE`](crate::MAX_PIPE_MESSAGE) less its frame header.
    ///
    /// [`Queue`]: crate::Queue
    /// [`Queue::with_max_message`]: crate::Queue::with_max_message
    /// [`Pipe`]: crate::Pipe
    #[error("the item encodes to {size} bytes, more than the {max} bytes this channel takes")]
    TooLarge {
        /// The item's encoded size, in bytes.
        size: usize,
        /// The channel's limit on an item's encoded size, in bytes.
        max: usize,
    },
    /// A value could not be serialized (a serde `Serialize` impl failed, or a
    /// shared-memory handle was serialized outside [`Builder::spawn`]).
    ///
    /// [`Builder::spawn`]: crate::Builder::spawn
    #[error("could not encode the value: {0}")]
    Encode(String),
    /// A spawned child exited without running its entry point: the program
    /// does not call [`init`](crate::init) first thing in `main` (or, in a
    /// test crate, lacks [`enable_test_support!`](crate::enable_test_support)).
    #[error(
        "spawned child {pid} exited ({status}) without running its entry point: call \
         bingfa_process::init() first thing in main, or bingfa_process::enable_test_support!() \
         at the root of a test crate"
    )]
    NotInitialized {
        /// The child's pid.
        pid: u32,
        /// How it ended.
        status: crate::ExitStatus,
    },
    /// [`spawn`](crate::spawn) was called in a program that cannot run a
    /// spawned child's entry point: it never called [`init`](crate::init)
    /// (which must come first in `main`), and it is not a test binary with
    /// [`enable_test_support!`](crate::enable_test_support). Nothing was
    /// started.
    #[error(
        "bingfa_process::spawn needs the program to call bingfa_process::init() first thing \
         in main; in a test crate, put bingfa_process::enable_test_support!(); at the root of \
         the test file instead (a child started now would never run its entry point)"
    )]
    InitMissing,
    /// While a [`Condition`](crate::Condition) waited, a thread that held
    /// its lock died holding it. The wait is over and the caller holds the
    /// lock again (through its guard, at its level): the shared state the
    /// lock protects may be half-updated, so check it before going on.
    /// Python has no such case (the lock would stay held forever).
    #[error("the lock's previous owner died while holding it (the caller holds it again)")]
    OwnerDied,
    /// A received message does not fit the buffer given to
    /// [`Pipe::recv_bytes_into`](crate::Pipe::recv_bytes_into); here is the
    /// whole message (it was taken off the pipe). Python:
    /// `multiprocessing.BufferTooShort`.
    #[error("the message ({} bytes) does not fit the buffer", .0.len())]
    BufferTooShort(Vec<u8>),
    /// An argument is out of range (a capacity of zero, a message size too
    /// small, an index past the end).
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
}

impl Error {
    pub(crate) fn os() -> Error {
        Error::Os(io::Error::last_os_error())
    }
}

/// A put failed; the item is handed back in [`item`](PutError::item).
///
/// Python: `queue.Full` (from `put_nowait` or a timed `put`), `ValueError`
/// (from a closed queue).
#[derive(thiserror::Error)]
#[error("{error}")]
pub struct PutError<T> {
    /// Why: [`Error::Full`], [`Error::Timeout`], [`Error::Closed`],
    /// [`Error::TooLarge`] or [`Error::Encode`].
    pub error: Error,
    /// The item that was not put.
    pub item: T,
}

impl<T> PutError<T> {
    /// The item that was not put (Python loses it with the exception).
    pub fn into_inner(self) -> T {
        self.item
    }

    /// Whether the queue was full (a non-blocking put). Python:
    /// `except queue.Full`.
    pub fn is_full(&self) -> bool {
        matches!(self.error, Error::Full)
    }

    /// Whether the deadline passed (a timed put). Python: `queue.Full`
    /// from `put(timeout=t)`.
    pub fn is_timeout(&self) -> bool {
        matches!(self.error, Error::Timeout)
    }

    /// Whether the queue was closed. Python: `ValueError`.
    pub fn is_closed(&self) -> bool {
        matches!(self.error, Error::Closed)
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// A lock acquisition did not end with a plain guard. Python:
/// `Lock.acquire(...)` returning `False` ([`WouldBlock`](LockError::WouldBlock));
/// the other cases have no Python equivalent.
///
/// `G` is the guard type ([`LockGuard`](crate::LockGuard),
/// [`ValueGuard`](crate::ValueGuard), ...).
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum LockError<G> {
    /// The previous owner died holding the lock. The lock is now held by the
    /// caller through the guard inside, and it stays usable: the data it
    /// protects may be half-updated, so check it, then carry on with the
    /// guard (`Err(LockError::OwnerDied(g)) => g`). Python has no such case:
    /// there the lock stays held forever.
    #[error("the previous owner of the lock died while holding it")]
    OwnerDied(G),
    /// A non-blocking or timed acquisition found the lock held.
    #[error("the lock is held by another owner")]
    WouldBlock,
    /// The system call failed (e.g. `EDEADLK`: this thread already holds
    /// the lock).
    #[error("locking failed: {0}")]
    Os(io::Error),
}

impl<G> LockError<G> {
    /// The guard when the previous owner died, `None` otherwise (no
    /// Python equivalent).
    pub fn into_guard(self) -> Option<G> {
        match self {
            LockError::OwnerDied(g) => Some(g),
            _ => None,
        }
    }

    /// Whether the previous owner died (no Python equivalent).
    pub fn is_owner_died(&self) -> bool {
        matches!(self, LockError::OwnerDied(_))
    }
}

impl<G> fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            LockError::WouldBlock => f.write_str("WouldBlock"),
            LockError::Os(e) => f.debug_tuple("Os").field(e).finish(),
        }
    }
}
