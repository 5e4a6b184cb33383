//! # bingfa-pool
//!
//! Executors and futures with the semantics of Python's
//! `concurrent.futures`: a [`ThreadPool`] that runs closures on worker
//! threads and hands back [`Future`]s, a [`ProcessPool`] that does the same
//! with functions in worker processes, plus [`as_completed`] and [`wait`]
//! for many futures at once.
//!
//! ```
//! use bingfa_pool::{Error, ThreadPool};
//!
//! let pool = ThreadPool::builder()
//!     .max_workers(4)
//!     .thread_name_prefix("squares")
//!     .build()
//!     .unwrap();
//!
//! // submit: one task, one future.
//! let f = pool.submit(|| 6 * 7).unwrap();
//! f.add_done_callback(|outcome| println!("done: {outcome:?}"));
//! assert_eq!(f.result(), Ok(42));
//!
//! // map: results in input order.
//! let squares: Vec<i32> = pool
//!     .map(|x: i32| x * x, 1..=5)
//!     .unwrap()
//!     .map(Result::unwrap)
//!     .collect();
//! assert_eq!(squares, [1, 4, 9, 16, 25]);
//!
//! // A panic fails only its own future, with the panic's message.
//! let bad = pool.submit(|| -> i32 { panic!("boom") }).unwrap();
//! assert_eq!(bad.result(), Err(Error::Panicked { message: "boom".into() }));
//! assert_eq!(pool.submit(|| 1).unwrap().result(), Ok(1));
//!
//! // Shut down: queued work finishes, new work is refused.
//! pool.shutdown(true, false);
//! assert_eq!(pool.submit(|| 0).unwrap_err(), Error::Shutdown);
//! ```
//!
//! ## Futures
//!
//! A [`Future`] is a shared handle (clone it freely). Its outcome is a
//! `Result<R, Error>`: read it by clone ([`Future::result`]), by reference
//! ([`Future::result_ref`]) or by move from the last handle
//! ([`Future::into_result`]). Callbacks ([`Future::add_done_callback`])
//! receive `&Result<R, Error>` and run exactly once. The executor's half is
//! the [`Completer`], which any executor (this crate's thread pool, the
//! process pool, your own) uses to complete a future from any thread.
//!
//! ## From async code
//!
//! A [`Future`] is also a Rust future: `future.await` gives its
//! `Result<R, Error>` (moved out of the last handle, else cloned), and
//! `(&future).await` a `Result<&R, Error>`, on any async runtime, without
//! blocking a thread: the awaiting task is woken by a done-callback
//! ([`Awaiting`], [`AwaitingRef`]). Python: `asyncio.wrap_future`.
//!
//! ## One API for threads and processes
//!
//! [`ProcessPool`] has the same methods as [`ThreadPool`]: `submit`, `map`,
//! `map_chunked`, `shutdown(wait, cancel_pending)`, drop = shutdown and
//! wait; and it returns the same [`Future`], completed through a
//! [`Completer`] by the parent's handler threads. Its tasks are a
//! `fn(A) -> R` (a closure that captures nothing coerces to one) with a
//! serde-serializable argument and result, instead of a closure. A worker
//! process that dies mid-task fails only that future, with
//! [`Error::WorkerDied`] (pid, and the signal or exit code), and is replaced; Python instead
//! breaks the whole pool (`BrokenProcessPool`).
//!
//! ```
//! # #[cfg(not(feature = "process"))] fn main() {}
//! # #[cfg(feature = "process")]
//! use bingfa_pool::{Error, ProcessPool};
//!
//! fn cube(x: i64) -> i64 {
//!     x * x * x
//! }
//!
//! # #[cfg(feature = "process")]
//! fn main() {
//!     // First thing in main: a worker started from this program runs
//!     // here instead of `main`.
//!     bingfa_pool::init();
//!
//!     let pool = ProcessPool::builder()
//!         .max_workers(2)
//!         .max_tasks_per_child(100)
//!         .build()
//!         .unwrap();
//!     assert_eq!(pool.submit(cube, 3).unwrap().result(), Ok(27));
//!     let cubes: Vec<i64> = pool.map(cube, 1..=4).unwrap().map(Result::unwrap).collect();
//!     assert_eq!(cubes, [1, 8, 27, 64]);
//!
//!     // A task that kills its own worker: only its future fails.
//!     let dies = pool
//!         .submit(|(): ()| -> i64 { std::process::abort() }, ())
//!         .unwrap();
//!     assert!(matches!(dies.result(), Err(Error::WorkerDied { signal: Some(6), .. })));
//!     assert_eq!(pool.submit(cube, 2).unwrap().result(), Ok(8));
//! }
//! ```
//!
//! By default workers are forked by a *fork server*
//! ([`StartMethod::ForkServer`], as Python 3.14's default): a fresh run of
//! the program, started once, that forks each worker. That is safe
//! whatever threads the program has, and a worker starts in well under a
//! millisecond. The program calls [`init`] first thing in `main` (a test
//! crate: [`enable_test_support!`]). [`StartMethod::Spawn`] runs the
//! program again for every worker (slower, as safe);
//! [`StartMethod::Fork`] forks this process itself (no `init` needed, but
//! only safe when no other thread may hold a lock the tasks need).
//!
//! ## Features and platforms
//!
//! - `process` (on by default): [`ProcessPool`] and the re-exported
//!   `init` / `enable_test_support!`. Linux only (fork, pidfd, SCM_RIGHTS,
//!   prctl); on another target the crate refuses to build with the
//!   default features and a message that says so.
//! - Without default features (`default-features = false`), the crate is
//!   the thread half: [`ThreadPool`], [`Future`], [`Completer`], [`Map`],
//!   [`as_completed`], [`wait`], `IntoFuture`. It depends on neither
//!   bingfa-process nor serde and builds on any target std supports
//!   (checked for `x86_64-apple-darwin`).
//! - `tracing` (off by default): what the crate notices by itself and can
//!   return to no caller (a done-callback or an `execute` task that
//!   panicked, a worker process that died or could not start, a broken
//!   pool, a fork server found dead) becomes a `tracing` event with target
//!   `bingfa_pool`. Without it the crate reports nothing: it never writes
//!   to stderr (what a task returns or how it failed is always in its
//!   [`Future`]).
//!
//! ## Broken pools
//!
//! If a worker's initializer panics, the pool is broken, as Python's
//! `BrokenThreadPool`: queued and later tasks fail with
//! [`Error::BrokenPool`], and `submit` refuses work with it. A process
//! pool is also broken when its worker processes fail to start on their
//! own five times in a row (with back-off between the tries); a worker
//! killed from outside is replaced, however often it happens.
//!
//! ## Differences from Python
//!
//! CPython's own tests of `concurrent.futures` (and the pool tests of
//! `_test_multiprocessing.py`) are ported one by one into `tests/cpython_*.rs`;
//! `PARITY.md`, in this crate's directory, lists every upstream test as
//! ported, differing by design (and why), or not applicable. In short:
//!
//! - Outcomes are values: `result()` returns `Err(Error::Panicked { .. })`
//!   instead of re-raising, and `Err(Error::Cancelled)` instead of raising
//!   `CancelledError`; [`Future::exception`] returns that error too.
//! - Done-callbacks receive the outcome, not the future. A callback that
//!   panics is ignored as in Python, but not logged unless the `tracing`
//!   feature is on (Python logs it on stderr).
//! - `map` returns an iterator of `Result`s: a failed item does not end the
//!   iteration. `map_chunked` honours the chunk size on threads too.
//!   Python's `timeout` argument is [`Map::timeout`] (counted from the
//!   call, as in Python), its `buffersize` argument is `map_buffered`
//!   ([`MapBuffered`]; without chunks).
//! - Dropping `map`'s iterator ([`Map`], `#[must_use]`) cancels its tasks
//!   that have not started, even if it was never iterated; a Python `map`
//!   generator that was never started is not closed, so its tasks run.
//! - All workers start when the pool is built (Python starts them lazily).
//! - `as_completed`'s timeout ([`AsCompleted::next_timeout`]) applies per
//!   call and does not end the iteration.
//! - A cancelled future is done at once, also for [`wait`] (Python's
//!   `wait` waits until the executor has seen the cancellation).
//! - Dropping a pool is `shutdown(wait = true, cancel_pending = false)`, as
//!   leaving Python's `with` block is (a garbage-collected Python executor
//!   fails what is left instead).
//! - `submit` requires `R: Sync` as well as `Send`, because every handle of
//!   a future may borrow the value from its own thread.
//! - The process pool: a dead worker fails one future with
//!   [`Error::WorkerDied`] and is replaced (Python breaks the pool); an
//!   argument or result that cannot be serialized or deserialized, in the
//!   parent or in the worker, fails its future with
//!   [`Error::Serialization`] saying which and why (Python sets the
//!   pickling error on the future, or breaks the pool when unpickling
//!   fails in a worker); `max_tasks_per_child` works with every start
//!   method (Python refuses it with fork); `exit()` in a task ends its
//!   worker ([`Error::WorkerDied`] with the exit code; Python's
//!   `SystemExit` comes back as an exception); the worker's traceback does
//!   not travel, only the panic's message; `terminate_workers` cancels
//!   the queued tasks (Python fails them with `BrokenProcessPool`);
//!   functions travel as offsets within the executable, not by name as
//!   pickle sends them.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(all(bingfa_loom, not(feature = "loom")))]
compile_error!("`--cfg bingfa_loom` is the model-checking build and needs the internal `loom` feature too: run `cargo xtask loom`");

#[cfg(all(feature = "process", not(target_os = "linux")))]
compile_error!(
    "bingfa-pool: the process pool (feature `process`, on by default) is Linux-only \
     (it forks, and uses pidfd, SCM_RIGHTS and prctl). On this target depend on \
     bingfa-pool with `default-features = false`: ThreadPool, Future, Map, \
     as_completed and wait build everywhere."
);

/// Reports something the crate noticed by itself and cannot return to a
/// caller: with the `tracing` feature a `tracing` event at `$level`
/// (target `bingfa_pool`, the fields Debug-recorded); without it nothing
/// at all (the arguments are still type-checked, in a closure never
/// called). The crate never prints.
macro_rules! report {
    ($level:ident, $($field:ident = $value:expr,)* $fmt:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(feature = "tracing")]
        ::tracing::$level!(target: "bingfa_pool", $($field = ?$value,)* $fmt $(, $arg)*);
        #[cfg(not(feature = "tracing"))]
        {
            let _ = || {
                $(let _ = &$value;)*
                let _ = ::std::format!($fmt $(, $arg)*);
            };
        }
    }};
}

mod awaiting;
mod completer;
mod error;
mod future;
mod map;
#[cfg(all(feature = "process", target_os = "linux"))]
mod process_pool;
mod queue;
mod slab;
mod task;
mod thread_pool;
mod wait;

#[cfg(all(test, bingfa_loom))]
mod loom_tests;

pub use awaiting::{Awaiting, AwaitingRef};
/// Re-exported from `bingfa-process`: [`init`] first thing in `main`, or
/// [`enable_test_support!`] at the root of a test crate, for pools with
/// [`StartMethod::ForkServer`] (the default) or [`StartMethod::Spawn`].
#[cfg(all(feature = "process", target_os = "linux"))]
pub use bingfa_process::{enable_test_support, init};
pub use completer::Completer;
pub use error::Error;
pub use future::Future;
pub use map::{Map, MapBuffered, MapTimeout};
#[cfg(all(feature = "process", target_os = "linux"))]
pub use process_pool::{ProcessPool, ProcessPoolBuilder, StartMethod};
pub use thread_pool::{Builder, ThreadPool};
pub use wait::{as_completed, wait, AsCompleted, DoneAndNotDone, ReturnWhen};
