//! Done-callbacks run exactly once: added before completion, after it, and
//! from several threads while it happens; a panicking callback harms
//! nothing else.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use bingfa_pool::{Error, Future, ThreadPool};
use common::Gate;

#[test]
fn callback_added_before_completion_runs_on_the_worker() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .thread_name_prefix("cbworker")
        .build()
        .unwrap();
    let gate = Arc::new(Gate::new());
    let g = gate.clone();
    let f = pool
        .submit(move || {
            g.pass();
            5
        })
        .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    f.add_done_callback(move |r| {
        let name = thread::current().name().map(str::to_owned);
        tx.send((r.clone(), name)).unwrap();
    });
    assert!(rx.try_recv().is_err(), "ran before the task finished");
    gate.open();
    let (r, name) = rx.recv_timeout(common::PATIENCE).unwrap();
    assert_eq!(r, Ok(5));
    assert_eq!(name.as_deref(), Some("cbworker_0"));
    assert!(rx
        .recv_timeout(std::time::Duration::from_millis(50))
        .is_err());
}

#[test]
fn callback_added_after_completion_runs_at_once_on_the_caller() {
    let pool = ThreadPool::new(1);
    let f = pool.submit(|| "x".to_owned()).unwrap();
    f.wait();
    let me = thread::current().id();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    f.add_done_callback(move |r| {
        *s.lock().unwrap() = Some((r.clone(), thread::current().id()));
    });
    // Already ran, before add_done_callback returned.
    assert_eq!(*seen.lock().unwrap(), Some((Ok("x".to_owned()), me)));
}

#[test]
fn callbacks_run_in_the_order_added() {
    let (f, c) = Future::<u8>::pending();
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 0..5 {
        let o = order.clone();
        f.add_done_callback(move |_| o.lock().unwrap().push(i));
    }
    c.set_result(1);
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn callbacks_from_many_threads_while_completing_each_run_once() {
    const THREADS: usize = 4;
    const EACH: usize = 200;
    for _ in 0..20 {
        let (f, c) = Future::<usize>::pending();
        let hits: Arc<Vec<AtomicUsize>> =
            Arc::new((0..THREADS * EACH).map(|_| AtomicUsize::new(0)).collect());
        let start = Arc::new(std::sync::Barrier::new(THREADS + 1));
        let adders: Vec<_> = (0..THREADS)
            .map(|t| {
                let (f, hits, start) = (f.clone(), hits.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    for k in 0..EACH {
                        let hits = hits.clone();
                        f.add_done_callback(move |r| {
                            assert_eq!(*r, Ok(9));
                            hits[t * EACH + k].fetch_add(1, Ordering::SeqCst);
                        });
                    }
                })
            })
            .collect();
        start.wait();
        c.set_result(9); // races with the adders
        for a in adders {
            a.join().unwrap();
        }
        for (i, h) in hits.iter().enumerate() {
            assert_eq!(h.load(Ordering::SeqCst), 1, "callback {i}");
        }
    }
}

#[test]
fn a_cancelled_future_runs_callbacks_with_cancelled() {
    let (f, c) = Future::<u8>::pending();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    f.add_done_callback(move |r| s.lock().unwrap().push(r.clone()));
    assert!(f.cancel());
    assert!(!c.set_running());
    let s = seen.clone();
    f.add_done_callback(move |r| s.lock().unwrap().push(r.clone()));
    assert_eq!(
        *seen.lock().unwrap(),
        [Err(Error::Cancelled), Err(Error::Cancelled)]
    );
}

#[test]
fn a_panicking_callback_harms_nothing_else() {
    let pool = ThreadPool::new(1);
    let gate = Arc::new(Gate::new());
    let g = gate.clone();
    let f = pool
        .submit(move || {
            g.pass();
            3
        })
        .unwrap();
    let after = Arc::new(AtomicUsize::new(0));
    f.add_done_callback(|_| panic!("callback bug"));
    let a = after.clone();
    f.add_done_callback(move |_| {
        a.fetch_add(1, Ordering::SeqCst);
    });
    gate.open();
    assert_eq!(f.result(), Ok(3));
    // The later callback still ran, and the worker still works.
    assert_eq!(pool.submit(|| 4).unwrap().result(), Ok(4));
    assert_eq!(after.load(Ordering::SeqCst), 1);
    // Inline on the caller: the panic does not reach the caller either.
    f.add_done_callback(|_| panic!("inline callback bug"));
    assert_eq!(f.result(), Ok(3));
}
