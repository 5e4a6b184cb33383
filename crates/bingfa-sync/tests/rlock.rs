//! RLock: Python's `threading.RLock` semantics.

use bingfa_sync::{RLock, Timeout, WouldBlock};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn send_sync_where_sound() {
    // T: Send is enough, as for std's ReentrantLock: one thread at a time.
    assert_send_sync::<RLock<Cell<u32>>>();
    assert_send_sync::<RLock<RefCell<Vec<u8>>>>();
}

#[test]
fn owner_reenters_and_counts() {
    let l = RLock::new(Cell::new(0));
    assert_eq!(l.count(), 0);
    assert!(!l.is_owned_by_current_thread());
    let a = l.lock();
    let b = l.lock();
    let c = l.try_lock().unwrap();
    let d = l.lock_timeout(Duration::ZERO).unwrap();
    assert_eq!(l.count(), 4);
    assert!(l.is_owned_by_current_thread());
    c.set(c.get() + 1);
    drop(b);
    assert_eq!(l.count(), 3);
    drop(a);
    drop(d);
    assert_eq!(l.count(), 1);
    assert!(l.is_locked());
    drop(c);
    assert_eq!(l.count(), 0);
    assert!(!l.is_locked());
    assert_eq!(l.into_inner().get(), 1);
}

// `new` is a `const fn` only off loom (loom's atomics are not const).
#[cfg(not(bingfa_loom))]
#[test]
fn const_new_in_a_static_and_named() {
    static L: RLock<u8> = RLock::new(3);
    assert_eq!(*L.lock(), 3);
    let n = RLock::named("config", 1);
    assert_eq!(n.name(), kept("config"));
    assert_eq!(
        format!("{n:?}"),
        debug(r#"RLock { name: "config", locked: false, count: 0, data: 1, .. }"#)
    );
    let g = n.lock();
    assert_eq!(
        format!("{n:?}"),
        debug(r#"RLock { name: "config", locked: true, count: 1, data: 1, .. }"#)
    );
    drop(g);
}

/// Runs `check` on another thread while this thread holds `l` `depth` times.
fn while_held<T: Send>(l: &RLock<T>, depth: usize, check: impl FnOnce() + Send) {
    let guards: Vec<_> = (0..depth).map(|_| l.lock()).collect();
    std::thread::scope(|s| {
        s.spawn(check).join().unwrap();
    });
    drop(guards);
}

#[test]
fn other_threads_are_excluded_until_the_last_release() {
    let l = RLock::new(0u32);
    while_held(&l, 3, || {
        assert_eq!(l.try_lock().unwrap_err(), WouldBlock);
        assert_eq!(l.count(), 0, "count is per owner: other threads see 0");
        assert!(!l.is_owned_by_current_thread());
        let t = Duration::from_millis(30);
        let start = Instant::now();
        assert_eq!(l.lock_timeout(t).unwrap_err(), Timeout(t));
        assert!(start.elapsed() >= t);
    });
    // Released as many times as taken: free again.
    std::thread::scope(|s| {
        s.spawn(|| assert!(l.try_lock().is_ok()));
    });
}

#[test]
fn only_the_last_guard_frees_it_for_a_waiter() {
    let l = RLock::new(RefCell::new(Vec::new()));
    let started = AtomicBool::new(false);
    std::thread::scope(|s| {
        let outer = l.lock();
        let inner = l.lock();
        s.spawn(|| {
            started.store(true, Ordering::SeqCst);
            l.lock().borrow_mut().push("waiter");
        });
        while !started.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        inner.borrow_mut().push("inner");
        drop(inner);
        // Still held once: the waiter cannot have got in.
        outer.borrow_mut().push("outer");
        drop(outer);
    });
    assert_eq!(
        l.into_inner().into_inner(),
        vec!["inner", "outer", "waiter"]
    );
}

#[test]
fn recursion_like_the_course_example() {
    // The lesson's fix for self-deadlock: a function that locks and calls
    // itself.
    fn walk(l: &RLock<Cell<u32>>, n: u32) {
        let g = l.lock();
        g.set(g.get() + 1);
        if n > 0 {
            walk(l, n - 1);
        }
    }
    let l = RLock::new(Cell::new(0));
    walk(&l, 50);
    assert_eq!(l.lock().get(), 51);
    assert!(!l.is_locked());
}

#[test]
fn stress_nested_counter_is_exact() {
    let (threads, iters) = if cfg!(miri) { (3, 30) } else { (6, 5_000) };
    let l = RLock::new(Cell::new(0usize));
    std::thread::scope(|s| {
        for t in 0..threads {
            let l = &l;
            s.spawn(move || {
                for i in 0..iters {
                    let a = if (i + t) % 2 == 0 {
                        l.lock()
                    } else {
                        l.lock_timeout(Duration::from_secs(60)).unwrap()
                    };
                    let v = a.get();
                    {
                        let b = l.lock();
                        assert_eq!(l.count(), 2);
                        b.set(v + 1);
                    }
                    assert_eq!(a.get(), v + 1);
                }
            });
        }
    });
    assert_eq!(l.into_inner().get(), threads * iters);
}

/// The name a primitive reports: kept only when `detect` or `trace` is
/// compiled in (names exist for reports and traces).
#[cfg(not(bingfa_loom))]
fn kept(name: &str) -> Option<&str> {
    cfg!(any(feature = "detect", feature = "trace")).then_some(name)
}

/// A `Debug` string as this build prints it: without the `name` field when
/// names are not kept (neither `detect` nor `trace` compiled in).
#[cfg(not(bingfa_loom))]
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
