//! # bingfa-queue
//!
//! Thread queues with the semantics of Python's `queue` module, for many
//! producers and many consumers: [`Queue`] (first in, first out),
//! [`LifoQueue`] (last in, first out) and [`PriorityQueue`] (smallest
//! first). The three share one API, and their handles are cheap to clone.
//!
//! | Python (`queue`)            | bingfa-queue                           |
//! |-----------------------------|----------------------------------------|
//! | `Queue(maxsize=0)`          | [`Queue::new(0)`](Queue::new), [`Queue::unbounded`] |
//! | `put(x)` / `get()`          | `put(x)` / `get()` (block)             |
//! | `put_nowait` / `get_nowait` | `try_put` / `try_get`                  |
//! | `put(x, timeout=t)`         | `put_timeout(x, t)` (`t` zero = try)   |
//! | `queue.Full` / `queue.Empty`| [`TryPutError::Full`] (item inside) / [`TryGetError::Empty`] |
//! | `qsize`, `empty`, `full`    | `len`, `is_empty`, `is_full`           |
//! | `task_done`, `join`         | `task_done` (errors on one too many), `join`, `join_timeout` |
//! | `shutdown()` (3.13)         | `close`, then [`GetError`] once drained |
//!
//! ## Example: a pool of workers
//!
//! ```
//! use bingfa_queue::Queue;
//! use std::thread;
//!
//! let jobs = Queue::new(16); // at most 16 jobs waiting
//! let results = Queue::unbounded();
//!
//! let workers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let (jobs, results) = (jobs.clone(), results.clone());
//!         thread::spawn(move || {
//!             // `get` waits for a job, and fails once the queue is closed
//!             // and drained.
//!             while let Ok(n) = jobs.get() {
//!                 results.put(n * n).unwrap();
//!                 jobs.task_done().unwrap();
//!             }
//!         })
//!     })
//!     .collect();
//!
//! for n in 1..=100u64 {
//!     jobs.put(n).unwrap(); // waits while 16 jobs are queued
//! }
//! jobs.join(); // every job was taken and marked done
//! jobs.close(); // the workers' `get` now fails: they exit
//! for w in workers {
//!     w.join().unwrap();
//! }
//!
//! let mut total = 0;
//! while let Ok(sq) = results.try_get() {
//!     total += sq;
//! }
//! assert_eq!(total, (1..=100u64).map(|n| n * n).sum());
//! ```
//!
//! ## Differences from Python
//!
//! - **Errors are values.** `try_put` returns [`TryPutError::Full`] holding
//!   the item (Python raises `queue.Full` and the item is simply not put);
//!   every error of a put hands the item back.
//! - **`close` is Python 3.13's `shutdown()`** (with `immediate=False`):
//!   puts fail from then on, gets drain what is left and then fail, and
//!   every blocked thread wakes. Closing never reopens. There is no
//!   `immediate=True`: drain with `try_get` if you need to discard.
//! - **`task_done` one time too many is an error** ([`TaskDoneError`]), as
//!   Python's `ValueError`; the count never wraps. `join` ignores `close`:
//!   the items left still need their `task_done`. [`Queue::join_timeout`]
//!   exists (Python's `join` has no timeout).
//! - **[`PriorityQueue`] is stable**: equal items come out in the order they
//!   were put. Python's `PriorityQueue` is a bare `heapq` and is not; its
//!   docs suggest `(priority, count, item)` entries, which is what this one
//!   does inside.
//! - **A zero timeout means "do not wait"** (`put_timeout(x, ZERO)` is
//!   `try_put`). Python raises `ValueError` for a negative timeout;
//!   `Duration` cannot be negative.
//! - **`capacity` is fixed**; a bounded [`Queue`] allocates its slots up
//!   front (a ring), an unbounded one grows and shrinks by blocks of 31
//!   slots, the LIFO and priority queues grow as needed.
//! - **No `block=` flag:** `put`/`try_put`/`put_timeout` are three methods.
//!
//! ## How it works, and what it costs
//!
//! A bounded [`Queue`] is a lock-free ring with per-slot stamps (Dmitry
//! Vyukov's bounded MPMC queue, as crossbeam-channel's array flavour); an
//! unbounded [`Queue`] is a lock-free linked list of blocks of 31 slots (as
//! crossbeam-channel's list flavour), whose blocks are freed by the last
//! consumer to leave them. [`LifoQueue`] and [`PriorityQueue`] keep their
//! items in a `Vec` or binary heap behind a small spin-then-park lock.
//! Around the store, every queue counts its waiting producers and
//! consumers, so a `put` or `get` that need not wait never touches the
//! parking lot (one plain load of a counter to see that no one sleeps; no
//! read-modify-write, no fence). Where a `put` or `get` depends on another
//! thread's operation already under way (a slot reserved but not yet
//! written, or claimed but not yet read out), the ring spins and then
//! yields to that thread until it finishes, as crossbeam-channel does; the
//! unbounded list spins and then parks on the slot, and its producer wakes
//! it. Only a full or empty queue makes a thread park.
//!
//! Task tracking costs `put` nothing: the number of items ever put is read
//! off the store's own counters (for the lock-free queues, off their tail),
//! and only `task_done` pays, one compare-and-swap on a counter of its own.
//!
//! Everything is written against `bingfa_sync::raw`; under
//! `RUSTFLAGS="--cfg bingfa_loom"` the loom models in this crate check the
//! very same code (no item lost or duplicated with two producers and two
//! consumers, FIFO per producer, capacity never exceeded, blocks of the
//! unbounded queue freed only after their last reader, `close` waking every
//! blocked thread, `join` returning when the last `task_done` lands).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(all(bingfa_loom, not(feature = "loom")))]
compile_error!("`--cfg bingfa_loom` is the model-checking build and needs the internal `loom` feature too: run `cargo xtask loom`");
#[macro_use]
mod macros;

mod core;
mod error;
mod fifo;
mod lifo;
mod priority;
mod raw;

#[cfg(all(test, bingfa_loom))]
mod loom_tests;

pub use error::{
    GetError, GetTimeoutError, PutError, PutTimeoutError, TaskDoneError, TryGetError, TryPutError,
};
pub use fifo::Queue;
pub use lifo::LifoQueue;
pub use priority::PriorityQueue;
