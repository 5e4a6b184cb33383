//! gevent's `src/gevent/tests/test__greenletset.py` (tests of
//! `gevent.pool.Group` and `gevent.killall`), ported one test per upstream
//! test, named after it.
//!
//! Upstream: repository gevent/gevent, file
//! `src/gevent/tests/test__greenletset.py`, read at revision
//! 04752c48d92ffadb100fe3e8fac7d6e7a9524616 (gevent 26.5.0+; last change to
//! the file 0138e418). Licence: MIT, Copyright (c) 2009-2015 Denis Bilenko
//! and the gevent contributors. `PARITY-sync.md` lists every upstream test.
//!
//! `gevent.killall(greenlets, block, timeout)` is ported as a [`Group`]
//! made of those green threads and killed (`kill`, `kill_nowait`,
//! `kill_timeout`); the module-level `killall` belongs with the handles.
//! Upstream's greenlets that catch the kill (`except: ...`) catch the
//! unwind here (`catch_unwind`), which the crate documents as possible.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bingfa_green::sync::Group;
use bingfa_green::{run, sleep, spawn, with_timeout, Error, Handle};

/// gevent's `LARGE_TICK`.
const DELAY: Duration = Duration::from_millis(200);
const LARGE_TICK_MIN_ADJ: Duration = Duration::from_millis(100);
/// A bound no correct run comes near on a loaded machine.
const GENEROUS: Duration = Duration::from_secs(5);

#[test]
fn test_basic() {
    run(|| {
        let s = Group::new();
        s.spawn(|| sleep(DELAY));
        assert_eq!(s.len(), 1);
        s.spawn(|| sleep(DELAY * 5));
        assert_eq!(s.len(), 2);
        sleep(Duration::ZERO);
        sleep(DELAY * 2 + LARGE_TICK_MIN_ADJ);
        assert_eq!(s.len(), 1);
        // Upstream sleeps DELAY * 5 + MIN_ADJ more; here the group is
        // joined (with a generous bound) and must then be empty.
        assert!(s.join_timeout(DELAY * 5 + GENEROUS));
        assert!(s.is_empty());
    })
    .unwrap();
}

#[test]
fn test_waitall() {
    run(|| {
        let s = Group::new();
        s.spawn(|| sleep(DELAY));
        s.spawn(|| sleep(DELAY * 2));
        assert_eq!(s.len(), 2);
        let start = Instant::now();
        s.join();
        let delta = start.elapsed();
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
        assert!(delta >= DELAY * 2 - Duration::from_millis(20), "{delta:?}");
        assert!(delta < DELAY * 2 + GENEROUS, "{delta:?}");
    })
    .unwrap();
}

#[test]
fn test_kill_block() {
    run(|| {
        let s = Group::new();
        s.spawn(|| sleep(DELAY));
        s.spawn(|| sleep(DELAY * 2));
        assert_eq!(s.len(), 2);
        let start = Instant::now();
        s.kill();
        assert!(s.is_empty());
        assert!(start.elapsed() < DELAY * 8 / 10, "{:?}", start.elapsed());
    })
    .unwrap();
}

#[test]
fn test_kill_noblock() {
    run(|| {
        let s = Group::new();
        s.spawn(|| sleep(DELAY));
        s.spawn(|| sleep(DELAY * 2));
        assert_eq!(s.len(), 2);
        s.kill_nowait();
        assert_eq!(s.len(), 2, "not dead yet");
        sleep(Duration::from_micros(100));
        assert!(s.is_empty());
    })
    .unwrap();
}

/// A green thread that survives every kill (catching the unwind) until
/// told to stop; counts the kills it caught.
fn undead(shot_count: Rc<Cell<u32>>, stop: Rc<Cell<bool>>) -> impl FnOnce() {
    move || loop {
        let r = panic::catch_unwind(AssertUnwindSafe(|| sleep(Duration::from_secs(1))));
        if stop.get() {
            break;
        }
        if r.is_err() {
            shot_count.set(shot_count.get() + 1);
        }
    }
}

/// A group kills each member once: kills sent while a member is still
/// "dying" (here: it survived) are not sent again.
#[test]
fn test_kill_fires_once() {
    run(|| {
        let (u1, u2) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let stop = Rc::new(Cell::new(false));
        let p1 = spawn(undead(u1.clone(), stop.clone()));
        let p2 = spawn(undead(u2.clone(), stop.clone()));
        let check = |count1: u32, count2: u32| {
            assert!(!p1.is_dead() && !p2.is_dead());
            assert_eq!((u1.get(), u2.get()), (count1, count2));
        };
        sleep(Duration::from_millis(10));
        let s = Group::new();
        s.add(&p1);
        s.add(&p2);
        assert_eq!(s.len(), 2);
        check(0, 0);
        s.killone_nowait(&p1);
        check(0, 0);
        sleep(Duration::ZERO);
        check(1, 0);
        // killone (blocking) on a member already killed: not sent again,
        // and it does not wait.
        s.killone(&p1);
        check(1, 0);
        s.killone(&p1);
        check(1, 0);
        s.kill_nowait();
        s.kill_nowait();
        s.kill_nowait();
        check(1, 0);
        sleep(DELAY);
        check(1, 1);
        let r = with_timeout(DELAY, || s.kill());
        assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
        assert_eq!(s.len(), 2);
        check(1, 1);
        // Upstream kills them with a chosen exception; here they are told
        // to stop, then killed.
        stop.set(true);
        p1.kill();
        p2.kill();
    })
    .unwrap();
}

/// Upstream kills a group of `Greenlet` subclass instances (one failed
/// already); there are no subclasses here, so: a group with a failed and a
/// sleeping member, killed.
#[test]
fn test_killall_subclass() {
    run(|| {
        let p1 = spawn(|| -> () { panic!("division by zero") });
        let p2 = spawn(|| sleep(Duration::from_secs(10)));
        let s = Group::new();
        s.add(&p1);
        s.add(&p2);
        s.kill();
        assert!(p1.is_dead() && p2.is_dead());
        // Neither had run yet: both were killed before they started.
        assert!(matches!(p1.join(), Err(Error::Killed)));
        assert!(matches!(p2.join(), Err(Error::Killed)));
    })
    .unwrap();
}

fn group_of(hs: &[&Handle<()>]) -> Group {
    let g = Group::new();
    for h in hs {
        g.add(*h);
    }
    g
}

#[test]
fn test_killall_iterable_argument_non_block() {
    run(|| {
        let p1 = spawn(|| sleep(Duration::from_millis(500)));
        let p2 = spawn(|| sleep(Duration::from_millis(500)));
        group_of(&[&p1, &p2]).kill_nowait();
        sleep(Duration::from_millis(500));
        assert!(p1.is_dead() && p2.is_dead());
    })
    .unwrap();
}

/// A green thread that, when killed, catches it and sleeps 1 s more.
fn f() {
    if panic::catch_unwind(AssertUnwindSafe(|| sleep(Duration::from_millis(1500)))).is_err() {
        sleep(Duration::from_secs(1));
    }
}

/// Killed before they ever ran, they never run, so the kill is at once.
#[test]
fn test_killall_iterable_argument_timeout_not_started() {
    run(|| {
        let p1 = spawn(f);
        let p2 = spawn(f);
        assert!(group_of(&[&p1, &p2]).kill_timeout(Duration::from_millis(500)));
        assert!(p1.is_dead() && p2.is_dead());
    })
    .unwrap();
}

/// Started, they outlive the kill's timeout (upstream: `killall` raises
/// `Timeout`; here `kill_timeout` says `false`).
#[test]
fn test_killall_iterable_argument_timeout_started() {
    run(|| {
        let p1 = spawn(f);
        let p2 = spawn(f);
        sleep(Duration::from_millis(1));
        assert!(!group_of(&[&p1, &p2]).kill_timeout(Duration::from_millis(500)));
        assert!(!p1.is_dead() && !p2.is_dead());
    })
    .unwrap();
}
