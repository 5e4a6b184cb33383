//! [`ProcessPool`]: the thread pool's API over worker processes.
//!
//! # Design
//!
//! Each of the `max_workers` slots has a worker process and, in the parent,
//! a handler thread that owns the parent's end of the worker's link (a
//! `bingfa_process::Pipe` or a framed Unix stream, see `link`; a Unix
//! socket pair either way). Workers are started by the fork server
//! (`fork_server`), by spawn or by fork (`StartMethod`). `submit` encodes the
//! argument, wraps the future's [`Completer`] with a decoder for `R`, and
//! queues the job on one unbounded channel. An idle handler takes it, marks
//! the future running (a cancelled future is skipped), sends the task to its
//! worker, waits for the answer, decodes it and completes the future; so
//! done-callbacks run on a handler thread. One task at a time per worker
//! means the handler always knows which task its worker is running:
//!
//! - the worker's end of the pipe closes when the worker dies, so the
//!   handler learns of a death at once; it reaps the worker, fails the one
//!   task with [`Error::WorkerDied`] (pid, signal or exit code), starts a replacement
//!   and goes on. Queued tasks and the other workers are not touched.
//! - A worker found dead when a task is being *sent* died idle: it is
//!   replaced and the task goes to the replacement, unharmed.
//! - A panic in the task is caught in the worker, which survives; the future
//!   fails with [`Error::Panicked`].
//!
//! Functions travel as [`bingfa_process::FnRef`] offsets (valid in a forked
//! copy, in a spawned process of the same executable and in a fork of the
//! fork server, itself a spawned process), together with a monomorphic
//! glue function for the task's `A` and `R`.

mod builder;
mod codec;
mod fork_server;
mod handler;
mod link;
mod proc;
mod worker;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bingfa_process::FnRef;
use crossbeam_channel::{Receiver, Sender};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::completer::Completer;
use crate::error::{panic_message, Error};
use crate::future::Future;
use crate::map::Map;

pub use builder::ProcessPoolBuilder;
use proc::Proc;
use worker::Call;

/// How the pool starts its worker processes. Python: the `mp_context`
/// argument of `ProcessPoolExecutor` (`get_context("forkserver")`,
/// `"spawn"`, `"fork"`).
///
/// | method | a worker is | start (2 workers, see `BENCHMARKS.md`) | safe with other threads | needs `init` |
/// |---|---|---|---|---|
/// | [`ForkServer`](Self::ForkServer) (default) | a fork of a fresh, single-threaded server process | fast (a fork of a small process) | yes | yes |
/// | [`Spawn`](Self::Spawn) | a fresh run of the executable | slow (an `exec` and the program's start) | yes | yes |
/// | [`Fork`](Self::Fork) | a fork of this process | fastest, no server | **no** (see below) | no |
///
/// Workers started by the fork server or by spawn begin from the program's
/// initial state (statics as at the start of `main`), not from the
/// parent's current state as forked workers do; the pool's initializer
/// runs in every worker either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartMethod {
    /// Each worker is forked by the *fork server*: a process of this crate,
    /// one per program, started (on first use) as a fresh run of this
    /// executable, which forks a worker whenever a pool asks for one. A
    /// worker is thus a fork of a single-threaded process that holds no
    /// lock and no state of the program: safe whatever threads the program
    /// has, at about a fork's cost. The default, as Python's on Linux since
    /// 3.14 (`forkserver`).
    ///
    /// The program must call [`crate::init`] first thing in `main` (a test
    /// crate: [`crate::enable_test_support!`]); otherwise `build` fails
    /// with an error that says so. The server ends, and kills its workers,
    /// when this process ends. `bingfa_process::current_process()` in such
    /// a worker reports the name `"ForkServerProcess"` and this process as
    /// its parent.
    #[default]
    #[doc(alias = "forkserver")]
    ForkServer,
    /// Each worker is a fresh run of this executable
    /// (`bingfa_process::spawn`), safe whatever threads the program has.
    /// Slower to start: each worker pays for an `exec` and the program's
    /// start. The program must call [`crate::init`] first thing in `main`;
    /// a test crate needs [`crate::enable_test_support!`] instead.
    Spawn,
    /// Each worker is a forked copy of this process (no `exec`, no `init`,
    /// no server), as Python's default on Linux before 3.14.
    ///
    /// **Only safe when no other thread may hold a lock the worker needs.**
    /// Only the forking thread exists in the child (here: a handler thread
    /// of the pool). A lock that another thread of the program held at the
    /// moment of the fork stays held forever in the worker, which
    /// deadlocks if the task (or the initializer, or a panic message on
    /// its way to stderr) takes it: your own `Mutex`es, a logger's,
    /// stdout's, a test harness's output capture, `parking_lot`'s
    /// internal tables (which a thread of yours waiting on a contended
    /// lock holds for an instant). Use it in a program that is
    /// single-threaded apart from the pool, or for tasks that take no lock
    /// at all; otherwise use the default.
    Fork,
}

/// A queued task: the encoded call and the future to complete.
pub(crate) struct Job {
    call: u64,
    entry: u64,
    args: Vec<u8>,
    pending: Box<dyn Pending>,
}

/// The typed half of a job, behind a trait object so that one channel
/// carries tasks of every `R`.
pub(crate) trait Pending: Send {
    /// Marks the future running; `false` if it was cancelled.
    fn set_running(&self) -> bool;
    /// Completes the future from the worker's encoded answer.
    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, Error>);
}

struct Typed<R> {
    completer: Completer<R>,
    decode: fn(Vec<u8>) -> Result<R, Error>,
}

impl<R: Send + Sync + 'static> Pending for Typed<R> {
    fn set_running(&self) -> bool {
        self.completer.set_running()
    }

    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, Error>) {
        let outcome = outcome.and_then(self.decode);
        self.completer.complete(outcome);
    }
}

/// Decodes one result. A `Deserialize` impl that panics (user code, run on
/// a handler thread) fails this result only: the handler goes on.
fn decode_one<R: DeserializeOwned>(bytes: Vec<u8>) -> Result<R, Error> {
    match catch_unwind(AssertUnwindSafe(|| codec::decode(&bytes))) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(Error::Serialization {
            message: format!("could not deserialize the task's result: {e}"),
        }),
        Err(p) => Err(Error::Serialization {
            message: format!(
                "deserializing the task's result panicked: {}",
                panic_message(&*p)
            ),
        }),
    }
}

fn decode_chunk<R: DeserializeOwned>(bytes: Vec<u8>) -> Result<Vec<Result<R, Error>>, Error> {
    let items: Vec<Result<Vec<u8>, worker::Failure>> = decode_one(bytes)?;
    Ok(items
        .into_iter()
        .map(|item| match item {
            Ok(b) => decode_one(b),
            Err(failure) => Err(failure.into()),
        })
        .collect())
}

/// What the handlers share with the pool.
pub(crate) struct Shared {
    /// `None` once shut down.
    tx: Mutex<Option<Sender<Job>>>,
    rx: Receiver<Job>,
    /// Set (with the initializer's panic message) when the pool is broken.
    broken: OnceLock<String>,
    /// Each slot's worker process, and the forced stop if any.
    procs: Mutex<Procs>,
    /// Handler threads still running, and the condvar `shutdown` waits on.
    alive: Mutex<usize>,
    exited: Condvar,
    method: StartMethod,
    initializer: Option<fn()>,
    max_tasks: Option<usize>,
    prefix: String,
}

/// The worker processes of the slots. One lock orders a slot's new worker
/// against [`ProcessPool::kill_workers`]: a worker registered after the
/// force was set is signalled by [`Shared::set_proc`] itself.
pub(crate) struct Procs {
    slots: Vec<Option<Arc<Proc>>>,
    /// The signal of `terminate_workers` (`SIGTERM`) or `kill_workers`
    /// (`SIGKILL`), once either was called.
    force: Option<i32>,
}

thread_local! {
    /// The `Shared` of the pool whose handler thread this is (0: none).
    static HANDLER_OF: Cell<usize> = const { Cell::new(0) };
}

impl Shared {
    fn procs(&self) -> std::sync::MutexGuard<'_, Procs> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers (or clears) a slot's worker. A worker registered after a
    /// forced stop is sent its signal at once.
    fn set_proc(&self, slot: usize, proc: Option<Arc<Proc>>) {
        let mut procs = self.procs();
        if let (Some(p), Some(sig)) = (&proc, procs.force) {
            let _ = p.send_signal(sig);
        }
        procs.slots[slot] = proc;
    }

    /// The signal of a forced stop, if one was asked for.
    fn forced(&self) -> Option<i32> {
        self.procs().force
    }

    fn set_broken(&self, message: String) {
        report!(error, "the process pool is broken: {message}");
        let _ = self.broken.set(message);
    }

    fn is_closed(&self) -> bool {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).is_none()
    }

    fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }
}

/// Counts a handler thread out when it ends (however it ends).
pub(crate) struct HandlerGuard(pub(crate) Arc<Shared>);

impl HandlerGuard {
    /// Marks the calling thread as a handler of this guard's pool.
    pub(crate) fn enter(self) -> HandlerGuard {
        HANDLER_OF.with(|h| h.set(self.0.id()));
        self
    }
}

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        let mut alive = self.0.alive.lock().unwrap_or_else(|e| e.into_inner());
        *alive -= 1;
        self.0.exited.notify_all();
    }
}

/// A pool of worker processes that run `fn(A) -> R` on serializable
/// arguments and hand back [`Future`]s: the API of
/// [`ThreadPool`](crate::ThreadPool) (`submit`, `map`, `map_chunked`,
/// `shutdown`, drop = shutdown and wait) over processes.
///
/// Each task is a plain function (a closure that captures nothing coerces
/// to one) and an argument that travels encoded with serde (postcard);
/// the result comes back the same way. Up to `max_workers` tasks run at
/// once, one per worker process; the rest wait in a FIFO queue in the
/// parent. Done-callbacks run on the parent's handler threads.
///
/// **A worker that dies mid-task** (killed by a signal, `abort`, an
/// `exit` inside the task) fails only that task's future, with
/// [`Error::WorkerDied`] naming its pid and its signal or exit code; a new worker takes its
/// place and every other task goes on. Python instead marks the whole pool
/// broken (`BrokenProcessPool`) and fails every pending future.
///
/// How it works: the parent has one handler thread per worker, which
/// sends its worker one task at a time over a pipe and completes the
/// task's future from the answer. So a long task never holds up a task
/// queued behind it while another worker is idle, and the handler always
/// knows which task a dead worker was running; the price is one round
/// trip per task (tens of microseconds), so give tiny tasks to
/// [`map_chunked`](Self::map_chunked). Functions travel as offsets within
/// the executable ([`bingfa_process::FnRef`]): the workers are forks or
/// runs of this same program.
///
/// Workers are started by the fork server by default
/// ([`StartMethod::ForkServer`]), which needs [`crate::init`] first thing
/// in `main` (a test crate: [`crate::enable_test_support!`]); see
/// [`StartMethod`] for the others.
///
/// # Worker starts
///
/// A worker is started when the pool is built, when one dies, and when one
/// retires (`max_tasks_per_child`). How a start can fail, and what the
/// pool does:
///
/// - **Killed from outside** before it is ready (a signal it did not raise
///   itself: `SIGKILL`, `SIGTERM`, the OOM killer): a new worker is
///   started, every time; after three such kills in a row the slot pauses
///   between tries (2 ms, doubling up to 100 ms), so that something that
///   kills every new worker cannot make it spin. Such kills never break
///   the pool; an idle worker killed before it gets a task is replaced the
///   same way, and the task goes to the replacement.
/// - **Fails on its own**: the process cannot be started (`fork` or `exec`
///   error), or it exits, crashes (`SIGSEGV`, `SIGABRT`, ...) or breaks the
///   protocol before it is ready. The slot tries again after 10 ms, 40 ms,
///   160 ms and 640 ms; the fifth failure in a row breaks the pool
///   ([`Error::BrokenPool`], naming the last failure).
/// - **Cannot work at all**: the initializer panics, or a spawned worker
///   never reaches [`crate::init`]. The pool is broken at once.
///
/// Python: `concurrent.futures.ProcessPoolExecutor`.
///
/// ```
/// use bingfa_pool::{Error, ProcessPool};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn fail(_: ()) -> u64 {
///     panic!("no luck")
/// }
///
/// fn main() {
///     bingfa_pool::init(); // a worker of this program starts here
///
///     let pool = ProcessPool::new(2);
///     // Each task runs in another process.
///     let pid = pool.submit(|(): ()| std::process::id(), ()).unwrap();
///     assert_ne!(pid.result().unwrap(), std::process::id());
///
///     let f = pool.submit(square, 7).unwrap();
///     assert_eq!(f.result(), Ok(49));
///
///     let squares: Vec<u64> =
///         pool.map_chunked(square, 1..=6, 4).unwrap().map(Result::unwrap).collect();
///     assert_eq!(squares, [1, 4, 9, 16, 25, 36]);
///
///     // A panic fails its future; the worker survives.
///     let bad = pool.submit(fail, ()).unwrap();
///     assert!(matches!(bad.result(), Err(Error::Panicked { .. })));
///
///     pool.shutdown(true, false);
///     assert_eq!(pool.submit(square, 1).unwrap_err(), Error::Shutdown);
/// }
/// ```
#[doc(alias = "ProcessPoolExecutor")]
pub struct ProcessPool {
    shared: Arc<Shared>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPool")
            .field("max_workers", &self.max_workers())
            .field("start_method", &self.shared.method)
            .field("worker_pids", &self.worker_pids())
            .field("is_shutdown", &self.is_shutdown())
            .field("is_broken", &self.shared.broken.get().is_some())
            .finish()
    }
}

impl ProcessPool {
    /// A pool of `n` worker processes with default settings (started by the
    /// fork server: the program calls [`crate::init`] first thing in
    /// `main`).
    ///
    /// # Panics
    /// If `n` is 0 (Python: `ValueError`) or a worker cannot be started;
    /// [`ProcessPool::builder`] reports those as errors instead.
    ///
    /// Python: `ProcessPoolExecutor(max_workers=n)`.
    pub fn new(n: usize) -> ProcessPool {
        match Self::builder().max_workers(n).build() {
            Ok(p) => p,
            Err(e) => panic!("ProcessPool::new({n}): {e}"),
        }
    }

    /// A builder for a pool with a start method, an initializer,
    /// `max_tasks_per_child`, ...
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }

    /// The number of worker processes.
    ///
    /// Python: `ProcessPoolExecutor._max_workers`.
    pub fn max_workers(&self) -> usize {
        self.shared.procs().slots.len()
    }

    /// The pids of the worker processes alive now, in slot order (a slot
    /// whose worker is being replaced is left out).
    ///
    /// Python: `ProcessPoolExecutor._processes.keys()`.
    pub fn worker_pids(&self) -> Vec<u32> {
        let procs = self.shared.procs();
        procs.slots.iter().flatten().map(|p| p.pid()).collect()
    }

    /// Whether `shutdown` has been called (or the pool is being dropped).
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_closed()
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.is_shutdown() {
            return Err(Error::Shutdown);
        }
        match self.shared.broken.get() {
            Some(m) => Err(Error::BrokenPool { message: m.clone() }),
            None => Ok(()),
        }
    }

    fn send(&self, job: Job) -> Result<(), Error> {
        let tx = self.shared.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = tx.as_ref() else {
            return Err(Error::Shutdown);
        };
        if let Some(m) = self.shared.broken.get() {
            return Err(Error::BrokenPool { message: m.clone() });
        }
        // The channel lives as long as `shared` holds its receiver.
        tx.send(job).map_err(|_| Error::Shutdown)
    }

    /// Queues a task built from `call` and its encoded arguments; the
    /// future is of `R` decoded by `decode`.
    fn submit_encoded<R: Send + Sync + 'static>(
        &self,
        call: Call,
        entry: u64,
        args: Result<Vec<u8>, String>,
        decode: fn(Vec<u8>) -> Result<R, Error>,
    ) -> Result<Future<R>, Error> {
        self.check_open()?;
        let (future, completer) = Future::pending();
        match args {
            Ok(args) => self.send(Job {
                call: FnRef::new(call).into_raw(),
                entry,
                args,
                pending: Box::new(Typed { completer, decode }),
            })?,
            Err(e) => {
                completer.set_error(Error::Serialization {
                    message: format!("could not serialize the task's argument: {e}"),
                });
            }
        }
        Ok(future)
    }

    /// Queues `f(arg)` to run in a worker process and returns its future.
    /// For several arguments, make `A` a tuple.
    ///
    /// If `f` panics, the future fails with [`Error::Panicked`] and the
    /// worker goes on. If the worker dies while running it, the future fails
    /// with [`Error::WorkerDied`] and a new worker replaces it. If `arg`
    /// cannot be serialized (here) or deserialized (in the worker), or the
    /// result cannot be serialized (there) or deserialized (here), the
    /// future fails with [`Error::Serialization`] saying which; the worker
    /// goes on (Python sets the pickling error on the future, but breaks
    /// the pool when unpickling fails in a worker).
    ///
    /// # Errors
    /// [`Error::Shutdown`] after [`shutdown`](Self::shutdown);
    /// [`Error::BrokenPool`] if an initializer panicked or workers cannot
    /// be started.
    ///
    /// Python: `ProcessPoolExecutor.submit(fn, arg)`.
    pub fn submit<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<Future<R>, Error>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        self.submit_encoded(
            worker::call_one::<A, R>,
            FnRef::new(f).into_raw(),
            codec::encode(&arg),
            decode_one::<R>,
        )
    }

    /// Runs `f` on every item of `items` in the workers and returns the
    /// results in input order. Every item is submitted (one task each)
    /// before this returns; the iterator blocks for each result in turn.
    /// **Dropping the iterator cancels the tasks that have not started**,
    /// so keep it until you have the results (see [`Map`]).
    /// [`Map::timeout`] gives it a deadline counted from this call
    /// (Python's `timeout` argument).
    ///
    /// # Errors
    /// As [`submit`](Self::submit); if submission fails part way, the tasks
    /// already queued are cancelled. Each item's own failure is an `Err`
    /// item of the iterator.
    ///
    /// Python: `ProcessPoolExecutor.map(fn, iterable)`.
    pub fn map<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<Map<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Map::submit_all(items, |item| self.submit(f, item))
    }

    /// As [`map`](Self::map), but lazy: at most `buffersize` tasks are
    /// submitted ahead of the results, the items are taken from `items`
    /// one at a time as results are asked for, so `items` may be endless
    /// or too large to hold (see [`MapBuffered`](crate::MapBuffered)).
    ///
    /// # Errors
    /// As [`submit`](Self::submit), for the first `buffersize` items (the
    /// ones already submitted are cancelled); a later refusal is the last
    /// item of the iterator.
    ///
    /// # Panics
    /// If `buffersize` is 0 (Python: `ValueError`).
    ///
    /// Python: `ProcessPoolExecutor.map(fn, iterable, buffersize=n)` (3.14).
    #[doc(alias = "buffersize")]
    pub fn map_buffered<'p, A, R, I>(
        &'p self,
        f: fn(A) -> R,
        items: I,
        buffersize: usize,
    ) -> Result<crate::MapBuffered<'p, R>, Error>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
        A: Serialize + DeserializeOwned + 'p,
        R: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let mut items = items.into_iter();
        crate::MapBuffered::new(
            buffersize,
            Box::new(move || {
                let item = items.next()?;
                Some(self.submit(f, item))
            }),
        )
    }

    /// As [`map`](Self::map), but each task carries up to `chunk_size`
    /// consecutive items to one worker, which runs `f` on each: one round
    /// trip and one message per chunk instead of per item, much faster for
    /// small tasks. A panic fails only the item that panicked; a worker's
    /// death fails every item of its chunk.
    ///
    /// # Errors
    /// As [`map`](Self::map).
    ///
    /// # Panics
    /// If `chunk_size` is 0.
    ///
    /// Python: `ProcessPoolExecutor.map(fn, iterable, chunksize=...)`.
    #[doc(alias = "chunksize")]
    pub fn map_chunked<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunk_size: usize,
    ) -> Result<Map<R>, Error>
    where
        I: IntoIterator<Item = A>,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let entry = FnRef::new(f).into_raw();
        Map::submit_chunks(items, chunk_size, |chunk| {
            self.submit_encoded(
                worker::call_chunk::<A, R>,
                entry,
                codec::encode(&chunk),
                decode_chunk::<R>,
            )
        })
    }

    /// Stops accepting work; the workers finish the queued tasks and exit.
    /// With `cancel_pending`, queued tasks that have not started are
    /// cancelled first (their futures read [`Error::Cancelled`]); running
    /// tasks always finish. With `wait`, blocks until every worker process
    /// has exited and every handler thread has ended (a done-callback that
    /// calls it does not wait for its own thread). Calling it again is
    /// allowed (e.g. to wait, or to cancel what is left).
    ///
    /// A task that never ends keeps `shutdown(true, _)` (and the pool's
    /// drop) waiting for it: bound the wait with
    /// [`shutdown_timeout`](Self::shutdown_timeout), and end such a task
    /// with [`kill_workers`](Self::kill_workers) (from any thread, also
    /// while another one waits here).
    ///
    /// Python: `ProcessPoolExecutor.shutdown(wait=True, cancel_futures=False)`.
    #[doc(alias = "cancel_futures")]
    pub fn shutdown(&self, wait: bool, cancel_pending: bool) {
        self.close(cancel_pending);
        if wait {
            self.wait_handlers(None);
        }
    }

    /// As `shutdown(wait = true, cancel_pending)`, waiting at most
    /// `timeout` for the running and queued tasks and the workers' exit.
    ///
    /// # Errors
    /// [`Error::Timeout`] if they are not done in time. The pool stays shut
    /// down and its tasks go on; call this again, `shutdown`, or
    /// [`kill_workers`](Self::kill_workers).
    ///
    /// Python has no such call (`shutdown(wait=True)` waits as long as it
    /// takes).
    pub fn shutdown_timeout(&self, timeout: Duration, cancel_pending: bool) -> Result<(), Error> {
        self.close(cancel_pending);
        if self.wait_handlers(Some(timeout)) {
            Ok(())
        } else {
            Err(Error::Timeout(timeout))
        }
    }

    /// Stops accepting work and, with `cancel_pending`, cancels the queued
    /// tasks.
    fn close(&self, cancel_pending: bool) {
        // Dropping the sender lets each handler end once the queue is empty.
        drop(
            self.shared
                .tx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        if cancel_pending {
            // A dropped job's completer cancels its pending future.
            while let Ok(job) = self.shared.rx.try_recv() {
                drop(job);
            }
        }
    }

    /// Waits until every handler thread (but the calling one) has ended,
    /// then joins them; `false` if `timeout` passed first.
    fn wait_handlers(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let me = HANDLER_OF.with(|h| h.get()) == self.shared.id();
        let mut alive = self.shared.alive.lock().unwrap_or_else(|e| e.into_inner());
        while *alive > usize::from(me) {
            alive = match deadline {
                None => self
                    .shared
                    .exited
                    .wait(alive)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.shared
                        .exited
                        .wait_timeout(alive, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        drop(alive);
        let handles = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|e| e.into_inner()));
        let current = thread::current().id();
        for h in handles {
            if h.thread().id() != current {
                // Handlers catch task and callback panics.
                let _ = h.join();
            }
        }
        true
    }

    /// Shuts the pool down at once: cancels the queued tasks, sends
    /// `SIGTERM` to every worker process (and to any that starts from now
    /// on: none is replaced), and returns without waiting. The tasks that
    /// were running fail with [`Error::WorkerDied`] (`signal: Some(15)`) as
    /// their workers end; `submit` refuses work with [`Error::Shutdown`]. A
    /// worker that handles or blocks `SIGTERM` may go on; then use
    /// [`kill_workers`](Self::kill_workers). Calling it on a pool that is
    /// shut down, or whose workers are dead, is allowed.
    ///
    /// Python: `ProcessPoolExecutor.terminate_workers()` (3.14).
    pub fn terminate_workers(&self) {
        self.force_shutdown(libc::SIGTERM, "terminate_workers");
    }

    /// As [`terminate_workers`](Self::terminate_workers) with `SIGKILL`,
    /// which no worker can handle or block: every worker ends, and a
    /// `shutdown` or drop waiting for a wedged task returns.
    ///
    /// Python: `ProcessPoolExecutor.kill_workers()` (3.14).
    pub fn kill_workers(&self) {
        self.force_shutdown(libc::SIGKILL, "kill_workers");
    }

    fn force_shutdown(&self, signal: i32, name: &str) {
        self.close(true);
        self.shared
            .set_broken(format!("the worker processes were stopped by {name}()"));
        let mut procs = self.shared.procs();
        // SIGKILL wins over an earlier SIGTERM.
        if procs.force != Some(libc::SIGKILL) {
            procs.force = Some(signal);
        }
        for p in procs.slots.iter().flatten() {
            // A worker that already ended needs nothing.
            let _ = p.send_signal(signal);
        }
    }
}

impl Drop for ProcessPool {
    /// `shutdown(wait = true, cancel_pending = false)`.
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}
