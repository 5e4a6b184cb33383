//! The crate's one error type.

use std::time::Duration;

/// What can go wrong in a green call.
///
/// Python: the exceptions gevent raises (`gevent.Timeout`,
/// `greenlet.GreenletExit`, an exception a greenlet died of).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The green thread panicked; the panic's message is kept.
    ///
    /// Python: the exception a greenlet died of (`g.exception`).
    #[error("green thread '{name}' panicked: {message}")]
    Panicked {
        /// The green thread's name.
        name: String,
        /// The panic message (`"<non-string panic payload>"` if the payload
        /// was neither `&str` nor `String`).
        message: String,
    },
    /// The green thread was killed before it finished.
    ///
    /// Python: `greenlet.GreenletExit` (what `g.kill()` raises in `g`).
    #[error("green thread was killed")]
    Killed,
    /// The call did not finish within its timeout.
    ///
    /// Python: `gevent.Timeout`.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// No stack could be mapped for a new green thread (or generator, or
    /// greenlet): the process ran out of memory mappings, address space or
    /// memory.
    ///
    /// Linux allows `vm.max_map_count` (65 530 by default) memory mappings
    /// per process. On Linux 6.13 and later a stack's guard page is a page
    /// table marker and stacks share mappings, so 100 000 and more green
    /// threads fit; on older kernels each stack with its guard page costs
    /// two mappings, which caps live green threads near 32 000. See the
    /// crate's "Limits" section.
    #[error(
        "no stack for a new green thread ({live} stacks of {size} bytes alive): {source}; \
         the process ran out of memory mappings (vm.max_map_count, 65530 by default; \
         a stack with its guard page costs 2 of them on Linux before 6.13), address \
         space or memory: raise the limit (sysctl vm.max_map_count=262144), give green \
         threads smaller stacks (Builder::stack_size) or keep fewer of them alive"
    )]
    OutOfStacks {
        /// Stacks alive in this process when the mapping failed.
        live: usize,
        /// Usable size of the stack that was asked for.
        size: usize,
        /// The OS error (`ENOMEM` in the usual case).
        source: std::io::Error,
    },
    /// A blocking green call was made outside a green thread of a running
    /// hub (for example before `Hub::run`, or from inside a greenlet).
    #[error("not inside a green thread of a running hub: {0}")]
    NotInHub(&'static str),
    /// `switch` to a greenlet that has already finished.
    ///
    /// Python: switching to a dead greenlet returns to its parent at once;
    /// bingfa reports it instead.
    #[error("the greenlet is dead")]
    Dead,
    /// The queue or channel is closed (for a get: closed and empty).
    ///
    /// Python: `queue.ShutDown` (3.13).
    #[error("closed")]
    Closed,
    /// The hub could not set up its poll (`epoll`) or another OS call
    /// failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A bounded green semaphore was released more times than it was
    /// acquired; its count is unchanged.
    ///
    /// Python: `ValueError: Semaphore released too many times`.
    #[error("bounded semaphore released too many times: its bound is {bound} permits")]
    ReleasedTooMany {
        /// The bound, which is the semaphore's initial value.
        bound: usize,
    },
    /// A release would push a green semaphore's permit count past
    /// `usize::MAX`; its count is unchanged.
    #[error(
        "semaphore permit count overflow: releasing {0} more permits would exceed the maximum"
    )]
    PermitOverflow(usize),
    /// An [`AsyncResult`](crate::sync::AsyncResult) was set to this error
    /// (every getter gets it).
    ///
    /// Python: the exception given to `AsyncResult.set_exception`, raised
    /// by `get()`.
    #[error("the result was set to an error: {0}")]
    Failed(crate::sync::Failure),
    /// A non-blocking put found no room (a green queue full, a channel
    /// with no getter waiting, a pool with no free slot).
    ///
    /// Python: `queue.Full`, `gevent.pool.PoolFull`.
    #[error("full")]
    Full,
    /// A non-blocking get found nothing (a green queue empty, a channel
    /// with no putter waiting).
    ///
    /// Python: `queue.Empty`.
    #[error("empty")]
    Empty,
    /// `task_done` was called more times than items were put in the
    /// queue; the count is unchanged.
    ///
    /// Python: `ValueError: task_done() called too many times`.
    #[error("task_done() called more times than there were items put in the queue")]
    TaskDone,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
