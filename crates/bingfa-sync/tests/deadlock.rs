//! Real deadlocks, found by the watchdog: 2 and 3 threads in a cycle (Mutex,
//! RLock, Semaphore), a thread re-locking its own Mutex, and a lock whose
//! owner exited. The victims really block.
//!
//! The detector is process-wide: the tests of this file run one at a time
//! (`serial`), and each one looks only at reports about its own threads
//! (their names are unique), since threads left stuck by one test stay in the
//! graph.
#![cfg(feature = "detect")]

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use bingfa_sync::deadlock::{self, Report};
use bingfa_sync::{Mutex, RLock, Semaphore};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Turns detection on with a handler that forwards every report.
fn collect() -> Receiver<Report> {
    deadlock::enable();
    let (tx, rx) = mpsc::channel::<Report>();
    let tx = std::sync::Mutex::new(tx);
    deadlock::set_handler(move |r: &Report| {
        let _ = tx.lock().unwrap().send(r.clone());
    });
    rx
}

/// The first real deadlock naming a thread that starts with `prefix`,
/// waiting at most `within`.
fn deadlock_of(rx: &Receiver<Report>, prefix: &str, within: Duration) -> Option<Report> {
    let end = Instant::now() + within;
    loop {
        let left = end.checked_duration_since(Instant::now())?;
        let r = rx.recv_timeout(left).ok()?;
        let names: Vec<String> = match &r {
            Report::Deadlock(d) => d
                .cycle
                .iter()
                .chain(&d.also_stuck)
                .map(|t| t.thread.to_string())
                .collect(),
            Report::Abandoned(a) => a.waiters.iter().map(|t| t.thread.to_string()).collect(),
            _ => continue,
        };
        if names.iter().any(|n| n.starts_with(prefix)) {
            return Some(r);
        }
    }
}

fn named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new().name(name.into()).spawn(f).unwrap()
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn two_threads_deadlock_is_reported_within_a_second_then_times_out() {
    let _s = serial();
    let rx = collect();
    let a = Arc::new(Mutex::named("A", ()));
    let b = Arc::new(Mutex::named("B", ()));
    let both_hold = Arc::new(Barrier::new(3));
    let victim = |first: Arc<Mutex<()>>, second: Arc<Mutex<()>>, both_hold: Arc<Barrier>| {
        move || {
            let _g = first.lock();
            both_hold.wait();
            // Both threads now hold their first lock: neither can get its
            // second one before the other gives up.
            second.lock_timeout(Duration::from_secs(2)).is_ok()
        }
    };
    let t1 = named("two-t1", victim(a.clone(), b.clone(), both_hold.clone()));
    let t2 = named("two-t2", victim(b.clone(), a.clone(), both_hold.clone()));
    both_hold.wait();
    let started = Instant::now();
    let r =
        deadlock_of(&rx, "two-", Duration::from_secs(10)).expect("a deadlock report within 10 s");
    eprintln!("reported after {:?}:\n{r}", started.elapsed());
    let Report::Deadlock(d) = &r else {
        panic!("{r:?}")
    };
    let mut threads: Vec<&str> = d.cycle.iter().map(|t| &*t.thread).collect();
    threads.sort_unstable();
    assert_eq!(threads, ["two-t1", "two-t2"]);
    for t in &d.cycle {
        assert_eq!(t.holds.len(), 1);
        let (held, wanted) = (&*t.holds[0].lock.name, &*t.waits_for.lock.name);
        assert_eq!(
            (held, wanted),
            if &*t.thread == "two-t1" {
                ("A", "B")
            } else {
                ("B", "A")
            }
        );
        assert!(t.holds[0].at.file().ends_with("tests/deadlock.rs"));
        assert!(t.waits_for.at.file().ends_with("tests/deadlock.rs"));
        assert!(t.waits_for.at.line() > t.holds[0].at.line());
    }
    let text = r.to_string();
    assert!(text.starts_with("DEADLOCK: 2 threads wait for each other in a cycle:"));
    assert!(text.contains("thread \"two-t1\" holds lock \"A\" (acquired at "));
    assert!(text.contains("Fix: take the locks in one order everywhere"));
    // Reported once, however long it lasts.
    assert!(deadlock_of(&rx, "two-", Duration::from_millis(400)).is_none());
    // The victims give up (the first to time out lets the other through);
    // the deadlock is gone from the graph.
    let got = [t1.join().unwrap(), t2.join().unwrap()];
    assert!(got.contains(&false), "one of them timed out: {got:?}");
    assert!(deadlock::check_now()
        .iter()
        .all(|r| !r.to_string().contains("\"two-t")));
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn three_threads_across_mutex_rlock_and_semaphore() {
    let _s = serial();
    let rx = collect();
    let a = Arc::new(Mutex::named("A", ()));
    let b = Arc::new(RLock::named("B", ()));
    let s = Arc::new(Semaphore::named("S", 1));
    let ready = Arc::new(Barrier::new(4));
    {
        let (a, b, ready) = (a.clone(), b.clone(), ready.clone());
        named("three-t1", move || {
            let _a = a.lock();
            ready.wait();
            let _b = b.lock(); // stuck for good
        });
    }
    {
        let (b, s, ready) = (b.clone(), s.clone(), ready.clone());
        named("three-t2", move || {
            let _b = b.lock();
            let _b2 = b.lock(); // re-entry: not an acquisition
            ready.wait();
            let _p = s.acquire(); // stuck for good
        });
    }
    {
        let (a, s, ready) = (a.clone(), s.clone(), ready.clone());
        named("three-t3", move || {
            let _p = s.acquire();
            ready.wait();
            let _a = a.lock(); // stuck for good
        });
    }
    ready.wait();
    let r =
        deadlock_of(&rx, "three-", Duration::from_secs(10)).expect("a deadlock report within 10 s");
    eprintln!("{r}");
    let Report::Deadlock(d) = &r else {
        panic!("{r:?}")
    };
    let cycle: Vec<(&str, &str, &str)> = d
        .cycle
        .iter()
        .map(|t| (&*t.thread, &*t.holds[0].lock.name, &*t.waits_for.lock.name))
        .collect();
    assert_eq!(cycle.len(), 3);
    for want in [
        ("three-t1", "A", "B"),
        ("three-t2", "B", "S"),
        ("three-t3", "S", "A"),
    ] {
        assert!(cycle.contains(&want), "{cycle:?}");
    }
    let text = r.to_string();
    assert!(text.contains("holds a permit of semaphore \"S\""), "{text}");
    assert!(text.contains("waits for RLock \"B\""), "{text}");
    // The victims stay stuck; the test process ends anyway.
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn a_thread_that_relocks_its_own_mutex() {
    let _s = serial();
    let rx = collect();
    let m = Arc::new(Mutex::named("not-reentrant", 0u32));
    {
        let m = m.clone();
        named("self-t1", move || {
            let _g = m.lock();
            let _again = m.lock(); // a Mutex is not re-entrant
        });
    }
    let r = deadlock_of(&rx, "self-", Duration::from_secs(10)).expect("reported within 10 s");
    let text = r.to_string();
    assert!(
        text.starts_with("DEADLOCK: thread \"self-t1\" waits for lock \"not-reentrant\" (at "),
        "{text}"
    );
    assert!(text.contains("which it already holds"), "{text}");
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn a_lock_kept_by_a_thread_that_exited() {
    let _s = serial();
    let rx = collect();
    let m = Arc::new(Mutex::named("kept", ()));
    {
        let m = m.clone();
        named("gone-owner", move || std::mem::forget(m.lock()))
            .join()
            .unwrap();
    }
    {
        let m = m.clone();
        named("gone-waiter", move || {
            let r = m.lock_timeout(Duration::from_secs(2));
            assert!(r.is_err());
        });
    }
    let r = deadlock_of(&rx, "gone-", Duration::from_secs(10)).expect("reported within 10 s");
    let Report::Abandoned(a) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(&*a.owner, "gone-owner");
    assert_eq!(&*a.lock.name, "kept");
    assert_eq!(&*a.waiters[0].thread, "gone-waiter");
}
