//! The crate's one error type.

use std::any::Any;
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
    ///
    /// The payload itself is kept too: a typed panic
    /// (`std::panic::panic_any(MyError { .. })`) comes back downcastable
    /// ([`PanicPayload::downcast`]), or can be raised again
    /// (`std::panic::resume_unwind(payload.into_inner())`).
    #[error("green thread '{name}' panicked: {message}")]
    Panicked {
        /// The green thread's name.
        name: String,
        /// The panic message (`"<non-string panic payload>"` if the payload
        /// was neither `&str` nor `String`).
        message: String,
        /// What the green thread panicked with.
        payload: PanicPayload,
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
    /// The call would block for ever: every green thread of its hub
    /// waits, and nothing can wake one (no timer, no socket, no async
    /// sleep, no other OS thread that could set what they wait on).
    ///
    /// Python: `gevent.exceptions.LoopExit` ("This operation would block
    /// forever").
    #[error(
        "{waited_on} would block forever: every green thread of this hub waits and nothing \
         can wake one (no timer, no socket, no other OS thread); waiting: {waiting}"
    )]
    LoopExit {
        /// The call that would have blocked for ever (`"Handle::join"`).
        waited_on: &'static str,
        /// The green threads waiting then, each with its call
        /// (`'main' in Handle::join, 'green-2' in Event::wait`).
        waiting: String,
    },
    /// One of the green threads a [`JoinAll`](crate::JoinAll) with
    /// `raise_error` waited for failed: the first to fail, by the time it
    /// ended. Its own `join` gives its error itself (typed payload and
    /// all).
    ///
    /// Python: the exception `gevent.joinall(..., raise_error=True)`
    /// raises.
    #[error("green thread #{index} failed: {message}")]
    JoinFailed {
        /// Its place among the handles given.
        index: usize,
        /// Its error, as text (a panic's names the green thread).
        message: String,
    },
    /// The call would unwind a green thread that has started (a kill, a
    /// [`Timeout`](crate::Timeout)), and this program is built with
    /// `panic = "abort"`, where unwinding aborts the process.
    #[error(
        "{0} needs panic = \"unwind\": it unwinds a started green thread, which aborts \
         the process in a build with panic = \"abort\""
    )]
    NeedsUnwind(&'static str),
    /// [`Greenlet::set_parent`](crate::Greenlet::set_parent) would make a
    /// greenlet its own ancestor (or give the root a parent).
    ///
    /// Python: `ValueError: cyclic parent chain`.
    #[error("cyclic parent chain")]
    ParentCycle,
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

/// The payload of a panic that ended a green thread (what `panic!` or
/// `std::panic::panic_any` was given), kept in [`Error::Panicked`] so
/// that it can be downcast to its type or raised again.
///
/// It is `Send + Sync` (the payload sits behind a lock) so that [`Error`]
/// stays both.
pub struct PanicPayload(Box<std::sync::Mutex<Box<dyn Any + Send>>>);

impl PanicPayload {
    pub(crate) fn new(p: Box<dyn Any + Send>) -> Self {
        PanicPayload(Box::new(std::sync::Mutex::new(p)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn Any + Send>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the payload is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        (**self.lock()).is::<T>()
    }

    /// The payload as a `T`, or itself back if it is not one.
    ///
    /// # Errors
    /// `Err(self)` if the payload is not a `T`.
    pub fn downcast<T: Any>(self) -> Result<T, PanicPayload> {
        match self.into_inner().downcast::<T>() {
            Ok(t) => Ok(*t),
            Err(p) => Err(PanicPayload::new(p)),
        }
    }

    /// Runs `f` on a reference to the payload as a `T`; `None` if it is
    /// not one.
    pub fn with<T: Any, R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.lock().downcast_ref::<T>().map(f)
    }

    /// The payload itself, as `catch_unwind` gives it (to raise it again
    /// with `std::panic::resume_unwind`).
    pub fn into_inner(self) -> Box<dyn Any + Send> {
        self.0.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for PanicPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.lock();
        let mut d = f.debug_tuple("PanicPayload");
        if let Some(s) = p.downcast_ref::<&str>() {
            d.field(s);
        } else if let Some(s) = p.downcast_ref::<String>() {
            d.field(s);
        } else {
            d.field(&format_args!("<non-string payload>"));
        }
        d.finish()
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
