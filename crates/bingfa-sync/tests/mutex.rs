//! Mutex: Python's `threading.Lock` semantics.

use bingfa_sync::{Mutex, Timeout, WouldBlock};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn send_sync_where_sound() {
    assert_send_sync::<Mutex<Vec<u8>>>();
    // A Cell is Send but not Sync: the mutex still makes it shareable.
    assert_send_sync::<Mutex<std::cell::Cell<u8>>>();
}

#[test]
fn lock_gives_exclusive_access_and_unlocks_on_drop() {
    let m = Mutex::new(1);
    {
        let mut g = m.lock();
        *g += 1;
        assert!(m.is_locked());
        assert_eq!(m.try_lock().unwrap_err(), WouldBlock);
    }
    assert!(!m.is_locked());
    assert_eq!(*m.lock(), 2);
    assert_eq!(m.into_inner(), 2);
}

// `new` is a `const fn` only off loom (loom's atomics are not const).
#[cfg(not(bingfa_loom))]
#[test]
fn const_new_in_a_static() {
    static M: Mutex<u32> = Mutex::new(7);
    *M.lock() += 1;
    assert_eq!(*M.lock(), 8);
}

#[test]
fn named_get_mut_debug() {
    let mut m = Mutex::named("accounts", vec![1, 2]);
    assert_eq!(m.name(), kept("accounts"));
    m.get_mut().push(3);
    assert_eq!(
        format!("{m:?}"),
        debug(r#"Mutex { name: "accounts", data: [1, 2, 3], .. }"#)
    );
    let g = m.lock();
    assert_eq!(
        format!("{m:?}"),
        debug(r#"Mutex { name: "accounts", data: <locked>, .. }"#)
    );
    assert_eq!(format!("{g:?}"), "[1, 2, 3]");
    assert_eq!(Mutex::new(0).name(), None);
}

#[test]
fn try_lock_fails_while_another_thread_holds_it() {
    let m = Mutex::new(());
    let held = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = m.lock();
            held.store(true, Ordering::SeqCst);
            while !done.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
        });
        while !held.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        assert!(matches!(m.try_lock(), Err(WouldBlock)));
        done.store(true, Ordering::SeqCst);
    });
    assert!(m.try_lock().is_ok());
}

#[test]
fn lock_timeout_gives_up_after_the_timeout() {
    let m = Mutex::new(());
    let _g = m.lock();
    let t = Duration::from_millis(50);
    let start = Instant::now();
    assert_eq!(m.lock_timeout(t).unwrap_err(), Timeout(t));
    assert!(start.elapsed() >= t);
}

#[test]
fn zero_timeout_is_a_try() {
    let m = Mutex::new(());
    assert!(m.lock_timeout(Duration::ZERO).is_ok());
    let _g = m.lock();
    let start = Instant::now();
    assert_eq!(
        m.lock_timeout(Duration::ZERO).unwrap_err(),
        Timeout(Duration::ZERO)
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn huge_timeout_waits_until_released() {
    let m = Arc::new(Mutex::new(0));
    let g = m.lock();
    let m2 = m.clone();
    let h = std::thread::spawn(move || *m2.lock_timeout(Duration::MAX).unwrap() + 1);
    std::thread::sleep(Duration::from_millis(10));
    drop(g);
    assert_eq!(h.join().unwrap(), 1);
}

#[test]
fn lock_timeout_succeeds_when_released_in_time() {
    let m = Mutex::new(0);
    let holding = AtomicBool::new(false);
    std::thread::scope(|s| {
        let mut g = m.lock();
        s.spawn(|| {
            holding.store(true, Ordering::SeqCst);
            let mut g = m
                .lock_timeout(Duration::from_secs(30))
                .expect("released in time");
            *g += 1;
        });
        while !holding.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        *g = 10;
        drop(g);
    });
    assert_eq!(*m.lock(), 11);
}

#[test]
fn panic_while_locked_unlocks_without_poisoning() {
    let m = Mutex::new(5);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut g = m.lock();
        *g = 6;
        panic!("boom");
    }));
    assert!(r.is_err());
    assert!(!m.is_locked());
    assert_eq!(*m.lock(), 6);
}

#[test]
fn stress_counter_is_exact() {
    let (threads, iters) = if cfg!(miri) { (3, 50) } else { (8, 10_000) };
    let m = Mutex::new(0usize);
    std::thread::scope(|s| {
        for t in 0..threads {
            let m = &m;
            s.spawn(move || {
                for i in 0..iters {
                    // Mix the three ways of locking.
                    let mut g = match (i + t) % 3 {
                        0 => m.lock(),
                        1 => loop {
                            if let Ok(g) = m.try_lock() {
                                break g;
                            }
                            std::thread::yield_now();
                        },
                        _ => m.lock_timeout(Duration::from_secs(60)).unwrap(),
                    };
                    // A non-atomic read-modify-write with a yield in the middle:
                    // lost updates would show if exclusion failed.
                    let v = *g;
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                    *g = v + 1;
                }
            });
        }
    });
    assert_eq!(m.into_inner(), threads * iters);
}

#[test]
fn contended_timeouts_never_break_exclusion() {
    let (threads, iters) = if cfg!(miri) { (3, 20) } else { (4, 2_000) };
    let m = Mutex::new((0usize, 0usize)); // (successes, inside)
    let timeouts = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..iters {
                    match m.lock_timeout(Duration::from_micros(20)) {
                        Ok(mut g) => {
                            assert_eq!(g.1, 0);
                            g.1 = 1;
                            g.0 += 1;
                            std::hint::spin_loop();
                            g.1 = 0;
                        }
                        Err(Timeout(_)) => {
                            timeouts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let (ok, inside) = m.into_inner();
    assert_eq!(inside, 0);
    assert_eq!(ok + timeouts.into_inner(), threads * iters);
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
