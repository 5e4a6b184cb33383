//! ProcessPool with the spawn start method: workers are fresh runs of this
//! test binary, which `enable_test_support!` lets run the worker loop.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bingfa_pool::{Error, ProcessPool, StartMethod};
use common::{marker, report_then_sleep, reported_pid};

bingfa_pool::enable_test_support!();

const PATIENCE: Duration = Duration::from_secs(20);

static INIT_RUNS: AtomicU32 = AtomicU32::new(0);

fn record_init() {
    INIT_RUNS.fetch_add(1, Ordering::SeqCst);
}

/// (pid, parent pid as bingfa-process knows it, initializer runs here)
fn whoami(_: ()) -> (u32, Option<u32>, u32) {
    let me = bingfa_process::current_process();
    (me.pid(), me.parent_pid(), INIT_RUNS.load(Ordering::SeqCst))
}

fn add(pair: (i64, i64)) -> i64 {
    pair.0 + pair.1
}

fn panics(_: ()) -> u8 {
    panic!("spawned boom")
}

fn spawn_pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .start_method(StartMethod::Spawn)
        .initializer(record_init)
        .build()
        .unwrap()
}

#[test]
fn spawned_workers_run_tasks_and_the_initializer() {
    let pool = spawn_pool(2);
    let (pid, parent, inits) = pool.submit(whoami, ()).unwrap().result().unwrap();
    assert_ne!(pid, std::process::id());
    assert_eq!(parent, Some(std::process::id()));
    assert_eq!(inits, 1);
    assert_eq!(INIT_RUNS.load(Ordering::SeqCst), 0, "ran in the parent");
    let sums: Vec<i64> = pool
        .map_chunked(add, (0..20).map(|i| (i, 100)), 6)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(sums, (100..120).collect::<Vec<i64>>());
    assert_eq!(
        pool.submit(panics, ()).unwrap().result(),
        Err(Error::Panicked {
            message: "spawned boom".into()
        })
    );
}

#[test]
fn a_killed_spawned_worker_is_replaced() {
    let pool = spawn_pool(2);
    let path = marker("spawn-victim");
    let victim = pool
        .submit(report_then_sleep, path.to_string_lossy().into_owned())
        .unwrap();
    // The task runs in that worker: killing it now fails the task (a kill
    // before the task reached the worker would not).
    let pid = reported_pid(&path, PATIENCE);
    assert!(pool.worker_pids().contains(&pid));
    // SAFETY: sending SIGKILL to our own worker process.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    assert_eq!(
        victim.result_timeout(PATIENCE),
        Err(Error::WorkerDied {
            pid,
            signal: Some(libc::SIGKILL),
            exit_code: None,
        })
    );
    let (after, _, inits) = pool.submit(whoami, ()).unwrap().result().unwrap();
    assert_ne!(after, pid);
    assert_eq!(inits, 1, "the replacement ran its initializer");
}
