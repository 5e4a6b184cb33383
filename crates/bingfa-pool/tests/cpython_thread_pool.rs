//! Port of CPython's `Lib/test/test_concurrent_futures/test_thread_pool.py`
//! (`ThreadPoolExecutorTest`'s own tests; main branch, revision
//! 03445c62940c53ba58e02d7d59e06edad2ae6518), one Rust test per upstream
//! test, named after it; the `ExecutorTest` tests it inherits are in
//! `cpython_executor.rs`, and the two that fork (`test_hang_global_shutdown_lock`,
//! `test_process_fork_from_a_threadpool`) also run with the fork start
//! method in `fork_start.rs`. `PARITY.md` lists every upstream test.
//!
//! Copyright (c) 2001 Python Software Foundation; All Rights Reserved.
//! Licensed under the PSF License Agreement (PSF-2.0); adapted to Rust.

mod common;
mod cpython;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bingfa_pool::{Error, ProcessPool, ThreadPool};
use common::Gate;

bingfa_pool::enable_test_support!();

/// The names of this process's threads (`/proc/self/task/*/comm`, which
/// keeps the first 15 bytes of a name).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|s| s.trim_end().to_owned())
        .collect()
}

/// Issue 11777: `map` submits every item before the first `next`. Here the
/// iterator must be kept: dropping it cancels what has not started (a
/// Python generator that was never started is not closed, so upstream
/// discards it).
#[test]
fn test_map_submits_without_iteration() {
    let finished = Arc::new(Mutex::new(Vec::new()));
    let executor = ThreadPool::new(cpython::WORKER_COUNT);
    let f = finished.clone();
    let _kept = executor
        .map(move |n: u32| f.lock().unwrap().push(n), 0..10)
        .unwrap();
    executor.shutdown(true, false);
    let mut got = finished.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

#[test]
fn test_default_workers() {
    let executor = ThreadPool::builder().build().unwrap();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(executor.max_workers(), (cpus + 4).min(32));
}

#[test]
fn test_saturation() {
    let executor = ThreadPool::builder()
        .max_workers(4)
        .thread_name_prefix("saturated")
        .build()
        .unwrap();
    let sem = Arc::new(Gate::new());
    let started = Arc::new(AtomicUsize::new(0));
    let futures: Vec<_> = (0..15 * executor.max_workers())
        .map(|_| {
            let (sem, started) = (sem.clone(), started.clone());
            executor
                .submit(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    sem.pass();
                })
                .unwrap()
        })
        .collect();
    // Every worker takes a task and blocks: four, no more.
    let deadline = Instant::now() + cpython::SHORT_TIMEOUT;
    while started.load(Ordering::SeqCst) < 4 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    let threads = thread_names()
        .iter()
        .filter(|n| n.starts_with("saturated_"))
        .count();
    assert_eq!(threads, executor.max_workers());
    assert_eq!(started.load(Ordering::SeqCst), 4);
    sem.open();
    executor.shutdown(true, false);
    assert!(futures.iter().all(|f| f.try_result() == Some(Ok(()))));
}

/// Upstream: three tasks in a row use one thread (threads start lazily,
/// and an idle one is reused). Here every worker starts with the pool;
/// what holds is that sequential tasks all complete and no thread is
/// added beyond `max_workers`.
#[test]
fn test_idle_thread_reuse() {
    let executor = ThreadPool::builder()
        .thread_name_prefix("reuse")
        .build()
        .unwrap();
    assert_eq!(executor.submit(|| 21 * 2).unwrap().result(), Ok(42));
    assert_eq!(executor.submit(|| 6 * 7).unwrap().result(), Ok(42));
    assert_eq!(executor.submit(|| 3 * 14).unwrap().result(), Ok(42));
    // Threads name themselves as they start: wait for all of them.
    let deadline = Instant::now() + cpython::SHORT_TIMEOUT;
    let count = || {
        thread_names()
            .iter()
            .filter(|n| n.starts_with("reuse_"))
            .count()
    };
    while count() < executor.max_workers() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(count(), executor.max_workers());
    executor.shutdown(true, false);
}

/// bpo-45021: starting process pools from a thread pool that keeps
/// submitting must not hang. Here with the default start method (fork
/// server); `fork_start.rs` runs it with fork.
#[test]
fn test_hang_global_shutdown_lock() {
    fn submit(pool: Arc<ThreadPool>) {
        let p = pool.clone();
        // After shutdown this is refused, which ends the chain.
        let _ = pool.submit(move || submit(p));
    }
    let pool = Arc::new(ThreadPool::new(1));
    submit(pool.clone());
    for _ in 0..50 {
        let workers = ProcessPool::new(1);
        assert!(workers.submit(|(): ()| (), ()).unwrap().result().is_ok());
    }
    pool.shutdown(true, false);
}

fn exit_zero(_: ()) {}

/// bpo-43944: a process started from a thread-pool task runs and exits
/// with 0 (upstream forks; here spawn, which is safe in this
/// multi-threaded test binary; `fork_start.rs` forks).
#[test]
fn test_process_fork_from_a_threadpool() {
    let pool = ThreadPool::new(1);
    let code = pool
        .submit(|| {
            let p = bingfa_process::spawn(exit_zero as fn(()), ()).unwrap();
            p.join().unwrap().python_exitcode()
        })
        .unwrap()
        .result();
    assert_eq!(code, Ok(0));
}

/// With `max_workers=1` busy, `map(..., timeout=0)` times out at once:
/// the item it waited for and the rest are cancelled, and only the first
/// task ever ran.
#[test]
fn test_executor_map_current_future_cancel() {
    let stop_event = Arc::new(Gate::new());
    let log = Arc::new(Mutex::new(Vec::new()));
    let log_n_wait = {
        let (stop, log) = (stop_event.clone(), log.clone());
        move |ident: &'static str| {
            log.lock().unwrap().push(format!("ident='{ident}' started"));
            stop.pass();
            log.lock().unwrap().push(format!("ident='{ident}' stopped"));
        }
    };
    let pool = ThreadPool::new(1);
    let first = log_n_wait.clone();
    let fut = pool.submit(move || first("first")).unwrap();
    {
        let mut gen = pool
            .map(log_n_wait, ["second", "third"])
            .unwrap()
            .timeout(Duration::ZERO);
        assert_eq!(gen.next(), Some(Err(Error::Timeout(Duration::ZERO))));
    }
    stop_event.open();
    fut.result().unwrap();
    drop(pool);
    assert_eq!(
        *log.lock().unwrap(),
        ["ident='first' started", "ident='first' stopped"]
    );
}
