//! [`Completer`]: the executor's half of a [`Future`].

use std::fmt;

use crate::error::Error;
#[cfg(doc)]
use crate::future::Future;
use crate::future::Inner;
use crate::task::TaskRef;

/// The executor's half of a [`Future`]: it marks the task running and gives
/// the future its outcome.
///
/// A thread pool holds one per queued task; a process pool completes its
/// futures from its result-reader thread the same way, with
/// [`Error::WorkerDied`] when a worker process dies mid-task.
///
/// Dropping a completer that has not completed its future cancels the
/// future if it was still pending (so dropped queued work reads as
/// [`Error::Cancelled`]), or fails it with [`Error::Abandoned`] if it was
/// running: a waiter is never left blocked forever.
///
/// Python: the executor-side methods of `concurrent.futures.Future`
/// (`set_running_or_notify_cancel`, `set_result`, `set_exception`).
pub struct Completer<R> {
    cell: Option<TaskRef<R>>,
}

impl<R> Completer<R> {
    /// The completer of the future inside `cell`.
    pub(crate) fn new(cell: TaskRef<R>) -> Self {
        Completer { cell: Some(cell) }
    }

    fn inner(&self) -> &Inner<R> {
        self.cell
            .as_ref()
            .expect("a live completer holds its future")
            .inner()
    }

    /// Marks the future running, unless it was cancelled: returns `true`
    /// if the task should run (the future can no longer be cancelled), or
    /// `false` if it was cancelled (skip the task). Calling it again after
    /// `true` returns `true`.
    ///
    /// Python: `Future.set_running_or_notify_cancel`.
    #[doc(alias = "set_running_or_notify_cancel")]
    pub fn set_running(&self) -> bool {
        self.inner().set_running()
    }

    /// Completes the future with `outcome`, waking its waiters and running
    /// its callbacks on this thread. Returns `false` (and drops `outcome`)
    /// if the future had been cancelled. Marks the future running first if
    /// [`set_running`](Self::set_running) was not called.
    ///
    /// Python: `Future.set_result` / `Future.set_exception`.
    pub fn complete(mut self, outcome: Result<R, Error>) -> bool {
        let cell = self.cell.take().expect("a live completer holds its future");
        let inner = cell.inner();
        if !inner.set_running() {
            return false;
        }
        inner.finish(outcome);
        true
    }

    /// Completes the future with a value; see [`complete`](Self::complete).
    ///
    /// Python: `Future.set_result`.
    pub fn set_result(self, value: R) -> bool {
        self.complete(Ok(value))
    }

    /// Fails the future with `error`; see [`complete`](Self::complete).
    ///
    /// Python: `Future.set_exception`.
    #[doc(alias = "set_exception")]
    pub fn set_error(self, error: Error) -> bool {
        self.complete(Err(error))
    }

    /// Whether the future was cancelled (the task need not run).
    ///
    /// Python: `Future.cancelled`.
    pub fn is_cancelled(&self) -> bool {
        self.inner().is_cancelled()
    }
}

impl<R> Drop for Completer<R> {
    fn drop(&mut self) {
        let Some(cell) = self.cell.take() else {
            return;
        };
        cell.inner().abandon();
    }
}

impl<R> fmt::Debug for Completer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completer").finish_non_exhaustive()
    }
}
