//! Condition: Python's `threading.Condition` semantics.

use bingfa_sync::{Condition, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn send_sync() {
    assert_send_sync::<Condition<Vec<u8>>>();
    assert_send_sync::<Condition<std::cell::Cell<u8>>>();
}

#[test]
fn lock_and_state() {
    let mut c = Condition::named("queue", vec![1]);
    assert_eq!(c.name(), kept("queue"));
    c.get_mut().push(2);
    {
        let g = c.lock();
        assert!(c.is_locked());
        assert!(c.try_lock().is_err());
        assert_eq!(*g, vec![1, 2]);
    }
    assert!(c.lock_timeout(Duration::ZERO).is_ok());
    assert_eq!(
        format!("{c:?}"),
        debug(r#"Condition { name: "queue", waiters: 0, data: [1, 2], .. }"#)
    );
    assert_eq!(c.into_inner(), vec![1, 2]);
}

#[test]
fn notify_without_waiters_wakes_nobody() {
    let c = Condition::new(());
    assert_eq!(c.notify(5), 0);
    assert!(!c.notify_one());
    assert_eq!(c.notify_all(), 0);
}

#[test]
fn wait_releases_the_lock_and_holds_it_again_on_return() {
    let c = Condition::new(0);
    std::thread::scope(|s| {
        let mut g = c.lock();
        s.spawn(|| {
            // Can only get in because the waiter released the lock.
            let mut g = c.lock();
            *g = 1;
            drop(g);
            while !c.notify_one() {
                std::thread::yield_now();
            }
        });
        while *g == 0 {
            c.wait(&mut g);
        }
        // Held again: nobody else can take it now.
        assert!(c.is_locked());
        assert!(c.try_lock().is_err());
        assert_eq!(*g, 1);
    });
}

#[test]
fn wait_timeout_times_out_and_holds_the_lock() {
    let c = Condition::new(5);
    let mut g = c.lock();
    let t = Duration::from_millis(40);
    let start = Instant::now();
    assert!(!c.wait_timeout(&mut g, t));
    assert!(start.elapsed() >= t);
    assert!(c.try_lock().is_err(), "the lock is held again");
    assert_eq!(*g, 5);
    assert!(!c.wait_timeout(&mut g, Duration::ZERO));
    assert!(!c.wait_while_timeout(&mut g, t, |v| *v == 5));
    assert!(c.wait_while_timeout(&mut g, t, |v| *v != 5));
    assert!(c.wait_while_timeout(&mut g, Duration::ZERO, |v| *v != 5));
    assert!(!c.wait_while_timeout(&mut g, Duration::ZERO, |v| *v == 5));
}

#[test]
#[should_panic(expected = "another lock")]
fn waiting_with_a_foreign_guard_panics() {
    let c = Condition::new(0);
    let other = Condition::new(0);
    let mut g = other.lock();
    c.wait(&mut g);
}

#[test]
fn foreign_mutex_guard_type_does_not_matter_only_identity() {
    // A guard of a plain Mutex of the same type is refused too.
    let c = Condition::new(0);
    let m = Mutex::new(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut g = m.lock();
        c.wait_timeout(&mut g, Duration::from_millis(1));
    }));
    assert!(r.is_err());
    assert!(
        !m.is_locked(),
        "the foreign guard was still dropped normally"
    );
}

#[test]
fn notify_n_wakes_at_most_n() {
    let waiters = 4;
    let c = Condition::new((0usize, 0usize)); // (tickets, woken)
    let parked = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..waiters {
            s.spawn(|| {
                let mut g = c.lock();
                parked.fetch_add(1, Ordering::SeqCst);
                c.wait_while(&mut g, |(tickets, _)| *tickets == 0);
                g.0 -= 1;
                g.1 += 1;
            });
        }
        // Wait until all four are queued: each registered under the lock
        // before it released it, so once we hold the lock after all of them
        // incremented `parked`, every one of them is queued.
        while parked.load(Ordering::SeqCst) < waiters {
            std::thread::yield_now();
        }
        let mut g = c.lock();
        g.0 = 2;
        drop(g);
        let woken = c.notify(2);
        assert_eq!(woken, 2, "all four are queued: notify(2) wakes exactly two");
        // Let the two finish; the other two still wait.
        loop {
            let g = c.lock();
            if g.1 == 2 {
                break;
            }
            drop(g);
            std::thread::yield_now();
        }
        let mut g = c.lock();
        assert_eq!(g.1, 2);
        g.0 = 2;
        drop(g);
        assert_eq!(c.notify_all(), 2);
    });
    assert_eq!(c.into_inner(), (0, waiters));
}

#[test]
fn bounded_queue_producers_consumers_lose_nothing() {
    let (producers, per) = if cfg!(miri) { (2, 20) } else { (3, 3_000) };
    let cap = 4;
    let q = Condition::new(VecDeque::new());
    let sum = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for p in 0..producers {
            let q = &q;
            s.spawn(move || {
                for i in 0..per {
                    let mut g = q.lock();
                    // Python: cond.wait_for(lambda: len(q) < cap)
                    q.wait_while(&mut g, |q| q.len() >= cap);
                    g.push_back(p * per + i + 1);
                    drop(g);
                    q.notify_all();
                }
            });
        }
        for _ in 0..2 {
            let (q, sum) = (&q, &sum);
            s.spawn(move || loop {
                let mut g = q.lock();
                if !q.wait_while_timeout(&mut g, Duration::from_secs(60), |q| q.is_empty()) {
                    panic!("consumer starved");
                }
                let v = g.pop_front().unwrap();
                drop(g);
                q.notify_all();
                if v == usize::MAX {
                    break;
                }
                sum.fetch_add(v, Ordering::Relaxed);
            });
        }
        // Wait for producers by checking the total, then stop consumers.
        let total: usize = (1..=producers * per).sum();
        while sum.load(Ordering::Relaxed) != total {
            std::thread::yield_now();
        }
        for _ in 0..2 {
            let mut g = q.lock();
            q.wait_while(&mut g, |q| q.len() >= cap);
            g.push_back(usize::MAX);
            drop(g);
            q.notify_all();
        }
    });
    let total: usize = (1..=producers * per).sum();
    assert_eq!(sum.into_inner(), total);
}

/// The name a primitive reports: kept only when `detect` or `trace` is
/// compiled in (names exist for reports and traces).
fn kept(name: &str) -> Option<&str> {
    cfg!(any(feature = "detect", feature = "trace")).then_some(name)
}

/// A `Debug` string as this build prints it: without the `name` field when
/// names are not kept (neither `detect` nor `trace` compiled in).
fn debug(full: &str) -> String {
    if cfg!(any(feature = "detect", feature = "trace")) {
        return full.to_string();
    }
    let mut out = full.to_string();
    while let Some(at) = out.find("name: \"") {
        let end = out[at + 7..].find('"').expect("a closed name") + at + 7;
        out.replace_range(at..end + 3, "");
    }
    out
}
