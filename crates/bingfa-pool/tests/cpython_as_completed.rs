//! Port of CPython's `Lib/test/test_concurrent_futures/test_as_completed.py`
//! (main branch, revision 1b2e7aadfd0bc7915beaef4afbd4a36e0cea38e8), one
//! Rust test per upstream test and executor type (`thread_pool::NAME`,
//! `fork_server::NAME`, `spawn::NAME`); `PARITY.md` lists every upstream
//! test and how it maps.
//!
//! Copyright (c) 2001 Python Software Foundation; All Rights Reserved.
//! Licensed under the PSF License Agreement (PSF-2.0); adapted to Rust.
//!
//! Differences: Python's `as_completed(fs, timeout)` has one deadline for
//! the whole iteration and its `TimeoutError` ends it; here
//! `AsCompleted::next_timeout` bounds each wait and the iterator stays
//! usable (`remaining()` tells how many are unfinished).

mod cpython;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bingfa_pool::{as_completed, Error, Future};
use cpython::futures::{cancelled, exception, pending, running, successful};
use cpython::{Exec, Op, Val};

bingfa_pool::enable_test_support!();

fn ids(fs: impl IntoIterator<Item = Future<Val>>, all: &[Future<Val>]) -> HashSet<usize> {
    fs.into_iter()
        .map(|f| all.iter().position(|g| g.ptr_eq(&f)).expect("one of ours"))
        .collect()
}

fn test_no_timeout(e: &dyn Exec) {
    let future1 = e.submit(Op::Mul(2, 21)).unwrap();
    let future2 = e.submit(Op::Mul(7, 6)).unwrap();
    let all = vec![
        cancelled(),
        exception(),
        successful(Val::Int(42)),
        future1,
        future2,
    ];
    let completed = ids(as_completed(all.clone()), &all);
    assert_eq!(completed, (0..5).collect());
}

fn test_future_times_out(e: &dyn Exec) {
    // Upstream tries a timeout of 0 and of 100 ms.
    for timeout in [Duration::ZERO, Duration::from_millis(100)] {
        let already = vec![cancelled(), exception(), successful(Val::Int(42))];
        let future = e.submit(Op::SleepMs(1000)).unwrap();
        let mut all = already.clone();
        all.push(future.clone());
        let mut it = as_completed(all.clone());
        let mut completed = HashSet::new();
        loop {
            match it.next_timeout(timeout) {
                Ok(Some(f)) => {
                    completed.insert(all.iter().position(|g| g.ptr_eq(&f)).unwrap());
                }
                Ok(None) => panic!("the sleeping future completed"),
                Err(err) => {
                    assert_eq!(err, Error::Timeout(timeout));
                    break;
                }
            }
        }
        // `future` wasn't completed.
        assert_eq!(completed, HashSet::from([0, 1, 2]));
        assert_eq!(it.remaining(), 1);
        // Unlike Python, the iterator goes on: the future comes later.
        let last = it.next().unwrap();
        assert!(last.ptr_eq(&future));
    }
}

fn test_duplicate_futures(e: &dyn Exec) {
    let future1 = e.submit(Op::SleepMs(200)).unwrap();
    let completed: Vec<_> = as_completed(std::iter::repeat_n(future1, 3)).collect();
    assert_eq!(completed.len(), 1);
}

/// Counts the values dropped.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Upstream: the generator keeps no reference to a future it yielded
/// (weakref dies). Here: once the yielded handle is dropped, its value is
/// dropped, so the iterator kept no handle.
fn test_free_reference_yielded_future(_e: &dyn Exec) {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut completers = Vec::new();
    let mut futures_list = Vec::new();
    for _ in 0..8 {
        let (f, c) = Future::<Counted>::pending();
        futures_list.push(f);
        completers.push(c);
    }
    futures_list.push(cancelled());
    let (done, c) = Future::pending();
    c.set_result(Counted(dropped.clone()));
    futures_list.push(done);

    let mut it = as_completed(futures_list);
    // The two already done come at once; then a timeout.
    for _ in 0..2 {
        let f = it.next_timeout(Duration::ZERO).unwrap().unwrap();
        drop(f);
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "yielded value freed");
    assert_eq!(
        it.next_timeout(Duration::ZERO).unwrap_err(),
        Error::Timeout(Duration::ZERO)
    );
    // Then each completes in turn, and is freed once dropped.
    for (i, c) in completers.into_iter().enumerate() {
        c.set_result(Counted(dropped.clone()));
        drop(it.next().unwrap());
        assert_eq!(dropped.load(Ordering::SeqCst), i + 2);
    }
    assert!(it.next().is_none());
}

/// Upstream: the `TimeoutError` says "2 (of 4) futures unfinished". Here
/// the error is `Error::Timeout`, and `remaining()` gives the count.
fn test_correct_timeout_exception_msg(_e: &dyn Exec) {
    let (p, _pc) = pending::<Val>();
    let (r, _rc) = running::<Val>();
    let futures_list = vec![cancelled(), p, r, successful(Val::Int(42))];
    let mut it = as_completed(futures_list);
    let mut got = 0;
    let err = loop {
        match it.next_timeout(Duration::ZERO) {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("all completed"),
            Err(e) => break e,
        }
    };
    assert_eq!(got, 2);
    assert_eq!(err, Error::Timeout(Duration::ZERO));
    assert_eq!(
        format!("{} (of {}) futures unfinished", it.remaining(), 4),
        "2 (of 4) futures unfinished"
    );
}

for_each_executor!(
    test_no_timeout,
    test_future_times_out,
    test_duplicate_futures,
    test_free_reference_yielded_future,
    test_correct_timeout_exception_msg,
);
