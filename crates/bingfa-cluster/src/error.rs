//! The crate's one error type.

use std::time::Duration;

/// Why a [`ClusterPool`](crate::ClusterPool) or a [`Worker`](crate::Worker)
/// refused a call, or could not start.
///
/// The failure of one *task* is not an `Error` of this type: it is the
/// `bingfa_pool::Error` its [`Future`](bingfa_pool::Future) resolves to
/// (see the crate docs, "How a task fails").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Redis URL could not be parsed.
    #[error("invalid Redis URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// Redis could not be reached (or answered with an error) while
    /// connecting; later losses of the connection are not errors, they are
    /// retried with back-off and reported as [`Event`](crate::Event)s.
    #[error("cannot use Redis at {url}: {reason}")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// Why.
        reason: String,
    },
    /// A setting is out of range (a zero concurrency, an empty or
    /// ill-formed pool name, ...).
    #[error("invalid setting: {0}")]
    Invalid(String),
    /// Work was submitted after [`shutdown`](crate::ClusterPool::shutdown)
    /// (Python: `RuntimeError: cannot schedule new futures after shutdown`).
    #[error("cannot submit work: the pool has been shut down")]
    Shutdown,
    /// [`try_submit`](crate::ClusterPool::try_submit) found `limit` tasks
    /// outstanding, the pool's [`max_outstanding`](crate::ClusterPoolBuilder::max_outstanding)
    /// (Python: `queue.Full` from a bounded queue; executors have no peer).
    #[error("the pool has {limit} tasks outstanding, its limit")]
    Full {
        /// The limit.
        limit: usize,
    },
    /// [`submit_timeout`](crate::ClusterPool::submit_timeout) waited this
    /// long for room under the limit of outstanding tasks.
    #[error("no room for another task after {0:?}")]
    Timeout(Duration),
    /// The worker's local process pool could not be started.
    #[error("cannot start the worker's process pool: {0}")]
    ProcessPool(String),
    /// A signal handler could not be installed
    /// ([`Worker::run_until_signal`](crate::Worker::run_until_signal)).
    #[error("cannot install a signal handler: {0}")]
    Signal(String),
}
