//! Event: Python's `threading.Event` semantics.

use bingfa_sync::Event;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[test]
fn set_clear_is_set() {
    let e = Event::new();
    assert!(!e.is_set());
    e.set();
    assert!(e.is_set());
    e.set();
    assert!(e.is_set());
    e.clear();
    assert!(!e.is_set());
    let n = Event::named("ready");
    assert_eq!(n.name(), kept("ready"));
    assert_eq!(
        format!("{n:?}"),
        debug(r#"Event { name: "ready", set: false }"#)
    );
}

#[test]
fn wait_returns_at_once_when_set() {
    let e = Event::new();
    e.set();
    e.wait();
    assert!(e.wait_timeout(Duration::ZERO));
    assert!(e.wait_timeout(Duration::from_secs(60)));
}

#[test]
fn wait_timeout_returns_false_when_not_set() {
    let e = Event::new();
    assert!(!e.wait_timeout(Duration::ZERO));
    let t = Duration::from_millis(40);
    let start = Instant::now();
    assert!(!e.wait_timeout(t));
    assert!(start.elapsed() >= t);
}

#[test]
fn set_wakes_every_waiter() {
    let n = if cfg!(miri) { 3 } else { 8 };
    let e = Event::new();
    let waiting = AtomicUsize::new(0);
    let woken = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for i in 0..n {
            let (e, waiting, woken) = (&e, &waiting, &woken);
            s.spawn(move || {
                waiting.fetch_add(1, Ordering::SeqCst);
                if i % 2 == 0 {
                    e.wait();
                } else {
                    assert!(e.wait_timeout(Duration::from_secs(60)));
                }
                woken.fetch_add(1, Ordering::SeqCst);
            });
        }
        while waiting.load(Ordering::SeqCst) < n {
            std::thread::yield_now();
        }
        e.set();
    });
    assert_eq!(woken.into_inner(), n);
}

#[test]
fn ping_pong_loses_no_wake_up() {
    let rounds = if cfg!(miri) { 20 } else { 5_000 };
    let ping = Event::new();
    let pong = Event::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..rounds {
                ping.wait();
                ping.clear();
                pong.set();
            }
        });
        for _ in 0..rounds {
            ping.set();
            pong.wait();
            pong.clear();
        }
    });
    assert!(!ping.is_set());
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
