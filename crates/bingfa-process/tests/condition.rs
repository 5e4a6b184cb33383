//! RLock, Lock::locked and Condition across processes (and threads), with
//! both start methods, including the deaths they are robust to.

use std::time::{Duration, Instant};

use bingfa_process::{
    Condition, Error, Event, ExitStatus, Lock, LockError, Process, RLock, Semaphore, Value,
};

bingfa_process::enable_test_support!();

const LONG: Duration = Duration::from_secs(30);

fn ok(p: &Process) {
    let st = p.join().unwrap();
    assert_eq!(st, ExitStatus::Code(0), "{:?}", p.panic_message());
}

/// Waits until `f` is true (at most 30 s).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < LONG, "never: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn lock_locked_and_debug_name_the_owner() {
    let lock = Lock::new().unwrap();
    assert!(!lock.locked());
    assert_eq!(format!("{lock:?}"), "Lock(owner=None)");
    let g = lock.lock().unwrap();
    assert!(lock.locked());
    // The test runs on a thread of libtest's, not the main thread.
    let me = std::thread::current();
    let name = me.name().unwrap();
    assert_eq!(
        format!("{lock:?}"),
        format!("Lock(owner=MainProcess|{name})")
    );
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(format!("{lock:?}"), "Lock(owner=SomeOtherThread)"));
    });
    drop(g);
    assert!(!lock.locked());
    let held = Event::new().unwrap();
    let go = Event::new().unwrap();
    let p = bingfa_process::fork(|| {
        let _g = lock.lock().unwrap();
        assert!(lock.locked());
        // A forked child's closure runs on its main thread.
        assert_eq!(
            format!("{lock:?}"),
            "Lock(owner=Process-1)".replace("Process-1", bingfa_process::current_process().name(),)
        );
        held.set();
        assert!(go.wait_timeout(LONG));
    })
    .unwrap();
    assert!(held.wait_timeout(LONG));
    assert!(lock.locked());
    assert_eq!(format!("{lock:?}"), "Lock(owner=SomeOtherProcess)");
    go.set();
    ok(&p);
    assert!(!lock.locked());
}

#[test]
fn rlock_is_reentrant_and_excludes_other_processes() {
    let r = RLock::new().unwrap();
    assert_eq!(format!("{r:?}"), "RLock(None, 0)");
    let a = r.lock().unwrap();
    let b = r.try_lock().unwrap();
    let c = r.lock_timeout(Duration::ZERO).unwrap();
    assert_eq!(r.level(), 3);
    assert!(format!("{r:?}").ends_with(", 3)"), "{r:?}");
    let p = bingfa_process::fork(|| {
        assert!(r.locked());
        assert_eq!(r.level(), 0);
        assert!(matches!(r.try_lock(), Err(LockError::WouldBlock)));
        assert!(matches!(
            r.lock_timeout(Duration::from_millis(20)),
            Err(LockError::WouldBlock)
        ));
        assert_eq!(format!("{r:?}"), "RLock(SomeOtherProcess, nonzero)");
    })
    .unwrap();
    ok(&p);
    drop(c);
    drop(b);
    assert!(r.locked());
    assert_eq!(r.level(), 1);
    drop(a);
    assert!(!r.locked());
    assert_eq!(r.level(), 0);
    // Free for another process now.
    let p = bingfa_process::fork(|| {
        let _g = r.try_lock().unwrap();
        assert_eq!(r.level(), 1);
    })
    .unwrap();
    ok(&p);
}

#[test]
fn rlock_owner_death_hands_it_over_at_level_one() {
    let r = RLock::new().unwrap();
    let held = Event::new().unwrap();
    let p = bingfa_process::fork(|| {
        let _a = r.lock().unwrap();
        let _b = r.lock().unwrap();
        let _c = r.lock().unwrap();
        held.set();
        std::thread::sleep(LONG);
    })
    .unwrap();
    assert!(held.wait_timeout(LONG));
    p.kill().unwrap();
    assert_eq!(p.join().unwrap(), ExitStatus::Signal(9));
    let g = match r.lock() {
        Err(LockError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    assert_eq!(r.level(), 1);
    drop(g);
    assert!(!r.locked());
    assert!(r.try_lock().is_ok());
}

fn rlock_counter(args: (RLock, Value<u64>)) {
    let (r, v) = args;
    for _ in 0..200 {
        let _outer = r.lock().unwrap();
        let _inner = r.lock().unwrap();
        let x = v.get();
        std::thread::yield_now();
        v.set(x + 1);
    }
}

#[test]
fn rlock_excludes_across_spawned_and_forked_processes() {
    let r = RLock::new().unwrap();
    let v = Value::new(0u64).unwrap();
    let s = bingfa_process::spawn(rlock_counter, (r.clone(), v.clone())).unwrap();
    let f = {
        let (r, v) = (r.clone(), v.clone());
        bingfa_process::fork(move || rlock_counter((r, v))).unwrap()
    };
    rlock_counter((r.clone(), v.clone()));
    ok(&s);
    ok(&f);
    assert_eq!(v.get(), 600);
}

/// Takes the condition's lock, says so, waits (at most `timeout`), then
/// counts itself woken.
fn sleeper(cond: &Condition, sleeping: &Semaphore, woken: &Semaphore, timeout: Option<Duration>) {
    let mut g = cond.lock().unwrap();
    sleeping.release().unwrap();
    match timeout {
        None => cond.wait(&mut g).unwrap(),
        Some(t) => {
            cond.wait_timeout(&mut g, t).unwrap();
        }
    }
    woken.release().unwrap();
}

#[test]
fn notify_n_wakes_at_most_n_of_processes_and_threads() {
    let cond = Condition::new().unwrap();
    let sleeping = Semaphore::new(0).unwrap();
    let woken = Semaphore::new(0).unwrap();
    let procs: Vec<_> = (0..3)
        .map(|_| bingfa_process::fork(|| sleeper(&cond, &sleeping, &woken, None)).unwrap())
        .collect();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| sleeper(&cond, &sleeping, &woken, None));
        }
        for _ in 0..6 {
            sleeping.acquire_timeout(LONG).unwrap().forget();
        }
        // Every sleeper released the semaphore while holding the lock, and
        // is inside wait once we get the lock.
        {
            let _g = cond.lock().unwrap();
            cond.notify(2).unwrap();
        }
        eventually("2 woken", || woken.value() == 2);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(woken.value(), 2, "notify(2) woke more than 2");
        {
            let _g = cond.lock().unwrap();
            cond.notify(3).unwrap();
        }
        eventually("5 woken", || woken.value() == 5);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(woken.value(), 5);
        {
            let _g = cond.lock().unwrap();
            cond.notify_all().unwrap();
        }
        eventually("6 woken", || woken.value() == 6);
    });
    for p in &procs {
        ok(p);
    }
}

#[test]
fn notify_needs_the_lock_and_wait_needs_its_guard() {
    let cond = Condition::new().unwrap();
    assert!(matches!(cond.notify(1), Err(Error::Invalid(_))));
    assert!(matches!(cond.notify_all(), Err(Error::Invalid(_))));
    let other = Lock::new().unwrap();
    let mut g = other.lock().unwrap();
    let t = Instant::now();
    assert!(matches!(
        cond.wait_timeout(&mut g, Duration::from_secs(5)),
        Err(Error::Invalid(_))
    ));
    assert!(t.elapsed() < Duration::from_secs(4));
    // The other lock is still held by us.
    assert!(other.locked());
    drop(g);
    // Held by another thread: still refused.
    let cg = cond.lock().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| assert!(matches!(cond.notify(1), Err(Error::Invalid(_)))));
    });
    cond.notify(1).unwrap();
    drop(cg);
}

#[test]
fn wait_on_an_rlock_releases_every_level_and_restores_them() {
    let r = RLock::new().unwrap();
    let cond = Condition::with_rlock(r.clone()).unwrap();
    let a = r.lock().unwrap();
    let b = r.lock().unwrap();
    let mut c = cond.lock().unwrap();
    assert_eq!(r.level(), 3);
    let p = bingfa_process::fork(|| {
        // Gets the lock while the parent waits: all three levels are off.
        let _g = r.lock_timeout(LONG).unwrap();
        cond.notify(1).unwrap();
    })
    .unwrap();
    assert!(cond.wait_timeout(&mut c, LONG).unwrap());
    assert_eq!(r.level(), 3);
    ok(&p);
    drop(c);
    drop(b);
    assert_eq!(r.level(), 1);
    drop(a);
    assert!(!r.locked());
}

#[test]
fn several_conditions_share_one_lock_across_processes() {
    // A bounded buffer of one slot, built the way queue.Queue is: one
    // lock, a condition for "not empty" and one for "not full".
    let lock = Lock::new().unwrap();
    let not_empty = Condition::with_lock(lock.clone()).unwrap();
    let not_full = Condition::with_lock(lock.clone()).unwrap();
    let slot = Value::new((false, 0u32)).unwrap();
    let consumer = bingfa_process::fork(|| {
        let mut sum = 0u32;
        for _ in 0..100 {
            let mut g = lock.lock().unwrap();
            not_empty.wait_for(&mut g, || slot.get().0).unwrap();
            sum += slot.get().1;
            slot.set((false, 0));
            not_full.notify(1).unwrap();
        }
        assert_eq!(sum, (1..=100).sum::<u32>());
    })
    .unwrap();
    for i in 1..=100 {
        let mut g = lock.lock().unwrap();
        not_full.wait_for(&mut g, || !slot.get().0).unwrap();
        slot.set((true, i));
        not_empty.notify(1).unwrap();
    }
    ok(&consumer);
}

#[test]
fn a_dead_waiter_never_takes_a_notification() {
    let cond = Condition::new().unwrap();
    let sleeping = Semaphore::new(0).unwrap();
    let woken = Semaphore::new(0).unwrap();
    // The oldest waiter is killed while it waits.
    let doomed = bingfa_process::fork(|| sleeper(&cond, &sleeping, &woken, None)).unwrap();
    sleeping.acquire_timeout(LONG).unwrap().forget();
    let live = bingfa_process::fork(|| sleeper(&cond, &sleeping, &woken, None)).unwrap();
    sleeping.acquire_timeout(LONG).unwrap().forget();
    {
        // Both are in wait once we hold the lock.
        let _g = cond.lock().unwrap();
    }
    doomed.kill().unwrap();
    assert_eq!(doomed.join().unwrap(), ExitStatus::Signal(9));
    {
        let _g = cond.lock().unwrap();
        cond.notify(1).unwrap();
    }
    ok(&live);
    assert_eq!(woken.value(), 1);
}

#[test]
fn a_waiter_learns_that_the_lock_holder_died() {
    let cond = Condition::new().unwrap();
    let p = {
        bingfa_process::fork(|| {
            let mut g = cond.lock().unwrap();
            match cond.wait_timeout(&mut g, LONG) {
                Err(Error::OwnerDied) => {}
                other => panic!("expected OwnerDied, got {other:?}"),
            }
            // Held again, and usable.
            cond.notify_all().unwrap();
        })
        .unwrap()
    };
    // The waiter is in wait once the lock is free for us.
    let t = Instant::now();
    loop {
        let g = cond.lock().unwrap();
        let waiting = format!("{cond:?}").contains("waiting: 1");
        drop(g);
        if waiting {
            break;
        }
        assert!(t.elapsed() < LONG);
        std::thread::sleep(Duration::from_millis(2));
    }
    let holder = bingfa_process::fork(|| {
        let _g = cond.lock().unwrap();
        cond.notify(1).unwrap();
        // Dies holding the lock the waiter needs back.
        // SAFETY: raise has no preconditions; the process ends here.
        unsafe { libc::raise(libc::SIGKILL) };
    })
    .unwrap();
    assert_eq!(holder.join().unwrap(), ExitStatus::Signal(9));
    ok(&p);
}

#[test]
fn a_timed_out_wait_returns_false_and_holds_the_lock() {
    let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let mut g = cond.lock().unwrap();
    let t = Instant::now();
    assert!(!cond
        .wait_timeout(&mut g, Duration::from_millis(50))
        .unwrap());
    assert!(t.elapsed() >= Duration::from_millis(45));
    assert!(!cond
        .wait_for_timeout(&mut g, || false, Duration::from_millis(30))
        .unwrap());
    assert!(cond
        .wait_for_timeout(&mut g, || true, Duration::ZERO)
        .unwrap());
    // Still held: another process cannot take it.
    let p = bingfa_process::fork(|| {
        assert!(matches!(cond.try_lock(), Err(LockError::WouldBlock)));
    })
    .unwrap();
    ok(&p);
    drop(g);
}

fn spawned_notifier(args: (Condition, Value<u32>)) {
    let (cond, v) = args;
    let _g = cond.lock().unwrap();
    v.set(42);
    cond.notify_all().unwrap();
}

#[test]
fn a_spawned_child_notifies_through_its_own_mapping() {
    let cond = Condition::new().unwrap();
    let v = Value::new(0u32).unwrap();
    let mut g = cond.lock().unwrap();
    let p = bingfa_process::spawn(spawned_notifier, (cond.clone(), v.clone())).unwrap();
    cond.wait_for(&mut g, || v.get() == 42).unwrap();
    drop(g);
    ok(&p);
}
