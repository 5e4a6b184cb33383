//! The process pool's executor tests that make sense remotely, run against
//! a `ClusterPool` with two workers.
//!
//! Ported from bingfa-pool's `tests/process_pool.rs` (this repository,
//! itself after CPython 3.13 `Lib/test/test_concurrent_futures/`,
//! PSF-2.0); see `PARITY.md` for each test.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bingfa_cluster::{as_completed, wait, ClusterPool, Error as ClusterError, ReturnWhen, Worker};
use bingfa_pool::Error;
use serde::{Serialize, Serializer};

use crate::common::*;

/// Two in-process workers (tasks in their own processes), and a pool.
fn two_workers(url: &str) -> (Worker, Worker, ClusterPool) {
    (worker(url, "w1", 1), worker(url, "w2", 1), pool(url))
}

#[test]
fn submit_runs_in_another_process() {
    let Some(server) = redis() else { return };
    let (w1, w2, pool) = two_workers(server.url());
    let mut pids = w1.process_pids();
    pids.extend(w2.process_pids());
    let pid = pool
        .submit(&MY_PID, ())
        .unwrap()
        .result_timeout(PATIENCE)
        .unwrap();
    assert_ne!(pid, std::process::id());
    assert!(
        pids.contains(&pid),
        "{pid} not among the workers' processes {pids:?}"
    );
    assert_eq!(
        pool.submit(&SQUARE, 12).unwrap().result_timeout(PATIENCE),
        Ok(144)
    );
}

#[test]
fn tasks_run_in_parallel_on_distinct_workers() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let dir = scratch("parallel");
    let d = dir.to_string_lossy().into_owned();
    let a = pool.submit(&MEET, d.clone()).unwrap();
    let b = pool.submit(&MEET, d).unwrap();
    assert_eq!(a.result_timeout(PATIENCE), Ok(true));
    assert_eq!(b.result_timeout(PATIENCE), Ok(true));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn map_keeps_input_order_for_every_chunk_size() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let expected: Vec<u32> = (0..40).collect();
    let got: Vec<u32> = pool
        .map(&SLOW_IDENTITY, 0..40)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, expected);
    for chunk in [1, 3, 7, 40, 100] {
        let m = pool.map_chunked(&SLOW_IDENTITY, 0..40, chunk).unwrap();
        assert_eq!(m.len(), 40);
        let got: Vec<u32> = m.map(Result::unwrap).collect();
        assert_eq!(got, expected, "chunk size {chunk}");
    }
    assert_eq!(pool.map(&SQUARE, Vec::<u64>::new()).unwrap().count(), 0);
}

#[test]
fn a_panic_in_a_chunk_fails_only_its_item() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let results: Vec<Result<u32, Error>> =
        pool.map_chunked(&EVEN_ONLY, 0..10, 4).unwrap().collect();
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
    let Some(server) = redis() else { return };
    let (w1, w2, pool) = two_workers(server.url());
    let mut before = w1.process_pids();
    before.extend(w2.process_pids());
    let f = pool
        .submit(&PANICS, "boom in a worker".to_string())
        .unwrap();
    assert_eq!(
        f.result_timeout(PATIENCE),
        Err(Error::Panicked {
            message: "boom in a worker".into()
        })
    );
    // Not retried: one failure, no retry.
    let status = pool.status().unwrap();
    assert_eq!(status.retried, 0);
    assert_eq!(status.failed, 1);
    let mut after = w1.process_pids();
    after.extend(w2.process_pids());
    assert_eq!(before, after, "a worker process was replaced after a panic");
    assert_eq!(
        pool.submit(&SQUARE, 3).unwrap().result_timeout(PATIENCE),
        Ok(9)
    );
}

#[test]
fn sigkill_of_a_task_process_fails_only_that_task() {
    let Some(server) = redis() else { return };
    let (w1, w2, pool) = two_workers(server.url());
    let dir = scratch("sigkill");
    let path = dir.join("victim").to_string_lossy().into_owned();
    let victim = pool
        .submit(&REPORT_AND_SLEEP, (path.clone(), 60_000))
        .unwrap();
    let pid: u32 = wait_for_file(Path::new(&path))
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let others: Vec<_> = (0..6u64)
        .map(|i| pool.submit(&SLEEP_MS, i).unwrap())
        .collect();
    // SAFETY: sending SIGKILL to a worker process of this test.
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
    // The worker goes on with a replacement process; the task was not
    // retried (a crash in the task is the task's failure).
    assert_eq!(pool.status().unwrap().retried, 0);
    wait_until("the dead process is replaced", || {
        w1.process_pids().len() + w2.process_pids().len() == 2
    });
    assert!(!w1.process_pids().contains(&pid) && !w2.process_pids().contains(&pid));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_worker_that_exits_mid_task_reports_no_signal() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let f = pool.submit(&EXIT_WITH, 3).unwrap();
    assert!(
        matches!(
            f.result_timeout(PATIENCE),
            Err(Error::WorkerDied {
                signal: None,
                exit_code: Some(3),
                ..
            })
        ),
        "{f:?}"
    );
    assert_eq!(
        pool.submit(&SQUARE, 3).unwrap().result_timeout(PATIENCE),
        Ok(9)
    );
}

#[test]
fn a_worker_death_in_a_chunk_fails_that_chunk_only() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let results: Vec<Result<u32, Error>> =
        pool.map_chunked(&DIE_ON_THREE, 0..8, 2).unwrap().collect();
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
fn shutdown_waits_for_queued_tasks() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let futures: Vec<_> = (0..5u64)
        .map(|i| pool.submit(&SLEEP_MS, i * 3).unwrap())
        .collect();
    pool.shutdown(true, false);
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.try_result(), Some(Ok(i as u64 * 3)));
    }
    assert!(pool.is_shutdown());
    assert_eq!(pool.submit(&SQUARE, 1).unwrap_err(), ClusterError::Shutdown);
    assert!(pool.map(&SQUARE, [1]).is_err());
    // Again: nothing left to do.
    pool.shutdown(true, true);
}

#[test]
fn shutdown_with_cancel_pending_cancels_queued_tasks_only() {
    let Some(server) = redis() else { return };
    let w1 = worker(server.url(), "w1", 1);
    let pool = pool(server.url());
    let dir = scratch("cancel");
    let running = pool.submit(&SLEEP_MS, 300).unwrap();
    let queued: Vec<_> = (0..4)
        .map(|i| {
            let p = dir.join(format!("ran-{i}")).to_string_lossy().into_owned();
            pool.submit(&TOUCH, p).unwrap()
        })
        .collect();
    wait_until("the first task runs", || running.is_running());
    pool.shutdown(true, true);
    assert_eq!(running.try_result(), Some(Ok(300)));
    for f in &queued {
        assert!(f.is_cancelled());
        assert_eq!(f.try_result(), Some(Err(Error::Cancelled)));
    }
    // The worker reads the cancelled entries and drops them unrun.
    wait_until("the cancelled entries are dropped", || {
        pool.status()
            .is_ok_and(|s| s.cancelled == 4 && s.pending == 0)
    });
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a cancelled task ran"
    );
    drop(w1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_cancelled_future_never_runs() {
    let Some(server) = redis() else { return };
    let w1 = worker(server.url(), "w1", 1);
    let pool = pool(server.url());
    let dir = scratch("cancel-one");
    let blocker = pool.submit(&SLEEP_MS, 200).unwrap();
    let path = dir.join("ran").to_string_lossy().into_owned();
    let f = pool.submit(&TOUCH, path.clone()).unwrap();
    assert!(f.cancel());
    assert_eq!(blocker.result_timeout(PATIENCE), Ok(200));
    // Tasks run in order on the one worker: this one ran after `f` would have.
    assert_eq!(
        pool.submit(&SQUARE, 4).unwrap().result_timeout(PATIENCE),
        Ok(16)
    );
    assert!(!Path::new(&path).exists());
    assert_eq!(pool.status().unwrap().cancelled, 1);
    drop(w1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn dropping_the_pool_finishes_queued_work() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let futures: Vec<_> = (0..6u64)
        .map(|i| pool.submit(&SLEEP_MS, i).unwrap())
        .collect();
    drop(pool);
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.try_result(), Some(Ok(i as u64)));
    }
}

#[test]
fn large_arguments_and_results_travel_whole() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let v: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut expected = v.clone();
    expected.reverse();
    assert_eq!(
        pool.submit(&REVERSE, v).unwrap().result_timeout(PATIENCE),
        Ok(expected)
    );
}

/// Serializes to an error.
struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value refuses to serialize"))
    }
}

fn take_unserializable(_: Unserializable) -> u32 {
    1
}

static UNSERIALIZABLE: bingfa_cluster::Task<Unserializable, u32> =
    bingfa_cluster::Task::new("take_unserializable", take_unserializable);

impl<'de> serde::Deserialize<'de> for Unserializable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unserializable)
    }
}

#[test]
fn an_unserializable_argument_fails_its_future() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let f = pool.submit(&UNSERIALIZABLE, Unserializable).unwrap();
    match f.result_timeout(PATIENCE) {
        Err(Error::Serialization { message }) => {
            assert!(message.contains("could not serialize"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pool.submit(&SQUARE, 5).unwrap().result_timeout(PATIENCE),
        Ok(25)
    );
    // The room is given back by the future's done-callback, which runs
    // just after its waiters wake.
    wait_until("nothing is outstanding", || pool.stats().outstanding == 0);
}

#[test]
fn done_callbacks_see_the_outcome() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let (tx, rx) = std::sync::mpsc::channel();
    let f = pool.submit(&SQUARE, 9).unwrap();
    f.add_done_callback(move |r| tx.send(r.clone()).unwrap());
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Ok(81));
    // Added after it is done: runs at once.
    let (tx, rx) = std::sync::mpsc::channel();
    f.add_done_callback(move |r| tx.send(r.clone()).unwrap());
    assert_eq!(rx.try_recv().unwrap(), Ok(81));
}

#[test]
fn as_completed_and_wait_work_unchanged() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let futures: Vec<_> = [300u64, 10, 150]
        .iter()
        .map(|&ms| pool.submit(&SLEEP_MS, ms).unwrap())
        .collect();
    let mut total = 0;
    for f in as_completed(futures.clone()) {
        total += f.result().unwrap();
    }
    assert_eq!(total, 460);
    let slow = pool.submit(&SLEEP_MS, 400).unwrap();
    let fast = pool.submit(&SLEEP_MS, 1).unwrap();
    let r = wait(
        [slow.clone(), fast.clone()],
        ReturnWhen::FirstCompleted,
        None,
    );
    assert!(!r.done.is_empty());
    let r = wait([slow, fast], ReturnWhen::AllCompleted, Some(PATIENCE));
    assert_eq!(r.done.len(), 2);
    assert!(r.not_done.is_empty());
}

#[test]
fn the_pool_is_send_and_sync() {
    fn shared<T: Send + Sync>(_: &T) {}
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    shared(&pool);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u64)
            .map(|i| {
                let pool = &pool;
                s.spawn(move || pool.submit(&SQUARE, i).unwrap().result_timeout(PATIENCE))
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), Ok((i * i) as u64));
        }
    });
}

#[test]
fn builder_rejects_bad_settings() {
    let Some(server) = redis() else { return };
    let url = server.url();
    let bad = |r: Result<ClusterPool, ClusterError>| matches!(r, Err(ClusterError::Invalid(_)));
    assert!(bad(ClusterPool::builder(url).max_outstanding(0).connect()));
    assert!(bad(ClusterPool::builder(url).pool_name("").connect()));
    assert!(bad(ClusterPool::builder(url).pool_name("a b").connect()));
    assert!(bad(ClusterPool::builder(url)
        .lease(Duration::from_millis(1))
        .connect()));
    assert!(matches!(
        Worker::builder(url).concurrency(0).start(),
        Err(ClusterError::Invalid(_))
    ));
    assert!(matches!(
        ClusterPool::connect("not a url"),
        Err(ClusterError::InvalidUrl { .. })
    ));
    // Nothing listens on port 1.
    assert!(matches!(
        ClusterPool::connect("redis://127.0.0.1:1/"),
        Err(ClusterError::Connect { .. })
    ));
    let p = ClusterPool::builder(url)
        .pool_name("named.pool-1")
        .connect()
        .unwrap();
    assert_eq!(p.pool_name(), "named.pool-1");
}

#[test]
fn callbacks_run_once_per_future() {
    let Some(server) = redis() else { return };
    let (_w1, _w2, pool) = two_workers(server.url());
    let calls = Arc::new(AtomicUsize::new(0));
    let futures: Vec<_> = (0..50u64)
        .map(|i| {
            let f = pool.submit(&SQUARE, i).unwrap();
            let c = calls.clone();
            f.add_done_callback(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            });
            f
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(
            f.result_timeout(deadline - Instant::now()),
            Ok((i * i) as u64)
        );
    }
    // A waiter may return before the completing thread has run the
    // callbacks (as in Python, where `set_result` notifies the waiters,
    // then invokes the callbacks): wait for them, then count exactly.
    wait_until("every callback ran", || calls.load(Ordering::SeqCst) >= 50);
    assert_eq!(calls.load(Ordering::SeqCst), 50);
}
