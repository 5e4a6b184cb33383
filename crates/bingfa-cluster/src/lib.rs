//! # bingfa-cluster
//!
//! The executor API of [bingfa-pool](bingfa_pool) across hosts: a
//! [`ClusterPool`] with `submit`, `map`, `map_chunked` and `shutdown`,
//! returning bingfa-pool's own [`Future`], whose tasks
//! run on [`Worker`]s on any number of hosts. The broker is Redis Streams
//! with a consumer group (a pending-entries list per group, `XREADGROUP`,
//! `XACK`, `XAUTOCLAIM` to take over the work of a lost worker): no
//! home-made broker and no home-made consensus. Linux only (the workers run
//! tasks in a bingfa-process pool).
//!
//! ```no_run
//! use bingfa_cluster::{ClusterPool, Registry, Task, Worker};
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! // One definition, shared by the client and the workers: a stable name
//! // and a version, never an address.
//! static SQUARE: Task<u64, u64> = Task::new("square", square).with_version("1");
//!
//! let url = "redis://127.0.0.1:6379/";
//! // On each host (or: `bingfa-cluster worker --redis URL` with your registry).
//! let mut registry = Registry::new();
//! registry.add(&SQUARE);
//! let worker = Worker::builder(url).registry(registry).concurrency(2).start()?;
//!
//! // Anywhere: the executor API.
//! let pool = ClusterPool::connect(url)?;
//! let f = pool.submit(&SQUARE, 7)?;
//! assert_eq!(f.result(), Ok(49));
//! let squares: Vec<u64> = pool.map(&SQUARE, 1..=4)?.map(Result::unwrap).collect();
//! assert_eq!(squares, [1, 4, 9, 16]);
//! pool.shutdown(true, false);
//! worker.stop();
//! worker.join();
//! # Ok::<(), bingfa_cluster::Error>(())
//! ```
//!
//! (`no_run` because it needs a Redis server; `tests/cluster/doc.rs` runs
//! the same code against one it starts.)
//!
//! ## How a task travels
//!
//! `submit` encodes the argument (serde, postcard, in a checksummed frame)
//! and `XADD`s an entry naming the function, its version and signature,
//! the retry limit and the client's id to the pool's task stream. A worker
//! reads it with `XREADGROUP` (it is now in the worker's pending list),
//! checks the entry, the function and its version, starts it atomically
//! (a script: cancelled? retries left? record the attempt, tell the
//! client), runs it in a process of its local
//! [`ProcessPool`](bingfa_pool::ProcessPool), and publishes the outcome to
//! the client's results stream with a second script that acks and deletes
//! the entry in the same step. The client's reader completes the future.
//!
//! ## Delivery: at least once on the broker, exactly once on the future
//!
//! A task is acknowledged only together with the publication of its
//! outcome, so a worker that dies before that leaves the task in its
//! pending list, where another worker takes it over once its lease runs
//! out. A task may therefore run twice (a worker that was cut off, paused
//! or slow finishes after its task was taken over); its future completes
//! once, with the first outcome, and a later one is dropped and counted
//! (at the server when the task was already acked: [`Status::late`]; at
//! the client otherwise: [`PoolStats::duplicates`]). Results wait in a
//! per-client stream, so a client that reconnects finds them.
//!
//! ## How a task fails
//!
//! | what happened | the future | retried? |
//! |---|---|---|
//! | the function panicked | `Error::Panicked { message }` | no |
//! | the function crashed its worker process | `Error::WorkerDied { pid, signal, exit_code }` (the process is replaced) | no |
//! | the worker (or its whole host) died, was cut off, or paused past its lease | nothing yet: another worker takes the task over | yes, up to [`max_retries`](ClusterPoolBuilder::max_retries) (default 3) |
//! | ... more often than the retry limit | `Error::Remote { kind: "lost", .. }` naming every worker, host and the attempts | - |
//! | the worker has no such function | `Error::Remote { kind: "unknown-function", .. }` | no |
//! | the worker has another version or signature of it | `Error::Remote { kind: "version-mismatch", .. }` naming the function and both versions; nothing is called | no |
//! | the entry was damaged in the stream | `Error::Remote { kind: "corrupt", .. }` | no |
//! | the argument does not decode as the function's | `Error::Serialization { .. }` | no |
//! | cancelled before a worker started it | `Error::Cancelled`; a worker that reads it drops it unrun | - |
//!
//! (`Error` is `bingfa_pool::Error`; the `kind` strings are in
//! [`kind`].) A bad entry fails only its own task and goes to the dead
//! letters ([`Status::dead_letter`]); the worker goes on. A Redis restart
//! loses no accepted task when Redis keeps an append-only file with
//! `appendfsync always` (with `everysec`, a server killed while its disk
//! is slow can lose up to about two seconds of acknowledged writes: Redis's
//! own trade-off); clients and workers reconnect with back-off and report
//! it as [`Event`]s.
//!
//! ## Seeing it
//!
//! [`Status::fetch`] (and `bingfa-cluster status`) reads workers, hosts,
//! in-flight, pending, retried and dead-letter counts; [`Event`]s tell a
//! callback about reconnections, completions (worker, host, attempt,
//! times: enough for a timeline with one lane per host), takeovers and
//! rejected entries. The library prints nothing by itself.
//!
//! ## Trust
//!
//! Whoever can write to the Redis server can submit tasks, and a worker
//! runs any registered function a well-formed entry names: protect the
//! server as you would Celery's broker (bind it to a private network, set
//! a password or ACLs and put it in the URL; this crate builds redis-rs
//! without TLS, so a link across an untrusted network needs a tunnel). The checksum of each argument catches damage, not forgery;
//! the signature check catches a client and a worker that disagree about a
//! function's types, not an entry forged to decode as them.
//!
//! ## Differences from Python
//!
//! - Functions travel by registered name and version (Celery's way), with
//!   their signature checked too; a mismatch fails the task instead of
//!   calling other code.
//! - `cancel` on a task that a worker has taken returns `false` (the
//!   future is running); a task cancelled while its start notice is on its
//!   way may still run, and its result is then dropped.
//! - A worker "holds" up to `concurrency + prefetch` tasks: those count as
//!   running for their clients (Celery's prefetch).
//! - A crashed worker process fails its task (as bingfa-pool's
//!   `ProcessPool`); a lost worker *agent* or host has its tasks retried
//!   (as Dask and Ray).
//! - See also [`PoolStats`] and [`Status`] for the counters Python
//!   executors do not have.
//!
//! The executor tests of the process pool run against a `ClusterPool` with
//! two workers; which and how is in the table `PARITY.md`, in the crate's
//! directory (`crates/bingfa-cluster/PARITY.md`).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(not(target_os = "linux"))]
compile_error!("bingfa-cluster runs tasks in bingfa-process pools, which need Linux");

pub mod builtin;
pub mod cli;
mod client;
mod conn;
mod error;
mod event;
mod pool;
mod scripts;
mod status;
mod task;
pub mod testing;
mod wire;
mod worker;

pub use error::Error;
pub use event::{Event, EventFn};
pub use pool::{
    ClusterPool, ClusterPoolBuilder, PoolStats, DEFAULT_MAX_OUTSTANDING, DEFAULT_MAX_RETRIES,
};
pub use status::{Status, WorkerStatus};
pub use task::{Registry, Task};
pub use wire::{kind, Attempt};
pub use worker::{Worker, WorkerBuilder, DEFAULT_LEASE};

/// The redis-rs crate this one is built on (for talking to the same server
/// with the same client version).
#[doc(no_inline)]
pub use redis;

/// Re-exported from bingfa-pool: what every task hands back.
pub use bingfa_pool::{as_completed, wait, Future, Map, ReturnWhen};
