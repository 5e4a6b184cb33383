//! Every `try_` and `_timeout` path of every primitive, failing: it must
//! change nothing (no permit, item, byte, lock or child gained or lost),
//! and the primitive must work as before afterwards. The holder of the
//! contended resource is another process each time.
//!
//! The shape these guard against: `Semaphore::try_acquire` once built its
//! permit before knowing whether it had one, and the permit's drop
//! released a permit that was never taken.

use std::time::{Duration, Instant};

use bingfa_process::{
    Array, Condition, Error, Event, ExitStatus, Lock, LockError, Pipe, Process, Queue, RLock,
    Semaphore, Value,
};

const TRIES: usize = 20;
const SHORT: Duration = Duration::from_millis(5);
const LONG: Duration = Duration::from_secs(30);

fn ok(p: &Process) {
    let st = p.join().unwrap();
    assert_eq!(st, ExitStatus::Code(0), "{:?}", p.panic_message());
}

/// Forks a child that runs `hold` (which takes something; it may borrow
/// the parent's handles, of which the child has its own copy), sets
/// `held`, waits for `release`, then returns (giving it back when `hold`'s
/// value drops).
fn holder<G>(hold: impl FnOnce() -> G) -> (Process, Event) {
    let held = Event::new().unwrap();
    let release = Event::new().unwrap();
    let p = {
        let (held, release) = (held.clone(), release.clone());
        bingfa_process::fork(move || {
            let g = hold();
            held.set();
            assert!(release.wait_timeout(LONG));
            drop(g);
        })
        .unwrap()
    };
    assert!(held.wait_timeout(LONG));
    (p, release)
}

#[test]
fn lock_failed_tries_change_nothing() {
    let lock = Lock::new().unwrap();
    let (p, release) = holder(|| lock.lock().unwrap());
    for _ in 0..TRIES {
        assert!(matches!(lock.try_lock(), Err(LockError::WouldBlock)));
        assert!(matches!(
            lock.lock_timeout(SHORT),
            Err(LockError::WouldBlock)
        ));
    }
    release.set();
    ok(&p);
    // Free, and with a clean history: no failed try left a mark (an owner
    // recorded, a consistency flag) that the next lock would report.
    let g = lock.try_lock().unwrap();
    drop(g);
    let g = lock.lock_timeout(SHORT).unwrap();
    drop(g);
}

#[test]
fn rlock_failed_tries_change_nothing() {
    let r = RLock::new().unwrap();
    let (p, release) = holder(|| (r.lock().unwrap(), r.lock().unwrap()));
    for _ in 0..TRIES {
        assert!(matches!(r.try_lock(), Err(LockError::WouldBlock)));
        assert!(matches!(r.lock_timeout(SHORT), Err(LockError::WouldBlock)));
        assert_eq!(r.level(), 0);
        assert!(r.locked());
    }
    release.set();
    ok(&p);
    assert!(!r.locked());
    let g = r.try_lock().unwrap();
    assert_eq!(r.level(), 1);
    drop(g);
    assert!(!r.locked());
}

#[test]
fn condition_failed_waits_change_nothing() {
    let cond = Condition::new().unwrap();
    let mut g = cond.lock().unwrap();
    for _ in 0..TRIES {
        assert!(!cond.wait_timeout(&mut g, Duration::ZERO).unwrap());
        assert!(!cond.wait_timeout(&mut g, SHORT).unwrap());
        assert!(!cond.wait_for_timeout(&mut g, || false, SHORT).unwrap());
    }
    // No waiter left registered, and the lock is held at its level.
    assert!(format!("{cond:?}").contains("waiting: 0"), "{cond:?}");
    drop(g);
    let (p, release) = holder(|| cond.lock().unwrap());
    for _ in 0..TRIES {
        assert!(matches!(cond.try_lock(), Err(LockError::WouldBlock)));
        assert!(matches!(
            cond.lock_timeout(SHORT),
            Err(LockError::WouldBlock)
        ));
    }
    release.set();
    ok(&p);
    // A notify with nobody waiting is remembered by nobody.
    {
        let _g = cond.lock().unwrap();
        cond.notify_all().unwrap();
    }
    let mut g = cond.lock().unwrap();
    assert!(!cond.wait_timeout(&mut g, SHORT).unwrap());
}

#[test]
fn value_and_array_failed_tries_change_nothing() {
    let v = Value::new(5u64).unwrap();
    let a = Array::from_slice(&[1u32, 2, 3]).unwrap();
    let (p, release) = holder(|| {
        let mut gv = v.lock().unwrap();
        *gv += 1;
        let mut ga = a.lock().unwrap();
        ga[0] = 10;
        (ga, gv)
    });
    for _ in 0..TRIES {
        assert!(matches!(v.try_lock(), Err(LockError::WouldBlock)));
        assert!(matches!(v.lock_timeout(SHORT), Err(LockError::WouldBlock)));
        assert!(matches!(a.try_lock(), Err(LockError::WouldBlock)));
        assert!(matches!(a.lock_timeout(SHORT), Err(LockError::WouldBlock)));
    }
    release.set();
    ok(&p);
    assert_eq!(*v.try_lock().unwrap(), 6);
    assert_eq!(a.try_lock().unwrap()[..], [10, 2, 3]);
    assert_eq!(a.lock_timeout(SHORT).unwrap().len(), 3);
}

#[test]
fn semaphore_failed_tries_change_nothing() {
    for bounded in [false, true] {
        let sem = if bounded {
            Semaphore::bounded(2).unwrap()
        } else {
            Semaphore::new(2).unwrap()
        };
        let (p, release) = holder(|| (sem.acquire(), sem.acquire()));
        assert_eq!(sem.value(), 0);
        for _ in 0..TRIES {
            assert!(sem.try_acquire().is_none());
            assert!(matches!(sem.acquire_timeout(SHORT), Err(Error::Timeout)));
            assert_eq!(sem.value(), 0);
        }
        release.set();
        ok(&p);
        assert_eq!(sem.value(), 2);
        let x = sem.try_acquire().unwrap();
        let y = sem.acquire_timeout(SHORT).unwrap();
        assert!(sem.try_acquire().is_none());
        drop((x, y));
        assert_eq!(sem.value(), 2);
        if bounded {
            assert!(matches!(sem.release(), Err(Error::Invalid(_))));
        }
    }
}

#[test]
fn event_failed_waits_change_nothing() {
    let ev = Event::new().unwrap();
    for _ in 0..TRIES {
        assert!(!ev.wait_timeout(Duration::ZERO));
        assert!(!ev.wait_timeout(SHORT));
        assert!(!ev.is_set());
    }
    let p = {
        let ev = ev.clone();
        bingfa_process::fork(move || ev.set()).unwrap()
    };
    assert!(ev.wait_timeout(LONG));
    ok(&p);
    assert!(ev.is_set());
    assert!(ev.wait_timeout(Duration::ZERO));
}

#[test]
fn queue_failed_puts_and_gets_change_nothing() {
    let q = Queue::<(u32, String)>::new(3).unwrap();
    // Another process fills it.
    let p = {
        let q = q.clone();
        bingfa_process::fork(move || {
            for i in 0..3 {
                q.put((i, format!("item {i}"))).unwrap();
            }
        })
        .unwrap()
    };
    ok(&p);
    for k in 0..TRIES as u32 {
        let item = (100 + k, format!("extra {k}"));
        let e = q.try_put(item.clone()).unwrap_err();
        assert!(e.is_full());
        assert_eq!(e.into_inner(), item);
        let e = q.put_timeout(item.clone(), SHORT).unwrap_err();
        assert!(e.is_timeout());
        assert_eq!(e.item, item);
        assert_eq!(q.len(), 3);
        assert!(q.is_full());
    }
    for i in 0..3 {
        assert_eq!(q.try_get().unwrap(), (i, format!("item {i}")));
    }
    for _ in 0..TRIES {
        assert!(matches!(q.try_get(), Err(Error::Empty)));
        assert!(matches!(q.get_timeout(SHORT), Err(Error::Timeout)));
        assert_eq!(q.len(), 0);
    }
    // The failed waits left nothing behind that would keep a later get
    // from being woken by another process's put.
    let p = {
        let q = q.clone();
        bingfa_process::fork(move || {
            std::thread::sleep(Duration::from_millis(20));
            q.put((7, "late".into())).unwrap();
        })
        .unwrap()
    };
    assert_eq!(q.get_timeout(LONG).unwrap(), (7, "late".into()));
    ok(&p);
    assert!(q.is_empty());
}

#[test]
fn pipe_failed_receives_lose_no_byte() {
    // A large message arrives in pieces: every try that finds only part of
    // it fails, keeps what it read, and the message comes out whole.
    let (a, b) = Pipe::<Vec<u8>>::new().unwrap();
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7) as u8).collect();
    let p = {
        let big = big.clone();
        bingfa_process::fork(move || {
            b.send(&big).unwrap();
            b.send(&vec![1, 2, 3]).unwrap();
        })
        .unwrap()
    };
    let t = Instant::now();
    let mut failed = 0u32;
    let got = loop {
        match a.try_recv() {
            Ok(v) => break v,
            Err(Error::Empty) => failed += 1,
            Err(e) => panic!("{e}"),
        }
        match a.recv_timeout(Duration::from_micros(50)) {
            Ok(v) => break v,
            Err(Error::Timeout) => failed += 1,
            Err(e) => panic!("{e}"),
        }
        assert!(t.elapsed() < LONG, "no message after {failed} tries");
    };
    assert!(got == big, "the large message came out damaged");
    assert_eq!(a.recv_timeout(LONG).unwrap(), vec![1, 2, 3]);
    ok(&p);
    assert!(matches!(a.try_recv(), Err(Error::Closed)));
}

#[test]
fn process_join_timeout_changes_nothing() {
    let go = Event::new().unwrap();
    let p = {
        let go = go.clone();
        bingfa_process::fork(move || assert!(go.wait_timeout(LONG))).unwrap()
    };
    for _ in 0..TRIES {
        assert_eq!(p.join_timeout(Duration::ZERO).unwrap(), None);
        assert_eq!(p.join_timeout(SHORT).unwrap(), None);
        assert!(p.is_alive().unwrap());
        assert_eq!(p.exitcode().unwrap(), None);
    }
    go.set();
    assert_eq!(p.join_timeout(LONG).unwrap(), Some(ExitStatus::Code(0)));
}
