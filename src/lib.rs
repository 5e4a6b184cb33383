//! # bingfa (并发)
//!
//! Concurrency primitives in three paradigms, OS threads, OS processes and
//! green threads, with the semantics people know from Python's `threading`,
//! `queue`, `multiprocessing`, `concurrent.futures`, `greenlet` and `gevent`.
//!
//! This facade re-exports each member crate as a module; depend on a member
//! crate alone (`bingfa-sync`, ...) when you need only one paradigm.
//!
//! # Cargo features
//!
//! One feature per member crate; each turns on its module and nothing else.
//!
//! | feature | module | default | platforms |
//! |---|---|---|---|
//! | `sync` | `bingfa::sync` (`threading`, deadlock detection) | on | every platform std supports |
//! | `queue` | `bingfa::queue` (`queue`) | on | every platform std supports |
//! | `trace` | `bingfa::trace` (recorder, timeline, Chrome trace) | on | every platform std supports |
//! | `pool` | `bingfa::pool` (`concurrent.futures`) | on | Linux today: the thread half alone becomes portable when bingfa-pool's process support is a feature of its own |
//! | `process` | `bingfa::process` (`multiprocessing`) | on | Linux |
//! | `green` | `bingfa::green` (`greenlet`, `gevent`) | on | Linux |
//! | `cluster` | `bingfa::cluster` (Celery-like executor on Redis Streams) | on | Linux |
//! | `tickets` | `bingfa::tickets` (the course's ticket race, for teaching) | **off** | Linux |
//!
//! Off Linux, build with the portable features only:
//!
//! ```toml
//! [dependencies]
//! bingfa = { version = "0.1", default-features = false, features = ["sync", "queue", "trace"] }
//! ```
//!
//! A Linux-only feature turned on for another target stops the build with a
//! `compile_error!` saying that the crate needs Linux: the member crate's
//! own (bingfa-green's, for one), which cargo meets first, and the facade's,
//! which names the feature to turn off, for a member crate that would get
//! further.
//!
//! ```
//! # #[cfg(all(feature = "sync", feature = "queue"))]
//! # {
//! use bingfa::queue::Queue;
//! use bingfa::sync::Mutex;
//!
//! let q = Queue::new(0);
//! q.put(1).unwrap();
//! let total = Mutex::new(0);
//! *total.lock() += q.get().unwrap();
//! assert_eq!(*total.lock(), 1);
//! # }
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(all(not(target_os = "linux"), feature = "process"))]
compile_error!(
    "bingfa: the `process` feature (bingfa-process, multiprocessing) needs Linux \
     (fork, pidfd, memfd, robust futexes); build with `default-features = false` \
     and the portable features `sync`, `queue`, `trace`"
);
#[cfg(all(not(target_os = "linux"), feature = "green"))]
compile_error!(
    "bingfa: the `green` feature (bingfa-green, green threads) needs Linux \
     (its stacks and hub use Linux-only calls); build with `default-features = false` \
     and the portable features `sync`, `queue`, `trace`"
);
#[cfg(all(not(target_os = "linux"), feature = "cluster"))]
compile_error!(
    "bingfa: the `cluster` feature (bingfa-cluster) runs tasks in bingfa-process pools, \
     which need Linux; build with `default-features = false` and the portable features \
     `sync`, `queue`, `trace`"
);
#[cfg(all(not(target_os = "linux"), feature = "tickets"))]
compile_error!(
    "bingfa: the `tickets` feature (bingfa-tickets) races processes and green threads, \
     which need Linux; build with `default-features = false` and the portable features \
     `sync`, `queue`, `trace`"
);

/// Thread primitives and deadlock detection: see [`bingfa_sync`].
#[cfg(feature = "sync")]
pub use bingfa_sync as sync;

/// The event recorder, terminal timeline and Chrome trace: see [`bingfa_trace`].
#[cfg(feature = "trace")]
pub use bingfa_trace as trace;

/// Thread queues: FIFO, LIFO and priority, with `task_done`/`join` and
/// `close`: see [`bingfa_queue`].
#[cfg(feature = "queue")]
pub use bingfa_queue as queue;

/// Executors and futures (`concurrent.futures`): see [`bingfa_pool`].
#[cfg(feature = "pool")]
pub use bingfa_pool as pool;

/// Processes and IPC (`multiprocessing`): see [`bingfa_process`].
#[cfg(feature = "process")]
pub use bingfa_process as process;

/// Green threads (`greenlet`, `gevent`): see [`bingfa_green`].
#[cfg(feature = "green")]
pub use bingfa_green as green;

/// The course's ticket race as a library (off by default; feature
/// `tickets`): see [`bingfa_tickets`].
#[cfg(feature = "tickets")]
pub use bingfa_tickets as tickets;

/// The executor API across hosts, on Redis Streams (Celery, Dask's
/// `Client`, Ray's `Pool`): see [`bingfa_cluster`].
#[cfg(feature = "cluster")]
pub use bingfa_cluster as cluster;
