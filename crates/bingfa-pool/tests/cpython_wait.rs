//! Port of CPython's `Lib/test/test_concurrent_futures/test_wait.py`
//! (main branch, revision 1b2e7aadfd0bc7915beaef4afbd4a36e0cea38e8), one
//! Rust test per upstream test and executor type (`thread_pool::NAME`,
//! `fork_server::NAME`, `spawn::NAME`); `PARITY.md` lists every upstream
//! test and how it maps.
//!
//! Copyright (c) 2001 Python Software Foundation; All Rights Reserved.
//! Licensed under the PSF License Agreement (PSF-2.0); adapted to Rust.
//!
//! `event.wait` in a task is `Op::Wait` on a [`FileEvent`] (a file), which
//! works across processes; `FIRST_EXCEPTION` is `ReturnWhen::FirstError`.

mod cpython;

use std::collections::HashSet;
use std::time::Duration;

use bingfa_pool::{wait, DoneAndNotDone, Future, ReturnWhen, ThreadPool};
use cpython::futures::{cancelled, exception, pending, successful};
use cpython::{Exec, FileEvent, Op, Val};

bingfa_pool::enable_test_support!();

/// The positions in `all` of `fs` (upstream compares sets of futures).
fn ids(fs: &[Future<Val>], all: &[Future<Val>]) -> HashSet<usize> {
    fs.iter()
        .map(|f| all.iter().position(|g| g.ptr_eq(f)).expect("one of ours"))
        .collect()
}

fn split(r: &DoneAndNotDone<Val>, all: &[Future<Val>]) -> (HashSet<usize>, HashSet<usize>) {
    (ids(&r.done, all), ids(&r.not_done, all))
}

fn test_20369(e: &dyn Exec) {
    let future = e.submit(Op::Mul(1, 2)).unwrap();
    let r = wait(
        [future.clone(), future.clone()],
        ReturnWhen::AllCompleted,
        None,
    );
    assert_eq!(r.done.len(), 1);
    assert!(r.done[0].ptr_eq(&future));
    assert!(r.not_done.is_empty());
}

fn test_first_completed(e: &dyn Exec) {
    let event = FileEvent::new();
    let future1 = e.submit(Op::Mul(21, 2)).unwrap();
    let future2 = e.submit(Op::Wait(event.path())).unwrap();
    // Upstream's CANCELLED_FUTURE is cancelled but not yet "notified", so
    // upstream's wait() skips it; here one state covers both, and a
    // cancelled future is done. A pending future plays its part instead.
    let (not_started, _c) = pending();
    let all = vec![not_started, future1, future2.clone()];
    let r = wait(all.clone(), ReturnWhen::FirstCompleted, None);
    assert_eq!(split(&r, &all), (HashSet::from([1]), HashSet::from([0, 2])));
    event.set();
    future2.result().unwrap();
}

fn test_first_completed_some_already_completed(e: &dyn Exec) {
    let event = FileEvent::new();
    let future1 = e.submit(Op::Wait(event.path())).unwrap();
    let all = vec![cancelled(), successful(Val::Int(42)), future1.clone()];
    let r = wait(all.clone(), ReturnWhen::FirstCompleted, None);
    assert_eq!(split(&r, &all), (HashSet::from([0, 1]), HashSet::from([2])));
    event.set();
    future1.result().unwrap();
}

fn test_first_exception(e: &dyn Exec) {
    let event1 = FileEvent::new();
    let event2 = FileEvent::new();
    let future1 = e.submit(Op::Mul(2, 21)).unwrap();
    let future2 = e.submit(Op::WaitThenPanic(event1.path())).unwrap();
    let future3 = e.submit(Op::Wait(event2.path())).unwrap();
    // Ensure that future1 is completed before future2 finishes.
    let f1 = future1.clone();
    let t = std::thread::spawn({
        let p = event1.path();
        move || {
            f1.result().unwrap();
            std::fs::write(p, b"set").unwrap();
        }
    });
    let all = vec![future1, future2, future3.clone()];
    let r = wait(all.clone(), ReturnWhen::FirstError, None);
    assert_eq!(split(&r, &all), (HashSet::from([0, 1]), HashSet::from([2])));
    t.join().unwrap();
    event2.set();
    future3.result().unwrap();
}

fn test_first_exception_some_already_complete(e: &dyn Exec) {
    let event = FileEvent::new();
    let future1 = e.submit(Op::Divmod(21, 0)).unwrap();
    let future2 = e.submit(Op::Wait(event.path())).unwrap();
    // Upstream's not-yet-notified CANCELLED_FUTURE counts as pending
    // there; a pending future plays it here (see test_first_completed).
    let (not_started, _c) = pending();
    let all = vec![
        successful(Val::Int(42)),
        not_started,
        cancelled(),
        future1,
        future2.clone(),
    ];
    let r = wait(all.clone(), ReturnWhen::FirstError, None);
    assert_eq!(
        split(&r, &all),
        (HashSet::from([0, 2, 3]), HashSet::from([1, 4]))
    );
    event.set();
    future2.result().unwrap();
}

fn test_first_exception_one_already_failed(e: &dyn Exec) {
    let event = FileEvent::new();
    let future1 = e.submit(Op::Wait(event.path())).unwrap();
    let all = vec![exception(), future1.clone()];
    let r = wait(all.clone(), ReturnWhen::FirstError, None);
    assert_eq!(split(&r, &all), (HashSet::from([0]), HashSet::from([1])));
    event.set();
    future1.result().unwrap();
}

fn test_all_completed(e: &dyn Exec) {
    let future1 = e.submit(Op::Divmod(2, 0)).unwrap();
    let future2 = e.submit(Op::Mul(2, 21)).unwrap();
    let all = vec![
        successful(Val::Int(42)),
        cancelled(),
        exception(),
        future1,
        future2,
    ];
    let r = wait(all.clone(), ReturnWhen::AllCompleted, None);
    assert_eq!(split(&r, &all), ((0..5).collect(), HashSet::new()));
}

fn test_timeout(e: &dyn Exec) {
    let short_timeout = Duration::from_millis(50);
    let event = FileEvent::new();
    let future = e.submit(Op::Wait(event.path())).unwrap();
    let all = vec![
        cancelled(),
        exception(),
        successful(Val::Int(42)),
        future.clone(),
    ];
    let r = wait(all.clone(), ReturnWhen::AllCompleted, Some(short_timeout));
    assert_eq!(
        split(&r, &all),
        (HashSet::from([0, 1, 2]), HashSet::from([3]))
    );
    event.set();
    future.result().unwrap();
}

for_each_executor!(
    test_20369,
    test_first_completed,
    test_first_completed_some_already_completed,
    test_first_exception,
    test_first_exception_some_already_complete,
    test_first_exception_one_already_failed,
    test_all_completed,
    test_timeout,
);

/// Upstream's `ThreadPoolWaitTests.test_pending_calls_race` (issue
/// 14406): waiting on 100 futures released at once (upstream also shrinks
/// the interpreter's switch interval).
#[test]
fn test_pending_calls_race() {
    let pool = ThreadPool::new(cpython::WORKER_COUNT);
    let event = FileEvent::new();
    let fs: Vec<_> = (0..100)
        .map(|_| Exec::submit(&pool, Op::Wait(event.path())).unwrap())
        .collect();
    event.set();
    let r = wait(fs, ReturnWhen::AllCompleted, None);
    assert_eq!((r.done.len(), r.not_done.len()), (100, 0));
}
