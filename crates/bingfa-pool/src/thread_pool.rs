//! [`ThreadPool`]: a fixed set of worker threads running submitted tasks.
//!
//! Tasks go through one FIFO queue ([`JobQueue`]) that the workers take
//! from in batches; shutdown closes it, and each worker exits once no job
//! is left. Each task is one reference-counted allocation holding the
//! closure and its future's state (`crate::task`; the queue holds a
//! [`JobRef`] to it); the worker marks the future running, runs the closure
//! under `catch_unwind` and completes the future, so a panic fails only its
//! own future. [`ThreadPool::execute`] queues a bare closure instead, with
//! no future state at all.

use std::cell::Cell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, JoinHandle};

use crate::queue::{JobQueue, Local};

use crate::error::{panic_message, Error};
use crate::future::Future;
use crate::map::{self, Map};
use crate::task::JobRef;

struct Shared {
    queue: JobQueue<JobRef>,
    /// Set once, by the first worker whose initializer panicked.
    broken: OnceLock<String>,
    /// Workers still running, and the condvar `shutdown(wait)` sleeps on.
    alive: Mutex<usize>,
    exited: Condvar,
    workers: usize,
}

thread_local! {
    /// The `Shared` of the pool this thread works for (0: none).
    static CURRENT_POOL: Cell<usize> = const { Cell::new(0) };
}

impl Shared {
    fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    fn broken_error(&self) -> Option<Error> {
        self.broken
            .get()
            .map(|m| Error::BrokenPool { message: m.clone() })
    }

    /// Enqueues a job unless the pool is shut down or broken. A refused
    /// job is dropped, which cancels its future.
    fn send(&self, job: JobRef) -> Result<(), Error> {
        if let Some(e) = self.broken_error() {
            return Err(e);
        }
        self.queue.push(job).map_err(|_| Error::Shutdown)
    }

    fn worker_loop(
        self: &Arc<Self>,
        local: Local<JobRef>,
        init: Option<&(dyn Fn() + Send + Sync)>,
    ) {
        CURRENT_POOL.with(|c| c.set(self.id()));
        if let Some(init) = init {
            if let Err(p) = catch_unwind(AssertUnwindSafe(init)) {
                let _ = self.broken.set(panic_message(&*p));
            }
        }
        while let Some(job) = self.queue.pop(&local) {
            match self.broken_error() {
                None => job.run(),
                Some(e) => job.fail(e),
            }
        }
    }

    /// Drops every queued task, which cancels its future.
    fn cancel_queued(&self) {
        while let Some(job) = self.queue.steal_any() {
            drop(job);
        }
    }
}

/// Decrements the live-worker count when a worker thread ends.
struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let mut alive = self.0.alive.lock().unwrap_or_else(|e| e.into_inner());
        *alive -= 1;
        self.0.exited.notify_all();
    }
}

/// Configures a [`ThreadPool`]: worker count, thread names, an initializer
/// and the stack size.
///
/// Python: the keyword arguments of `ThreadPoolExecutor(...)`.
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    max_workers: Option<usize>,
    prefix: Option<String>,
    initializer: Option<Arc<dyn Fn() + Send + Sync>>,
    stack_size: Option<usize>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.prefix)
            .field("initializer", &self.initializer.is_some())
            .field("stack_size", &self.stack_size)
            .finish()
    }
}

impl Builder {
    /// How many worker threads run tasks. Default: `min(32, cpus + 4)`, as
    /// in Python.
    ///
    /// Python: `ThreadPoolExecutor(max_workers=...)`.
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Worker threads are named `{prefix}_{i}` for `i` in `0..n`. Default
    /// prefix: `ThreadPoolExecutor-{k}`, `k` counting pools, as in Python.
    ///
    /// Python: `ThreadPoolExecutor(thread_name_prefix=...)`.
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Runs `f` once on each worker thread before it takes its first task.
    /// If it panics, the pool is broken: every task queued or submitted
    /// later fails with [`Error::BrokenPool`] carrying the panic message,
    /// and `submit` refuses new work with it.
    ///
    /// Python: `ThreadPoolExecutor(initializer=...)`, whose failure raises
    /// `BrokenThreadPool`.
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.initializer = Some(Arc::new(f));
        self
    }

    /// The stack size of each worker thread, in bytes (default: Rust's).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    /// `InvalidInput` if `max_workers` is 0 (Python: `ValueError`), or the
    /// OS error if a thread cannot be spawned (the workers already started
    /// are stopped and joined).
    pub fn build(self) -> io::Result<ThreadPool> {
        static POOLS: AtomicUsize = AtomicUsize::new(0);
        let n = self.max_workers.unwrap_or_else(|| {
            let cpus = thread::available_parallelism().map_or(1, |n| n.get());
            (cpus + 4).min(32)
        });
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_workers must be greater than 0",
            ));
        }
        let prefix = self.prefix.unwrap_or_else(|| {
            format!(
                "ThreadPoolExecutor-{}",
                POOLS.fetch_add(1, Ordering::Relaxed)
            )
        });
        let (queue, locals) = JobQueue::new(n);
        let shared = Arc::new(Shared {
            queue,
            broken: OnceLock::new(),
            alive: Mutex::new(0),
            exited: Condvar::new(),
            workers: n,
        });
        let mut pool = ThreadPool {
            shared: shared.clone(),
            handles: Mutex::new(Vec::with_capacity(n)),
        };
        for (i, local) in locals.into_iter().enumerate() {
            let mut b = thread::Builder::new().name(format!("{prefix}_{i}"));
            if let Some(s) = self.stack_size {
                b = b.stack_size(s);
            }
            let shared = shared.clone();
            let init = self.initializer.clone();
            *shared.alive.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            let guard = ExitGuard(shared.clone());
            match b.spawn(move || {
                let _guard = guard;
                shared.worker_loop(local, init.as_deref());
            }) {
                Ok(h) => pool.handles.get_mut().unwrap().push(h),
                Err(e) => {
                    // The closure (and its guard) were dropped unrun.
                    pool.shutdown(true, true);
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }
}

/// A pool of worker threads that run submitted closures and hand back
/// [`Future`]s.
///
/// At most `max_workers` tasks run at once; the rest wait in a FIFO
/// queue. All workers start when the pool is built (Python starts them
/// lazily, one per submission, up to the limit). Dropping the pool is
/// `shutdown(wait = true, cancel_pending = false)`: queued tasks still run.
///
/// The process pool offers the same methods (`submit`, `map`,
/// `map_chunked`, `shutdown`) and returns the same [`Future`]; it takes a
/// `fn(A) -> R` and serializable arguments instead of a closure.
///
/// Python: `concurrent.futures.ThreadPoolExecutor`.
#[doc(alias = "ThreadPoolExecutor")]
pub struct ThreadPool {
    shared: Arc<Shared>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("max_workers", &self.shared.workers)
            .field("is_shutdown", &self.is_shutdown())
            .field("is_broken", &self.shared.broken.get().is_some())
            .finish()
    }
}

impl ThreadPool {
    /// A pool of `n` worker threads with default settings.
    ///
    /// # Panics
    /// If `n` is 0 (Python: `ValueError`) or a thread cannot be spawned;
    /// [`ThreadPool::builder`] reports those as errors instead.
    ///
    /// Python: `ThreadPoolExecutor(max_workers=n)`.
    pub fn new(n: usize) -> ThreadPool {
        match Self::builder().max_workers(n).build() {
            Ok(p) => p,
            Err(e) => panic!("ThreadPool::new({n}): {e}"),
        }
    }

    /// A builder for a pool with a thread name prefix, an initializer, ...
    pub fn builder() -> Builder {
        Builder {
            max_workers: None,
            prefix: None,
            initializer: None,
            stack_size: None,
        }
    }

    /// The number of worker threads.
    ///
    /// Python: `ThreadPoolExecutor._max_workers`.
    pub fn max_workers(&self) -> usize {
        self.shared.workers
    }

    /// Whether `shutdown` has been called (or the pool is being dropped).
    pub fn is_shutdown(&self) -> bool {
        self.shared.queue.is_closed()
    }

    /// Queues `f` to run on a worker and returns its future. If `f`
    /// panics, the future fails with [`Error::Panicked`] and the worker
    /// goes on with the next task.
    ///
    /// # Errors
    /// [`Error::Shutdown`] after [`shutdown`](Self::shutdown);
    /// [`Error::BrokenPool`] if an initializer panicked.
    ///
    /// Python: `ThreadPoolExecutor.submit(fn, *args)`.
    pub fn submit<F, R>(&self, f: F) -> Result<Future<R>, Error>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + Sync + 'static,
    {
        let (future, job) = JobRef::with_future(f);
        // On refusal the `JobRef` drops here and cancels the future, which
        // nobody will see.
        self.shared.send(job)?;
        Ok(future)
    }

    /// Queues `f` to run on a worker, without a future: fire and forget.
    ///
    /// It is [`submit`](Self::submit) minus the future, and cheaper: the
    /// task is only the closure, the worker frees it as soon as it ran, and
    /// no thread ever waits on it. Use it when the task reports its outcome
    /// some other way (a channel, a counter, shared state). If `f` panics,
    /// the panic is reported on stderr and otherwise ignored; the worker goes
    /// on with the next task. A queued `f` that never runs (the pending
    /// tasks were cancelled by [`shutdown`](Self::shutdown), or the pool is
    /// broken) is dropped unrun.
    ///
    /// # Errors
    /// [`Error::Shutdown`] after [`shutdown`](Self::shutdown);
    /// [`Error::BrokenPool`] if an initializer panicked. `f` is dropped
    /// unrun.
    ///
    /// Python has no such method (`ThreadPoolExecutor.submit` whose future
    /// is ignored is the closest); it follows `threadpool::ThreadPool::execute`
    /// and `rayon::spawn`.
    #[doc(alias = "spawn")]
    pub fn execute<F>(&self, f: F) -> Result<(), Error>
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared.send(JobRef::without_future(f))
    }

    /// Runs `f` on every item of `items` and returns the results in input
    /// order. Every item is submitted before this returns (as in Python);
    /// the iterator blocks for each result in turn. **Dropping the iterator
    /// cancels the tasks that have not started**, so keep it until you have
    /// the results (see [`Map`]). [`Map::timeout`] gives it a deadline
    /// counted from this call (Python's `timeout` argument).
    ///
    /// # Errors
    /// As [`submit`](Self::submit); if submission fails part way, the tasks
    /// already queued are cancelled. Each item's own failure (a panic) is
    /// an `Err` item of the iterator.
    ///
    /// Python: `ThreadPoolExecutor.map(fn, iterable)`.
    pub fn map<T, R, F, I>(&self, f: F, items: I) -> Result<Map<R>, Error>
    where
        I: IntoIterator<Item = T>,
        T: Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
        R: Send + Sync + 'static,
    {
        let f = Arc::new(f);
        Map::submit_all(items, |item| {
            let f = f.clone();
            self.submit(move || f(item))
        })
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
    /// Python: `ThreadPoolExecutor.map(fn, iterable, buffersize=n)` (3.14).
    #[doc(alias = "buffersize")]
    pub fn map_buffered<'p, T, R, F, I>(
        &'p self,
        f: F,
        items: I,
        buffersize: usize,
    ) -> Result<crate::MapBuffered<'p, R>, Error>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: 'p,
        T: Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
        R: Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let mut items = items.into_iter();
        crate::MapBuffered::new(
            buffersize,
            Box::new(move || {
                let item = items.next()?;
                let f = f.clone();
                Some(self.submit(move || f(item)))
            }),
        )
    }

    /// As [`map`](Self::map), but each task runs `f` on up to `chunk_size`
    /// consecutive items, which cuts queueing costs for tiny tasks (and
    /// serialization costs in the process pool). A panic fails only the
    /// item that panicked.
    ///
    /// # Errors
    /// As [`map`](Self::map).
    ///
    /// # Panics
    /// If `chunk_size` is 0.
    ///
    /// Python: `ProcessPoolExecutor.map(fn, iterable, chunksize=...)`
    /// (which `ThreadPoolExecutor` ignores).
    #[doc(alias = "chunksize")]
    pub fn map_chunked<T, R, F, I>(
        &self,
        f: F,
        items: I,
        chunk_size: usize,
    ) -> Result<Map<R>, Error>
    where
        I: IntoIterator<Item = T>,
        T: Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
        R: Send + Sync + 'static,
    {
        let f = Arc::new(f);
        Map::submit_chunks(items, chunk_size, |chunk| {
            let f = f.clone();
            self.submit(move || map::run_chunk(&*f, chunk))
        })
    }

    /// Stops accepting work and lets the workers exit once the queue is
    /// empty. With `cancel_pending`, queued tasks that have not started are
    /// cancelled first (their futures read [`Error::Cancelled`]). With
    /// `wait`, blocks until every worker has exited; a worker of this pool
    /// that calls it does not wait for itself. Calling it again is allowed
    /// (e.g. to wait, or to cancel what is left).
    ///
    /// Python: `ThreadPoolExecutor.shutdown(wait=True, cancel_futures=False)`.
    #[doc(alias = "cancel_futures")]
    pub fn shutdown(&self, wait: bool, cancel_pending: bool) {
        // Closing refuses new submissions at once; the submissions that
        // got in before it are queued, and run or are cancelled below.
        self.shared.queue.close();
        if cancel_pending {
            self.shared.cancel_queued();
        }
        if wait {
            self.wait_workers();
        }
    }

    /// Blocks until every worker (but the calling one) has exited, and
    /// joins them.
    fn wait_workers(&self) {
        let me = CURRENT_POOL.with(|c| c.get()) == self.shared.id();
        let mut alive = self.shared.alive.lock().unwrap_or_else(|e| e.into_inner());
        while *alive > usize::from(me) {
            alive = self
                .shared
                .exited
                .wait(alive)
                .unwrap_or_else(|e| e.into_inner());
        }
        drop(alive);
        let handles = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|e| e.into_inner()));
        let current = thread::current().id();
        for h in handles {
            if h.thread().id() != current {
                // Task panics are caught, so a worker never ends by panic.
                let _ = h.join();
            }
        }
    }
}

impl Drop for ThreadPool {
    /// `shutdown(wait = true, cancel_pending = false)`.
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}
