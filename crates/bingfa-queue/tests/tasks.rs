//! `task_done` and `join`.

mod common;

use bingfa_queue::TaskDoneError;
use common::wait_until;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn counts_puts_minus_dones() {
    for_each_queue!(|make| {
        let q = make(0);
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(q.task_done(), Err(TaskDoneError));
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert!(q.try_put(3).is_ok());
        assert_eq!(q.unfinished_tasks(), 3);
        // task_done counts puts, not gets (as Python's does).
        q.task_done().unwrap();
        assert_eq!(q.unfinished_tasks(), 2);
        q.task_done().unwrap();
        q.task_done().unwrap();
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(
            q.task_done(),
            Err(TaskDoneError),
            "one too many must be an error"
        );
        assert_eq!(q.unfinished_tasks(), 0, "and must not wrap");
        assert!(q.join_timeout(Duration::ZERO));
    });
}

#[test]
fn failed_puts_add_no_task() {
    for_each_queue!(|make| {
        let q = make(1);
        q.put(1).unwrap();
        assert!(q.try_put(2).is_err());
        assert!(q.put_timeout(3, Duration::from_millis(1)).is_err());
        q.close();
        assert!(q.put(4).is_err());
        assert_eq!(q.unfinished_tasks(), 1);
    });
}

#[test]
fn join_returns_at_once_without_tasks() {
    for_each_queue!(|make| {
        let q = make::<u8>(4);
        q.join();
        assert!(q.join_timeout(Duration::from_secs(1)));
    });
}

#[test]
fn join_timeout_times_out_with_unfinished_tasks() {
    for_each_queue!(|make| {
        let q = make(4);
        q.put(1).unwrap();
        q.get().unwrap();
        assert!(!q.join_timeout(Duration::ZERO));
        assert!(!q.join_timeout(Duration::from_millis(20)));
        q.task_done().unwrap();
        assert!(q.join_timeout(Duration::from_millis(20)));
    });
}

#[test]
fn join_waits_for_the_last_task_done() {
    for_each_queue!(|make| {
        const N: usize = if cfg!(miri) { 20 } else { 200 };
        let q = make(16);
        let processed = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (q, processed) = (q.clone(), processed.clone());
                std::thread::spawn(move || {
                    while let Ok(_x) = q.get() {
                        processed.fetch_add(1, Ordering::SeqCst);
                        q.task_done().unwrap();
                    }
                })
            })
            .collect();
        let all_put = Arc::new(AtomicBool::new(false));
        let joiners: Vec<_> = (0..2)
            .map(|_| {
                let (q, processed, all_put) = (q.clone(), processed.clone(), all_put.clone());
                std::thread::spawn(move || {
                    // Joining before the last put could legitimately return
                    // early (every item put so far done), as in Python.
                    wait_until("every item put", || all_put.load(Ordering::SeqCst));
                    q.join();
                    processed.load(Ordering::SeqCst)
                })
            })
            .collect();
        for i in 0..N {
            q.put(i).unwrap();
        }
        all_put.store(true, Ordering::SeqCst);
        for j in joiners {
            // A joiner that returned saw every item processed.
            assert_eq!(j.join().unwrap(), N);
        }
        q.join();
        assert_eq!(processed.load(Ordering::SeqCst), N);
        q.close();
        for w in workers {
            w.join().unwrap();
        }
    });
}

#[test]
fn too_many_task_done_under_contention_never_overshoots() {
    for_each_queue!(|make| {
        let q = make(0);
        for i in 0..100 {
            q.put(i).unwrap();
        }
        let ok = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (q, ok) = (q.clone(), ok.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        if q.task_done().is_ok() {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(ok.load(Ordering::SeqCst), 100);
        assert_eq!(q.unfinished_tasks(), 0);
    });
}
