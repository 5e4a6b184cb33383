//! CPython's tests of the `queue` module, ported one by one.
//!
//! Upstream: `Lib/test/test_queue.py` of CPython, the 3.13 development line
//! with `shutdown` (gh-96471) and its follow-ups (gh-115258:
//! `test_shutdown_immediate_only_notifies_with_no_tasks`), read from the
//! `EpicWink/cpython` mirror at commit
//! 3e17d3b49461e53abd8d54506f5c94bea1b6ca25. Copyright (c) Python Software
//! Foundation; licensed under the PSF License Agreement (PSF-2.0). This is a
//! translation of the tests' logic into Rust, not a copy of their code.
//!
//! One module per upstream class; `BaseQueueTestMixin`'s tests run in the
//! modules of the three queues, as Python's `QueueTest`, `LifoQueueTest`
//! and `PriorityQueueTest` inherit them (Python runs each twice, for its C
//! and pure-Python implementations; bingfa has one). `BaseSimpleQueueTest`
//! runs on the unbounded [`Queue`] (Python's `SimpleQueue` is an unbounded
//! FIFO without task tracking), `FailingQueueTest` on a [`PriorityQueue`]
//! whose items' `Ord` panics on demand (Python overrides `_put`/`_get` to
//! raise). `PARITY.md` lists every upstream test and what became of it.
//!
//! Python's `shutdown()` is `close()`, `shutdown(immediate=True)` is
//! `close_immediately()`, `ShutDown` is the `Closed` of each error type.
//! Timing only ever widened: waits that must not expire are 60 s, and a
//! thread that must be late waits for the event it must be late for.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Barrier as StdBarrier, Mutex as StdMutex};
use std::thread;
use std::time::{Duration, Instant};

use bingfa_queue::{
    GetError, GetTimeoutError, LifoQueue, PriorityQueue, PutError, PutTimeoutError, Queue,
    TaskDoneError, TryGetError, TryPutError,
};

const QUEUE_SIZE: usize = 5;
/// A wait that must not time out in a correct run.
const LONG: Duration = Duration::from_secs(60);

/// Python's `threading.Event` for the tests' own signals.
#[derive(Default)]
struct Flag(AtomicBool);

impl Flag {
    fn set(&self) {
        self.0.store(true, SeqCst);
    }
    fn is_set(&self) -> bool {
        self.0.load(SeqCst)
    }
    fn wait(&self) {
        let start = Instant::now();
        while !self.is_set() {
            assert!(start.elapsed() < LONG, "flag not set in {LONG:?}");
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Python's `BlockingTestMixin.do_blocking_test`: runs `block` here while
/// another thread, after 0.1 s, sets a flag and runs `trigger`; `block`
/// must not return before the flag is set (it must have blocked until the
/// trigger). The sleep only gives `block` a chance to block; a correct
/// queue cannot make this fail, however the threads are scheduled.
fn do_blocking_test<R>(block: impl FnOnce() -> R, trigger: impl FnOnce() + Send) -> R {
    let started = Flag::default();
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(100));
            started.set();
            trigger();
        });
        let r = block();
        assert!(started.is_set(), "blocking function appeared not to block");
        r
    })
}

/// `class BaseQueueTestMixin`, instantiated per queue type with the order
/// in which it hands out 111, 333, 222.
macro_rules! base_queue_tests {
    ($Q:ident, $order:expr) => {
        use super::*;

        type Q<T> = $Q<T>;

        /// Python's `qfull`.
        fn qfull<T: Ord>(q: &Q<T>, maxsize: usize) -> bool {
            maxsize > 0 && q.len() == maxsize
        }

        fn basic_queue_test(q: &Q<i32>) {
            assert_eq!(q.len(), 0, "call this function with an empty queue");
            assert!(q.is_empty());
            assert!(!q.is_full());
            // Check that things actually queue correctly a little.
            q.put(111).unwrap();
            q.put(333).unwrap();
            q.put(222).unwrap();
            let actual = [q.get().unwrap(), q.get().unwrap(), q.get().unwrap()];
            assert_eq!(actual, $order, "didn't seem to queue the correct data");
            for i in 0..QUEUE_SIZE as i32 - 1 {
                q.put(i).unwrap();
                assert!(q.len() > 0, "queue should not be empty");
            }
            assert!(!qfull(q, QUEUE_SIZE), "queue should not be full");
            let last = 2 * QUEUE_SIZE as i32;
            let full = 3 * 2 * QUEUE_SIZE as i32;
            q.put(last).unwrap();
            assert!(qfull(q, QUEUE_SIZE), "queue should be full");
            assert!(!q.is_empty());
            assert!(q.is_full());
            assert!(
                matches!(q.try_put(full), Err(TryPutError::Full(x)) if x == full),
                "didn't appear to block with a full queue"
            );
            assert!(
                matches!(
                    q.put_timeout(full, Duration::from_millis(10)),
                    Err(PutTimeoutError::Timeout(x)) if x == full
                ),
                "didn't appear to time out with a full queue"
            );
            // Test a blocking put.
            do_blocking_test(|| q.put(full).unwrap(), || {
                q.get().unwrap();
            });
            do_blocking_test(
                || q.put_timeout(full, Duration::from_secs(10)).unwrap(),
                || {
                    q.get().unwrap();
                },
            );
            // Empty it.
            for _ in 0..QUEUE_SIZE {
                q.get().unwrap();
            }
            assert_eq!(q.len(), 0, "queue should be empty");
            assert_eq!(
                q.try_get(),
                Err(TryGetError::Empty),
                "didn't appear to block with an empty queue"
            );
            assert_eq!(
                q.get_timeout(Duration::from_millis(10)),
                Err(GetTimeoutError::Timeout),
                "didn't appear to time out with an empty queue"
            );
            // Test a blocking get ('empty' is -1 here: the queues are typed).
            let got = do_blocking_test(|| q.get().unwrap(), || q.put(-1).unwrap());
            assert_eq!(got, -1);
            let got = do_blocking_test(
                || q.get_timeout(Duration::from_secs(10)).unwrap(),
                || q.put(-1).unwrap(),
            );
            assert_eq!(got, -1);
        }

        fn worker(q: &Q<i32>, cum: &AtomicUsize) {
            loop {
                let x = q.get().unwrap();
                if x < 0 {
                    q.task_done().unwrap();
                    return;
                }
                cum.fetch_add(x as usize, SeqCst);
                q.task_done().unwrap();
            }
        }

        fn queue_join_test(q: &Q<i32>) {
            let cum = AtomicUsize::new(0);
            thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| worker(q, &cum));
                }
                let n = if cfg!(miri) { 20 } else { 100 };
                for i in 0..n {
                    q.put(i).unwrap();
                }
                q.join();
                assert_eq!(
                    cum.load(SeqCst),
                    (0..n as usize).sum::<usize>(),
                    "join() did not block until all tasks were done"
                );
                for _ in 0..2 {
                    q.put(-1).unwrap(); // instruct the threads to close
                }
                q.join(); // verify that you can join twice
            });
        }

        #[test]
        fn test_queue_task_done() {
            // Detect the task count going negative (Python: ValueError).
            let q = Q::<i32>::new(0);
            assert_eq!(q.task_done(), Err(TaskDoneError));
        }

        #[test]
        fn test_queue_join() {
            // A queue join()s successfully, and before anything else (done
            // twice for insurance).
            let q = Q::<i32>::new(0);
            queue_join_test(&q);
            queue_join_test(&q);
            assert_eq!(q.task_done(), Err(TaskDoneError));
        }

        #[test]
        fn test_basic() {
            // Done twice to make sure it works with the same instance reused.
            let q = Q::<i32>::new(QUEUE_SIZE);
            basic_queue_test(&q);
            basic_queue_test(&q);
        }

        // test_negative_timeout_raises_exception: n/a (a `Duration` is
        // never negative; see PARITY.md).

        #[test]
        fn test_nowait() {
            let q = Q::<i32>::new(QUEUE_SIZE);
            for _ in 0..QUEUE_SIZE {
                q.try_put(1).unwrap();
            }
            assert!(matches!(q.try_put(1), Err(TryPutError::Full(1))));
            for _ in 0..QUEUE_SIZE {
                q.try_get().unwrap();
            }
            assert_eq!(q.try_get(), Err(TryGetError::Empty));
        }

        // test_shrinking_queue: n/a (the capacity is fixed at creation;
        // see PARITY.md).

        #[test]
        fn test_shutdown_empty() {
            let q = Q::<&str>::new(0);
            q.close();
            assert_eq!(q.put("data"), Err(PutError("data")));
            assert_eq!(q.get(), Err(GetError));
        }

        #[test]
        fn test_shutdown_nonempty() {
            let q = Q::<&str>::new(0);
            q.put("data").unwrap();
            q.close();
            assert_eq!(q.get(), Ok("data"));
            assert_eq!(q.get(), Err(GetError));
        }

        #[test]
        fn test_shutdown_immediate() {
            let q = Q::<&str>::new(0);
            q.put("data").unwrap();
            assert_eq!(q.close_immediately(), ["data"]);
            assert_eq!(q.get(), Err(GetError));
        }

        #[test]
        fn test_shutdown_allowed_transitions() {
            // Allowed transitions: from alive via shutdown to immediate.
            let q = Q::<&str>::new(0);
            assert!(!q.is_closed());
            assert!(q.close());
            assert!(q.is_closed());
            assert!(q.close_immediately().is_empty());
            assert!(q.is_closed());
            assert!(!q.close());
        }

        fn shutdown_all_methods_in_one_thread(immediate: bool) {
            let q = Q::<&str>::new(2);
            q.put("L").unwrap();
            q.try_put("O").unwrap();
            if immediate {
                q.close_immediately();
            } else {
                q.close();
            }
            assert_eq!(q.put("E"), Err(PutError("E")));
            assert!(matches!(q.try_put("W"), Err(TryPutError::Closed("W"))));
            if immediate {
                assert_eq!(q.get(), Err(GetError));
                assert_eq!(q.try_get(), Err(TryGetError::Closed));
                assert_eq!(q.task_done(), Err(TaskDoneError));
                q.join();
            } else {
                assert!(["L", "O"].contains(&q.get().unwrap()));
                q.task_done().unwrap();
                assert!(["L", "O"].contains(&q.get().unwrap()));
                q.task_done().unwrap();
                q.join();
                // Once the queue is empty, it is closed for gets too.
                assert_eq!(q.get(), Err(GetError));
                assert_eq!(q.try_get(), Err(TryGetError::Closed));
                assert_eq!(
                    q.get_timeout(Duration::from_secs(1)),
                    Err(GetTimeoutError::Closed)
                );
            }
        }

        #[test]
        fn test_shutdown_all_methods_in_one_thread() {
            shutdown_all_methods_in_one_thread(false);
        }

        #[test]
        fn test_shutdown_immediate_all_methods_in_one_thread() {
            shutdown_all_methods_in_one_thread(true);
        }

        fn shutdown_all_methods_in_many_threads(immediate: bool) {
            // A multi-producer, multi-consumer queue shut down while every
            // role is busy; every thread must end.
            let q = Q::<(usize, &str)>::new(0);
            let write_threads = 4;
            let read_threads = 6;
            let join_threads = 2;
            let nb_msgs = if cfg!(miri) { 64 } else { 1024 * 64 };
            let nb_msgs_w = nb_msgs / write_threads;
            let when_exec_shutdown = nb_msgs_w / 2;
            let mut nparties = write_threads + read_threads;
            if immediate {
                nparties += join_threads;
            }
            let barrier_start = StdBarrier::new(nparties);
            let ev_exec_shutdown = Flag::default();
            let res_puts = StdMutex::new(Vec::new());
            let res_gets = StdMutex::new(Vec::new());
            let res_shutdown = StdMutex::new(Vec::new());
            thread::scope(|s| {
                for _ in 0..write_threads {
                    s.spawn(|| {
                        // Put several items, then wait for everyone.
                        for i in 0..when_exec_shutdown / 2 {
                            q.put((i, "LOYD")).unwrap();
                        }
                        barrier_start.wait();
                        for i in when_exec_shutdown / 2..nb_msgs_w {
                            if q.put((i, "YDLO")).is_err() {
                                res_puts.lock().unwrap().push(false);
                                break;
                            }
                            // Trigger the shutdown (only one thread does).
                            if i == when_exec_shutdown && !ev_exec_shutdown.is_set() {
                                ev_exec_shutdown.set();
                                res_puts.lock().unwrap().push(true);
                            }
                        }
                    });
                }
                for _ in 0..read_threads {
                    s.spawn(|| {
                        // Get at least one item.
                        q.get().unwrap();
                        q.task_done().unwrap();
                        barrier_start.wait();
                        loop {
                            match q.try_get() {
                                Ok(_) => q.task_done().unwrap(),
                                Err(TryGetError::Closed) => {
                                    res_gets.lock().unwrap().push(true);
                                    break;
                                }
                                // Python spins; a yield is kinder to the
                                // machine and changes nothing checked.
                                Err(_) => thread::yield_now(),
                            }
                        }
                    });
                }
                s.spawn(|| {
                    ev_exec_shutdown.wait();
                    if immediate {
                        q.close_immediately();
                    } else {
                        q.close();
                    }
                    res_shutdown.lock().unwrap().push(q.len() == 0);
                });
                if immediate {
                    for _ in 0..join_threads {
                        s.spawn(|| {
                            barrier_start.wait();
                            q.join();
                        });
                    }
                }
            });
            assert!(res_puts.lock().unwrap().contains(&true));
            let gets = res_gets.lock().unwrap();
            assert_eq!(gets.iter().filter(|&&g| g).count(), read_threads);
            if immediate {
                assert_eq!(*res_shutdown.lock().unwrap(), [true]);
                assert!(q.is_empty());
            }
        }

        #[test]
        #[cfg_attr(miri, ignore)] // 13 threads and busy polling: too slow under Miri
        fn test_shutdown_all_methods_in_many_threads() {
            shutdown_all_methods_in_many_threads(false);
        }

        #[test]
        #[cfg_attr(miri, ignore)] // 13 threads and busy polling: too slow under Miri
        fn test_shutdown_immediate_all_methods_in_many_threads() {
            shutdown_all_methods_in_many_threads(true);
        }

        fn shutdown_get(immediate: bool) {
            let q = Q::<&str>::new(2);
            let results = StdMutex::new(Vec::new());
            let go = Flag::default();
            q.put("Y").unwrap();
            q.put("D").unwrap();
            // Queue full.
            let nthreads = if immediate { 2 } else { 3 };
            thread::scope(|s| {
                for _ in 0..nthreads {
                    s.spawn(|| {
                        go.wait();
                        let shut_down = q.get().is_err();
                        results.lock().unwrap().push(shut_down);
                    });
                }
                if immediate {
                    q.close_immediately();
                } else {
                    q.close();
                }
                go.set();
            });
            let mut results = results.into_inner().unwrap();
            results.sort_unstable();
            if immediate {
                // Every getter sees ShutDown.
                assert_eq!(results, [true, true]);
            } else {
                // The two items are got; one of the three sees ShutDown.
                assert_eq!(results, [false, false, true]);
            }
        }

        #[test]
        fn test_shutdown_get() {
            shutdown_get(false);
        }

        #[test]
        fn test_shutdown_immediate_get() {
            shutdown_get(true);
        }

        fn shutdown_put(immediate: bool) {
            let q = Q::<&str>::new(2);
            let results = StdMutex::new(Vec::new());
            let go = Flag::default();
            q.put("Y").unwrap();
            q.put("D").unwrap();
            // Queue full.
            thread::scope(|s| {
                for msg in ["E", "W"] {
                    let (q, go, results) = (&q, &go, &results);
                    s.spawn(move || {
                        go.wait();
                        let r = q.put(msg);
                        results.lock().unwrap().push(r == Err(PutError(msg)));
                    });
                }
                // Python calls shutdown() without `immediate` in both
                // variants; here the immediate variant is immediate.
                if immediate {
                    q.close_immediately();
                } else {
                    q.close();
                }
                go.set();
            });
            assert_eq!(*results.lock().unwrap(), [true, true]);
        }

        #[test]
        fn test_shutdown_put() {
            shutdown_put(false);
        }

        #[test]
        fn test_shutdown_immediate_put() {
            shutdown_put(true);
        }

        fn shutdown_join(immediate: bool) {
            let q = Q::<&str>::new(0);
            let results = StdMutex::new(Vec::new());
            q.put("Y").unwrap();
            let go = Flag::default();
            let nb = q.len();
            thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        q.join();
                        results.lock().unwrap().push(true);
                    });
                }
                if !immediate {
                    for _ in 0..nb {
                        s.spawn(|| {
                            go.wait();
                            if q.get().is_ok() {
                                q.task_done().unwrap();
                            }
                        });
                    }
                }
                if immediate {
                    q.close_immediately();
                } else {
                    q.close();
                }
                go.set();
            });
            assert_eq!(*results.lock().unwrap(), [true, true]);
        }

        #[test]
        fn test_shutdown_immediate_join() {
            shutdown_join(true);
        }

        #[test]
        fn test_shutdown_join() {
            shutdown_join(false);
        }

        fn shutdown_put_join(immediate: bool) {
            let q = Q::<&str>::new(2);
            let results = StdMutex::new(Vec::new());
            let go = Flag::default();
            q.put("Y").unwrap();
            // Queue not full.
            thread::scope(|s| {
                s.spawn(|| {
                    go.wait();
                    let r = q.put("E");
                    results.lock().unwrap().push(r == Err(PutError("E")));
                });
                s.spawn(|| {
                    q.join();
                    results.lock().unwrap().push(true);
                });
                assert_eq!(q.unfinished_tasks(), 1);
                if immediate {
                    q.close_immediately();
                } else {
                    q.close();
                }
                go.set();
                if immediate {
                    assert_eq!(q.try_get(), Err(TryGetError::Closed));
                } else {
                    assert_eq!(q.get(), Ok("Y"));
                    q.task_done().unwrap();
                }
            });
            assert_eq!(*results.lock().unwrap(), [true, true]);
        }

        #[test]
        fn test_shutdown_immediate_put_join() {
            shutdown_put_join(true);
        }

        #[test]
        fn test_shutdown_put_join() {
            shutdown_put_join(false);
        }

        #[test]
        fn test_shutdown_get_task_done_join() {
            let q = Q::<&str>::new(2);
            let results = StdMutex::new(Vec::new());
            let go = Flag::default();
            q.put("Y").unwrap();
            q.put("D").unwrap();
            assert_eq!(q.unfinished_tasks(), q.len() as u64);
            thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        go.wait();
                        let ok = q.get().is_ok();
                        if ok {
                            q.task_done().unwrap();
                        }
                        results.lock().unwrap().push(ok);
                    });
                }
                for _ in 0..2 {
                    s.spawn(|| {
                        q.join();
                        results.lock().unwrap().push(true);
                    });
                }
                go.set();
                q.close();
            });
            assert_eq!(*results.lock().unwrap(), [true; 4]);
        }

        #[test]
        fn test_shutdown_immediate_only_notifies_with_no_tasks() {
            let q = Q::<i32>::new(0);
            q.put(1).unwrap();
            q.put(1).unwrap();
            let joined = AtomicBool::new(false);
            thread::scope(|s| {
                let join_thread = s.spawn(|| {
                    q.join();
                    joined.store(true, SeqCst);
                });
                assert_eq!(q.get(), Ok(1));
                q.close_immediately();
                // One task is still unfinished: the item got above.
                assert!(!q.join_timeout(Duration::from_millis(50)));
                assert!(!joined.load(SeqCst));
                q.task_done().unwrap();
                join_thread.join().unwrap();
                assert!(joined.load(SeqCst));
            });
        }
    };
}

/// `class QueueTest(BaseQueueTestMixin)`.
#[allow(non_snake_case)]
mod QueueTest {
    base_queue_tests!(Queue, [111, 333, 222]);
}

/// `class LifoQueueTest(BaseQueueTestMixin)`.
#[allow(non_snake_case)]
mod LifoQueueTest {
    base_queue_tests!(LifoQueue, [222, 333, 111]);
}

/// `class PriorityQueueTest(BaseQueueTestMixin)`.
#[allow(non_snake_case)]
mod PriorityQueueTest {
    base_queue_tests!(PriorityQueue, [111, 222, 333]);
}

/// `class FailingQueueTest`: Python's `FailingQueue` overrides `_put` and
/// `_get` to raise on demand and checks that the queue survives. Here the
/// user code a queue runs is a priority queue's `Ord`, made to panic on
/// demand: the next comparison on this thread panics once [`fail_next`]
/// armed it, so the trigger threads' operations never fail.
#[allow(non_snake_case)]
mod FailingQueueTest {
    use super::*;

    thread_local!(static FAIL_NEXT: Cell<bool> = const { Cell::new(false) });

    fn fail_next() {
        FAIL_NEXT.with(|f| f.set(true));
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Item(i32);

    impl PartialOrd for Item {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }

    impl Ord for Item {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            if FAIL_NEXT.with(|f| f.replace(false)) {
                std::panic::panic_any("You Lose");
            }
            self.0.cmp(&other.0)
        }
    }

    /// Runs `f`, which must panic with "You Lose" (Python: raises
    /// `FailingQueueException`).
    #[track_caller]
    fn fails<R>(f: impl FnOnce() -> R) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let payload = r.err().expect("the queue didn't fail when it should have");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"You Lose"));
    }

    fn failing_queue_test(q: &PriorityQueue<Item>) {
        assert_eq!(q.len(), 0, "call this function with an empty queue");
        // The expected panics print nothing; any other one does.
        let hook = std::sync::Arc::new(std::panic::take_hook());
        let h = hook.clone();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"You Lose") {
                h(info);
            }
        }));
        for i in 0..QUEUE_SIZE as i32 - 1 {
            q.put(Item(i)).unwrap();
        }
        // A failing non-blocking put.
        fail_next();
        fails(|| q.try_put(Item(-10)));
        fail_next();
        fails(|| q.put_timeout(Item(-10), Duration::from_millis(100)));
        // Neither failed put is in the queue, nor counted as a task.
        assert_eq!(q.len(), QUEUE_SIZE - 1);
        assert_eq!(q.unfinished_tasks(), q.len() as u64);
        q.put(Item(100)).unwrap();
        assert!(q.is_full(), "queue should be full");
        // A failing blocking put: it blocks until the other thread's get
        // makes room, then fails.
        fail_next();
        fails(|| {
            do_blocking_test(
                || q.put(Item(-20)),
                || {
                    q.get().unwrap();
                },
            )
        });
        // Check the queue isn't damaged: the put failed, the get succeeded.
        q.put(Item(100)).unwrap();
        // A failing timed put, blocked first.
        fail_next();
        fails(|| {
            do_blocking_test(
                || q.put_timeout(Item(-20), Duration::from_secs(10)),
                || {
                    q.get().unwrap();
                },
            )
        });
        // The put failed, the get succeeded: re-add.
        q.put(Item(100)).unwrap();
        assert!(q.is_full(), "queue should be full");
        q.get().unwrap();
        assert!(!q.is_full(), "queue should not be full");
        q.put(Item(100)).unwrap();
        assert!(q.is_full(), "queue should be full");
        // A blocking put.
        do_blocking_test(
            || q.put(Item(200)).unwrap(),
            || {
                q.get().unwrap();
            },
        );
        // Empty it.
        for _ in 0..QUEUE_SIZE {
            q.get().unwrap();
        }
        assert_eq!(q.len(), 0, "queue should be empty");
        // Python puts one item and makes the next get fail. A get here
        // compares the items left after it, so three items are put.
        q.put(Item(1)).unwrap();
        q.put(Item(2)).unwrap();
        q.put(Item(3)).unwrap();
        fail_next();
        fails(|| q.get());
        assert_eq!(q.len(), 3, "queue should not be empty");
        fail_next();
        fails(|| q.get_timeout(Duration::from_millis(100)));
        assert_eq!(q.len(), 3, "queue should not be empty");
        // Nothing was lost or reordered.
        assert_eq!(q.get(), Ok(Item(1)));
        assert_eq!(q.get(), Ok(Item(2)));
        assert_eq!(q.get(), Ok(Item(3)));
        assert_eq!(q.len(), 0, "queue should be empty");
        // Python's failing blocking get (`do_exceptional_blocking_test(q.get,
        // ..., q.put)`) cannot be made here: a get woken by one put takes
        // the only item, which compares nothing. The failing non-blocking
        // gets above check the same outcome: the item stays.
        // Every successful put, and none of the failed ones, is a task:
        // 4 + 4 x Item(100) + Item(200) + 3.
        assert_eq!(q.unfinished_tasks(), 12);
        for _ in 0..12 {
            q.task_done().unwrap();
        }
        assert_eq!(q.unfinished_tasks(), 0);
        assert!(q.join_timeout(Duration::ZERO));
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| hook(info)));
    }

    #[test]
    fn test_failing_queue() {
        // Done twice to the same instance.
        let q = PriorityQueue::new(QUEUE_SIZE);
        failing_queue_test(&q);
        failing_queue_test(&q);
    }
}

/// xorshift64*: Python's `random.Random(42)` for the feeders' pauses.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A float in [0, 1).
    fn random(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `class BaseSimpleQueueTest`, on the unbounded [`Queue`].
#[allow(non_snake_case)]
mod BaseSimpleQueueTest {
    use super::*;

    type Feed = fn(&Queue<Option<u32>>, &StdMutex<Vec<u32>>, &StdMutex<Rng>);
    type Consume = fn(&Queue<Option<u32>>, &StdMutex<Vec<u32>>);

    fn feed(q: &Queue<Option<u32>>, seq: &StdMutex<Vec<u32>>, rnd: &StdMutex<Rng>) {
        loop {
            let Some(val) = seq.lock().unwrap().pop() else {
                q.put(None).unwrap(); // the sentinel
                return;
            };
            q.put(Some(val)).unwrap();
            let pause = {
                let mut r = rnd.lock().unwrap();
                (r.random() > 0.5).then(|| r.random() * 1e-3)
            };
            if let Some(p) = pause {
                thread::sleep(Duration::from_secs_f64(p));
            }
        }
    }

    fn consume(q: &Queue<Option<u32>>, results: &StdMutex<Vec<u32>>) {
        while let Some(val) = q.get().unwrap() {
            results.lock().unwrap().push(val);
        }
    }

    fn consume_nonblock(q: &Queue<Option<u32>>, results: &StdMutex<Vec<u32>>) {
        loop {
            let val = loop {
                match q.try_get() {
                    Ok(v) => break v,
                    Err(_) => thread::sleep(Duration::from_micros(10)),
                }
            };
            match val {
                Some(v) => results.lock().unwrap().push(v),
                None => return,
            }
        }
    }

    fn consume_timeout(q: &Queue<Option<u32>>, results: &StdMutex<Vec<u32>>) {
        loop {
            let val = loop {
                if let Ok(v) = q.get_timeout(Duration::from_micros(10)) {
                    break v;
                }
            };
            match val {
                Some(v) => results.lock().unwrap().push(v),
                None => return,
            }
        }
    }

    fn run_threads(n_threads: usize, inputs: &[u32], feed: Feed, consume: Consume) -> Vec<u32> {
        let q = Queue::unbounded();
        let results = StdMutex::new(Vec::new());
        let seq: Vec<u32> = inputs.iter().rev().copied().collect();
        let seq = StdMutex::new(seq);
        let rnd = StdMutex::new(Rng(42));
        thread::scope(|s| {
            for _ in 0..n_threads {
                s.spawn(|| feed(&q, &seq, &rnd));
                s.spawn(|| consume(&q, &results));
            }
        });
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
        results.into_inner().unwrap()
    }

    #[test]
    fn test_basic() {
        // Basic tests for get(), put() etc.
        let q = Queue::unbounded();
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
        q.put(1).unwrap();
        assert!(!q.is_empty());
        assert_eq!(q.len(), 1);
        q.put(2).unwrap();
        q.try_put(3).unwrap();
        q.put(4).unwrap();
        assert!(!q.is_empty());
        assert_eq!(q.len(), 4);

        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.len(), 3);

        assert_eq!(q.try_get(), Ok(2));
        assert_eq!(q.len(), 2);

        assert_eq!(q.get_timeout(Duration::ZERO), Ok(3)); // get(block=False)
        assert!(!q.is_empty());
        assert_eq!(q.len(), 1);

        assert_eq!(q.get_timeout(Duration::from_millis(100)), Ok(4));
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);

        assert_eq!(q.get_timeout(Duration::ZERO), Err(GetTimeoutError::Timeout));
        assert_eq!(
            q.get_timeout(Duration::from_millis(1)),
            Err(GetTimeoutError::Timeout)
        );
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
    }

    // test_negative_timeout_raises_exception: n/a (see PARITY.md).

    #[test]
    fn test_order() {
        // A pair of concurrent put() and get(): one producer, one consumer,
        // so the results come in a well-defined order.
        let inputs: Vec<u32> = (0..100).collect();
        let results = run_threads(1, &inputs, feed, consume);
        assert_eq!(results, inputs);
    }

    fn many(n: usize, count: u32, consume: Consume) {
        let inputs: Vec<u32> = (0..count).collect();
        let mut results = run_threads(n, &inputs, feed, consume);
        // Multiple consumers without synchronization append the results
        // in random order.
        results.sort_unstable();
        assert_eq!(results, inputs);
    }

    #[test]
    fn test_many_threads() {
        // Multiple concurrent put() and get().
        let (n, count) = if cfg!(miri) { (3, 30) } else { (50, 10_000) };
        many(n, count, consume);
    }

    #[test]
    fn test_many_threads_nonblock() {
        // Multiple concurrent put() and get(block=False).
        let (n, count) = if cfg!(miri) { (3, 30) } else { (50, 10_000) };
        many(n, count, consume_nonblock);
    }

    #[test]
    fn test_many_threads_timeout() {
        // Multiple concurrent put() and get(timeout=...).
        let (n, count) = if cfg!(miri) { (3, 30) } else { (50, 1_000) };
        many(n, count, consume_timeout);
    }

    #[test]
    fn test_references() {
        // The queue loses every reference to an item as soon as it leaves
        // the queue: an item dropped after `get` is dropped at once, not
        // when the queue (or its block of slots) goes.
        struct C<'a>(&'a AtomicUsize);
        impl Drop for C<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let dropped = AtomicUsize::new(0);
        let n = 20;
        let q = Queue::unbounded();
        for _ in 0..n {
            q.put(C(&dropped)).unwrap();
        }
        for i in 0..n {
            drop(q.get().unwrap());
            assert_eq!(dropped.load(SeqCst), i + 1);
        }
    }
}
