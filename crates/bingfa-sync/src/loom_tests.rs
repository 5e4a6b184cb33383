//! Loom models of every primitive, run on the real code through `crate::raw`.
//!
//! Run with
//! `RUSTFLAGS="--cfg bingfa_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p bingfa-sync -- loom`.
//!
//! Timeouts are explored as a branch: a model thread calls
//! [`clock::advance`], which times out every timed park that is parked at
//! that moment, so loom tries "the timeout fires" before, between and after
//! the other steps.

use std::time::Duration;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

use crate::raw::cell::UnsafeCell;
use crate::raw::clock;
use crate::{
    Barrier, BrokenBarrier, Condition, Condvar, Error, Event, Lock, Mutex, RLock, Semaphore,
    Timeout, WouldBlock,
};

const T: Duration = Duration::from_secs(1);

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

/// A counter incremented non-atomically: loom reports a data race if two
/// increments are not ordered by the lock.
fn bump(cell: &UnsafeCell<usize>) {
    // SAFETY: callers hold the lock that protects `cell` (that is what the
    // model checks; a broken lock makes loom fail here).
    cell.with_mut(|p| unsafe { *p += 1 });
}

#[test]
fn loom_mutex_mutual_exclusion() {
    model(|| {
        let m = Arc::new(Mutex::new(0usize));
        let hs: Vec<_> = (0..2)
            .map(|i| {
                let m = m.clone();
                thread::spawn(move || {
                    let mut g = if i == 0 {
                        m.lock()
                    } else {
                        loop {
                            if let Ok(g) = m.try_lock() {
                                break g;
                            }
                            thread::yield_now();
                        }
                    };
                    let v = *g;
                    *g = v + 1;
                })
            })
            .collect();
        {
            let mut g = m.lock();
            *g += 1;
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*m.lock(), 3);
        assert!(!m.is_locked());
    });
}

/// Three threads that all block in `lock`: two can be parked at once, so
/// an unlock's swap clears `PARKED` while a thread is left parked, and a
/// third thread may take and release the lock before the unlocker's
/// callback sets it again. No wake-up may be lost (loom reports a
/// deadlock) and no increment.
#[test]
fn loom_mutex_three_blocking_lockers() {
    model(|| {
        let m = Arc::new(Mutex::new(0usize));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || *m.lock() += 1)
            })
            .collect();
        *m.lock() += 1;
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*m.lock(), 3);
        assert!(!m.is_locked());
    });
}

#[test]
fn loom_mutex_timeout_is_a_branch() {
    model(|| {
        let m = Arc::new(Mutex::new(0usize));
        let g = m.lock();
        let m2 = m.clone();
        let waiter = thread::spawn(move || match m2.lock_timeout(T) {
            Ok(mut g) => {
                *g += 1;
                true
            }
            Err(e) => {
                assert_eq!(e, Timeout(T));
                false
            }
        });
        let timer = thread::spawn(clock::advance);
        drop(g);
        let got = waiter.join().unwrap();
        timer.join().unwrap();
        // Whatever the branch, the lock is free and consistent afterwards.
        let g = m.try_lock().expect("free after both threads are done");
        assert_eq!(*g, got as usize);
    });
}

#[test]
fn loom_rlock_ownership_and_counts() {
    model(|| {
        let l = Arc::new(RLock::new(UnsafeCell::new(0usize)));
        let l2 = l.clone();
        let other = thread::spawn(move || {
            let a = l2.lock();
            let b = l2.lock();
            assert_eq!(l2.count(), 2);
            bump(&a);
            drop(a);
            // Still held once: a second increment is still exclusive.
            bump(&b);
            assert_eq!(l2.count(), 1);
        });
        match l.try_lock() {
            Ok(g) => {
                assert_eq!(l.count(), 1);
                bump(&g);
            }
            Err(e) => {
                assert_eq!(e, WouldBlock);
                assert_eq!(l.count(), 0);
                let g = l.lock();
                bump(&g);
            }
        }
        assert_eq!(l.count(), 0);
        other.join().unwrap();
        let g = l.lock();
        // SAFETY: we hold the lock.
        assert_eq!(g.with(|p| unsafe { *p }), 3);
    });
}

#[test]
fn loom_semaphore_bounded_exclusion() {
    model(|| {
        let s = Arc::new(Semaphore::bounded(1));
        let data = Arc::new(UnsafeCell::new(0usize));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (s, data) = (s.clone(), data.clone());
                thread::spawn(move || {
                    let _p = s.acquire();
                    bump(&data);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(s.available(), 1);
        assert_eq!(s.release(), Err(Error::ReleasedTooMany { bound: 1 }));
    });
}

#[test]
fn loom_semaphore_no_lost_wakeup() {
    model(|| {
        let s = Arc::new(Semaphore::new(0));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.acquire().forget())
            })
            .collect();
        // Two separate releases racing with two waiters: both must wake
        // (a lost wake-up shows as a deadlock, which loom reports).
        s.release().unwrap();
        s.release_n(1).unwrap();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(s.available(), 0);
    });
}

#[test]
fn loom_semaphore_timeout_is_a_branch() {
    model(|| {
        let s = Arc::new(Semaphore::new(0));
        let s2 = s.clone();
        let waiter = thread::spawn(move || match s2.acquire_timeout(T) {
            Ok(p) => {
                p.forget();
                true
            }
            Err(e) => {
                assert_eq!(e, Timeout(T));
                false
            }
        });
        let timer = thread::spawn(clock::advance);
        s.release().unwrap();
        let got = waiter.join().unwrap();
        timer.join().unwrap();
        // The permit was taken by the waiter or is still there: never lost.
        assert_eq!(s.available(), if got { 0 } else { 1 });
    });
}

#[test]
fn loom_event_set_wakes_every_waiter() {
    model(|| {
        let e = Arc::new(Event::new());
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                thread::spawn(move || e.wait())
            })
            .collect();
        e.set();
        for h in hs {
            h.join().unwrap();
        }
        assert!(e.is_set());
    });
}

/// A timer that keeps firing until `done` is set, so that a wait that starts
/// late still sees a timeout.
fn ticker(done: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || loop {
        clock::advance();
        if done.load(SeqCst) {
            break;
        }
        thread::yield_now();
    })
}

#[test]
fn loom_event_woken_waiter_returns_true_after_clear() {
    model(|| {
        let e = Arc::new(Event::new());
        let done = Arc::new(AtomicBool::new(false));
        let (e2, d2) = (e.clone(), done.clone());
        let waiter = thread::spawn(move || {
            let r = e2.wait_timeout(T);
            d2.store(true, SeqCst);
            r
        });
        let timer = ticker(done);
        e.set();
        e.clear();
        // Either outcome is allowed (set, or timed out before or after it);
        // what the model checks is that a waiter woken by `set` returns at
        // once although the flag is already cleared, and that nothing hangs.
        let _set_or_timed_out = waiter.join().unwrap();
        timer.join().unwrap();
        assert!(!e.is_set());
    });
}

/// The set/clear/wait ping-pong of `tests/event.rs`, two rounds. Only the
/// waiting side clears each event, so a `wait` that returns must find its
/// event still set. A setter preempted between making the flag visible and
/// waking the parked threads must not wake a `wait` that began after its
/// set was already seen (and consumed by `clear`): before the fix, that
/// stale wake-up made the second `ping.wait` return with `ping` clear,
/// and the run then hung.
#[test]
fn loom_event_ping_pong_with_a_preempted_setter() {
    model(|| {
        let ping = Arc::new(Event::new());
        let pong = Arc::new(Event::new());
        let (ping2, pong2) = (ping.clone(), pong.clone());
        let other = thread::spawn(move || {
            for _ in 0..2 {
                ping2.wait();
                assert!(
                    ping2.is_set(),
                    "ping.wait returned for a set it had consumed"
                );
                ping2.clear();
                pong2.set();
            }
        });
        for _ in 0..2 {
            ping.set();
            pong.wait();
            assert!(
                pong.is_set(),
                "pong.wait returned for a set it had consumed"
            );
            pong.clear();
        }
        other.join().unwrap();
        assert!(!ping.is_set());
        assert!(!pong.is_set());
    });
}

#[test]
fn loom_condition_no_lost_wakeup() {
    model(|| {
        let c = Arc::new(Condition::new(false));
        let c2 = c.clone();
        let waiter = thread::spawn(move || {
            let mut g = c2.lock();
            c2.wait_while(&mut g, |ready| !*ready);
            assert!(*g);
            // The lock is held again on return.
            assert!(c2.is_locked());
        });
        *c.lock() = true;
        c.notify_one();
        waiter.join().unwrap();
        assert_eq!(c.cv.waiters.load(SeqCst), 0);
    });
}

#[test]
fn loom_condition_notify_n_wakes_at_most_n() {
    model(|| {
        let c = Arc::new(Condition::new(0usize));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || {
                    let mut g = c.lock();
                    c.wait_while(&mut g, |tickets| *tickets == 0);
                    *g -= 1;
                })
            })
            .collect();
        *c.lock() += 1;
        assert!(c.notify(1) <= 1);
        *c.lock() += 1;
        assert!(c.notify(1) <= 1);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*c.lock(), 0);
        assert_eq!(c.cv.waiters.load(SeqCst), 0);
    });
}

#[test]
fn loom_condition_timeout_is_a_branch() {
    model(|| {
        let c = Arc::new(Condition::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (c2, d2) = (c.clone(), done.clone());
        let waiter = thread::spawn(move || {
            let mut g = c2.lock();
            let ready = c2.wait_while_timeout(&mut g, T, |ready| !*ready);
            // Python's wait_for returns the predicate's last value.
            assert_eq!(ready, *g);
            drop(g);
            d2.store(true, SeqCst);
        });
        let timer = ticker(done);
        *c.lock() = true;
        c.notify_all();
        waiter.join().unwrap();
        timer.join().unwrap();
        // Timed-out and notified waiters alike leave the count balanced.
        assert_eq!(c.cv.waiters.load(SeqCst), 0);
        assert!(!c.is_locked());
    });
}

#[test]
fn loom_barrier_releases_all_with_one_leader() {
    model(|| {
        let b = Arc::new(Barrier::new(3).unwrap());
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.wait().unwrap())
            })
            .collect();
        let mut results = vec![b.wait().unwrap()];
        for h in hs {
            results.push(h.join().unwrap());
        }
        let mut idx: Vec<_> = results.iter().map(|r| r.index()).collect();
        idx.sort_unstable();
        assert_eq!(idx, [0, 1, 2]);
        assert_eq!(results.iter().filter(|r| r.is_leader()).count(), 1);
        assert_eq!(b.n_waiting(), 0);
        assert!(!b.is_broken());
    });
}

#[test]
fn loom_barrier_abort_breaks_the_round_for_every_party() {
    model(|| {
        let b = Arc::new(Barrier::new(2).unwrap());
        let b2 = b.clone();
        let other = thread::spawn(move || b2.wait().map(|r| r.is_leader()));
        let b3 = b.clone();
        let aborter = thread::spawn(move || b3.abort());
        let mine = b.wait().map(|r| r.is_leader());
        let theirs = other.join().unwrap();
        aborter.join().unwrap();
        // Both passed (the round tripped before the abort) or both broke.
        match (mine, theirs) {
            (Ok(a), Ok(b)) => assert!(a != b, "one leader"),
            (Err(BrokenBarrier), Err(BrokenBarrier)) => {}
            other => panic!("mixed outcome {other:?}"),
        }
        assert!(b.is_broken());
    });
}

#[test]
fn loom_barrier_timeout_breaks_the_round_for_every_party() {
    model(|| {
        let b = Arc::new(Barrier::new(2).unwrap());
        let done = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(AtomicBool::new(false));
        let (b2, d2, a2) = (b.clone(), done.clone(), arrived.clone());
        let timed = thread::spawn(move || {
            let r = b2.wait_timeout(T).is_ok();
            // Passing needs the other party to have arrived.
            assert!(!r || a2.load(SeqCst), "passed alone");
            d2.fetch_add(1, SeqCst);
            r
        });
        let d3 = done.clone();
        let timer = thread::spawn(move || loop {
            clock::advance();
            if d3.load(SeqCst) == 2 {
                break;
            }
            thread::yield_now();
        });
        arrived.store(true, SeqCst);
        let mine = b.wait();
        done.fetch_add(1, SeqCst);
        let theirs = timed.join().unwrap();
        timer.join().unwrap();
        assert_eq!(mine.is_ok(), theirs, "both passed or both saw Broken");
        assert_eq!(b.is_broken(), !theirs);
        if !theirs {
            assert_eq!(mine, Err(BrokenBarrier));
            b.reset();
            assert!(!b.is_broken());
        }
    });
}

#[test]
fn loom_lock_released_by_another_thread() {
    model(|| {
        // Python's Lock as a hand-off: one thread takes it, another releases
        // it, a third waits for the release. The data it "protects" is
        // written before the release and read after the acquire.
        let lock = Arc::new(Lock::new());
        let data = Arc::new(UnsafeCell::new(0usize));
        lock.acquire().forget();
        let (l2, d2) = (lock.clone(), data.clone());
        let releaser = thread::spawn(move || {
            bump(&d2);
            l2.release().unwrap();
        });
        let g = lock.acquire();
        bump(&data);
        drop(g);
        releaser.join().unwrap();
        assert!(!lock.is_locked());
        assert_eq!(lock.release(), Err(Error::NotLocked));
        // SAFETY: every other thread is joined.
        assert_eq!(data.with(|p| unsafe { *p }), 2);
    });
}

#[test]
fn loom_condvar_on_rlock_releases_and_restores_every_level() {
    model(|| {
        let lock = Arc::new(RLock::new(UnsafeCell::new(false)));
        let cv = Arc::new(Condvar::new());
        let (l2, cv2) = (lock.clone(), cv.clone());
        let setter = thread::spawn(move || {
            // Only possible if the waiter released both of its levels.
            let g = l2.lock();
            // SAFETY: we hold the lock.
            g.with_mut(|p| unsafe { *p = true });
            drop(g);
            cv2.notify_all();
        });
        let outer = lock.lock();
        let mut inner = lock.lock();
        assert_eq!(lock.count(), 2);
        // SAFETY (both closures): we hold the lock.
        cv.wait_while(&mut inner, |g| !g.with(|p| unsafe { *p }));
        assert_eq!(lock.count(), 2, "both levels restored");
        assert!(lock.is_owned_by_current_thread());
        drop(inner);
        assert_eq!(lock.count(), 1);
        drop(outer);
        setter.join().unwrap();
        assert!(!lock.is_locked());
        assert_eq!(cv.waiters.load(SeqCst), 0);
    });
}

#[test]
fn loom_two_condvars_on_one_lock() {
    model(|| {
        // queue.Queue's shape: one lock, "not empty" and "not full", a
        // buffer of one slot, two items through it.
        let slot = Arc::new(Mutex::new(None::<usize>));
        let not_empty = Arc::new(Condvar::new());
        let not_full = Arc::new(Condvar::new());
        let (s2, ne2, nf2) = (slot.clone(), not_empty.clone(), not_full.clone());
        let producer = thread::spawn(move || {
            for i in 1..=2 {
                let mut g = s2.lock();
                nf2.wait_while(&mut g, |g| g.is_some());
                *g = Some(i);
                drop(g);
                ne2.notify_one();
            }
        });
        let mut got = Vec::new();
        for _ in 0..2 {
            let mut g = slot.lock();
            not_empty.wait_while(&mut g, |g| g.is_none());
            got.push(g.take().unwrap());
            drop(g);
            not_full.notify_one();
        }
        producer.join().unwrap();
        assert_eq!(got, [1, 2]);
        assert_eq!(not_empty.waiters.load(SeqCst), 0);
        assert_eq!(not_full.waiters.load(SeqCst), 0);
    });
}

#[test]
fn loom_barrier_action_runs_before_anyone_passes() {
    model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let b = Arc::new(Barrier::new(2).unwrap().with_action(move || {
            r.fetch_add(1, SeqCst);
        }));
        let (b2, ran2) = (b.clone(), ran.clone());
        let other = thread::spawn(move || {
            b2.wait().unwrap();
            assert_eq!(ran2.load(SeqCst), 1, "passed before the action ran");
        });
        b.wait().unwrap();
        assert_eq!(ran.load(SeqCst), 1, "passed before the action ran");
        other.join().unwrap();
        assert_eq!(ran.load(SeqCst), 1, "one action per round");
    });
}
