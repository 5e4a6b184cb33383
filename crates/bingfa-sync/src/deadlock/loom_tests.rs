//! Loom models of the detector: its graph stays consistent while threads
//! acquire, release, block, exit, and the search runs at the same time.
//!
//! The detector's hooks, the global state lock (loom's `Mutex` under
//! `bingfa_loom`), the thread-local identity and its exit hook are the real
//! code. The models do not turn on the process-wide flag
//! (`bingfa_trace::flags::DEADLOCK`): other crates' models running in the
//! same test process would go through the detector too. They switch the
//! detector's own state on and call its hooks directly, as
//! `crate::instrument` does when the flag is on.

use loom::sync::{Arc, Mutex};
use loom::thread;

use super::graph;
use super::report::Report;
use crate::instrument::{Kind, Meta};

/// Runs `f` as a loom model and returns how many executions loom explored.
fn model(f: impl Fn() + Sync + Send + 'static) -> usize {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = runs.clone();
    loom::model(move || {
        r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let n = runs.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("explored {n} executions");
    n
}

/// Turns this execution's detector state on (not the process-wide flag).
fn switch_on() {
    graph::with(|s| s.enabled = true);
}

#[track_caller]
fn here() -> &'static std::panic::Location<'static> {
    std::panic::Location::caller()
}

/// Takes `lock` the way a primitive reports it: blocking, then acquired.
fn take<'a>(lock: &'a Mutex<()>, meta: &Meta) -> loom::sync::MutexGuard<'a, ()> {
    super::on_blocking(meta, here());
    let g = lock.lock().unwrap();
    super::on_acquired(meta, here());
    g
}

#[test]
fn loom_graph_consistent_as_threads_come_and_go() {
    let runs = model(|| {
        switch_on();
        let a = Arc::new((Mutex::new(()), Meta::named(Kind::Mutex, Some("A".into()))));
        let b = Arc::new((Mutex::new(()), Meta::named(Kind::Mutex, Some("B".into()))));
        let t1 = {
            let (a, b) = (a.clone(), b.clone());
            thread::spawn(move || {
                let ga = take(&a.0, &a.1);
                let gb = take(&b.0, &b.1);
                super::on_released(&b.1);
                drop(gb);
                super::on_released(&a.1);
                drop(ga);
            })
        };
        let t2 = {
            let a = a.clone();
            thread::spawn(move || {
                let ga = take(&a.0, &a.1);
                super::on_released(&a.1);
                drop(ga);
            })
        };
        // The search runs while the threads come and go: one lock order,
        // so never a report.
        let found = super::check_now();
        assert!(found.is_empty(), "{found:?}");
        graph::with(|s| s.check_invariants());
        t1.join().unwrap();
        t2.join().unwrap();
        // Loom's join returns before the thread's locals are dropped; the
        // exit hook runs soon after.
        while graph::with(|s| {
            s.check_invariants();
            assert!(s
                .threads
                .values()
                .all(|t| t.held.is_empty() && t.wait.is_none()));
            !s.threads.is_empty()
        }) {
            thread::yield_now();
        }
        let (ida, idb) = (a.1.id(), b.1.id());
        drop((a, b));
        graph::with(|s| {
            assert!(!s.resources.contains_key(&ida) && !s.resources.contains_key(&idb));
            assert!(!s.lockdep.knows(ida) && !s.lockdep.knows(idb));
        });
    });
    assert!(runs > 10, "the model explored interleavings ({runs})");
}

#[test]
fn loom_exit_while_holding_then_waiter_gives_up() {
    let runs = model(|| {
        switch_on();
        let a = Arc::new(Meta::named(Kind::Mutex, Some("A".into())));
        let t1 = {
            let a = a.clone();
            // Takes A and exits without releasing it (a forgotten guard).
            thread::spawn(move || super::on_acquired(&a, here()))
        };
        let t2 = {
            let a = a.clone();
            // Blocks on A, then times out.
            thread::spawn(move || {
                super::on_blocking(&a, here());
                super::on_unblocked(&a);
            })
        };
        // Whatever the search sees, it is never wrong: at most "A was
        // abandoned by the thread that took it".
        for r in super::check_now() {
            match r {
                Report::Abandoned(ab) => {
                    assert_eq!(&*ab.lock.name, "A");
                    assert_eq!(ab.waiters.len(), 1);
                }
                other => panic!("false report: {other}"),
            }
        }
        graph::with(|s| s.check_invariants());
        t1.join().unwrap();
        t2.join().unwrap();
        // Once both exit hooks ran (loom's join returns before the locals
        // are dropped): t1 is kept, exited, holding A; t2 is gone.
        while graph::with(|s| {
            s.check_invariants();
            assert!(s.threads.values().all(|t| t.wait.is_none()));
            s.threads.len() != 1 || s.threads.values().any(|t| t.alive)
        }) {
            thread::yield_now();
        }
        graph::with(|s| {
            let t = s.threads.values().next().unwrap();
            assert_eq!(t.held.len(), 1);
        });
        drop(a);
        graph::with(|s| assert!(s.threads.is_empty()));
    });
    assert!(runs > 10, "the model explored interleavings ({runs})");
}

/// Two threads take A and B in opposite orders and block: the second to
/// block closes a lock-order circle (an inversion, found by its lock
/// call) and a deadlock (found by the search, which runs meanwhile). Each
/// report is found under the detector's lock and handed over after it;
/// the handler must still get the inversion first (a demo that reads
/// reports from a channel must never see the deadlock before the
/// inversion that led to it), and each report once. Without holding the
/// search's deadlock back, loom finds the interleaving that swaps them.
#[test]
fn loom_an_inversion_reaches_the_handler_before_its_deadlock() {
    let runs = model(|| {
        switch_on();
        // Per report handed over: whether it is a deadlock.
        let got = Arc::new(Mutex::new(Vec::<bool>::new()));
        let sink = got.clone();
        graph::with(|s| {
            s.handler = Some(std::sync::Arc::new(move |r: &Report| {
                sink.lock().unwrap().push(r.is_deadlock());
            }))
        });
        let a = Arc::new(Meta::named(Kind::Mutex, Some("A".into())));
        let b = Arc::new(Meta::named(Kind::Mutex, Some("B".into())));
        let hold_then_wait = |x: Arc<Meta>, y: Arc<Meta>| {
            thread::spawn(move || {
                super::on_acquired(&x, here());
                super::on_blocking(&y, here());
            })
        };
        let t1 = hold_then_wait(a.clone(), b.clone());
        let t2 = hold_then_wait(b.clone(), a.clone());
        let found = super::check_now();
        t1.join().unwrap();
        t2.join().unwrap();
        // Both lock calls have returned: the inversion was handed over by
        // the one that found it, and a deadlock the search found either by
        // the search or, held back, by that same call after its own.
        let got = got.lock().unwrap().clone();
        let deadlocks = found.iter().filter(|r| r.is_deadlock()).count();
        assert_eq!(
            got.iter().filter(|d| !**d).count(),
            1,
            "one inversion: {got:?}"
        );
        assert_eq!(got.iter().filter(|d| **d).count(), deadlocks, "{got:?}");
        assert!(!got[0], "the inversion first: {got:?}");
        graph::with(|s| assert!(s.in_flight == 0 && s.held_back.is_empty()));
        // Loom's join returns before the threads' exit hooks ran.
        while graph::with(|s| s.threads.values().any(|t| t.alive)) {
            thread::yield_now();
        }
        drop((a, b));
    });
    assert!(runs > 10, "the model explored interleavings ({runs})");
}
