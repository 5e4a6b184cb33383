//! Lock: Python's `threading.Lock` as Python has it (no data, released by
//! any thread, an error to release when free).

use bingfa_sync::{Error, Lock, Timeout, WouldBlock};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn guard_is_send_and_lock_is_sync() {
    assert_send_sync::<Lock>();
    assert_send_sync::<bingfa_sync::LockGuard<'static>>();
}

// `new` is a `const fn` only off loom (loom's atomics are not const).
#[cfg(not(bingfa_loom))]
#[test]
fn const_new_in_a_static() {
    static L: Lock = Lock::new();
    assert!(!L.is_locked());
    L.acquire().forget();
    assert!(L.is_locked());
    L.release().unwrap();
}

#[test]
fn accessors_and_debug() {
    let n = Lock::named("door");
    assert_eq!(n.name(), kept("door"));
    assert_eq!(
        format!("{n:?}"),
        debug(r#"Lock { name: "door", locked: false }"#)
    );
    let g = n.acquire();
    assert_eq!(
        format!("{g:?}"),
        debug(r#"LockGuard { lock: Lock { name: "door", locked: true } }"#)
    );
    assert!(std::ptr::eq(g.lock(), &n));
}

#[test]
fn try_and_timeout_report_their_one_error() {
    let l = Lock::new();
    let g = l.acquire();
    assert_eq!(l.try_acquire().unwrap_err(), WouldBlock);
    let t = Duration::from_millis(30);
    let start = Instant::now();
    assert_eq!(l.acquire_timeout(t).unwrap_err(), Timeout(t));
    assert!(start.elapsed() >= t);
    assert_eq!(
        l.acquire_timeout(Duration::ZERO).unwrap_err(),
        Timeout(Duration::ZERO)
    );
    assert_eq!(Error::from(WouldBlock), Error::WouldBlock);
    assert_eq!(Error::from(Timeout(t)), Error::Timeout(t));
    drop(g);
    assert!(l.acquire_timeout(t).is_ok());
}

#[test]
fn release_of_a_free_lock_is_an_error_and_changes_nothing() {
    let l = Lock::new();
    assert_eq!(l.release(), Err(Error::NotLocked));
    assert!(Error::NotLocked.to_string().contains("unlocked"));
    assert!(!l.is_locked());
    assert!(l.try_acquire().is_ok());
}

#[test]
#[should_panic(expected = "already released")]
fn dropping_a_guard_of_a_lock_released_meanwhile_panics() {
    let l = Lock::new();
    let g = l.acquire();
    l.release().unwrap();
    drop(g); // Python: RuntimeError at the end of the `with` block.
}

#[test]
fn a_release_wakes_a_thread_blocked_on_a_lock_it_does_not_hold() {
    // The hand-off: the holder never releases, another thread does.
    let l = Lock::new();
    let passed = AtomicUsize::new(0);
    let rounds = if cfg!(miri) { 3 } else { 200 };
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..rounds {
                // Blocks until the main thread releases the previous round.
                l.acquire().forget();
                passed.fetch_add(1, Ordering::SeqCst);
            }
        });
        for i in 0..rounds {
            while passed.load(Ordering::SeqCst) <= i {
                std::thread::yield_now();
            }
            // Held by the other thread; released here.
            l.release().unwrap();
        }
    });
    assert_eq!(passed.load(Ordering::SeqCst), rounds);
    assert!(!l.is_locked());
}

#[test]
fn mutual_exclusion_under_contention() {
    let l = Lock::new();
    let inside = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    let (threads, rounds) = if cfg!(miri) { (2, 20) } else { (4, 2_000) };
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..rounds {
                    let _g = l.acquire();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    total.fetch_add(1, Ordering::Relaxed);
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(total.into_inner(), threads * rounds);
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
