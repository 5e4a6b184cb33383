//! [`ProcessPoolBuilder`]: the settings of a [`ProcessPool`] and the start
//! of its handler threads and workers.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;

use super::handler::Handler;
use super::{HandlerGuard, ProcessPool, Procs, Shared, StartMethod};
#[cfg(doc)]
use crate::error::Error;

/// Settings for a [`ProcessPool`]; made by [`ProcessPool::builder`].
///
/// Python: the keyword arguments of `ProcessPoolExecutor(...)`.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ProcessPoolBuilder {
    max_workers: Option<usize>,
    max_tasks_per_child: Option<usize>,
    initializer: Option<fn()>,
    start_method: StartMethod,
    prefix: Option<String>,
}

impl ProcessPoolBuilder {
    /// How many worker processes run tasks. Default: the number of CPUs, as
    /// in Python.
    ///
    /// Python: `ProcessPoolExecutor(max_workers=...)`.
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// A worker exits after completing `n` tasks and a fresh process takes
    /// its place (to return memory, or reset state a task leaves behind).
    /// Default: workers live as long as the pool.
    ///
    /// Python: `ProcessPoolExecutor(max_tasks_per_child=...)`, which Python
    /// refuses with the fork start method; here every start method allows
    /// it.
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// Runs `f` once in each worker process (including replacements) before
    /// its first task. If it panics, the pool is broken: queued and later
    /// tasks fail with [`Error::BrokenPool`] carrying the panic message,
    /// and `submit` refuses work with it.
    ///
    /// Python: `ProcessPoolExecutor(initializer=...)`, whose failure raises
    /// `BrokenProcessPool`.
    pub fn initializer(mut self, f: fn()) -> Self {
        self.initializer = Some(f);
        self
    }

    /// How workers are started: [`StartMethod::ForkServer`] (default),
    /// [`StartMethod::Spawn`] or [`StartMethod::Fork`].
    ///
    /// Python: `ProcessPoolExecutor(mp_context=get_context(...))`.
    #[doc(alias = "mp_context")]
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.start_method = method;
        self
    }

    /// Worker processes started by fork or spawn are named `{prefix}_{i}`
    /// (see `bingfa_process::current_process()`; fork-server workers are
    /// all named `ForkServerProcess`), and the parent's handler threads
    /// `{prefix}_{i}-handler`. Default: `ProcessPoolExecutor-{k}`,
    /// `k` counting pools.
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Starts the workers (their initializers run in the background: a
    /// failing initializer breaks the pool rather than this call).
    ///
    /// # Errors
    /// `InvalidInput` if `max_workers` or `max_tasks_per_child` is 0
    /// (Python: `ValueError`); the OS error if a process or thread cannot be
    /// started (the workers already started are stopped first); with
    /// [`StartMethod::ForkServer`], an error saying so if the fork server
    /// cannot start, most often because the program does not call
    /// [`crate::init`] first thing in `main` (or, in a test crate, lacks
    /// [`crate::enable_test_support!`]).
    pub fn build(self) -> io::Result<ProcessPool> {
        static POOLS: AtomicUsize = AtomicUsize::new(0);
        let n = self
            .max_workers
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()));
        if n == 0 {
            return Err(invalid("max_workers must be greater than 0"));
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(invalid("max_tasks_per_child must be at least 1"));
        }
        let prefix = self.prefix.unwrap_or_else(|| {
            format!(
                "ProcessPoolExecutor-{}",
                POOLS.fetch_add(1, Ordering::Relaxed)
            )
        });
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            tx: Mutex::new(Some(tx)),
            rx,
            broken: OnceLock::new(),
            procs: Mutex::new(Procs {
                slots: vec![None; n],
                force: None,
            }),
            alive: Mutex::new(0),
            exited: Condvar::new(),
            method: self.start_method,
            initializer: self.initializer,
            max_tasks: self.max_tasks_per_child,
            prefix: prefix.clone(),
        });
        let pool = ProcessPool {
            shared: shared.clone(),
            handles: Mutex::new(Vec::with_capacity(n)),
        };
        let (started_tx, started_rx) = crossbeam_channel::bounded(n);
        for slot in 0..n {
            let shared = shared.clone();
            let started_tx = started_tx.clone();
            // The handler thread starts its worker itself: a daemon
            // worker's death signal is tied to the thread that started it,
            // and this thread lives as long as the worker. Named `bingfa-`
            // as bingfa-process's service threads are: a spawned child
            // whose entry point returns with a pool still alive (kept in a
            // static, say) is not held open by its handlers (bingfa-process
            // joins the other threads an entry point started), so it ends
            // and its daemon workers with it, as Python's does at exit.
            *shared.alive.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            let guard = HandlerGuard(shared.clone());
            let spawned = thread::Builder::new()
                .name(format!("bingfa-pool:{prefix}_{slot}-handler"))
                .spawn(move || {
                    let _guard = guard.enter();
                    match Handler::new(shared, slot) {
                        Ok(h) => {
                            let _ = started_tx.send(Ok(()));
                            h.run();
                        }
                        Err(e) => {
                            let _ = started_tx.send(Err(e));
                        }
                    }
                });
            match spawned {
                Ok(h) => pool
                    .handles
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(h),
                Err(e) => {
                    pool.shutdown(true, true);
                    return Err(e);
                }
            }
        }
        drop(started_tx);
        let mut failure = None;
        for _ in 0..n {
            match started_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failure = Some(e),
                Err(_) => failure = Some(io::Error::other("a handler thread died")),
            }
        }
        if let Some(e) = failure {
            pool.shutdown(true, true);
            return Err(e);
        }
        Ok(pool)
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
