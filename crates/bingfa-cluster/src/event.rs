//! [`Event`]: what the pool and the workers report to a callback instead of
//! printing (the library prints nothing by itself).

use std::sync::Arc;
use std::time::Duration;

use crate::wire::Attempt;

/// The callback that receives [`Event`]s: set it with
/// [`ClusterPoolBuilder::on_event`](crate::ClusterPoolBuilder::on_event) or
/// [`WorkerBuilder::on_event`](crate::WorkerBuilder::on_event). It runs on
/// the pool's or worker's own threads: keep it short. A panic in it is
/// caught and ignored.
pub type EventFn = Arc<dyn Fn(&Event) + Send + Sync>;

/// Something a [`ClusterPool`](crate::ClusterPool) or a
/// [`Worker`](crate::Worker) wants you to know. Nothing is printed unless
/// your callback prints it (the `bingfa-cluster` binary prints them).
///
/// Python: what Celery logs (`celery.worker` messages), as values.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A connection to Redis was lost or could not be made; it is retried
    /// with back-off (`retry_in`). `role` names the connection (`"client
    /// sender"`, `"worker fetch"`, ...).
    Disconnected {
        /// The connection's role.
        role: String,
        /// What failed.
        error: String,
        /// The wait before the next try.
        retry_in: Duration,
    },
    /// The connection is back after `down_for` and `attempts` tries.
    Reconnected {
        /// The connection's role.
        role: String,
        /// How long it was down.
        down_for: Duration,
        /// How many tries it took.
        attempts: u32,
    },
    /// Client: a worker started a task (its future is now running).
    Started {
        /// The task's id (`CLIENT/SEQ`).
        task: String,
        /// The function's registered name.
        function: String,
        /// The worker that took it.
        worker: String,
        /// The worker's host.
        host: String,
        /// Which attempt this is (1 = the first; more = retried).
        attempt: u32,
        /// When the worker started it (its clock, ms since the epoch).
        started_ms: u64,
    },
    /// Client: a task's result arrived and completed its future.
    Completed {
        /// The task's id (`CLIENT/SEQ`).
        task: String,
        /// The function's registered name.
        function: String,
        /// The worker that ran it, and its host.
        worker: String,
        /// The worker's host.
        host: String,
        /// Which attempt ran it (1 = the first; more = retried).
        attempt: u32,
        /// When the worker started it (its clock, ms since the epoch).
        started_ms: u64,
        /// When the worker finished it (its clock, ms since the epoch).
        finished_ms: u64,
        /// Whether it returned a value (else it failed).
        ok: bool,
    },
    /// Client: a second result for a task whose future is already done (a
    /// worker that was cut off or paused finished after another one did)
    /// was dropped.
    Duplicate {
        /// The task's id.
        task: String,
        /// The worker whose result was dropped.
        worker: String,
        /// Its host.
        host: String,
    },
    /// Client: an entry of the results stream could not be read; it is
    /// skipped.
    BadReply {
        /// The stream entry's id.
        entry: String,
        /// Why.
        reason: String,
    },
    /// Worker: it took over a task whose worker stopped renewing its lease
    /// (`XAUTOCLAIM`); `before` lists the earlier attempts.
    Claimed {
        /// The task's id.
        task: String,
        /// The function's name.
        function: String,
        /// This attempt's number.
        attempt: u32,
        /// The attempts before this one.
        before: Vec<Attempt>,
    },
    /// Worker: a task it holds was taken over by another worker (this one
    /// was cut off or paused past its lease); its result will be dropped.
    TakenOver {
        /// The task's id.
        task: String,
    },
    /// Worker: its result came after the task had been finished elsewhere
    /// and was dropped (counted as `late` in the pool's
    /// [`Status`](crate::Status)).
    LateResult {
        /// The task's id.
        task: String,
    },
    /// Worker: an entry of the task stream could not be run: a corrupt
    /// entry, an argument that does not decode, an unknown function, a
    /// version mismatch. Its task (if it names one) failed with the reason,
    /// and the entry went to the dead letters.
    Rejected {
        /// The stream entry's id.
        entry: String,
        /// Why.
        reason: String,
    },
    /// Worker: it was asked to stop and takes nothing new; it finishes the
    /// `held` tasks first.
    Stopping {
        /// Tasks still held.
        held: usize,
    },
    /// Worker: it has stopped.
    Stopped,
}

/// Sends `e` to the callback, if there is one. A panic in the callback is
/// caught and ignored: it must not end the thread that reports (a pool's
/// reader, a worker's fetch loop), whose work other futures wait for.
pub(crate) fn emit(f: &Option<EventFn>, e: impl FnOnce() -> Event) {
    if let Some(f) = f {
        let event = e();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&event)));
    }
}
