//! The crate's one error type.

use std::time::Duration;

/// Why a [`Future`](crate::Future) has no value, or why a pool refused work.
///
/// Python raises a different exception for each; the docs of each variant
/// name it. The enum is `Clone` because every handle of a shared future sees
/// the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The future was cancelled before it started: by
    /// [`Future::cancel`](crate::Future::cancel), by
    /// `shutdown(_, cancel_pending = true)`, or because its executor dropped
    /// the task without running it (Python: `concurrent.futures.CancelledError`).
    #[error("the future was cancelled before it ran")]
    Cancelled,
    /// The task panicked; `message` is its panic message (Python: the
    /// exception that `result()` re-raises). The worker that ran it survives.
    #[error("the task panicked: {message}")]
    Panicked {
        /// The panic payload if it was a `&str` or a `String`, else a
        /// placeholder naming the payload's kind.
        message: String,
    },
    /// A `_timeout` call gave up after waiting this long (Python:
    /// `TimeoutError` from `result(timeout=...)`). The future itself is
    /// unaffected and may still complete.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Work was submitted to a pool after `shutdown` (Python: `RuntimeError:
    /// cannot schedule new futures after shutdown`).
    #[error("cannot submit work: the pool has been shut down")]
    Shutdown,
    /// The pool is broken: a worker's initializer panicked with `message`,
    /// or (process pool) worker processes failed to start on their own
    /// five times in a row, or cannot run the worker at all (a spawned
    /// program without `init`), `message` saying why; see "Worker starts"
    /// on [`ProcessPool`](crate::ProcessPool). A worker killed from outside
    /// never breaks a pool. Every pending task fails with this error and
    /// new submissions are refused with it (Python:
    /// `concurrent.futures.thread.BrokenThreadPool`, `BrokenProcessPool`).
    #[error(
        "the pool is broken (a worker initializer panicked, or no worker could start): {message}"
    )]
    BrokenPool {
        /// The initializer's panic message, or why no worker could start.
        message: String,
    },
    /// A task's argument or result could not be encoded or decoded for the
    /// trip to or from a worker process, in the parent or in the worker (a
    /// `Serialize` or `Deserialize` impl that fails or panics, a result
    /// too large for the pipe). Produced by the process pool; the worker
    /// survives. Python: the pickling error set on the future.
    #[error("{message}")]
    Serialization {
        /// What could not be (de)serialized, and the codec's reason.
        message: String,
    },
    /// The worker process running the task died (produced by the process
    /// pool, which replaces the worker; Python instead breaks the whole pool
    /// with `BrokenProcessPool`, whose cause says "terminated abruptly with
    /// exit code N"). How it ended: `signal` if a signal killed it,
    /// `exit_code` if it exited by itself (`std::process::exit` in the
    /// task); both are `None` only if its status could not be collected.
    #[error("the worker process {pid} died while running the task{}", death_detail(*.signal, *.exit_code))]
    WorkerDied {
        /// The dead worker's process id.
        pid: u32,
        /// The signal that ended it, if one did (9: `SIGKILL`).
        signal: Option<i32>,
        /// Its exit code, if it exited by itself (Python: the negative
        /// `exitcode` is a signal; here the two are apart).
        exit_code: Option<i32>,
    },
    /// A remote executor (bingfa-cluster's `ClusterPool`) could not run the
    /// task for a reason of its own: the workers that took it were lost
    /// more often than its retry limit allows, no worker has the function,
    /// or the worker has another version of it. `kind` names the reason in
    /// a word the executor documents (bingfa-cluster: `"lost"`,
    /// `"unknown-function"`, `"version-mismatch"`, `"corrupt"`);
    /// `message` says it in full (function, workers, hosts, attempts,
    /// versions). Python has no single peer: Dask raises `KilledWorker`,
    /// Celery `NotRegistered`.
    #[error("{message}")]
    Remote {
        /// The reason, in one word of the executor's vocabulary.
        kind: String,
        /// The full explanation.
        message: String,
    },
    /// The executor dropped a task that had started without giving it a
    /// result. A correct executor never does this; it is reported instead of
    /// leaving the future's waiters blocked forever.
    #[error("the executor dropped a started task without completing it")]
    Abandoned,
}

/// " (signal 9)", " (exit code 99)", or nothing.
fn death_detail(signal: Option<i32>, exit_code: Option<i32>) -> String {
    match (signal, exit_code) {
        (Some(s), _) => format!(" (signal {s})"),
        (None, Some(c)) => format!(" (exit code {c})"),
        (None, None) => String::new(),
    }
}

/// The message of a panic payload, as `std` prints it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a panic payload that is not a string)".to_owned()
    }
}
