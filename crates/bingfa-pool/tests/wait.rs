//! `as_completed` and `wait`.

mod common;

use std::time::Duration;

use bingfa_pool::{as_completed, wait, Error, Future, ReturnWhen};

/// `n` pending futures whose completers the test drives.
fn pending(n: usize) -> (Vec<Future<usize>>, Vec<bingfa_pool::Completer<usize>>) {
    (0..n).map(|_| Future::pending()).unzip()
}

#[test]
fn as_completed_yields_in_completion_order() {
    let (fs, mut cs) = pending(4);
    let ids: Vec<_> = fs.clone();
    // Complete 2 before iterating: it comes first.
    cs.remove(2).set_result(2);
    let mut it = as_completed(fs);
    assert_eq!(it.remaining(), 4);
    let first = it.next().unwrap();
    assert!(first.ptr_eq(&ids[2]));
    // Complete the rest from another thread, in the order 3, 0, 1.
    let (c0, c1, c3) = (cs.remove(0), cs.remove(0), cs.remove(0));
    let completer = std::thread::spawn(move || {
        c3.set_result(3);
        c0.set_result(0);
        c1.set_result(1);
    });
    let got: Vec<usize> = it.map(|f| f.result().unwrap()).collect();
    completer.join().unwrap();
    assert_eq!(got, [3, 0, 1]);
}

#[test]
fn as_completed_yields_each_future_once_and_handles_cancel() {
    let (fs, cs) = pending(3);
    let dup = vec![fs[0].clone(), fs[0].clone(), fs[1].clone(), fs[2].clone()];
    let mut it = as_completed(dup);
    assert_eq!(it.remaining(), 3);
    fs[1].cancel();
    assert!(it.next().unwrap().is_cancelled());
    drop(cs); // the others are cancelled by their dropped completers
    assert_eq!(it.by_ref().count(), 2);
    assert!(it.next().is_none());
}

#[test]
fn as_completed_next_timeout() {
    let (fs, mut cs) = pending(1);
    let mut it = as_completed(fs);
    assert_eq!(
        it.next_timeout(Duration::from_millis(20)).unwrap_err(),
        Error::Timeout(Duration::from_millis(20))
    );
    cs.pop().unwrap().set_result(1);
    let f = it.next_timeout(common::PATIENCE).unwrap().unwrap();
    assert_eq!(f.result(), Ok(1));
    assert!(it.next_timeout(Duration::ZERO).unwrap().is_none());
}

#[test]
fn wait_all_completed() {
    let (fs, cs) = pending(3);
    let t = std::thread::spawn(move || {
        for (i, c) in cs.into_iter().enumerate() {
            c.set_result(i);
        }
    });
    let r = wait(fs, ReturnWhen::AllCompleted, None);
    t.join().unwrap();
    assert_eq!(r.done.len(), 3);
    assert!(r.not_done.is_empty());
    let mut vals: Vec<_> = r.done.iter().map(|f| f.result().unwrap()).collect();
    vals.sort();
    assert_eq!(vals, [0, 1, 2]);
}

#[test]
fn wait_first_completed_returns_after_one() {
    let (fs, mut cs) = pending(3);
    let c1 = cs.remove(1);
    let t = std::thread::spawn(move || c1.set_result(1));
    let r = wait(
        fs.clone(),
        ReturnWhen::FirstCompleted,
        Some(common::PATIENCE),
    );
    t.join().unwrap();
    assert_eq!(r.done.len(), 1);
    assert!(r.done[0].ptr_eq(&fs[1]));
    assert_eq!(r.not_done.len(), 2);
    drop(cs);
}

#[test]
fn wait_first_error_stops_at_a_failure_not_at_a_cancel() {
    let (fs, mut cs) = pending(4);
    fs[0].cancel(); // cancelled: not an error for FirstError
    cs.remove(1).set_result(1);
    let c2 = cs.remove(1);
    let t = std::thread::spawn(move || {
        c2.set_error(Error::Panicked {
            message: "bad".into(),
        })
    });
    let r = wait(fs.clone(), ReturnWhen::FirstError, Some(common::PATIENCE));
    t.join().unwrap();
    assert_eq!(r.done.len(), 3, "0 cancelled, 1 ok, 2 failed");
    assert_eq!(r.not_done.len(), 1);
    assert!(r.not_done[0].ptr_eq(&fs[3]));
    drop(cs);
}

#[test]
fn wait_first_error_without_errors_waits_for_all() {
    let (fs, cs) = pending(3);
    for (i, c) in cs.into_iter().enumerate() {
        c.set_result(i);
    }
    let r = wait(fs, ReturnWhen::FirstError, None);
    assert_eq!((r.done.len(), r.not_done.len()), (3, 0));
}

#[test]
fn wait_times_out_with_what_is_done() {
    let (fs, mut cs) = pending(3);
    cs.remove(0).set_result(0);
    let r = wait(
        fs.clone(),
        ReturnWhen::AllCompleted,
        Some(Duration::from_millis(30)),
    );
    assert_eq!((r.done.len(), r.not_done.len()), (1, 2));
    let r = wait(fs, ReturnWhen::AllCompleted, Some(Duration::ZERO));
    assert_eq!((r.done.len(), r.not_done.len()), (1, 2));
    drop(cs);
}

#[test]
fn wait_on_nothing_returns_at_once() {
    let r = wait(Vec::<Future<u8>>::new(), ReturnWhen::AllCompleted, None);
    assert!(r.done.is_empty() && r.not_done.is_empty());
    let r = wait(Vec::<Future<u8>>::new(), ReturnWhen::FirstError, None);
    assert!(r.done.is_empty());
}
