//! Shutdown modes, submit after shutdown, drop, initializer, names.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bingfa_pool::{Error, ThreadPool};
use common::Gate;

/// A pool of one worker held by a gated task, with `n` counting tasks
/// queued behind it.
fn blocked_pool(
    n: usize,
) -> (
    ThreadPool,
    Arc<Gate>,
    Arc<AtomicUsize>,
    Vec<bingfa_pool::Future<()>>,
) {
    let pool = ThreadPool::new(1);
    let gate = Arc::new(Gate::new());
    let ran = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = crossbeam_channel::bounded(1);
    let g = gate.clone();
    let mut futures = vec![pool
        .submit(move || {
            tx.send(()).unwrap();
            g.pass();
        })
        .unwrap()];
    rx.recv_timeout(common::PATIENCE).unwrap();
    for _ in 0..n {
        let r = ran.clone();
        futures.push(
            pool.submit(move || {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap(),
        );
    }
    (pool, gate, ran, futures)
}

#[test]
fn shutdown_wait_runs_every_queued_task() {
    let (pool, gate, ran, futures) = blocked_pool(10);
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    assert!(futures.iter().all(|f| f.result() == Ok(())));
}

#[test]
fn shutdown_cancel_pending_cancels_queued_tasks_only() {
    let (pool, gate, ran, futures) = blocked_pool(10);
    pool.shutdown(false, true);
    // The running task is unaffected; the queued ones are cancelled.
    assert!(!futures[0].is_done());
    assert!(futures[1..].iter().all(|f| f.is_cancelled()));
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(futures[0].result(), Ok(()));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn shutdown_without_wait_returns_while_tasks_run() {
    let (pool, gate, ran, futures) = blocked_pool(3);
    pool.shutdown(false, false); // the gated task still runs: must not block
    assert!(pool.is_shutdown());
    assert!(!futures[0].is_done());
    gate.open();
    for f in &futures {
        assert_eq!(f.result(), Ok(()));
    }
    assert_eq!(ran.load(Ordering::SeqCst), 3);
}

#[test]
fn a_second_shutdown_can_cancel_what_is_left() {
    let (pool, gate, ran, futures) = blocked_pool(5);
    pool.shutdown(false, false);
    pool.shutdown(false, true);
    assert!(futures[1..].iter().all(|f| f.is_cancelled()));
    gate.open();
    pool.shutdown(true, false); // the workers still got their stop messages
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn submit_after_shutdown_is_an_error() {
    let pool = ThreadPool::new(2);
    assert_eq!(pool.submit(|| 1).unwrap().result(), Ok(1));
    pool.shutdown(true, false);
    assert_eq!(pool.submit(|| 1).unwrap_err(), Error::Shutdown);
    assert!(pool.is_shutdown());
}

#[test]
fn drop_waits_for_queued_tasks() {
    let (pool, gate, ran, futures) = blocked_pool(10);
    let opener = std::thread::spawn(move || gate.open());
    drop(pool);
    opener.join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    assert!(futures.iter().all(|f| f.is_done() && !f.is_cancelled()));
}

#[test]
fn shutdown_with_wait_from_a_worker_does_not_wait_for_itself() {
    let pool = Arc::new(ThreadPool::new(2));
    let p = pool.clone();
    let f = pool
        .submit(move || {
            p.shutdown(true, false);
            p.is_shutdown()
        })
        .unwrap();
    assert_eq!(f.result_timeout(common::PATIENCE), Ok(true));
    pool.shutdown(true, false);
}

#[test]
fn tasks_may_submit_more_tasks() {
    let pool = Arc::new(ThreadPool::new(2));
    let p = pool.clone();
    let outer = pool
        .submit(move || p.submit(|| 21).unwrap().result().unwrap() * 2)
        .unwrap();
    assert_eq!(outer.result(), Ok(42));
}

#[test]
fn initializer_runs_once_per_worker_and_names_follow_the_prefix() {
    let names = Arc::new(Mutex::new(Vec::new()));
    let n = names.clone();
    let pool = ThreadPool::builder()
        .max_workers(3)
        .thread_name_prefix("init")
        .initializer(move || {
            n.lock()
                .unwrap()
                .push(std::thread::current().name().unwrap().to_owned());
        })
        .build()
        .unwrap();
    for f in (0..30)
        .map(|_| pool.submit(|| ()).unwrap())
        .collect::<Vec<_>>()
    {
        f.result().unwrap();
    }
    drop(pool);
    let mut names = names.lock().unwrap().clone();
    names.sort();
    assert_eq!(names, ["init_0", "init_1", "init_2"]);
}

#[test]
fn a_panicking_initializer_breaks_the_pool() {
    let pool = ThreadPool::builder()
        .max_workers(2)
        .initializer(|| panic!("no database"))
        .build()
        .unwrap();
    let broken = Error::BrokenPool {
        message: "no database".into(),
    };
    // Either the task was queued and then failed, or the workers had
    // already marked the pool broken and submit refused it.
    match pool.submit(|| 1) {
        Ok(f) => assert_eq!(f.result(), Err(broken.clone())),
        Err(e) => assert_eq!(e, broken),
    }
    // Once a task has failed that way, submit refuses too.
    assert_eq!(pool.submit(|| 1).unwrap_err(), broken);
}

#[test]
fn zero_workers_is_refused() {
    let e = ThreadPool::builder().max_workers(0).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(std::panic::catch_unwind(|| ThreadPool::new(0)).is_err());
}

#[test]
fn default_size_follows_python() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let pool = ThreadPool::builder().build().unwrap();
    assert_eq!(pool.max_workers(), (cpus + 4).min(32));
}
