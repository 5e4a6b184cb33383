//! The pool size bounds concurrency: with `n` workers, exactly `n` tasks
//! are ever in flight at once.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bingfa_pool::ThreadPool;
use common::Barrier;

#[test]
fn at_most_n_tasks_run_at_once_and_n_do() {
    for n in [1, 2, 3, 5] {
        let pool = ThreadPool::new(n);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        // Each group of n tasks meets at the barrier, which only opens
        // when n of them run at the same time.
        let barrier = Arc::new(Barrier::new(n));
        let futures: Vec<_> = (0..n * 8)
            .map(|_| {
                let (in_flight, max, barrier) = (in_flight.clone(), max.clone(), barrier.clone());
                pool.submit(move || {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    barrier.wait();
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                })
                .unwrap()
            })
            .collect();
        for f in futures {
            f.result().unwrap();
        }
        assert_eq!(max.load(Ordering::SeqCst), n, "pool of {n}");
    }
}

#[test]
fn many_tasks_from_many_submitters_all_complete() {
    let pool = Arc::new(ThreadPool::new(3));
    let sum = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (0..4)
        .map(|t| {
            let (pool, sum) = (pool.clone(), sum.clone());
            std::thread::spawn(move || {
                let fs: Vec<_> = (0..2000)
                    .map(|i| {
                        let sum = sum.clone();
                        pool.submit(move || {
                            sum.fetch_add(1, Ordering::Relaxed);
                            t * 10_000 + i
                        })
                        .unwrap()
                    })
                    .collect();
                for (i, f) in fs.into_iter().enumerate() {
                    assert_eq!(f.into_result(), Some(Ok(t * 10_000 + i)));
                }
            })
        })
        .collect();
    for s in submitters {
        s.join().unwrap();
    }
    assert_eq!(sum.load(Ordering::SeqCst), 8000);
}

#[test]
fn shutdown_racing_submitters_leaves_no_future_hanging() {
    for _ in 0..20 {
        let pool = Arc::new(ThreadPool::new(2));
        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut accepted = Vec::new();
                    for i in 0..500 {
                        match pool.submit(move || i) {
                            Ok(f) => accepted.push(f),
                            Err(e) => {
                                assert_eq!(e, bingfa_pool::Error::Shutdown);
                                break;
                            }
                        }
                    }
                    accepted
                })
            })
            .collect();
        pool.shutdown(false, false);
        for s in submitters {
            // Every accepted task runs to its end.
            for f in s.join().unwrap() {
                assert!(f.result_timeout(common::PATIENCE).is_ok());
            }
        }
    }
}

/// Two tasks submitted back to back to a two-worker pool run at the same
/// time, whatever state the workers are in: here one asleep and one
/// searching for work (it just ran a task). A worker that stops searching
/// with a job left behind wakes its sibling; before it did, the second
/// task waited for the next submit about half the time. Each pair waits
/// for both to have started, with a limit, so a pair that cannot run
/// together fails the test instead of hanging it.
#[test]
fn two_tasks_on_two_workers_always_run_together() {
    use std::time::{Duration, Instant};
    let pool = ThreadPool::new(2);
    for round in 0..200 {
        // Both workers run dry and go to sleep; one task wakes one of them,
        // which is then searching while the other sleeps.
        std::thread::sleep(Duration::from_millis(2));
        pool.submit(|| ()).unwrap().result().unwrap();
        let started = Arc::new(AtomicUsize::new(0));
        let pair: Vec<_> = (0..2)
            .map(|_| {
                let started = started.clone();
                pool.submit(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    let limit = Instant::now() + Duration::from_secs(2);
                    while started.load(Ordering::SeqCst) < 2 {
                        if Instant::now() > limit {
                            return false;
                        }
                        std::thread::yield_now();
                    }
                    true
                })
                .unwrap()
            })
            .collect();
        let together: Vec<bool> = pair.into_iter().map(|f| f.result().unwrap()).collect();
        assert_eq!(
            together,
            [true, true],
            "round {round}: the two tasks did not run together"
        );
    }
}
