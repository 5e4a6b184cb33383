//! Lock order inversions (lockdep): runs that did not hang, but whose lock
//! order can deadlock another time, are reported with both paths.
//!
//! The detector is process-wide: the tests of this file run one at a time
//! and start from `deadlock::reset()`.
#![cfg(feature = "detect")]

use std::sync::Arc;
use std::thread;

use bingfa_sync::deadlock::{self, InversionReport, Report};
use bingfa_sync::{Condition, Mutex, RLock};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` alone with a fresh detector and returns the inversions reported
/// to the handler during it.
fn run(f: impl FnOnce()) -> Vec<InversionReport> {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    deadlock::enable();
    deadlock::reset();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    deadlock::set_handler(move |r: &Report| s.lock().unwrap().push(r.clone()));
    f();
    deadlock::reset_handler();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    // The handler and the log saw the same reports.
    assert_eq!(seen, deadlock::take_reports());
    seen.into_iter()
        .map(|r| match r {
            Report::LockOrderInversion(i) => i,
            other => panic!("not an inversion: {other}"),
        })
        .collect()
}

fn in_thread(name: &str, f: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn ab_then_ba_in_two_threads_that_never_overlap() {
    let found = run(|| {
        let a = Arc::new(Mutex::named("A", 0));
        let b = Arc::new(Mutex::named("B", 0));
        let (a1, b1) = (a.clone(), b.clone());
        in_thread("inv-t1", move || {
            let _a = a1.lock();
            let _b = b1.lock();
        });
        // T1 is done: this cannot hang, but the order is the opposite.
        in_thread("inv-t2", move || {
            let _b = b.lock();
            let _a = a.lock();
        });
    });
    assert_eq!(found.len(), 1, "{found:?}");
    let inv = &found[0];
    eprintln!("{inv}");
    assert_eq!(inv.earlier.len(), 1);
    let e = &inv.earlier[0];
    assert_eq!(&*e.thread, "inv-t1");
    assert_eq!((&*e.first.lock.name, &*e.then.lock.name), ("A", "B"));
    assert_eq!(&*inv.now.thread, "inv-t2");
    assert_eq!(
        (&*inv.now.first.lock.name, &*inv.now.then.lock.name),
        ("B", "A")
    );
    for at in [e.first.at, e.then.at, inv.now.first.at, inv.now.then.at] {
        assert!(at.file().ends_with("tests/deadlock_inversion.rs"), "{at}");
    }
    assert_eq!(e.then.at.line(), e.first.at.line() + 1);
    let text = inv.to_string();
    assert!(text.starts_with(
        "POTENTIAL DEADLOCK (lock order inversion): lock \"B\" and lock \"A\" are taken in both orders."
    ));
    assert!(text.contains("thread \"inv-t1\" held lock \"A\" (acquired at "));
    assert!(text.contains("thread \"inv-t2\" holds lock \"B\" (acquired at "));
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn same_thread_inversion_reported_once_however_often_it_repeats() {
    let found = run(|| {
        let a = Mutex::named("A", ());
        let b = RLock::named("B", ());
        for _ in 0..10 {
            {
                let _a = a.lock();
                let _b = b.lock();
            }
            {
                let _b = b.lock();
                let _a = a.lock();
            }
        }
    });
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn a_circle_through_three_locks() {
    let found = run(|| {
        let l: Arc<[Mutex<()>; 3]> = Arc::new([
            Mutex::named("L0", ()),
            Mutex::named("L1", ()),
            Mutex::named("L2", ()),
        ]);
        for (i, (x, y)) in [(0, 1), (1, 2), (2, 0)].into_iter().enumerate() {
            let l = l.clone();
            in_thread(&format!("circ-{i}"), move || {
                let _x = l[x].lock();
                let _y = l[y].lock();
            });
        }
    });
    assert_eq!(found.len(), 1, "{found:?}");
    let path: Vec<(&str, &str)> = found[0]
        .earlier
        .iter()
        .map(|e| (&*e.first.lock.name, &*e.then.lock.name))
        .collect();
    assert_eq!(path, [("L0", "L1"), ("L1", "L2")]);
    assert_eq!(&*found[0].now.thread, "circ-2");
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn dropped_locks_are_forgotten() {
    let found = run(|| {
        {
            let a = Mutex::named("A", ());
            let b = Mutex::named("B", ());
            let _a = a.lock();
            let _b = b.lock();
        }
        // New instances with the same names: a new order, not an inversion.
        let a = Mutex::named("A", ());
        let b = Mutex::named("B", ());
        let _b = b.lock();
        let _a = a.lock();
    });
    assert!(found.is_empty(), "{found:?}");
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn reacquiring_a_condition_lock_while_holding_another() {
    // Holding X, take the condition's lock L (X->L); a waiter that instead
    // holds L and then takes X (L->X) is the opposite order.
    let found = run(|| {
        let x = Mutex::named("X", ());
        let c = Condition::named("C", 0);
        {
            let _x = x.lock();
            let mut g = c.lock();
            *g += 1;
        }
        let _g = c.lock();
        let _x = x.lock();
    });
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(&*found[0].now.then.lock.name, "X");
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn a_handler_that_closes_a_circle_gets_that_report_too() {
    // The handler may use bingfa's locks, and so find an inversion while a
    // report is being handed over: that one reaches the handler too, from
    // within the first call (on the same thread), after it in the log.
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    deadlock::enable();
    deadlock::reset();
    let c = Arc::new(Mutex::named("C", ()));
    let d = Arc::new(Mutex::named("D", ()));
    {
        let _d = d.lock();
        let _c = c.lock();
    }
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let s = seen.clone();
    deadlock::set_handler(move |r: &Report| {
        let first = {
            let mut s = s.lock().unwrap();
            s.push(r.to_string());
            s.len() == 1
        };
        if first {
            // C then D: the opposite of the order taken above.
            let _c = c.lock();
            let _d = d.lock();
        }
    });
    let a = Arc::new(Mutex::named("A", ()));
    let b = Arc::new(Mutex::named("B", ()));
    let (a1, b1) = (a.clone(), b.clone());
    in_thread("handler-t1", move || {
        let _a = a1.lock();
        let _b = b1.lock();
    });
    in_thread("handler-t2", move || {
        let _b = b.lock();
        let _a = a.lock();
    });
    // The handler owns the last references to C and D, so replacing it
    // drops two locks, which tell the detector: that must not happen
    // under the detector's own lock (it once did, and hung here).
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        deadlock::reset_handler();
        let _ = tx.send(());
    });
    if rx.recv_timeout(std::time::Duration::from_secs(60)).is_err() {
        // The detector's lock stays held for good: every later test of
        // this process would hang on it, and so would `exit` (this
        // thread's exit hook tells the detector), so abort.
        eprintln!("reset_handler hung dropping a handler that owned bingfa locks");
        std::process::abort();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let logged: Vec<String> = deadlock::take_reports()
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].contains("\"B\" and lock \"A\"") && seen[1].contains("\"C\" and lock \"D\""),
        "{seen:?}"
    );
    assert_eq!(seen, logged, "the handler and the log saw the same order");
}
