//! ProcessPool with the default start method (the fork server): results,
//! map order, panics, a worker killed mid-task, max_tasks_per_child,
//! initializer, shutdown. (The fork start method has its own
//! single-threaded test binary, tests/fork_start.rs.)

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bingfa_pool::{Error, ProcessPool, StartMethod};
use serde::{Deserialize, Serialize};

bingfa_pool::enable_test_support!();

const PATIENCE: Duration = Duration::from_secs(20);

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bingfa-pp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Waits for a file a task writes (atomically, by rename) and returns it.
fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn write_atomically(path: &str, text: &str) {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn is_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

// ---- task functions (they run in the workers) ----

fn my_pid(_: ()) -> u32 {
    std::process::id()
}

fn square(x: u64) -> u64 {
    x * x
}

/// Later items finish first, so completion order differs from input order.
fn slow_identity(x: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(u64::from(5 - x % 5)));
    x
}

fn panics(message: String) -> u32 {
    panic!("{message}")
}

/// Panics on odd numbers.
fn even_only(x: u32) -> u32 {
    assert!(x.is_multiple_of(2), "odd {x}");
    x
}

/// Tells the test which worker runs it, then sleeps (to be killed).
fn report_and_sleep(path: String) -> u32 {
    write_atomically(&path, &std::process::id().to_string());
    std::thread::sleep(Duration::from_secs(30));
    0
}

fn exit_with(code: i32) -> u32 {
    std::process::exit(code)
}

/// Its worker dies (exit code 7) on item 3.
fn die_on_three(x: u32) -> u32 {
    if x == 3 {
        std::process::exit(7);
    }
    x
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn touch(path: String) {
    std::fs::write(path, b"ran").unwrap();
}

/// Writes this worker's pid into `dir`, then waits until two workers have
/// done so: returns whether it met the other one (so both ran at once).
fn meet(dir: String) -> bool {
    write_atomically(&format!("{dir}/{}", std::process::id()), "here");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let n = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        if n >= 2 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

fn reverse(mut v: Vec<u8>) -> Vec<u8> {
    v.reverse();
    v
}

static INIT_PID: AtomicU32 = AtomicU32::new(0);
static INIT_RUNS: AtomicU32 = AtomicU32::new(0);

fn record_init() {
    INIT_PID.store(std::process::id(), Ordering::SeqCst);
    INIT_RUNS.fetch_add(1, Ordering::SeqCst);
}

/// (this worker's pid, the pid its initializer saw, how often it ran here)
fn init_seen(_: ()) -> (u32, u32, u32) {
    (
        std::process::id(),
        INIT_PID.load(Ordering::SeqCst),
        INIT_RUNS.load(Ordering::SeqCst),
    )
}

fn failing_init() {
    panic!("initializer failed on purpose");
}

/// Serializes to an error.
#[derive(Debug, Deserialize)]
struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refuses to be serialized"))
    }
}

fn take_unserializable(_: Unserializable) -> u32 {
    1
}

// ---- tests ----

#[test]
fn submit_runs_in_another_process() {
    let pool = ProcessPool::new(2);
    assert_eq!(pool.max_workers(), 2);
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 2);
    let pid = pool.submit(my_pid, ()).unwrap().result().unwrap();
    assert_ne!(pid, std::process::id());
    assert!(pids.contains(&pid), "{pid} not among the workers {pids:?}");
    assert_eq!(pool.submit(square, 12).unwrap().result(), Ok(144));
    // A capture-free closure is a fn pointer too.
    let f = pool
        .submit(|s: String| s.len(), "hello".to_string())
        .unwrap();
    assert_eq!(f.result(), Ok(5));
}

#[test]
fn tasks_run_in_parallel_on_distinct_workers() {
    let dir = scratch("parallel");
    let pool = ProcessPool::new(2);
    let d = dir.to_string_lossy().into_owned();
    let a = pool.submit(meet, d.clone()).unwrap();
    let b = pool.submit(meet, d).unwrap();
    assert_eq!(a.result(), Ok(true));
    assert_eq!(b.result(), Ok(true));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn map_keeps_input_order_for_every_chunk_size() {
    let pool = ProcessPool::new(3);
    let expected: Vec<u32> = (0..40).collect();
    let got: Vec<u32> = pool
        .map(slow_identity, 0..40)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, expected);
    for chunk in [1, 3, 7, 40, 100] {
        let m = pool.map_chunked(slow_identity, 0..40, chunk).unwrap();
        assert_eq!(m.len(), 40);
        let got: Vec<u32> = m.map(Result::unwrap).collect();
        assert_eq!(got, expected, "chunk size {chunk}");
    }
    assert_eq!(pool.map(square, Vec::<u64>::new()).unwrap().count(), 0);
}

#[test]
fn a_panic_in_a_chunk_fails_only_its_item() {
    let pool = ProcessPool::new(2);
    let results: Vec<Result<u32, Error>> = pool.map_chunked(even_only, 0..10, 4).unwrap().collect();
    for (i, r) in results.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(*r, Ok(i as u32));
        } else {
            match r {
                Err(Error::Panicked { message }) => assert_eq!(*message, format!("odd {i}")),
                other => panic!("item {i}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_panic_fails_its_future_and_the_worker_survives() {
    let pool = ProcessPool::new(1);
    let before = pool.submit(my_pid, ()).unwrap().result().unwrap();
    let f = pool.submit(panics, "boom in a worker".to_string()).unwrap();
    assert_eq!(
        f.result(),
        Err(Error::Panicked {
            message: "boom in a worker".into()
        })
    );
    let after = pool.submit(my_pid, ()).unwrap().result().unwrap();
    assert_eq!(before, after, "the worker was replaced after a panic");
}

#[test]
fn sigkill_of_a_worker_mid_task_fails_only_that_task() {
    let dir = scratch("sigkill");
    let pool = ProcessPool::new(2);
    let path = dir.join("victim").to_string_lossy().into_owned();
    let victim = pool.submit(report_and_sleep, path.clone()).unwrap();
    let pid: u32 = wait_for_file(Path::new(&path)).parse().unwrap();
    assert!(pool.worker_pids().contains(&pid));
    // Other work queued while the victim runs (it goes to the other worker,
    // and to the replacement).
    let others: Vec<_> = (0..6u64)
        .map(|i| pool.submit(sleep_ms, i).unwrap())
        .collect();
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
    for (i, f) in others.iter().enumerate() {
        assert_eq!(f.result_timeout(PATIENCE), Ok(i as u64));
    }
    // The pool goes on, with a replacement worker.
    let worker = pool.submit(my_pid, ()).unwrap().result().unwrap();
    assert_ne!(worker, pid);
    let deadline = Instant::now() + PATIENCE;
    while pool.worker_pids().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the dead worker was not replaced"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(!pool.worker_pids().contains(&pid));
    assert!(!is_alive(pid));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_worker_that_exits_mid_task_reports_its_exit_code() {
    let pool = ProcessPool::new(1);
    let pid = pool.submit(my_pid, ()).unwrap().result().unwrap();
    let f = pool.submit(exit_with, 3).unwrap();
    assert_eq!(
        f.result(),
        Err(Error::WorkerDied {
            pid,
            signal: None,
            exit_code: Some(3)
        })
    );
    assert_eq!(pool.submit(square, 3).unwrap().result(), Ok(9));
}

/// Waits until `pid` has exited (gone, or a zombie not yet reaped).
fn wait_exited(pid: u32) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return,
            Ok(stat) => {
                let state = stat.rsplit(')').next().unwrap().trim_start().chars().next();
                if state == Some('Z') || state == Some('X') {
                    return;
                }
            }
        }
        assert!(Instant::now() < deadline, "{pid} did not die");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_worker_killed_while_idle_does_not_fail_the_next_task() {
    let pool = ProcessPool::new(1);
    let pid = pool.submit(my_pid, ()).unwrap().result().unwrap();
    // SAFETY: sending SIGKILL to our own, idle, worker process.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    wait_exited(pid);
    // The handler finds the worker dead when it sends the task, so the task
    // goes to a replacement instead of failing.
    let next = pool.submit(my_pid, ()).unwrap().result().unwrap();
    assert_ne!(next, pid);
}

#[test]
fn a_worker_death_in_a_chunk_fails_that_chunk_only() {
    let pool = ProcessPool::new(2);
    let results: Vec<Result<u32, Error>> =
        pool.map_chunked(die_on_three, 0..8, 2).unwrap().collect();
    for (i, r) in results.iter().enumerate() {
        if i == 2 || i == 3 {
            assert!(
                matches!(
                    r,
                    Err(Error::WorkerDied {
                        signal: None,
                        exit_code: Some(7),
                        ..
                    })
                ),
                "item {i}: {r:?}"
            );
        } else {
            assert_eq!(*r, Ok(i as u32));
        }
    }
}

#[test]
fn max_tasks_per_child_replaces_workers() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .max_tasks_per_child(2)
        .build()
        .unwrap();
    let pids: Vec<u32> = (0..6)
        .map(|_| pool.submit(my_pid, ()).unwrap().result().unwrap())
        .collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[2], pids[3]);
    assert_eq!(pids[4], pids[5]);
    assert!(
        pids[0] != pids[2] && pids[2] != pids[4] && pids[0] != pids[4],
        "{pids:?}"
    );
    // Retired workers are gone (reaped, not zombies).
    assert!(!is_alive(pids[0]) && !is_alive(pids[2]));
}

#[test]
fn initializer_runs_once_in_every_worker() {
    let pool = ProcessPool::builder()
        .max_workers(2)
        .max_tasks_per_child(1)
        .initializer(record_init)
        .build()
        .unwrap();
    let seen: Vec<(u32, u32, u32)> = pool
        .map(init_seen, vec![(); 5])
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut pids: Vec<u32> = seen.iter().map(|s| s.0).collect();
    for (pid, init_pid, runs) in &seen {
        assert_eq!(pid, init_pid, "the initializer did not run in worker {pid}");
        assert_eq!(*runs, 1);
    }
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 5, "one task per child: five workers");
    // Not in the parent.
    assert_eq!(INIT_RUNS.load(Ordering::SeqCst), 0);
}

#[test]
fn a_failing_initializer_breaks_the_pool() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .initializer(failing_init)
        .build()
        .unwrap();
    let expected = Error::BrokenPool {
        message: "initializer failed on purpose".into(),
    };
    match pool.submit(square, 2) {
        Ok(f) => assert_eq!(f.result(), Err(expected.clone())),
        Err(e) => assert_eq!(e, expected),
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        match pool.submit(square, 2) {
            Err(e) => {
                assert_eq!(e, expected);
                break;
            }
            Ok(f) => assert_eq!(f.result(), Err(expected.clone())),
        }
        assert!(Instant::now() < deadline);
    }
}

#[test]
fn shutdown_waits_for_queued_tasks_and_ends_the_workers() {
    let pool = ProcessPool::new(1);
    let pids = pool.worker_pids();
    let futures: Vec<_> = (0..5u64)
        .map(|i| pool.submit(sleep_ms, i * 3).unwrap())
        .collect();
    pool.shutdown(true, false);
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.try_result(), Some(Ok(i as u64 * 3)));
    }
    assert!(pool.is_shutdown());
    assert_eq!(pool.submit(square, 1).unwrap_err(), Error::Shutdown);
    assert!(pool.map(square, [1]).is_err());
    assert!(pool.worker_pids().is_empty());
    assert!(!is_alive(pids[0]));
    // Again: nothing left to do.
    pool.shutdown(true, true);
}

#[test]
fn shutdown_with_cancel_pending_cancels_queued_tasks_only() {
    let dir = scratch("cancel");
    let pool = ProcessPool::new(1);
    let running = pool.submit(sleep_ms, 200).unwrap();
    let queued: Vec<_> = (0..4)
        .map(|i| {
            let p = dir.join(format!("ran-{i}")).to_string_lossy().into_owned();
            pool.submit(touch, p).unwrap()
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while !running.is_running() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    pool.shutdown(true, true);
    assert_eq!(running.try_result(), Some(Ok(200)));
    for f in &queued {
        assert!(f.is_cancelled());
        assert_eq!(f.try_result(), Some(Err(Error::Cancelled)));
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a cancelled task ran"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_cancelled_future_never_runs() {
    let dir = scratch("cancel-one");
    let pool = ProcessPool::new(1);
    let blocker = pool.submit(sleep_ms, 100).unwrap();
    let path = dir.join("ran").to_string_lossy().into_owned();
    let f = pool.submit(touch, path.clone()).unwrap();
    assert!(f.cancel());
    assert_eq!(blocker.result(), Ok(100));
    // Tasks run in order on the one worker: this one ran after `f` would have.
    assert_eq!(pool.submit(square, 4).unwrap().result(), Ok(16));
    assert!(!Path::new(&path).exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn dropping_the_pool_finishes_queued_work() {
    let pool = ProcessPool::new(2);
    let futures: Vec<_> = (0..6u64)
        .map(|i| pool.submit(sleep_ms, i).unwrap())
        .collect();
    drop(pool);
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.try_result(), Some(Ok(i as u64)));
    }
}

#[test]
fn large_arguments_and_results_travel_whole() {
    let pool = ProcessPool::new(1);
    let v: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut expected = v.clone();
    expected.reverse();
    assert_eq!(pool.submit(reverse, v).unwrap().result(), Ok(expected));
}

#[test]
fn an_unserializable_argument_fails_its_future() {
    let pool = ProcessPool::new(1);
    let f = pool.submit(take_unserializable, Unserializable).unwrap();
    match f.result() {
        Err(Error::Serialization { message }) => {
            assert!(message.contains("could not serialize"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.submit(square, 5).unwrap().result(), Ok(25));
}

#[test]
fn done_callbacks_see_the_outcome() {
    let pool = ProcessPool::new(1);
    let (tx, rx) = std::sync::mpsc::channel();
    let f = pool.submit(square, 9).unwrap();
    f.add_done_callback(move |r| tx.send(r.clone()).unwrap());
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Ok(81));
}

#[test]
fn the_pool_is_send_and_sync() {
    fn shared<T: Send + Sync>(_: &T) {}
    let pool = ProcessPool::new(1);
    shared(&pool);
    // Submitting from several threads at once.
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u64)
            .map(|i| {
                let pool = &pool;
                s.spawn(move || pool.submit(square, i).unwrap().result())
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), Ok((i * i) as u64));
        }
    });
}

#[test]
fn builder_rejects_zero_sizes() {
    let e = ProcessPool::builder().max_workers(0).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let e = ProcessPool::builder()
        .max_tasks_per_child(0)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let p = ProcessPool::builder()
        .max_workers(1)
        .start_method(StartMethod::Spawn)
        .name_prefix("named")
        .build()
        .unwrap();
    assert_eq!(p.submit(square, 2).unwrap().result(), Ok(4));
}
