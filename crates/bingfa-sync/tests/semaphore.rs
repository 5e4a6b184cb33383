//! Semaphore and BoundedSemaphore: Python's semantics.

use bingfa_sync::{Error, Semaphore, Timeout, WouldBlock};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn send_sync() {
    assert_send_sync::<Semaphore>();
}

#[test]
fn counts_permits() {
    let s = Semaphore::new(2);
    assert_eq!(s.available(), 2);
    assert_eq!(s.bound(), None);
    let a = s.acquire();
    let b = s.try_acquire().unwrap();
    assert_eq!(s.available(), 0);
    assert_eq!(s.try_acquire().unwrap_err(), WouldBlock);
    drop(a);
    assert_eq!(s.available(), 1);
    drop(b);
    assert_eq!(s.available(), 2);
}

#[test]
fn zero_permits_and_manual_release() {
    let s = Semaphore::new(0);
    assert!(s.try_acquire().is_err());
    s.release().unwrap();
    s.release_n(3).unwrap();
    assert_eq!(s.available(), 4);
    // Python: ValueError('n must be one or more').
    assert!(matches!(s.release_n(0), Err(Error::InvalidArgument(_))));
    assert_eq!(s.available(), 4);
}

#[test]
fn plain_semaphore_can_grow_past_its_start() {
    let s = Semaphore::new(1);
    s.release().unwrap();
    assert_eq!(s.available(), 2);
}

#[test]
fn bounded_refuses_an_extra_release() {
    let s = Semaphore::bounded(2);
    assert_eq!(s.bound(), Some(2));
    assert_eq!(
        s.release().unwrap_err(),
        Error::ReleasedTooMany { bound: 2 }
    );
    assert_eq!(s.available(), 2, "a refused release changes nothing");
    let p = s.acquire();
    p.forget();
    assert_eq!(s.available(), 1);
    // All or nothing.
    assert_eq!(
        s.release_n(2).unwrap_err(),
        Error::ReleasedTooMany { bound: 2 }
    );
    assert_eq!(s.available(), 1);
    s.release().unwrap();
    assert_eq!(s.available(), 2);
    let msg = Error::ReleasedTooMany { bound: 2 }.to_string();
    assert!(msg.contains("released too many times"), "{msg}");
}

#[test]
#[should_panic(expected = "released too many times")]
fn bounded_permit_dropped_after_an_extra_manual_release_panics() {
    let s = Semaphore::bounded(1);
    let p = s.acquire();
    s.release().unwrap(); // the bug: released while the permit is still held
    drop(p);
}

#[test]
fn overflow_is_an_error() {
    let s = Semaphore::new(Semaphore::MAX_PERMITS);
    assert_eq!(s.release().unwrap_err(), Error::PermitOverflow(1));
    assert_eq!(s.available(), Semaphore::MAX_PERMITS);
}

#[test]
fn names_and_debug() {
    let s = Semaphore::named("slots", 3);
    assert_eq!(s.name(), kept("slots"));
    assert_eq!(
        format!("{s:?}"),
        debug(r#"Semaphore { name: "slots", available: 3 }"#)
    );
    let b = Semaphore::bounded_named("pool", 1);
    assert_eq!(
        format!("{b:?}"),
        debug(r#"Semaphore { name: "pool", available: 1, bound: 1 }"#)
    );
}

#[test]
fn acquire_timeout_gives_up_and_zero_is_a_try() {
    let s = Semaphore::new(0);
    let t = Duration::from_millis(40);
    let start = Instant::now();
    assert_eq!(s.acquire_timeout(t).unwrap_err(), Timeout(t));
    assert!(start.elapsed() >= t);
    assert_eq!(
        s.acquire_timeout(Duration::ZERO).unwrap_err(),
        Timeout(Duration::ZERO)
    );
    s.release().unwrap();
    assert!(s.acquire_timeout(Duration::ZERO).is_ok());
}

#[test]
fn release_from_another_thread_wakes_a_waiter() {
    let s = Semaphore::new(0);
    std::thread::scope(|sc| {
        let h = sc.spawn(|| {
            s.acquire().forget();
            true
        });
        s.release().unwrap();
        assert!(h.join().unwrap());
    });
    assert_eq!(s.available(), 0);
}

#[test]
fn release_n_wakes_n_waiters() {
    let n = 3;
    let s = Semaphore::new(0);
    let waiting = AtomicUsize::new(0);
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..n)
            .map(|_| {
                sc.spawn(|| {
                    waiting.fetch_add(1, Ordering::SeqCst);
                    s.acquire_timeout(Duration::from_secs(60)).unwrap().forget();
                })
            })
            .collect();
        while waiting.load(Ordering::SeqCst) < n {
            std::thread::yield_now();
        }
        s.release_n(n).unwrap();
        for h in hs {
            h.join().unwrap();
        }
    });
    assert_eq!(s.available(), 0);
}

#[test]
fn stress_never_more_than_n_inside() {
    let (threads, iters) = if cfg!(miri) { (4, 30) } else { (8, 5_000) };
    let permits = 3;
    let s = Semaphore::bounded(permits);
    let inside = AtomicUsize::new(0);
    let max_inside = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for t in 0..threads {
            let (s, inside, max_inside, done) = (&s, &inside, &max_inside, &done);
            sc.spawn(move || {
                for i in 0..iters {
                    let p = match (i + t) % 3 {
                        0 => Some(s.acquire()),
                        1 => s.try_acquire().ok(),
                        _ => s.acquire_timeout(Duration::from_micros(50)).ok(),
                    };
                    if p.is_none() {
                        continue;
                    }
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max_inside.fetch_max(now, Ordering::SeqCst);
                    if i % 16 == 0 {
                        std::thread::yield_now();
                    }
                    inside.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::Relaxed);
                    drop(p);
                }
            });
        }
    });
    let max = max_inside.into_inner();
    assert!(max <= permits, "{max} threads were inside at once");
    assert!(max >= 1);
    assert!(done.into_inner() >= threads * iters / 3);
    assert_eq!(s.available(), permits, "every permit came back");
}

#[test]
fn producer_consumer_hand_off_loses_no_signal() {
    let items = if cfg!(miri) { 50 } else { 20_000 };
    let s = Semaphore::new(0);
    let consumed = AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                for _ in 0..items / 2 {
                    s.acquire().forget();
                    consumed.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for _ in 0..2 {
            sc.spawn(|| {
                for i in 0..items / 2 {
                    if i % 2 == 0 {
                        s.release().unwrap();
                    } else {
                        s.release_n(1).unwrap();
                    }
                }
            });
        }
    });
    assert_eq!(consumed.into_inner(), items);
    assert_eq!(s.available(), 0);
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
