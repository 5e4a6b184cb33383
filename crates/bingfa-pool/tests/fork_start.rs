//! ProcessPool with the fork start method, in a test binary of its own
//! without libtest (`harness = false`): `main` runs each test in turn on
//! the main thread, so when a worker is forked the only other threads are
//! the pool's own and bingfa-process's reaper, none of which holds a lock
//! a worker takes. In a libtest binary, other test threads and the output
//! capture could hold one at the moment of a fork, and a worker would
//! hang on it by luck; here nothing depends on luck. The last test shows
//! the hazard on purpose, deterministically.
//!
//! Run: `cargo test -p bingfa-pool --test fork_start [FILTER]`.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use bingfa_pool::{Error, ProcessPool, StartMethod};
use common::{marker, my_pid, parent_pid, report_then_sleep, reported_pid};

const PATIENCE: Duration = Duration::from_secs(30);

fn fork_pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .start_method(StartMethod::Fork)
        .build()
        .unwrap()
}

fn square(x: u64) -> u64 {
    x * x
}

fn panics(_: ()) -> u8 {
    panic!("fork boom")
}

static STATE: AtomicU32 = AtomicU32::new(0);

fn read_state(_: ()) -> u32 {
    STATE.load(Ordering::SeqCst)
}

fn workers_are_forked_copies_of_this_process() {
    STATE.store(7, Ordering::SeqCst);
    let p = fork_pool(2);
    let me = std::process::id();
    assert_eq!(p.submit(parent_pid, ()).unwrap().result(), Ok(me));
    assert_ne!(p.submit(my_pid, ()).unwrap().result(), Ok(me));
    // A copy: the static as it was when the worker was forked.
    assert_eq!(p.submit(read_state, ()).unwrap().result(), Ok(7));
    let squares: Vec<u64> = p
        .map_chunked(square, 0..20, 6)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(squares, (0..20).map(|x| x * x).collect::<Vec<_>>());
    assert_eq!(
        p.submit(panics, ()).unwrap().result(),
        Err(Error::Panicked {
            message: "fork boom".into()
        })
    );
}

fn a_killed_fork_worker_fails_only_its_task() {
    let p = fork_pool(2);
    let path = marker("fork-victim");
    let f = p
        .submit(report_then_sleep, path.to_string_lossy().into_owned())
        .unwrap();
    let pid = reported_pid(&path, PATIENCE);
    assert!(p.worker_pids().contains(&pid));
    // SAFETY: SIGKILL to our pool's worker.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    assert_eq!(
        f.result_timeout(PATIENCE),
        Err(Error::WorkerDied {
            pid,
            signal: Some(libc::SIGKILL),
            exit_code: None
        })
    );
    assert_eq!(p.submit(square, 3).unwrap().result(), Ok(9));
}

static INIT_RUNS: AtomicU32 = AtomicU32::new(0);

fn record_init() {
    INIT_RUNS.fetch_add(1, Ordering::SeqCst);
}

fn init_runs(_: ()) -> (u32, u32) {
    (std::process::id(), INIT_RUNS.load(Ordering::SeqCst))
}

fn fork_initializer_and_max_tasks_per_child() {
    let p = ProcessPool::builder()
        .max_workers(1)
        .max_tasks_per_child(2)
        .initializer(record_init)
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    let seen: Vec<(u32, u32)> = (0..6)
        .map(|_| p.submit(init_runs, ()).unwrap().result().unwrap())
        .collect();
    assert!(seen.iter().all(|&(_, runs)| runs == 1), "{seen:?}");
    assert_eq!(seen[0].0, seen[1].0);
    assert_ne!(seen[1].0, seen[2].0);
    assert_eq!(INIT_RUNS.load(Ordering::SeqCst), 0, "ran in the parent");
}

static SHARED_LOCK: Mutex<u32> = Mutex::new(0);

fn take_the_lock(_: ()) -> u32 {
    *SHARED_LOCK.lock().unwrap() + 1
}

/// Why fork is unsafe with threads: a lock another thread holds while a
/// worker is forked stays held forever in the worker. (The same task
/// succeeds with the fork server: tests/fork_server.rs.)
fn a_lock_held_by_another_thread_is_inherited_held() {
    let held = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let (h, r) = (held.clone(), release.clone());
    let holder = std::thread::spawn(move || {
        let _g = SHARED_LOCK.lock().unwrap();
        h.wait();
        r.wait();
    });
    held.wait();
    let p = fork_pool(1);
    let f = p.submit(take_the_lock, ()).unwrap();
    release.wait();
    holder.join().unwrap();
    // Released in this process, but not in the worker's copy: the task
    // never finishes.
    assert!(!f.wait_timeout(Duration::from_millis(500)));
    p.kill_workers();
    assert!(matches!(
        f.result_timeout(PATIENCE),
        Err(Error::WorkerDied {
            signal: Some(libc::SIGKILL),
            ..
        })
    ));
    // A pool forked now, with the lock free, is fine.
    let p = fork_pool(1);
    assert_eq!(
        p.submit(take_the_lock, ())
            .unwrap()
            .result_timeout(PATIENCE),
        Ok(1)
    );
}

/// CPython `test_thread_pool.py` `test_hang_global_shutdown_lock`
/// (bpo-45021), with fork as upstream: process pools forked 50 times while
/// a thread pool keeps resubmitting a task. The forked workers never
/// touch the thread pool's locks, so nothing hangs.
fn test_hang_global_shutdown_lock() {
    fn submit(pool: Arc<bingfa_pool::ThreadPool>) {
        let p = pool.clone();
        let _ = pool.submit(move || submit(p));
    }
    let pool = Arc::new(bingfa_pool::ThreadPool::new(1));
    submit(pool.clone());
    for _ in 0..50 {
        let workers = fork_pool(1);
        assert_eq!(workers.submit(square, 2).unwrap().result(), Ok(4));
    }
    pool.shutdown(true, false);
}

/// CPython `test_thread_pool.py` `test_process_fork_from_a_threadpool`
/// (bpo-43944): a child forked from a thread-pool task exits with 0.
fn test_process_fork_from_a_threadpool() {
    let pool = bingfa_pool::ThreadPool::new(1);
    let code = pool
        .submit(|| {
            #[allow(unused_unsafe)]
            // SAFETY: the other threads (this test's main thread, blocked
            // on the future, and bingfa-process's reaper) hold no lock the
            // child takes: it runs an empty closure and exits.
            let p = unsafe { bingfa_process::fork(|| {}) }.unwrap();
            p.join().unwrap().python_exitcode()
        })
        .unwrap()
        .result();
    assert_eq!(code, Ok(0));
}

fn main() {
    let tests: [(&str, fn()); 6] = [
        (
            "workers_are_forked_copies_of_this_process",
            workers_are_forked_copies_of_this_process,
        ),
        (
            "a_killed_fork_worker_fails_only_its_task",
            a_killed_fork_worker_fails_only_its_task,
        ),
        (
            "fork_initializer_and_max_tasks_per_child",
            fork_initializer_and_max_tasks_per_child,
        ),
        (
            "a_lock_held_by_another_thread_is_inherited_held",
            a_lock_held_by_another_thread_is_inherited_held,
        ),
        (
            "test_hang_global_shutdown_lock",
            test_hang_global_shutdown_lock,
        ),
        (
            "test_process_fork_from_a_threadpool",
            test_process_fork_from_a_threadpool,
        ),
    ];
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in tests {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        match std::panic::catch_unwind(test) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}
