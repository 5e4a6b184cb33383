//! CPython's tests of its synchronization primitives, ported one by one.
//!
//! Upstream: `Lib/test/lock_tests.py` of CPython, the 3.13 development line
//! (the rewrite with `Bunch` as a context manager, `wait_threads_blocked`,
//! `test_recursion_count` and `test_multirelease`), read from the
//! `G000D1ESS/cpython` mirror at commit
//! 769c71dfde9bc815627ab5b6e2d8a1a4c0a17d0f. Copyright (c) Python Software
//! Foundation; licensed under the PSF License Agreement (PSF-2.0). This is a
//! translation of the tests' logic into Rust, not a copy of their code.
//!
//! One module per upstream class (`BaseLockTests`' tests appear in each of
//! the lock modules that inherit them, as in Python), one test per upstream
//! test, with the upstream name. Where bingfa differs from Python by design
//! (a guard cannot be released twice, `Duration` cannot be negative, ...),
//! the test ports what can run and says what differs; `PARITY.md` lists
//! every upstream test and what became of it.
//!
//! Changes made for a shared, loaded machine, none of which weakens an
//! assertion: timeouts that must not expire are 60 s instead of 2 s or
//! `SHORT_TIMEOUT`; "nothing insane happened" upper bounds on a timed wait
//! are 30 s; a lower bound on a timed wait is the full timeout (bingfa
//! never returns early; Python allows 0.6 of it); and where Python sleeps so
//! that a thread is surely late, the late thread here waits for the event
//! it must be late for.
// `drop(lock)` ports Python's `del lock`; without `detect` and `trace` a
// lock owns nothing that needs dropping, which clippy then flags.
#![allow(clippy::drop_non_drop)]

use std::cell::Cell;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex as StdMutex;
use std::thread;
use std::time::{Duration, Instant};

use bingfa_sync::{
    Barrier, BrokenBarrier, Condvar, Error, Event, Lock, Mutex, RLock, Semaphore, Timeout,
    WouldBlock,
};

/// A wait that must not time out in a correct run (Python: `SHORT_TIMEOUT`
/// or `LONG_TIMEOUT`, a few seconds to minutes).
const LONG: Duration = Duration::from_secs(60);

/// Python's `wait_threads_blocked(n)`: an arbitrary sleep so that `n`
/// threads have probably blocked. Tests use it only before asserting that
/// something did *not* happen, which a correct primitive never does
/// however long the sleep, so it cannot make a correct run fail.
fn wait_threads_blocked(n: usize) {
    thread::sleep(Duration::from_millis(10 * n as u64));
}

/// Python's `support.sleeping_retry` loops: waits until `cond` holds,
/// failing the test after [`LONG`].
#[track_caller]
fn wait_until(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < LONG, "condition not reached in {LONG:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Python's `assertTimeout(actual, expected)`: bingfa never returns before
/// the timeout; the upper bound only says nothing insane happened.
#[track_caller]
fn assert_timeout(actual: Duration, expected: Duration) {
    assert!(actual >= expected, "{actual:?} < {expected:?}");
    assert!(actual < Duration::from_secs(30), "{actual:?}");
}

/// What Python's `Bunch` counts.
#[derive(Default)]
struct Counts {
    started: AtomicUsize,
    finished: AtomicUsize,
}

impl Counts {
    fn finished(&self) -> usize {
        self.finished.load(SeqCst)
    }
}

/// Python's `with Bunch(f, n) as bunch: body(bunch)`: runs `f` on `n`
/// threads, waits until all have started, runs `body` on this thread, then
/// joins them (a panic in any of them fails the test).
fn bunch<F: Fn() + Sync>(n: usize, f: F, body: impl FnOnce(&Counts)) {
    let counts = Counts::default();
    thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                counts.started.fetch_add(1, SeqCst);
                f();
                counts.finished.fetch_add(1, SeqCst);
            });
        }
        wait_until(|| counts.started.load(SeqCst) >= n);
        body(&counts);
    });
    assert_eq!(counts.finished(), n);
}

/// `with Bunch(f, n): pass`.
fn run_bunch<F: Fn() + Sync>(n: usize, f: F) {
    bunch(n, f, |_| {});
}

/// The lock types `BaseLockTests` runs on: Python's `Lock` ([`Lock`]), the
/// data-holding lock Rust code uses for it ([`Mutex`]), and [`RLock`].
trait TestLock: Default + Debug + Sync {
    type Guard<'a>
    where
        Self: 'a;
    fn acquire(&self) -> Self::Guard<'_>;
    fn try_acquire(&self) -> Result<Self::Guard<'_>, WouldBlock>;
    fn acquire_timeout(&self, t: Duration) -> Result<Self::Guard<'_>, Timeout>;
    fn locked(&self) -> bool;
    /// Whether `repr` (Debug) says the lock is taken.
    fn repr_says_locked(repr: &str) -> bool;
}

impl TestLock for Lock {
    type Guard<'a> = bingfa_sync::LockGuard<'a>;
    fn acquire(&self) -> Self::Guard<'_> {
        Lock::acquire(self)
    }
    fn try_acquire(&self) -> Result<Self::Guard<'_>, WouldBlock> {
        Lock::try_acquire(self)
    }
    fn acquire_timeout(&self, t: Duration) -> Result<Self::Guard<'_>, Timeout> {
        Lock::acquire_timeout(self, t)
    }
    fn locked(&self) -> bool {
        self.is_locked()
    }
    fn repr_says_locked(repr: &str) -> bool {
        assert!(repr.starts_with("Lock {"), "{repr}");
        repr.contains("locked: true")
    }
}

impl TestLock for Mutex<()> {
    type Guard<'a> = bingfa_sync::MutexGuard<'a, ()>;
    fn acquire(&self) -> Self::Guard<'_> {
        self.lock()
    }
    fn try_acquire(&self) -> Result<Self::Guard<'_>, WouldBlock> {
        self.try_lock()
    }
    fn acquire_timeout(&self, t: Duration) -> Result<Self::Guard<'_>, Timeout> {
        self.lock_timeout(t)
    }
    fn locked(&self) -> bool {
        self.is_locked()
    }
    fn repr_says_locked(repr: &str) -> bool {
        assert!(repr.starts_with("Mutex {"), "{repr}");
        repr.contains("<locked>")
    }
}

impl TestLock for RLock<()> {
    type Guard<'a> = bingfa_sync::RLockGuard<'a, ()>;
    fn acquire(&self) -> Self::Guard<'_> {
        self.lock()
    }
    fn try_acquire(&self) -> Result<Self::Guard<'_>, WouldBlock> {
        self.try_lock()
    }
    fn acquire_timeout(&self, t: Duration) -> Result<Self::Guard<'_>, Timeout> {
        self.lock_timeout(t)
    }
    fn locked(&self) -> bool {
        self.is_locked()
    }
    fn repr_says_locked(repr: &str) -> bool {
        assert!(repr.starts_with("RLock {"), "{repr}");
        repr.contains("locked: true")
    }
}

/// `class BaseLockTests`: tests for both recursive and non-recursive locks,
/// instantiated once per lock type as Python's subclasses do.
macro_rules! base_lock_tests {
    ($L:ty) => {
        use super::*;

        type L = $L;

        #[test]
        fn test_constructor() {
            let lock = L::default();
            assert!(!lock.locked());
            drop(lock);
        }

        #[test]
        fn test_repr() {
            let lock = L::default();
            assert!(!L::repr_says_locked(&format!("{lock:?}")));
        }

        #[test]
        fn test_locked_repr() {
            let lock = L::default();
            let _g = lock.acquire();
            // Read from another thread: an RLock's owner would re-enter.
            let repr = thread::scope(|s| s.spawn(|| format!("{lock:?}")).join().unwrap());
            assert!(L::repr_says_locked(&repr), "{repr}");
        }

        #[test]
        fn test_acquire_destroy() {
            let lock = L::default();
            // Python drops a held lock; here the guard is forgotten (it
            // borrows the lock) and the held lock is dropped.
            std::mem::forget(lock.acquire());
            assert!(lock.locked());
            drop(lock);
        }

        #[test]
        fn test_acquire_release() {
            let lock = L::default();
            let g = lock.acquire();
            drop(g);
            assert!(!lock.locked());
        }

        #[test]
        fn test_try_acquire() {
            let lock = L::default();
            let g = lock.try_acquire();
            assert!(g.is_ok());
            drop(g);
            assert!(!lock.locked());
        }

        #[test]
        fn test_try_acquire_contended() {
            let lock = L::default();
            let _g = lock.acquire();
            let result = StdMutex::new(Vec::new());
            run_bunch(1, || {
                let got = lock.try_acquire().is_ok();
                result.lock().unwrap().push(got);
            });
            assert_eq!(*result.lock().unwrap(), [false]);
        }

        #[test]
        fn test_acquire_contended() {
            let lock = L::default();
            let g = lock.acquire();
            let n = 5;
            let g = StdMutex::new(Some(g));
            bunch(
                n,
                || {
                    let g = lock.acquire();
                    drop(g);
                },
                |bunch| {
                    // Threads block on acquire.
                    wait_threads_blocked(n);
                    assert_eq!(bunch.finished(), 0);
                    // Threads unblocked.
                    drop(g.lock().unwrap().take());
                },
            );
        }

        #[test]
        fn test_with() {
            let lock = L::default();
            let f = || drop(lock.acquire());
            // Acquire the lock, do nothing: the end of the scope releases it.
            {
                let _g = lock.acquire();
            }
            // Check that the lock is unacquired.
            run_bunch(1, f);
            // Acquire the lock and panic (Python: raise): unwinding
            // releases it.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _g = lock.acquire();
                std::panic::resume_unwind(Box::new("TypeError"));
            }));
            assert!(r.is_err());
            // Check that the lock is unacquired even after the panic.
            run_bunch(1, f);
            assert!(!lock.locked());
        }

        #[test]
        fn test_thread_leak() {
            // Python checks that no Thread object is left behind when
            // foreign threads use the lock. bingfa keeps no per-thread
            // registry; what can be checked is that 15 threads leave the
            // lock free and usable.
            let lock = L::default();
            run_bunch(15, || drop(lock.acquire()));
            assert!(!lock.locked());
            assert!(lock.try_acquire().is_ok());
        }

        #[test]
        fn test_timeout() {
            let lock = L::default();
            // Python's ValueError for blocking=False with a timeout, and
            // for a negative timeout, and its OverflowError for a huge one,
            // have no counterpart: `try_acquire` and `acquire_timeout` are
            // two methods, and a `Duration` is never negative. A timeout
            // too large to represent (Python: up to TIMEOUT_MAX) waits
            // forever, so on a free lock it succeeds at once.
            drop(lock.acquire_timeout(Duration::MAX).unwrap());
            let t1 = Instant::now();
            drop(lock.acquire_timeout(Duration::from_secs(5)).unwrap());
            // Just a sanity test that it didn't actually wait.
            assert!(t1.elapsed() < Duration::from_secs(5));
            let _g = lock.acquire();
            let results = StdMutex::new(None);
            run_bunch(1, || {
                let t1 = Instant::now();
                let r = lock.acquire_timeout(Duration::from_millis(500));
                *results.lock().unwrap() = Some((r.is_ok(), t1.elapsed(), r.err()));
            });
            let (ok, dt, err) = results.lock().unwrap().take().unwrap();
            assert!(!ok);
            assert_eq!(err, Some(Timeout(Duration::from_millis(500))));
            assert_timeout(dt, Duration::from_millis(500));
        }
    };
}

/// `class LockTests(BaseLockTests)` with `locktype = threading.Lock`:
/// [`Lock`], which any thread may release.
#[allow(non_snake_case)]
mod LockTests {
    base_lock_tests!(Lock);

    #[test]
    fn test_reacquire() {
        // Lock needs to be released before re-acquiring.
        let lock = Lock::new();
        let phase = AtomicUsize::new(0);
        thread::scope(|s| {
            s.spawn(|| {
                lock.acquire().forget();
                phase.fetch_add(1, SeqCst);
                lock.acquire().forget();
                phase.fetch_add(1, SeqCst);
            });
            // Thread blocked on the second acquire.
            wait_until(|| phase.load(SeqCst) >= 1);
            wait_threads_blocked(1);
            assert_eq!(phase.load(SeqCst), 1);
            // Thread unblocked.
            lock.release().unwrap();
            wait_until(|| phase.load(SeqCst) >= 2);
        });
        assert_eq!(phase.load(SeqCst), 2);
        lock.release().unwrap();
    }

    #[test]
    fn test_different_thread() {
        // Lock can be released from a different thread.
        let lock = Lock::new();
        lock.acquire().forget();
        run_bunch(1, || lock.release().unwrap());
        let g = lock.acquire();
        drop(g);
        // And a guard may be dropped on another thread.
        let g = lock.acquire();
        thread::scope(|s| s.spawn(move || drop(g)).join().unwrap());
        assert!(!lock.is_locked());
    }

    #[test]
    fn test_state_after_timeout() {
        // Issue #11618: check that the lock is in a proper state after a
        // (non-zero) timeout.
        let lock = Lock::new();
        let g = lock.acquire();
        assert!(lock.acquire_timeout(Duration::from_millis(10)).is_err());
        drop(g);
        assert!(!lock.is_locked());
        assert!(lock.try_acquire().is_ok());
    }

    // test_at_fork_reinit: n/a (CPython's hook that resets a lock in a
    // forked child; see PARITY.md).

    /// Python's `release()` of an unlocked lock raises `RuntimeError`
    /// (asserted by test_threading, not by lock_tests.py; here because it
    /// is `Lock`'s one error).
    #[test]
    fn release_unlocked_is_an_error() {
        let lock = Lock::new();
        assert_eq!(lock.release(), Err(Error::NotLocked));
        lock.acquire().forget();
        lock.release().unwrap();
        assert_eq!(lock.release(), Err(Error::NotLocked));
    }
}

/// `LockTests`' shared half (`BaseLockTests`) on [`Mutex<()>`], the lock
/// Rust code uses where Python code uses `threading.Lock` around data.
/// `test_reacquire` and `test_different_thread` need a release by another
/// thread, which a `Mutex` guard cannot do by design; they run on [`Lock`]
/// above.
#[allow(non_snake_case)]
mod LockTests_on_Mutex {
    base_lock_tests!(Mutex<()>);

    #[test]
    fn test_state_after_timeout() {
        let lock = Mutex::new(());
        let g = lock.lock();
        assert!(lock.lock_timeout(Duration::from_millis(10)).is_err());
        drop(g);
        assert!(!lock.is_locked());
        assert!(lock.try_lock().is_ok());
    }
}

/// `class RLockTests(BaseLockTests)` with `locktype = threading.RLock`.
#[allow(non_snake_case)]
mod RLockTests {
    base_lock_tests!(RLock<()>);

    #[test]
    fn test_reacquire() {
        let lock = RLock::new(());
        let a = lock.lock();
        let b = lock.lock();
        drop(b);
        let c = lock.lock();
        drop(c);
        drop(a);
        assert!(!lock.is_locked());
    }

    #[test]
    fn test_release_unacquired() {
        // Python: releasing an RLock that is not held raises RuntimeError.
        // Here a release is the drop of a guard, so there is nothing to
        // release without one (the compile_fail doctest on `RLockGuard`
        // shows that a guard cannot be dropped twice). What runs: the
        // acquire/release sequence, then the lock is free and not ours.
        let lock = RLock::new(());
        assert_eq!(lock.count(), 0);
        let a = lock.lock();
        let b = lock.lock();
        drop(b);
        let c = lock.lock();
        drop(c);
        drop(a);
        assert_eq!(lock.count(), 0);
        assert!(!lock.is_locked());
    }

    #[test]
    fn test_release_save_unacquired() {
        // Python's `_release_save` is what Condition.wait uses to give up
        // every level; on an unacquired RLock it raises RuntimeError. Here
        // a condition wait takes the guard, so it cannot run unacquired
        // (by construction). What runs: after the same sequence, a wait
        // with a guard gives up and restores every level.
        let lock = RLock::new(());
        let a = lock.lock();
        let b = lock.lock();
        drop(b);
        let c = lock.lock();
        drop(c);
        drop(a);
        let _outer = lock.lock();
        let mut inner = lock.lock();
        let cv = Condvar::new();
        let been_in = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                // Gets in only because the waiter released both levels.
                let _g = lock.lock();
                been_in.store(true, SeqCst);
                cv.notify_all();
            });
            cv.wait_while(&mut inner, |_| !been_in.load(SeqCst));
        });
        assert_eq!(lock.count(), 2);
        assert!(lock.is_owned_by_current_thread());
    }

    #[test]
    fn test_recursion_count() {
        let lock = RLock::new(());
        assert_eq!(lock.count(), 0);
        let a = lock.lock();
        assert_eq!(lock.count(), 1);
        let b = lock.lock();
        let c = lock.lock();
        assert_eq!(lock.count(), 3);
        drop(c);
        assert_eq!(lock.count(), 2);
        drop(b);
        drop(a);
        assert_eq!(lock.count(), 0);

        let phase = AtomicUsize::new(0);
        thread::scope(|s| {
            s.spawn(|| {
                let g = lock.lock();
                phase.fetch_add(1, SeqCst);
                wait_until(|| phase.load(SeqCst) >= 2);
                drop(g);
                phase.fetch_add(1, SeqCst);
            });
            // Thread holds the lock: this thread's count is 0.
            wait_until(|| phase.load(SeqCst) >= 1);
            assert_eq!(lock.count(), 0);
            // Thread unblocked.
            phase.fetch_add(1, SeqCst);
            wait_until(|| phase.load(SeqCst) >= 3);
            assert_eq!(lock.count(), 0);
        });
    }

    #[test]
    fn test_different_thread() {
        // Python: releasing from a thread that does not own it raises
        // RuntimeError. Here the guard cannot leave its thread (the
        // compile_fail doctest on `RLockGuard`). What runs: another thread
        // holds it, and this thread neither owns it nor can take it.
        let lock = RLock::new(());
        let held = AtomicBool::new(false);
        let done = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                let _g = lock.lock();
                held.store(true, SeqCst);
                wait_until(|| done.load(SeqCst));
            });
            wait_until(|| held.load(SeqCst));
            assert!(!lock.is_owned_by_current_thread());
            assert_eq!(lock.count(), 0);
            assert_eq!(lock.try_lock().err(), Some(WouldBlock));
            done.store(true, SeqCst);
        });
    }

    #[test]
    fn test__is_owned() {
        let lock = RLock::new(());
        assert!(!lock.is_owned_by_current_thread());
        let a = lock.lock();
        assert!(lock.is_owned_by_current_thread());
        let b = lock.lock();
        assert!(lock.is_owned_by_current_thread());
        let result = StdMutex::new(Vec::new());
        run_bunch(1, || {
            result
                .lock()
                .unwrap()
                .push(lock.is_owned_by_current_thread());
        });
        assert_eq!(*result.lock().unwrap(), [false]);
        drop(b);
        assert!(lock.is_owned_by_current_thread());
        drop(a);
        assert!(!lock.is_owned_by_current_thread());
    }
}

/// `class EventTests`.
#[allow(non_snake_case)]
mod EventTests {
    use super::*;

    #[test]
    fn test_is_set() {
        let evt = Event::new();
        assert!(!evt.is_set());
        evt.set();
        assert!(evt.is_set());
        evt.set();
        assert!(evt.is_set());
        evt.clear();
        assert!(!evt.is_set());
        evt.clear();
        assert!(!evt.is_set());
    }

    fn check_notify(evt: &Event) {
        // All threads get notified.
        let n = 5;
        let results1 = StdMutex::new(Vec::new());
        let results2 = StdMutex::new(Vec::new());
        bunch(
            n,
            || {
                evt.wait();
                results1.lock().unwrap().push(true);
                evt.wait();
                results2.lock().unwrap().push(true);
            },
            |_| {
                // Threads blocked on the first wait.
                wait_threads_blocked(n);
                assert!(results1.lock().unwrap().is_empty());
                // Threads unblocked.
                evt.set();
            },
        );
        assert_eq!(*results1.lock().unwrap(), vec![true; n]);
        assert_eq!(*results2.lock().unwrap(), vec![true; n]);
    }

    #[test]
    fn test_notify() {
        let evt = Event::new();
        check_notify(&evt);
        // Another time, after an explicit clear().
        evt.set();
        evt.clear();
        check_notify(&evt);
    }

    #[test]
    fn test_timeout() {
        let evt = Event::new();
        let n = 5;
        let t = Duration::from_millis(500);
        let results1 = StdMutex::new(Vec::new());
        let results2 = StdMutex::new(Vec::new());
        let f = || {
            let r = evt.wait_timeout(Duration::ZERO);
            results1.lock().unwrap().push(r);
            let t1 = Instant::now();
            let r = evt.wait_timeout(t);
            results2.lock().unwrap().push((r, t1.elapsed()));
        };
        run_bunch(n, f);
        assert_eq!(*results1.lock().unwrap(), vec![false; n]);
        for &(r, dt) in results2.lock().unwrap().iter() {
            assert!(!r);
            assert_timeout(dt, t);
        }
        // The event is set.
        results1.lock().unwrap().clear();
        results2.lock().unwrap().clear();
        evt.set();
        run_bunch(n, f);
        assert_eq!(*results1.lock().unwrap(), vec![true; n]);
        for &(r, _) in results2.lock().unwrap().iter() {
            assert!(r);
        }
    }

    #[test]
    fn test_set_and_clear() {
        // gh-57711: check that wait() returns true even when the event is
        // cleared before the waiting thread is woken up.
        let event = Event::new();
        let results = StdMutex::new(Vec::new());
        let waiting = AtomicUsize::new(0);
        let n = 5;
        bunch(
            n,
            || {
                waiting.fetch_add(1, SeqCst);
                let r = event.wait_timeout(LONG);
                results.lock().unwrap().push(r);
            },
            |_| {
                // Threads blocked on event.wait(). Python only sleeps here;
                // a thread that arrives after the clear would wait out LONG
                // and fail the test, so this waits until every thread is
                // about to wait, then sleeps as Python does.
                wait_until(|| waiting.load(SeqCst) == n);
                wait_threads_blocked(n);
                // Threads unblocked.
                event.set();
                event.clear();
            },
        );
        assert_eq!(*results.lock().unwrap(), vec![true; n]);
    }

    // test_at_fork_reinit: n/a (see PARITY.md).

    #[test]
    fn test_repr() {
        let evt = Event::new();
        assert_eq!(format!("{evt:?}"), "Event { set: false }");
        evt.set();
        assert_eq!(format!("{evt:?}"), "Event { set: true }");
    }
}

/// `class ConditionTests`, with `condtype = threading.Condition`, whose
/// default lock is an `RLock`: here a [`Condvar`] over an [`RLock`]
/// (Python's `Condition()`), the state in a `Cell` inside it.
#[allow(non_snake_case)]
mod ConditionTests {
    use super::*;

    #[test]
    fn test_acquire() {
        // By default we have an RLock: the condition's lock can be acquired
        // multiple times.
        let lock = RLock::new(());
        let _cond = Condvar::new();
        let a = lock.lock();
        let b = lock.lock();
        drop(b);
        drop(a);
        // Condition(lock) over a Lock: acquiring "the condition" is
        // acquiring that lock (a Condvar has no acquire of its own: waits
        // take the lock's guard).
        let lock = Lock::new();
        let cond = Condvar::new();
        let g = lock.acquire();
        assert!(lock.try_acquire().is_err());
        drop(g);
        let g2 = lock.try_acquire().unwrap();
        assert!(lock.try_acquire().is_err());
        drop(g2);
        {
            let mut g = lock.acquire();
            assert!(lock.try_acquire().is_err());
            // And the condition works with it.
            assert!(!cond.wait_timeout(&mut g, Duration::from_millis(1)));
            assert!(lock.try_acquire().is_err(), "held again after the wait");
        }
        assert!(!lock.is_locked());
    }

    #[test]
    fn test_unacquired_wait() {
        // Python: wait() without holding the lock raises RuntimeError.
        // Here a wait takes the lock's guard, so waiting unlocked does not
        // compile. What runs: a wait with a guard of a lock that another
        // thread cannot take meanwhile holds it on return.
        let lock = RLock::new(());
        let cond = Condvar::new();
        let mut g = lock.lock();
        assert!(!cond.wait_timeout(&mut g, Duration::from_millis(1)));
        assert!(lock.is_owned_by_current_thread());
    }

    #[test]
    fn test_unacquired_notify() {
        // Python: notify() without holding the lock raises RuntimeError.
        // bingfa allows it by design (the state change that matters was
        // made under the lock); with nobody waiting it wakes nobody.
        let cond = Condvar::new();
        assert_eq!(cond.notify(1), 0);
        assert!(!cond.notify_one());
        assert_eq!(cond.notify_all(), 0);
    }

    /// The state of `_check_notify`, behind the condition's RLock.
    #[derive(Default)]
    struct Phases {
        ready: Cell<usize>,
        phase_num: Cell<usize>,
        results1: Cell<Vec<(bool, usize)>>,
        results2: Cell<Vec<(bool, usize)>>,
    }

    fn push(cell: &Cell<Vec<(bool, usize)>>, v: (bool, usize)) {
        let mut x = cell.take();
        x.push(v);
        cell.set(x);
    }

    fn get(cell: &Cell<Vec<(bool, usize)>>) -> Vec<(bool, usize)> {
        let x = cell.take();
        cell.set(x.clone());
        x
    }

    fn check_notify(lock: &RLock<Phases>, cond: &Condvar) {
        // Python notes that this test is sensitive to timing and assumes no
        // spurious wake-ups (bingfa has none: a wait returns only when
        // notified or timed out). Every read of the shared state here is
        // under the lock, and every "wait for the workers" is a wait for
        // them to have registered under the lock, so a correct run never
        // depends on a sleep.
        let read = |f: &dyn Fn(&Phases) -> usize| f(&lock.lock());
        let f = || {
            let mut g = lock.lock();
            g.ready.set(g.ready.get() + 1);
            cond.wait(&mut g);
            let phase = g.phase_num.get();
            drop(g);
            push(&lock.lock().results1, (true, phase));

            let mut g = lock.lock();
            g.ready.set(g.ready.get() + 1);
            cond.wait(&mut g);
            let phase = g.phase_num.get();
            drop(g);
            push(&lock.lock().results2, (true, phase));
        };
        let n = 5;
        bunch(n, f, |_| {
            // First wait, to ensure all workers settle into cond.wait()
            // before we continue (issues #8799 and #30727).
            wait_until(|| read(&|p| p.ready.get()) >= n);
            lock.lock().ready.set(0);
            assert!(get(&lock.lock().results1).is_empty());

            // Notify 3 threads at first.
            let count1 = 3;
            let g = lock.lock();
            assert_eq!(cond.notify(count1), count1);
            wait_threads_blocked(count1);
            // Phase 1.
            g.phase_num.set(1);
            drop(g);
            wait_until(|| get(&lock.lock().results1).len() >= count1);
            assert_eq!(get(&lock.lock().results1), vec![(true, 1); count1]);
            assert!(get(&lock.lock().results2).is_empty());

            // Wait until the awoken workers are blocked on cond.wait().
            wait_until(|| read(&|p| p.ready.get()) >= count1);

            // Notify 5 threads: they might be in their first or second wait.
            let g = lock.lock();
            assert_eq!(cond.notify(5), 5);
            wait_threads_blocked(n);
            // Phase 2.
            g.phase_num.set(2);
            drop(g);
            wait_until(|| {
                let g = lock.lock();
                get(&g.results1).len() + get(&g.results2).len() >= n + count1
            });
            let count2 = n - count1;
            let mut want1 = vec![(true, 1); count1];
            want1.extend(vec![(true, 2); count2]);
            assert_eq!(get(&lock.lock().results1), want1);
            assert_eq!(get(&lock.lock().results2), vec![(true, 2); count1]);

            // Make sure all workers settle into cond.wait().
            wait_until(|| read(&|p| p.ready.get()) >= n);

            // Notify all threads: they are all in their second wait.
            let g = lock.lock();
            assert_eq!(cond.notify_all(), count2);
            wait_threads_blocked(n);
            // Phase 3.
            g.phase_num.set(3);
            drop(g);
            wait_until(|| get(&lock.lock().results2).len() >= n);
            assert_eq!(get(&lock.lock().results1), want1);
            let mut want2 = vec![(true, 2); count1];
            want2.extend(vec![(true, 3); count2]);
            assert_eq!(get(&lock.lock().results2), want2);
        });
    }

    #[test]
    fn test_notify() {
        let lock = RLock::new(Phases::default());
        let cond = Condvar::new();
        check_notify(&lock, &cond);
        // A second time, to check internal state is still ok.
        let lock = RLock::new(Phases::default());
        check_notify(&lock, &cond);
    }

    #[test]
    fn test_timeout() {
        let lock = RLock::new(());
        let cond = Condvar::new();
        let timeout = Duration::from_millis(500);
        let results = StdMutex::new(Vec::new());
        let n = 5;
        run_bunch(n, || {
            let mut g = lock.lock();
            let t1 = Instant::now();
            let result = cond.wait_timeout(&mut g, timeout);
            let dt = t1.elapsed();
            drop(g);
            results.lock().unwrap().push((dt, result));
        });
        let results = results.into_inner().unwrap();
        assert_eq!(results.len(), n);
        for (dt, result) in results {
            assert_timeout(dt, timeout);
            // No spurious wake-ups: nobody notified, so every wait timed
            // out.
            assert!(!result);
        }
    }

    #[test]
    fn test_waitfor() {
        let lock = RLock::new(Cell::new(0));
        let cond = Condvar::new();
        bunch(
            1,
            || {
                let mut g = lock.lock();
                // Python: wait_for(lambda: state == 4).
                cond.wait_while(&mut g, |g| g.get() != 4);
                assert_eq!(g.get(), 4);
            },
            |_| {
                for _ in 0..4 {
                    thread::sleep(Duration::from_millis(10));
                    let g = lock.lock();
                    g.set(g.get() + 1);
                    cond.notify_one();
                }
            },
        );
    }

    #[test]
    fn test_waitfor_timeout() {
        let lock = RLock::new(Cell::new(0));
        let cond = Condvar::new();
        let success = AtomicUsize::new(0);
        let timeout = Duration::from_millis(100);
        bunch(
            1,
            || {
                let mut g = lock.lock();
                let t = Instant::now();
                let result = cond.wait_while_timeout(&mut g, timeout, |g| g.get() != 4);
                let dt = t.elapsed();
                assert!(!result);
                assert_timeout(dt, timeout);
                success.fetch_add(1, SeqCst);
            },
            |_| {
                // Only increment 3 times, so state == 4 is never reached.
                for _ in 0..3 {
                    thread::sleep(Duration::from_millis(10));
                    let g = lock.lock();
                    g.set(g.get() + 1);
                    cond.notify_one();
                }
            },
        );
        assert_eq!(success.load(SeqCst), 1);
    }
}

/// The semaphore kinds `BaseSemaphoreTests` runs on.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Bounded,
}

impl Kind {
    fn make(self, value: usize) -> Semaphore {
        match self {
            Kind::Plain => Semaphore::new(value),
            Kind::Bounded => Semaphore::bounded(value),
        }
    }

    /// Python's `semtype()`, whose default value is 1.
    fn with_default_value(self) -> Semaphore {
        match self {
            Kind::Plain => Semaphore::default(),
            Kind::Bounded => Semaphore::bounded(1),
        }
    }
}

/// `class BaseSemaphoreTests`: common tests for bounded and unbounded
/// semaphores.
macro_rules! base_semaphore_tests {
    ($kind:expr) => {
        use super::*;

        const KIND: Kind = $kind;

        // test_constructor: n/a (Python rejects a negative value; a
        // `usize` cannot be negative; see PARITY.md).

        #[test]
        fn test_acquire() {
            let sem = KIND.make(1);
            drop(sem.acquire());
            let sem = KIND.make(2);
            let a = sem.acquire();
            let b = sem.acquire();
            drop(a);
            drop(b);
            assert_eq!(sem.available(), 2);
        }

        #[test]
        fn test_acquire_destroy() {
            let sem = KIND.with_default_value();
            sem.acquire().forget();
            drop(sem);
        }

        #[test]
        fn test_acquire_contended() {
            let sem_value = 7;
            let sem = KIND.make(sem_value);
            sem.acquire().forget();
            let sem_results = AtomicUsize::new(0);
            let phase_num = AtomicUsize::new(0);
            let results = StdMutex::new((Vec::new(), Vec::new()));
            let func = || {
                sem.acquire().forget();
                sem_results.fetch_add(1, SeqCst);
                results.lock().unwrap().0.push(phase_num.load(SeqCst));
                sem.acquire().forget();
                sem_results.fetch_add(1, SeqCst);
                results.lock().unwrap().1.push(phase_num.load(SeqCst));
            };
            let all = || {
                let r = results.lock().unwrap();
                let mut v: Vec<usize> = r.0.iter().chain(&r.1).copied().collect();
                v.sort_unstable();
                v
            };
            let wait_count = |count: usize| wait_until(|| all().len() >= count);
            let n = 10;
            bunch(n, func, |_| {
                // Phase 0.
                let count1 = sem_value - 1;
                wait_count(count1);
                assert_eq!(all(), vec![0; count1]);
                // Phase 1.
                phase_num.store(1, SeqCst);
                for _ in 0..sem_value {
                    sem.release().unwrap();
                }
                let count2 = sem_value;
                wait_count(count1 + count2);
                let mut want = vec![0; count1];
                want.extend(vec![1; count2]);
                assert_eq!(all(), want);
                // Phase 2.
                phase_num.store(2, SeqCst);
                let count3 = sem_value - 1;
                for _ in 0..count3 {
                    sem.release().unwrap();
                }
                wait_count(count1 + count2 + count3);
                want.extend(vec![2; count3]);
                assert_eq!(all(), want);
                // The semaphore is still locked.
                assert!(sem.try_acquire().is_err());
                // Final release, to let the last thread finish.
                sem.release().unwrap();
            });
            // Python: every acquire() returned True.
            assert_eq!(sem_results.load(SeqCst), 2 * n);
        }

        #[test]
        fn test_multirelease() {
            let sem_value = 7;
            let sem = KIND.make(sem_value);
            sem.acquire().forget();
            let phase_num = AtomicUsize::new(0);
            let results = StdMutex::new((Vec::new(), Vec::new()));
            let func = || {
                sem.acquire().forget();
                results.lock().unwrap().0.push(phase_num.load(SeqCst));
                sem.acquire().forget();
                results.lock().unwrap().1.push(phase_num.load(SeqCst));
            };
            let all = || {
                let r = results.lock().unwrap();
                let mut v: Vec<usize> = r.0.iter().chain(&r.1).copied().collect();
                v.sort_unstable();
                v
            };
            let wait_count = |count: usize| wait_until(|| all().len() >= count);
            bunch(10, func, |_| {
                // Phase 0.
                let count1 = sem_value - 1;
                wait_count(count1);
                assert_eq!(all(), vec![0; count1]);
                // Phase 1.
                phase_num.store(1, SeqCst);
                let count2 = sem_value;
                sem.release_n(count2).unwrap();
                wait_count(count1 + count2);
                let mut want = vec![0; count1];
                want.extend(vec![1; count2]);
                assert_eq!(all(), want);
                // Phase 2.
                phase_num.store(2, SeqCst);
                let count3 = sem_value - 1;
                sem.release_n(count3).unwrap();
                wait_count(count1 + count2 + count3);
                want.extend(vec![2; count3]);
                assert_eq!(all(), want);
                // The semaphore is still locked.
                assert!(sem.try_acquire().is_err());
                // Final release, to let the last thread finish.
                sem.release().unwrap();
            });
        }

        #[test]
        fn test_try_acquire() {
            let sem = KIND.make(2);
            sem.try_acquire().unwrap().forget();
            sem.try_acquire().unwrap().forget();
            assert_eq!(sem.try_acquire().err(), Some(WouldBlock));
            sem.release().unwrap();
            assert!(sem.try_acquire().is_ok());
        }

        #[test]
        fn test_try_acquire_contended() {
            let sem = KIND.make(4);
            sem.acquire().forget();
            let results = StdMutex::new(Vec::new());
            run_bunch(5, || {
                for _ in 0..2 {
                    let ok = sem.try_acquire().map(|p| p.forget()).is_ok();
                    results.lock().unwrap().push(ok);
                }
            });
            // There can be a thread switch between acquiring and recording
            // the result: the results are not ordered.
            let mut results = results.into_inner().unwrap();
            results.sort_unstable();
            let mut want = vec![false; 7];
            want.extend(vec![true; 3]);
            assert_eq!(results, want);
        }

        #[test]
        fn test_acquire_timeout() {
            let sem = KIND.make(2);
            // Python's ValueError for blocking=False with a timeout: n/a,
            // `try_acquire` and `acquire_timeout` are two methods.
            let t = Duration::from_millis(5);
            sem.acquire_timeout(t).unwrap().forget();
            sem.acquire_timeout(t).unwrap().forget();
            assert_eq!(sem.acquire_timeout(t).err(), Some(Timeout(t)));
            sem.release().unwrap();
            sem.acquire_timeout(t).unwrap().forget();
            let start = Instant::now();
            let t = Duration::from_millis(500);
            assert!(sem.acquire_timeout(t).is_err());
            assert_timeout(start.elapsed(), t);
        }

        #[test]
        fn test_default_value() {
            // The default initial value is 1.
            let sem = KIND.with_default_value();
            sem.acquire().forget();
            bunch(
                1,
                || drop(sem.acquire()),
                |bunch| {
                    // Thread blocked on acquire.
                    wait_threads_blocked(1);
                    assert_eq!(bunch.finished(), 0);
                    // Thread unblocked.
                    sem.release().unwrap();
                },
            );
        }

        #[test]
        fn test_with() {
            let sem = KIND.make(2);
            let with = |err: bool| {
                let _a = sem.acquire();
                sem.try_acquire().unwrap().forget();
                sem.release().unwrap();
                let _b = sem.acquire();
                assert!(sem.try_acquire().is_err());
                if err {
                    std::panic::resume_unwind(Box::new("TypeError"));
                }
            };
            with(false);
            drop(sem.try_acquire().unwrap());
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| with(true)));
            assert!(r.is_err());
            drop(sem.try_acquire().unwrap());
            assert_eq!(sem.available(), 2);
        }
    };
}

/// `class SemaphoreTests(BaseSemaphoreTests)`: unbounded semaphores.
#[allow(non_snake_case)]
mod SemaphoreTests {
    base_semaphore_tests!(Kind::Plain);

    #[test]
    fn test_release_unacquired() {
        // Unbounded releases are allowed and increment the value.
        let sem = Semaphore::new(1);
        sem.release().unwrap();
        sem.acquire().forget();
        sem.acquire().forget();
        sem.release().unwrap();
        assert_eq!(sem.available(), 1);
    }

    #[test]
    fn test_repr() {
        let sem = Semaphore::new(3);
        assert_eq!(format!("{sem:?}"), "Semaphore { available: 3 }");
        sem.acquire().forget();
        assert_eq!(format!("{sem:?}"), "Semaphore { available: 2 }");
        sem.release().unwrap();
        sem.release().unwrap();
        assert_eq!(format!("{sem:?}"), "Semaphore { available: 4 }");
    }
}

/// `class BoundedSemaphoreTests(BaseSemaphoreTests)`.
#[allow(non_snake_case)]
mod BoundedSemaphoreTests {
    base_semaphore_tests!(Kind::Bounded);

    #[test]
    fn test_release_unacquired() {
        // Cannot go past the initial value (Python: ValueError).
        let sem = Semaphore::bounded(1);
        assert_eq!(sem.release(), Err(Error::ReleasedTooMany { bound: 1 }));
        sem.acquire().forget();
        sem.release().unwrap();
        assert_eq!(sem.release(), Err(Error::ReleasedTooMany { bound: 1 }));
    }

    #[test]
    fn test_repr() {
        let sem = Semaphore::bounded(3);
        assert_eq!(format!("{sem:?}"), "Semaphore { available: 3, bound: 3 }");
        sem.acquire().forget();
        assert_eq!(format!("{sem:?}"), "Semaphore { available: 2, bound: 3 }");
    }
}

/// `class BarrierTests`.
#[allow(non_snake_case)]
mod BarrierTests {
    use super::*;

    const N: usize = 5;
    /// Python's `defaultTimeout` is 2 s; see the file's header.
    const DEFAULT_TIMEOUT: Duration = LONG;

    /// Python's `setUp`: `Barrier(N, timeout=defaultTimeout)`. (Its
    /// `tearDown` aborts the barrier, which dropping does here.)
    fn barrier() -> Barrier {
        Barrier::new(N).unwrap().with_timeout(DEFAULT_TIMEOUT)
    }

    fn run_threads(f: impl Fn() + Sync) {
        run_bunch(N, f);
    }

    fn multipass(barrier: &Barrier, results: &StdMutex<(usize, usize)>, n: usize) {
        let m = barrier.parties();
        assert_eq!(m, N);
        for i in 0..n {
            let r1 = {
                let mut r = results.lock().unwrap();
                r.0 += 1;
                r.1
            };
            assert_eq!(r1, i * m);
            barrier.wait().unwrap();
            let r0 = {
                let mut r = results.lock().unwrap();
                r.1 += 1;
                r.0
            };
            assert_eq!(r0, (i + 1) * m);
            barrier.wait().unwrap();
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    }

    fn test_barrier_passes(passes: usize) {
        let barrier = barrier();
        let results = StdMutex::new((0, 0));
        run_threads(|| multipass(&barrier, &results, passes));
    }

    #[test]
    fn test_barrier() {
        // The barrier is passed in lockstep.
        test_barrier_passes(1);
    }

    #[test]
    fn test_barrier_10() {
        // The barrier works for 10 consecutive runs.
        test_barrier_passes(10);
    }

    #[test]
    fn test_wait_return() {
        let barrier = barrier();
        let results = StdMutex::new(Vec::new());
        run_threads(|| {
            let r = barrier.wait().unwrap();
            results.lock().unwrap().push(r.index());
        });
        let results = results.into_inner().unwrap();
        assert_eq!(results.iter().sum::<usize>(), (0..N).sum::<usize>());
    }

    #[test]
    fn test_action() {
        let results = std::sync::Arc::new(AtomicUsize::new(0));
        let r = results.clone();
        let barrier = Barrier::new(N).unwrap().with_action(move || {
            r.fetch_add(1, SeqCst);
        });
        run_threads(|| {
            barrier.wait().unwrap();
            assert_eq!(results.load(SeqCst), 1);
        });
    }

    #[test]
    fn test_abort() {
        // An abort puts the barrier in a broken state.
        let barrier = barrier();
        let results1 = AtomicUsize::new(0);
        let results2 = AtomicUsize::new(0);
        run_threads(|| {
            let i = match barrier.wait() {
                Ok(r) => r.index(),
                Err(BrokenBarrier) => {
                    results2.fetch_add(1, SeqCst);
                    return;
                }
            };
            if i == N / 2 {
                // Python: raise RuntimeError, caught by abort().
                barrier.abort();
                return;
            }
            match barrier.wait() {
                Ok(_) => results1.fetch_add(1, SeqCst),
                Err(BrokenBarrier) => results2.fetch_add(1, SeqCst),
            };
        });
        assert_eq!(results1.load(SeqCst), 0);
        assert_eq!(results2.load(SeqCst), N - 1);
        assert!(barrier.is_broken());
    }

    #[test]
    fn test_reset() {
        // A reset frees the waiting threads.
        let barrier = barrier();
        let results1 = AtomicUsize::new(0);
        let results2 = AtomicUsize::new(0);
        let results3 = AtomicUsize::new(0);
        run_threads(|| {
            let i = barrier.wait().unwrap().index();
            if i == N / 2 {
                // Wait until the other threads are all in the barrier.
                wait_until(|| barrier.n_waiting() >= N - 1);
                barrier.reset();
            } else {
                match barrier.wait() {
                    Ok(_) => results1.fetch_add(1, SeqCst),
                    Err(BrokenBarrier) => results2.fetch_add(1, SeqCst),
                };
            }
            // Now, pass the barrier again.
            barrier.wait().unwrap();
            results3.fetch_add(1, SeqCst);
        });
        assert_eq!(results1.load(SeqCst), 0);
        assert_eq!(results2.load(SeqCst), N - 1);
        assert_eq!(results3.load(SeqCst), N);
    }

    #[test]
    fn test_abort_and_reset() {
        // A barrier can be reset after being broken.
        let barrier = barrier();
        let barrier2 = Barrier::new(N).unwrap();
        let results1 = AtomicUsize::new(0);
        let results2 = AtomicUsize::new(0);
        let results3 = AtomicUsize::new(0);
        run_threads(|| {
            match barrier.wait() {
                Ok(r) if r.index() == N / 2 => barrier.abort(),
                Ok(_) => match barrier.wait() {
                    Ok(_) => {
                        results1.fetch_add(1, SeqCst);
                    }
                    Err(BrokenBarrier) => {
                        results2.fetch_add(1, SeqCst);
                    }
                },
                Err(BrokenBarrier) => {
                    results2.fetch_add(1, SeqCst);
                }
            }
            // Synchronize and reset the barrier. Must synchronize first so
            // that everyone has left it when we reset, and after so that no
            // one enters it before the reset.
            if barrier2.wait().unwrap().index() == N / 2 {
                barrier.reset();
            }
            barrier2.wait().unwrap();
            barrier.wait().unwrap();
            results3.fetch_add(1, SeqCst);
        });
        assert_eq!(results1.load(SeqCst), 0);
        assert_eq!(results2.load(SeqCst), N - 1);
        assert_eq!(results3.load(SeqCst), N);
    }

    #[test]
    fn test_timeout() {
        // wait(timeout): one party is late, the others time out, and all of
        // them see the barrier broken. Python makes the late one sleep
        // (defaultTimeout / 2) past the others' timeout (defaultTimeout /
        // 4); here it waits until the barrier has broken, which is what
        // "late" must mean for the test to hold on a loaded machine.
        let barrier = barrier();
        let timeout = Duration::from_millis(500);
        run_threads(|| {
            let i = barrier.wait().unwrap().index();
            if i == N / 2 {
                // One thread is late!
                wait_until(|| barrier.is_broken());
            }
            assert_eq!(barrier.wait_timeout(timeout), Err(BrokenBarrier));
        });
    }

    #[test]
    fn test_default_timeout() {
        // The barrier's default timeout.
        let timeout = Duration::from_millis(100);
        let barrier = Barrier::new(2).unwrap().with_timeout(timeout);
        let start = Instant::now();
        run_bunch(1, || assert_eq!(barrier.wait(), Err(BrokenBarrier)));
        assert!(start.elapsed() >= timeout);
        assert!(barrier.is_broken());
    }

    #[test]
    fn test_single_thread() {
        let b = Barrier::new(1).unwrap();
        b.wait().unwrap();
        b.wait().unwrap();
    }

    #[test]
    fn test_repr() {
        let barrier = Barrier::new(3).unwrap();
        let repr = |b: &Barrier| format!("{b:?}");
        assert_eq!(
            repr(&barrier),
            "Barrier { parties: 3, n_waiting: 0, broken: false }"
        );
        let n = 2;
        bunch(
            n,
            || {
                barrier.wait_timeout(LONG).unwrap();
            },
            |_| {
                // Threads blocked on barrier.wait().
                wait_until(|| barrier.n_waiting() >= n);
                assert_eq!(
                    repr(&barrier),
                    "Barrier { parties: 3, n_waiting: 2, broken: false }"
                );
                // Threads unblocked.
                barrier.wait_timeout(LONG).unwrap();
            },
        );
        assert_eq!(
            repr(&barrier),
            "Barrier { parties: 3, n_waiting: 0, broken: false }"
        );
        // Abort the barrier.
        barrier.abort();
        assert_eq!(
            repr(&barrier),
            "Barrier { parties: 3, n_waiting: 0, broken: true }"
        );
    }
}
