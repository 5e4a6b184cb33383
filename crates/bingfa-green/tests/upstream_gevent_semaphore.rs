//! gevent's `src/gevent/tests/test__semaphore.py` and
//! `src/gevent/tests/test__lock.py` (whose `TestRLockMultiThread` reruns
//! the semaphore's thread tests on `RLock`), ported one test per upstream
//! test, named after it with the upstream class as a prefix.
//!
//! Upstream: repository gevent/gevent, files
//! `src/gevent/tests/test__semaphore.py` (last change 7eb9b595) and
//! `src/gevent/tests/test__lock.py` (last change aea5a340), read at
//! revision 04752c48d92ffadb100fe3e8fac7d6e7a9524616 (gevent 26.5.0+).
//! Licence: MIT, Copyright (c) 2009-2015 Denis Bilenko and the gevent
//! contributors. `PARITY-sync.md` lists every upstream test.
//!
//! The thread tests use plain OS threads against green threads, as
//! upstream does with unpatched `threading`: a green `Semaphore` or
//! `RLock` is `Send + Sync`, and a plain thread that waits on it blocks
//! that thread.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bingfa_green::sync::{wait, RLock, Semaphore};
use bingfa_green::{joinall_timeout, run, sleep, spawn, yield_now, Handle};

/// gevent's `LARGE_TICK`.
const LARGE_TICK: Duration = Duration::from_millis(200);
const SMALLEST_RELIABLE_DELAY: Duration = Duration::from_millis(1);

// ---- TestSemaphore ----

/// gevent issue 39.
#[test]
fn test_acquire_returns_false_after_timeout() {
    run(|| {
        let s = Semaphore::new(0);
        assert!(s.acquire_timeout(Duration::from_millis(10)).is_none());
    })
    .unwrap();
}

/// Upstream links two callbacks (`rawlink`) that run when the semaphore
/// is released; here two green threads wait for it (`sync::wait`), which
/// is what `rawlink` serves. Both run; the order is not promised.
#[test]
fn test_release_twice() {
    run(|| {
        let s = Rc::new(Semaphore::new(1));
        let result = Rc::new(std::cell::RefCell::new(Vec::new()));
        let watcher = |name: &'static str| {
            let (s, r) = (s.clone(), result.clone());
            spawn(move || {
                wait(&[&*s], None);
                r.borrow_mut().push(name);
            })
        };
        let a = watcher("a");
        s.release().unwrap();
        let b = watcher("b");
        s.release().unwrap();
        sleep(SMALLEST_RELIABLE_DELAY);
        a.join().unwrap();
        b.join().unwrap();
        let mut got = result.borrow().clone();
        got.sort_unstable();
        assert_eq!(got, ["a", "b"]);
    })
    .unwrap();
}

#[test]
fn test_semaphore_weakref() {
    let s = Rc::new(Semaphore::new(1));
    let r = Rc::downgrade(&s);
    assert!(Rc::ptr_eq(&s, &r.upgrade().unwrap()));
}

// test_semaphore_in_class_with_del: n/a (a crash of PyPy's GC with a
// Cython semaphore in `__del__`).

/// gevent issue 1287: waiting for a semaphore that is free returns at
/// once.
#[test]
fn test_rawlink_on_unacquired_runs_notifiers() {
    run(|| {
        let s = Semaphore::new(1);
        assert_eq!(wait(&[&s], None), [0]);
    })
    .unwrap();
}

// ---- TestSemaphoreMultiThread, TestBoundedSemaphoreMultiThread,
//      TestRLockMultiThread (test__lock.py) ----

/// What the thread tests vary: a semaphore of one permit, bounded or not,
/// or an `RLock`.
trait OnePermit: Send + Sync + 'static {
    fn make() -> Self;
    /// Acquires and keeps it (the green side's "Make future acquires
    /// block").
    fn hold(&self);
    /// Gives back what `hold` took.
    fn unhold(&self);
    /// Acquires (at most `timeout`), releases, and says whether it got it.
    fn acquire_release(&self, timeout: Option<Duration>) -> bool;
}

impl OnePermit for Semaphore {
    fn make() -> Self {
        Semaphore::new(1)
    }
    fn hold(&self) {
        self.acquire().forget();
    }
    fn unhold(&self) {
        self.release().unwrap();
    }
    fn acquire_release(&self, timeout: Option<Duration>) -> bool {
        match timeout {
            Some(t) => self.acquire_timeout(t).is_some(),
            None => {
                drop(self.acquire());
                true
            }
        }
    }
}

/// `BoundedSemaphore(1)`.
struct Bounded(Semaphore);

impl OnePermit for Bounded {
    fn make() -> Self {
        Bounded(Semaphore::bounded(1))
    }
    fn hold(&self) {
        self.0.acquire().forget();
    }
    fn unhold(&self) {
        self.0.release().unwrap();
    }
    fn acquire_release(&self, timeout: Option<Duration>) -> bool {
        self.0.acquire_release(timeout)
    }
}

/// An `RLock` whose holding green thread is the one that called `hold`:
/// `unhold` must be called by it too (a guard is not `Send`, so the held
/// guard is kept in a thread-local slot of that OS thread).
struct ReLock(RLock);

thread_local! {
    static HELD: std::cell::RefCell<Vec<bingfa_green::sync::RLockGuard<'static, ()>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl OnePermit for &'static ReLock {
    fn make() -> Self {
        Box::leak(Box::new(ReLock(RLock::new(()))))
    }
    fn hold(&self) {
        let g = self.0.lock();
        HELD.with(|h| h.borrow_mut().push(g));
    }
    fn unhold(&self) {
        HELD.with(|h| h.borrow_mut().pop());
    }
    fn acquire_release(&self, timeout: Option<Duration>) -> bool {
        match timeout {
            Some(t) => self.0.lock_timeout(t).is_some(),
            None => {
                drop(self.0.lock());
                true
            }
        }
    }
}

/// Upstream's `_do_test_acquire_in_one_then_another`: the main green
/// thread holds the permit; a plain thread tries to acquire (with
/// `timeout` if given); the main one releases it if `release`. Returns
/// what the thread got.
fn acquire_in_one_then_another<S: OnePermit>(release: bool, timeout: Option<Duration>) -> bool {
    run(move || {
        let sem = Arc::new(S::make());
        sem.hold();
        let (running_tx, running_rx) = mpsc::channel();
        let (acquired_tx, acquired_rx) = mpsc::channel();
        let s = sem.clone();
        let t = std::thread::spawn(move || {
            running_tx.send(()).unwrap();
            acquired_tx.send(s.acquire_release(timeout)).unwrap();
        });
        running_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        if release {
            sem.unhold();
        }
        let got = acquired_rx.recv_timeout(LARGE_TICK * 25).unwrap();
        t.join().unwrap();
        if !release {
            // "This doesn't, of course, notify anything, because the
            // waiter has given up."
            sem.unhold();
        }
        assert!(sem.acquire_release(Some(Duration::ZERO)), "free at the end");
        got
    })
    .unwrap()
}

/// Upstream's `test_acquire_in_one_wait_greenlet_wait_thread_gives_up`: a
/// green thread waits for the permit and gets it; while it holds it, a
/// plain thread tries with a timeout and gives up.
fn wait_greenlet_wait_thread_gives_up<S: OnePermit>() {
    run(|| {
        let sem = Arc::new(S::make());
        sem.hold();
        let (thread_tx, thread_rx) = mpsc::channel::<std::thread::JoinHandle<bool>>();
        let s = sem.clone();
        let glet = spawn(move || {
            let s2 = s.clone();
            // Acquires in this green thread: for an RLock the holder is
            // this green thread, which releases it below.
            s.hold();
            let t = std::thread::spawn(move || s2.acquire_release(Some(LARGE_TICK)));
            thread_tx.send(t).unwrap();
            sleep(LARGE_TICK * 2);
            s.unhold();
            true
        });
        yield_now();
        sem.unhold();
        assert!(glet.join().unwrap());
        let t = thread_rx.recv().unwrap();
        assert!(!t.join().unwrap(), "the thread gave up");
    })
    .unwrap();
}

/// Upstream's `test_dueling_threads`: two plain threads acquire and
/// release 10 000 times each (with a timeout of 4 s, or each in a hub of
/// its own sleeping green every 10 rounds); both finish.
fn dueling_threads<S: OnePermit>(timeout: Option<Duration>, with_hub: bool) {
    const COUNT: usize = 10_000;
    let sem = Arc::new(S::make());
    let results = Arc::new([AtomicUsize::new(usize::MAX), AtomicUsize::new(usize::MAX)]);
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|ix| {
            let (sem, results, stop) = (sem.clone(), results.clone(), stop.clone());
            std::thread::spawn(move || {
                let work = move || {
                    for i in 0..COUNT {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let got = sem.acquire_release(timeout);
                        assert!(timeout.is_some() || got);
                        results[ix].store(i, Ordering::Relaxed);
                        if with_hub && i % 10 == 0 {
                            sleep(SMALLEST_RELIABLE_DELAY);
                        } else if i % 100 == 0 {
                            std::thread::sleep(SMALLEST_RELIABLE_DELAY);
                        }
                    }
                };
                if with_hub {
                    run(work).unwrap();
                } else {
                    work();
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while threads.iter().any(|t| !t.is_finished()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let got: Vec<usize> = results.iter().map(|r| r.load(Ordering::Relaxed)).collect();
    assert_eq!(got, [COUNT - 1, COUNT - 1]);
}

macro_rules! multi_thread_class {
    ($module:ident, $kind:ty) => {
        mod $module {
            use super::*;

            #[test]
            fn test_acquire_in_one_then_another() {
                assert!(acquire_in_one_then_another::<$kind>(true, None));
            }

            #[test]
            fn test_acquire_in_one_then_another_timed() {
                assert!(!acquire_in_one_then_another::<$kind>(
                    false,
                    Some(SMALLEST_RELIABLE_DELAY)
                ));
            }

            #[test]
            fn test_acquire_in_one_wait_greenlet_wait_thread_gives_up() {
                wait_greenlet_wait_thread_gives_up::<$kind>();
            }

            #[test]
            fn test_dueling_threads() {
                dueling_threads::<$kind>(None, false);
            }

            #[test]
            fn test_dueling_threads_timeout() {
                dueling_threads::<$kind>(Some(Duration::from_secs(4)), false);
            }

            #[test]
            fn test_dueling_threads_with_hub() {
                dueling_threads::<$kind>(None, true);
            }
        }
    };
}

multi_thread_class!(semaphore_multi_thread, Semaphore);
multi_thread_class!(bounded_semaphore_multi_thread, Bounded);
multi_thread_class!(rlock_multi_thread, &'static ReLock);

// TestCExt.test_c_extension: n/a (checks that gevent's Cython module is
// in use).

// ---- TestSemaphoreFair ----

/// gevent issue 1487: the semaphore is fair, so the green thread that
/// waits to acquire and then exit gets its turn between two green threads
/// that keep handing the permit around. Upstream expects `LoopExit` once
/// everything left is blocked; here `joinall` is given a timeout instead
/// (the hub's `LoopExit` is not the semaphore's business).
#[test]
fn test_fair_or_hangs() {
    run(|| {
        fn acquire_then_spawn(sem: Rc<Semaphore>, should_quit: Rc<std::cell::Cell<bool>>) {
            if should_quit.get() {
                return;
            }
            sem.acquire().forget();
            let g = spawn(move || release_then_spawn(sem, should_quit));
            let _ = g.join();
        }
        fn release_then_spawn(sem: Rc<Semaphore>, should_quit: Rc<std::cell::Cell<bool>>) {
            sem.release().unwrap();
            if should_quit.get() {
                return;
            }
            let g = spawn(move || acquire_then_spawn(sem, should_quit));
            let _ = g.join();
        }
        let sem = Rc::new(Semaphore::new(1));
        let should_quit = Rc::new(std::cell::Cell::new(false));
        let (s, q) = (sem.clone(), should_quit.clone());
        let keep_going1 = spawn(move || acquire_then_spawn(s, q));
        let (s, q) = (sem.clone(), should_quit.clone());
        let keep_going2 = spawn(move || acquire_then_spawn(s, q));
        let (s, q) = (sem.clone(), should_quit.clone());
        let exiting = spawn(move || {
            s.acquire().forget();
            q.set(true);
        });
        let all: [&Handle<()>; 3] = [&keep_going1, &keep_going2, &exiting];
        assert!(
            joinall_timeout(all, LARGE_TICK * 5) < 3,
            "everything left blocks"
        );
        assert!(exiting.is_dead());
        assert!(keep_going2.is_dead());
        assert!(!keep_going1.is_dead());
        sem.release().unwrap();
        keep_going1.kill();
        keep_going2.kill();
        exiting.kill();
        yield_now();
    })
    .unwrap();
}

// ---- TestLockReinitAfterFork (test__lock.py) ----
// test_it: n/a (forks a monkey-patched Python process holding a logging
// lock; bingfa-green has no monkey patching, and forking a hub is not
// supported).
