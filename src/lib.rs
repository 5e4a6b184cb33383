//! # bingfa (并发)
//!
//! Concurrency primitives in three paradigms, OS threads, OS processes and
//! green threads, with the semantics people know from Python's `threading`,
//! `queue`, `multiprocessing`, `concurrent.futures`, `greenlet` and `gevent`.
//!
//! This facade re-exports each member crate as a module; depend on a member
//! crate alone (`bingfa-sync`, ...) when you need only one paradigm.

#![deny(unsafe_op_in_unsafe_fn)]

/// Thread primitives and deadlock detection: see [`bingfa_sync`].
pub use bingfa_sync as sync;

/// The event recorder, terminal timeline and Chrome trace: see [`bingfa_trace`].
pub use bingfa_trace as trace;

/// Thread queues: FIFO, LIFO and priority, with `task_done`/`join` and
/// `close`: see [`bingfa_queue`].
pub use bingfa_queue as queue;

/// Executors and futures (`concurrent.futures`): see [`bingfa_pool`].
pub use bingfa_pool as pool;

/// Processes and IPC (`multiprocessing`): see [`bingfa_process`].
pub use bingfa_process as process;

/// Green threads (`greenlet`, `gevent`): see [`bingfa_green`].
pub use bingfa_green as green;

/// The course's ticket race as a library: see [`bingfa_tickets`].
pub use bingfa_tickets as tickets;

/// The executor API across hosts, on Redis Streams (Celery, Dask's
/// `Client`, Ray's `Pool`): see [`bingfa_cluster`].
pub use bingfa_cluster as cluster;
