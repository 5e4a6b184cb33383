//! `ThreadPool::execute`: fire-and-forget tasks without a future.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bingfa_pool::{Error, ThreadPool};
use common::{Gate, PATIENCE};

/// Counts the closures dropped, run or not.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn every_executed_task_runs_once() {
    let pool = ThreadPool::new(3);
    let n = 10_000;
    let sum = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = crossbeam_channel::unbounded();
    for i in 0..n {
        let (sum, tx) = (sum.clone(), tx.clone());
        pool.execute(move || {
            sum.fetch_add(i, Ordering::SeqCst);
            tx.send(()).unwrap();
        })
        .unwrap();
    }
    for _ in 0..n {
        rx.recv_timeout(PATIENCE).expect("a task never ran");
    }
    assert_eq!(sum.load(Ordering::SeqCst), n * (n - 1) / 2);
    assert!(rx.try_recv().is_err(), "a task ran twice");
}

#[test]
fn a_panicking_task_does_not_stop_the_worker() {
    let pool = ThreadPool::new(1);
    pool.execute(|| panic!("fire and forget")).unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    pool.execute(move || tx.send(7).unwrap()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE), Ok(7));
    assert_eq!(pool.submit(|| 1).unwrap().result(), Ok(1));
}

#[test]
fn execute_after_shutdown_is_refused_and_drops_the_closure() {
    let pool = ThreadPool::new(2);
    pool.shutdown(true, false);
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCount(dropped.clone());
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let refused = pool.execute(move || {
        let _guard = guard;
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(refused, Err(Error::Shutdown));
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

/// Queued `execute` tasks run at a plain shutdown, and are dropped unrun
/// when pending tasks are cancelled.
#[test]
fn shutdown_runs_or_drops_queued_tasks() {
    for cancel in [false, true] {
        let pool = ThreadPool::new(1);
        let gate = Arc::new(Gate::new());
        let (started_tx, started_rx) = crossbeam_channel::bounded(1);
        let g = gate.clone();
        let blocker = pool
            .submit(move || {
                started_tx.send(()).unwrap();
                g.pass();
            })
            .unwrap();
        started_rx.recv_timeout(PATIENCE).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            let (r, guard) = (ran.clone(), DropCount(dropped.clone()));
            pool.execute(move || {
                let _guard = guard;
                r.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        pool.shutdown(false, cancel);
        gate.open();
        pool.shutdown(true, false);
        assert_eq!(blocker.result(), Ok(()));
        let expect_ran = if cancel { 0 } else { 5 };
        assert_eq!(ran.load(Ordering::SeqCst), expect_ran, "cancel = {cancel}");
        assert_eq!(dropped.load(Ordering::SeqCst), 5, "cancel = {cancel}");
    }
}

#[test]
fn a_broken_pool_refuses_execute() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .initializer(|| panic!("no init"))
        .build()
        .unwrap();
    // The worker breaks the pool before it takes any task; wait for that.
    let f = pool.submit(|| ()).unwrap();
    assert!(matches!(f.result(), Err(Error::BrokenPool { .. })));
    assert!(matches!(pool.execute(|| ()), Err(Error::BrokenPool { .. })));
}
