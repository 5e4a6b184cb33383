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

/// Two threads each close a lock-order circle at once. Each report is found
/// under the detector's lock and handed over after it: the handler must
/// still get both, once each, in the log's order (so that a demo or a test
/// that reads reports from a channel never sees a deadlock before the
/// inversion that led to it). Without the outbox, loom finds the
/// interleaving that swaps them.
#[test]
fn loom_reports_reach_the_handler_in_the_order_found() {
    let runs = model(|| {
        switch_on();
        let got = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = got.clone();
        graph::with(|s| {
            s.handler = Some(std::sync::Arc::new(move |r: &Report| {
                sink.lock().unwrap().push(r.to_string());
            }))
        });
        let meta = |name: &'static str| Arc::new(Meta::named(Kind::Mutex, Some(name.into())));
        let (a, b, c, d) = (meta("A"), meta("B"), meta("C"), meta("D"));
        // The orders A -> B and C -> D, taken first (on a thread of the
        // model's: the main thread's identity would outlive the model).
        let (a2, b2, c2, d2) = (a.clone(), b.clone(), c.clone(), d.clone());
        thread::spawn(move || {
            for (x, y) in [(&a2, &b2), (&c2, &d2)] {
                super::on_acquired(x, here());
                super::on_acquired(y, here());
                super::on_released(y);
                super::on_released(x);
            }
        })
        .join()
        .unwrap();
        // Then B -> A and D -> C, at the same time.
        let invert = |x: Arc<Meta>, y: Arc<Meta>| {
            thread::spawn(move || {
                super::on_acquired(&x, here());
                super::on_blocking(&y, here());
                super::on_unblocked(&y);
                super::on_released(&x);
            })
        };
        let t1 = invert(b.clone(), a.clone());
        let t2 = invert(d.clone(), c.clone());
        t1.join().unwrap();
        t2.join().unwrap();
        let logged: Vec<String> = graph::with(|s| s.log.iter().map(|r| r.to_string()).collect());
        assert_eq!(logged.len(), 2, "one inversion per pair: {logged:?}");
        assert_eq!(*got.lock().unwrap(), logged, "delivered in the order found");
        graph::with(|s| assert!(s.outbox.is_empty() && !s.delivering));
        // Loom's join returns before the threads' exit hooks ran.
        while graph::with(|s| !s.threads.is_empty()) {
            thread::yield_now();
        }
    });
    assert!(runs > 10, "the model explored interleavings ({runs})");
}
