//! `cancel` succeeds only while the task is pending.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bingfa_pool::{Error, Future, ThreadPool};
use common::Gate;

#[test]
fn cancel_works_only_while_pending() {
    let pool = ThreadPool::new(1);
    let gate = Arc::new(Gate::new());
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let g = gate.clone();
    let running = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            g.pass();
            1
        })
        .unwrap();
    let queued_ran = Arc::new(AtomicBool::new(false));
    let q = queued_ran.clone();
    let queued = pool
        .submit(move || q.store(true, Ordering::SeqCst))
        .unwrap();
    started_rx.recv_timeout(common::PATIENCE).unwrap();

    assert!(running.is_running());
    assert!(!running.cancel(), "a running task cannot be cancelled");
    assert!(!queued.is_running() && !queued.is_done());
    assert!(queued.cancel(), "a pending task can");
    assert!(queued.cancel(), "cancelling again still reports cancelled");
    assert!(queued.is_cancelled() && queued.is_done());
    assert_eq!(queued.result(), Err(Error::Cancelled));

    gate.open();
    assert_eq!(running.result(), Ok(1));
    assert!(!running.cancel(), "a finished task cannot be cancelled");
    assert!(!running.is_cancelled());
    pool.shutdown(true, false);
    assert!(
        !queued_ran.load(Ordering::SeqCst),
        "the cancelled task never ran"
    );
}

#[test]
fn completer_sees_cancellation() {
    let (f, c) = Future::<String>::pending();
    assert!(f.cancel());
    assert!(c.is_cancelled());
    assert!(!c.set_running());
    // A later result is refused and dropped.
    let (f2, c2) = Future::<String>::pending();
    f2.cancel();
    assert!(!c2.set_result("late".into()));
    assert_eq!(f.try_result(), Some(Err(Error::Cancelled)));
}

#[test]
fn a_dropped_completer_cancels_or_abandons() {
    let (f, c) = Future::<u8>::pending();
    drop(c);
    assert_eq!(f.result(), Err(Error::Cancelled));
    let (f, c) = Future::<u8>::pending();
    assert!(c.set_running());
    drop(c);
    assert_eq!(f.result(), Err(Error::Abandoned));
}
