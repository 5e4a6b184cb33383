//! Unit tests of the detector's core: most drive a private `State` (no
//! global state, deterministic); the last ones drive the real hooks from
//! real threads, filtering on their own names because other tests of this
//! binary may use instrumented primitives at the same time.

use std::panic::Location;
use std::sync::Arc;

use super::graph::State;
use super::report::*;
use super::*;
use crate::instrument::{self, Kind, Meta};

const M: PrimitiveKind = PrimitiveKind::Mutex;
const SEM: PrimitiveKind = PrimitiveKind::Semaphore;

#[track_caller]
fn here() -> &'static Location<'static> {
    Location::caller()
}

fn name(s: &str) -> Arc<str> {
    Arc::from(s)
}

/// A scripted view of the state: threads 1..n named t1..tn, primitives by
/// id with names "L<id>".
struct Script {
    s: State,
}

impl Script {
    fn new() -> Self {
        let mut s = State::new();
        s.enabled = true;
        Script { s }
    }
    fn tname(t: u64) -> Arc<str> {
        name(&format!("t{t}"))
    }
    #[track_caller]
    fn acq(&mut self, t: u64, id: u64, kind: PrimitiveKind) -> Vec<Report> {
        self.s.acquired(
            t,
            &Self::tname(t),
            id,
            kind,
            || name(&format!("L{id}")),
            here(),
        )
    }
    #[track_caller]
    fn block(&mut self, t: u64, id: u64, kind: PrimitiveKind) -> Vec<Report> {
        self.s.blocking(
            t,
            &Self::tname(t),
            id,
            kind,
            || name(&format!("L{id}")),
            here(),
        )
    }
    fn rel(&mut self, t: u64, id: u64) {
        self.s.released(Some(t), id);
    }
    fn search(&mut self) -> Vec<(Report, bool)> {
        let r = self.s.search();
        self.s.check_invariants();
        r
    }
}

fn cycle_names(r: &Report) -> Vec<String> {
    match r {
        Report::Deadlock(d) => d.cycle.iter().map(|t| t.thread.to_string()).collect(),
        other => panic!("not a deadlock: {other}"),
    }
}

#[test]
fn two_thread_cycle_is_found_once() {
    let mut s = Script::new();
    s.acq(1, 10, M);
    s.acq(2, 11, M);
    assert!(s.block(1, 11, M).is_empty());
    assert!(s.search().is_empty(), "t2 can still go on");
    let inv = s.block(2, 10, M);
    assert_eq!(inv.len(), 1, "the inversion is seen at blocking time");
    let found = s.search();
    assert_eq!(found.len(), 1);
    assert!(found[0].1, "new the first time");
    assert_eq!(cycle_names(&found[0].0), ["t1", "t2"]);
    let Report::Deadlock(d) = &found[0].0 else {
        unreachable!()
    };
    assert_eq!(&*d.cycle[0].holds[0].lock.name, "L10");
    assert_eq!(&*d.cycle[0].waits_for.lock.name, "L11");
    assert_eq!(&*d.cycle[1].holds[0].lock.name, "L11");
    assert_eq!(&*d.cycle[1].waits_for.lock.name, "L10");
    let again = s.search();
    assert_eq!(again.len(), 1);
    assert!(!again[0].1, "reported once");
}

#[test]
fn three_thread_cycle_and_a_thread_stuck_behind_it() {
    let mut s = Script::new();
    for t in 1..=3 {
        s.acq(t, 10 + t, M);
    }
    s.block(1, 12, M);
    s.block(2, 13, M);
    s.block(3, 11, M);
    s.block(4, 11, M);
    let found = s.search();
    assert_eq!(found.len(), 1);
    assert_eq!(cycle_names(&found[0].0), ["t1", "t2", "t3"]);
    let Report::Deadlock(d) = &found[0].0 else {
        unreachable!()
    };
    assert_eq!(d.also_stuck.len(), 1);
    assert_eq!(&*d.also_stuck[0].thread, "t4");
    let text = found[0].0.to_string();
    assert!(text.starts_with("DEADLOCK: 3 threads wait for each other in a cycle:"));
    assert!(text.contains("thread \"t1\" holds lock \"L11\" (acquired at "));
    assert!(text.contains("and waits for lock \"L12\" (at "));
    assert!(text.contains("Also stuck behind them:\n  thread \"t4\" waits for lock \"L11\""));
    assert!(text.contains(file!()), "{text}");
}

#[test]
fn a_thread_waiting_for_a_running_thread_is_not_stuck() {
    let mut s = Script::new();
    s.acq(1, 10, M);
    s.acq(2, 11, M);
    s.block(1, 11, M);
    s.block(3, 10, M);
    assert!(s.search().is_empty());
    // Nobody holds 12: a thread blocked on it (about to get it) is fine.
    s.block(4, 12, M);
    assert!(s.search().is_empty());
}

#[test]
fn relocking_a_mutex_is_a_one_thread_deadlock() {
    let mut s = Script::new();
    s.acq(1, 10, M);
    s.block(1, 10, M);
    let found = s.search();
    assert_eq!(found.len(), 1);
    assert_eq!(cycle_names(&found[0].0), ["t1"]);
    let text = found[0].0.to_string();
    assert!(text.contains("which it already holds"), "{text}");
    assert!(text.contains("use an RLock"), "{text}");
}

#[test]
fn semaphore_waits_need_every_holder_stuck() {
    let mut s = Script::new();
    // Two threads hold permits of semaphore 20.
    s.acq(1, 20, SEM);
    s.acq(3, 20, SEM);
    s.acq(2, 10, M);
    s.block(2, 20, SEM);
    s.block(1, 10, M);
    assert!(s.search().is_empty(), "t3 may still release its permit");
    s.block(3, 10, M);
    let found = s.search();
    assert_eq!(found.len(), 1);
    assert!(
        !found[0].1,
        "a semaphore deadlock is reported on a second look"
    );
    let found = s.search();
    assert!(found[0].1, "seen twice with the same waits: reported");
    let Report::Deadlock(d) = &found[0].0 else {
        unreachable!()
    };
    let mut all: Vec<&str> = d
        .cycle
        .iter()
        .chain(&d.also_stuck)
        .map(|t| &*t.thread)
        .collect();
    all.sort_unstable();
    assert_eq!(all, ["t1", "t2", "t3"]);
    let text = found[0].0.to_string();
    assert!(
        text.contains("holds a permit of semaphore \"L20\""),
        "{text}"
    );
}

#[test]
fn a_semaphore_given_by_non_holders_is_a_signal_not_an_edge() {
    // The shape of tests/deadlock_no_false.rs's signal: t1 takes permits
    // that workers release without ever taking one.
    let mut s = Script::new();
    s.block(1, 30, SEM);
    s.rel(2, 30); // a worker gives the first permit
    s.acq(1, 30, SEM); // t1 keeps it (forget)
    s.block(1, 30, SEM); // and waits for the next one
                         // t1 holds a permit of what it waits for, but anyone may give one.
    assert!(s.search().is_empty());
    assert!(s.search().is_empty(), "not even on the second look");
    // The same for a Lock released by a thread that did not take it.
    s.acq(1, 40, PrimitiveKind::Lock);
    s.block(2, 40, PrimitiveKind::Lock);
    s.rel(3, 40);
    s.acq(2, 40, PrimitiveKind::Lock);
    s.block(2, 40, PrimitiveKind::Lock);
    assert!(s.search().is_empty());
    assert!(s.search().is_empty());
}

#[test]
fn a_lock_held_by_a_waiter_is_reported_on_the_second_look() {
    // A Lock (any thread may release it) that nobody ever released from
    // another thread: waiting for it while holding it is reported, but
    // only when two searches in a row find it (it may be a signal).
    let mut s = Script::new();
    s.acq(1, 50, PrimitiveKind::Lock);
    s.block(1, 50, PrimitiveKind::Lock);
    let first = s.search();
    assert_eq!(first.len(), 1);
    assert!(!first[0].1, "not reported on the first look");
    let second = s.search();
    assert_eq!(second.len(), 1);
    assert!(second[0].1, "reported on the second look");
}

#[test]
fn semaphore_released_by_another_thread() {
    let mut s = Script::new();
    s.acq(1, 20, SEM);
    s.acq(2, 10, M);
    s.block(2, 20, SEM);
    s.block(1, 10, M);
    assert_eq!(s.search().len(), 1);
    // t2 gets a permit and blocks again: a new wait, so the second look
    // does not confirm the old one.
    s.acq(2, 20, SEM);
    s.rel(2, 20);
    s.block(2, 20, SEM);
    let found = s.search();
    assert_eq!(found.len(), 1);
    assert!(!found[0].1);
    // Thread 3 releases a permit it never took (Python allows it).
    s.rel(3, 20);
    assert!(s.search().is_empty());
}

#[test]
fn condition_event_and_barrier_waits_are_not_edges() {
    for kind in [
        PrimitiveKind::Condition,
        PrimitiveKind::Event,
        PrimitiveKind::Barrier,
    ] {
        let mut s = Script::new();
        s.acq(1, 10, M);
        s.block(1, 30, kind);
        s.block(2, 10, M);
        assert!(s.search().is_empty(), "{kind:?}");
        s.s.unblocked(1, 30);
        s.acq(1, 11, M);
        assert!(s.s.threads[&1].wait.is_none());
    }
}

#[test]
fn lock_held_by_an_exited_thread() {
    let mut s = Script::new();
    s.acq(1, 10, M);
    s.s.exited(1);
    s.block(2, 10, M);
    s.block(3, 11, M);
    s.acq(4, 11, M);
    s.block(4, 10, M);
    let found = s.search();
    assert_eq!(found.len(), 1);
    let Report::Abandoned(a) = &found[0].0 else {
        panic!("{:?}", found[0].0)
    };
    assert_eq!(&*a.owner, "t1");
    let waiters: Vec<&str> = a.waiters.iter().map(|w| &*w.thread).collect();
    assert_eq!(waiters, ["t2", "t4", "t3"]);
    assert!(found[0].0.to_string().starts_with("STUCK FOREVER"));
    // A semaphore permit kept by an exited thread proves nothing.
    let mut s = Script::new();
    s.acq(1, 20, SEM);
    s.s.exited(1);
    s.block(2, 20, SEM);
    assert!(s.search().is_empty());
    // Releasing it from another thread forgets the exited thread.
    s.rel(2, 20);
    assert!(!s.s.threads.contains_key(&1));
}

#[test]
fn exited_threads_without_holdings_are_forgotten() {
    let mut s = Script::new();
    s.acq(1, 10, M);
    s.rel(1, 10);
    s.block(1, 11, M);
    s.s.exited(1);
    assert!(s.s.threads.is_empty());
}

#[test]
fn a_deadlock_that_ends_is_reported_again_if_it_comes_back() {
    let mut s = Script::new();
    s.acq(1, 10, M);
    s.acq(2, 11, M);
    s.block(1, 11, M);
    s.block(2, 10, M);
    assert!(s.search()[0].1);
    // t2 times out.
    s.s.unblocked(2, 10);
    assert!(s.search().is_empty());
    s.block(2, 10, M);
    assert!(s.search()[0].1);
}

#[test]
fn two_cycles_two_reports() {
    let mut s = Script::new();
    s.acq(1, 10, M);
    s.acq(2, 11, M);
    s.block(1, 11, M);
    s.block(2, 10, M);
    s.acq(3, 12, M);
    s.acq(4, 13, M);
    s.block(3, 13, M);
    s.block(4, 12, M);
    let found = s.search();
    assert_eq!(found.len(), 2);
    assert_eq!(cycle_names(&found[0].0), ["t1", "t2"]);
    assert_eq!(cycle_names(&found[1].0), ["t3", "t4"]);
}

#[test]
fn inversion_reported_once_per_pair_with_both_paths() {
    let mut s = Script::new();
    s.acq(1, 10, M);
    assert!(s.acq(1, 11, M).is_empty());
    s.rel(1, 11);
    s.rel(1, 10);
    s.acq(2, 11, M);
    let r = s.acq(2, 10, M);
    assert_eq!(r.len(), 1);
    let Report::LockOrderInversion(inv) = &r[0] else {
        unreachable!()
    };
    assert_eq!(inv.earlier.len(), 1);
    assert_eq!(&*inv.earlier[0].thread, "t1");
    assert_eq!(&*inv.earlier[0].first.lock.name, "L10");
    assert_eq!(&*inv.earlier[0].then.lock.name, "L11");
    assert_eq!(&*inv.now.thread, "t2");
    assert_eq!(&*inv.now.first.lock.name, "L11");
    assert_eq!(&*inv.now.then.lock.name, "L10");
    let text = r[0].to_string();
    assert!(text.starts_with("POTENTIAL DEADLOCK (lock order inversion)"));
    s.rel(2, 10);
    s.rel(2, 11);
    // The same pair again, any thread, any order: no new report.
    s.acq(3, 11, M);
    assert!(s.block(3, 10, M).is_empty());
    assert!(s.acq(3, 10, M).is_empty());
}

#[test]
fn inversion_through_a_longer_path() {
    let mut s = Script::new();
    s.acq(1, 10, M);
    s.acq(1, 11, M);
    s.rel(1, 11);
    s.rel(1, 10);
    s.acq(2, 11, M);
    s.acq(2, 12, M);
    s.rel(2, 12);
    s.rel(2, 11);
    s.acq(3, 12, M);
    let r = s.block(3, 10, M);
    assert_eq!(r.len(), 1);
    let Report::LockOrderInversion(inv) = &r[0] else {
        unreachable!()
    };
    let path: Vec<(&str, &str)> = inv
        .earlier
        .iter()
        .map(|e| (&*e.first.lock.name, &*e.then.lock.name))
        .collect();
    assert_eq!(path, [("L10", "L11"), ("L11", "L12")]);
}

#[test]
fn consistent_order_and_semaphores_give_no_inversion() {
    let mut s = Script::new();
    for t in 1..=5 {
        for id in [10, 11, 12] {
            assert!(s.acq(t, id, M).is_empty());
        }
        for id in [12, 11, 10] {
            s.rel(t, id);
        }
    }
    // Semaphores are not ordered.
    s.acq(1, 20, SEM);
    s.acq(1, 21, SEM);
    s.rel(1, 21);
    s.rel(1, 20);
    s.acq(2, 21, SEM);
    assert!(s.acq(2, 20, SEM).is_empty());
    assert_eq!(s.s.lockdep.edge_count(), 3);
}

#[test]
fn forgetting_a_primitive_clears_it_everywhere() {
    let mut s = Script::new();
    s.acq(1, 10, M);
    s.acq(1, 11, M);
    s.s.exited(1);
    s.acq(2, 12, M);
    s.block(2, 10, M);
    s.s.forget(10);
    s.s.check_invariants();
    assert!(!s.s.lockdep.knows(10));
    assert!(s.s.threads[&2].wait.is_none());
    assert_eq!(s.s.threads[&1].held.len(), 1);
    s.s.forget(11);
    assert!(!s.s.threads.contains_key(&1));
    // The pair may be reported again for new instances.
    assert_eq!(s.s.lockdep.edge_count(), 0);
}

// ---- through the real hooks, from real threads ----

/// Serializes the tests below (they switch the global detector on).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn global_lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn mine<'a>(reports: &'a [Report], thread_prefix: &str) -> Vec<&'a Report> {
    reports
        .iter()
        .filter(|r| match r {
            Report::Deadlock(d) => d.cycle.iter().any(|t| t.thread.starts_with(thread_prefix)),
            Report::LockOrderInversion(i) => i.now.thread.starts_with(thread_prefix),
            Report::Abandoned(a) => a.owner.starts_with(thread_prefix),
        })
        .collect()
}

#[test]
#[cfg_attr(miri, ignore)] // starts the watchdog thread, which outlives the test
fn hooks_from_real_threads_find_the_cycle_and_clean_up() {
    let _g = global_lock();
    enable();
    let a = Arc::new(Meta::named(Kind::Mutex, Some("hk-A".into())));
    let b = Arc::new(Meta::new(Kind::Mutex));
    let go = Arc::new(std::sync::Barrier::new(3));
    let done = Arc::new(std::sync::Barrier::new(3));
    let spawn = |first: Arc<Meta>, second: Arc<Meta>, n: &str| {
        let (go, done) = (go.clone(), done.clone());
        std::thread::Builder::new()
            .name(n.into())
            .spawn(move || {
                instrument::acquired(&first, here());
                go.wait();
                instrument::blocking(&second, here());
                done.wait(); // the main thread checks here
                instrument::unblocked(&second);
                instrument::released(&first);
            })
            .unwrap()
    };
    let t1 = spawn(a.clone(), b.clone(), "hk-t1");
    let t2 = spawn(b.clone(), a.clone(), "hk-t2");
    go.wait();
    // Both block right after `go`; poll until both waits are recorded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let found = loop {
        let all = check_now();
        let found: Vec<Report> = mine(&all, "hk-").into_iter().cloned().collect();
        if !found.is_empty() || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::yield_now();
    };
    assert_eq!(found.len(), 1, "{found:?}");
    let text = found[0].to_string();
    assert!(text.contains("lock \"hk-A\""), "{text}");
    assert!(
        text.contains(&format!("lock \"Mutex#{}\"", b.id())),
        "{text}"
    );
    done.wait();
    t1.join().unwrap();
    t2.join().unwrap();
    graph::with(|s| {
        s.check_invariants();
        assert!(s.threads.values().all(|t| !t.name.starts_with("hk-")));
    });
    // The inversion was reported too, to the log.
    let log = reports();
    assert_eq!(
        mine(&log, "hk-")
            .iter()
            .filter(|r| !r.is_deadlock())
            .count(),
        1
    );
    drop((a, b));
}

#[test]
#[cfg_attr(miri, ignore)] // starts the watchdog thread, which outlives the test
fn handler_receives_inversions_and_survives_a_panic() {
    let _g = global_lock();
    enable();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx = std::sync::Mutex::new(tx);
    set_handler(move |r: &Report| {
        if let Report::LockOrderInversion(i) = r {
            if i.now.thread.starts_with("hd-") {
                tx.lock().unwrap().send(r.to_string()).unwrap();
                panic!("a handler that panics");
            }
        }
    });
    let a = Meta::named(Kind::RLock, Some("hd-A".into()));
    let b = Meta::named(Kind::Mutex, Some("hd-B".into()));
    std::thread::scope(|sc| {
        sc.spawn(|| {
            instrument::acquired(&a, here());
            instrument::acquired(&b, here());
            instrument::released(&b);
            instrument::released(&a);
        })
        .join()
        .unwrap();
        std::thread::Builder::new()
            .name("hd-2".into())
            .spawn_scoped(sc, || {
                instrument::acquired(&b, here());
                instrument::acquired(&a, here());
                instrument::released(&a);
                instrument::released(&b);
            })
            .unwrap()
            .join()
            .expect("the handler's panic does not unwind into the lock call");
    });
    let text = rx.try_recv().expect("reported synchronously");
    assert!(
        text.contains("lock \"hd-B\" and RLock \"hd-A\" are taken in both orders"),
        "{text}"
    );
    assert!(
        text.contains("thread \"hd-2\" holds lock \"hd-B\""),
        "{text}"
    );
    reset_handler();
}

#[test]
#[cfg_attr(miri, ignore)] // starts the watchdog thread, which outlives the test
fn disable_forgets_holdings() {
    let _g = global_lock();
    enable();
    let a = Meta::named(Kind::Mutex, Some("ds-A".into()));
    instrument::acquired(&a, here());
    let id = a.id();
    let held = || graph::with(|s| s.threads.values().any(|t| t.held.iter().any(|h| h.0 == id)));
    assert!(held());
    disable();
    assert!(!is_enabled());
    assert!(!held());
    // A release nobody recorded is ignored.
    instrument::released(&a);
    enable();
    instrument::released(&a);
    assert!(!held());
    assert!(is_enabled());
}
