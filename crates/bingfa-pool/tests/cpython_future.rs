//! Port of CPython's `Lib/test/test_concurrent_futures/test_future.py`
//! (main branch, revision 028c70d14567ac221c51050d9679fc493b2cce87), one
//! Rust test per upstream test, named after it; `PARITY.md` lists every
//! upstream test and how it maps.
//!
//! Copyright (c) 2001 Python Software Foundation; All Rights Reserved.
//! Licensed under the PSF License Agreement (PSF-2.0); adapted to Rust.
//!
//! Upstream builds futures in a given state by poking `_state`; here the
//! same states come from a [`Completer`] (`cpython::futures`). Outcomes
//! are values: `result()` returns `Err(Error::Cancelled)` where Python
//! raises `CancelledError`, and `Err(Error::Timeout)` for `TimeoutError`.

mod cpython;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bingfa_pool::{Error, Future};
use cpython::futures::{cancelled, exception, pending, running, successful};
use cpython::{Val, SHORT_TIMEOUT};

#[test]
fn test_done_callback_with_result() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let (f, c) = Future::<i32>::pending();
    f.add_done_callback(move |r| *s.lock().unwrap() = Some(r.clone()));
    c.set_result(5);
    assert_eq!(*seen.lock().unwrap(), Some(Ok(5)));
}

#[test]
fn test_done_callback_with_exception() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let (f, c) = Future::<i32>::pending();
    f.add_done_callback(move |r| *s.lock().unwrap() = r.as_ref().err().cloned());
    c.set_error(Error::Panicked {
        message: "test".into(),
    });
    assert_eq!(
        *seen.lock().unwrap(),
        Some(Error::Panicked {
            message: "test".into()
        })
    );
}

#[test]
fn test_done_callback_with_cancel() {
    let was_cancelled = Arc::new(AtomicBool::new(false));
    let w = was_cancelled.clone();
    let (f, _c) = Future::<i32>::pending();
    f.add_done_callback(move |r| w.store(r == &Err(Error::Cancelled), Ordering::SeqCst));
    assert!(f.cancel());
    assert!(was_cancelled.load(Ordering::SeqCst));
}

/// Upstream also checks that stderr says "Exception: doh!"; here the
/// report is a `tracing` event with the `tracing` feature (checked in
/// tests/tracing_events.rs) and nothing without it: this test checks that
/// the panic reaches neither the completer nor the other callbacks.
#[test]
fn test_done_callback_raises() {
    let raising_was_called = Arc::new(AtomicBool::new(false));
    let fn_was_called = Arc::new(AtomicBool::new(false));
    let (r, w) = (raising_was_called.clone(), fn_was_called.clone());
    let (f, c) = Future::<i32>::pending();
    f.add_done_callback(move |_| {
        r.store(true, Ordering::SeqCst);
        panic!("doh!");
    });
    f.add_done_callback(move |_| w.store(true, Ordering::SeqCst));
    assert!(c.set_result(5));
    assert!(raising_was_called.load(Ordering::SeqCst));
    assert!(fn_was_called.load(Ordering::SeqCst));
    assert_eq!(f.result(), Ok(5));
}

#[test]
fn test_done_callback_already_successful() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let (f, c) = Future::<i32>::pending();
    c.set_result(5);
    f.add_done_callback(move |r| *s.lock().unwrap() = Some(r.clone()));
    assert_eq!(*seen.lock().unwrap(), Some(Ok(5)));
}

#[test]
fn test_done_callback_already_failed() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let f = exception::<i32>();
    f.add_done_callback(move |r| *s.lock().unwrap() = r.as_ref().err().cloned());
    assert_eq!(
        *seen.lock().unwrap(),
        Some(Error::Panicked {
            message: "OSError".into()
        })
    );
}

#[test]
fn test_done_callback_already_cancelled() {
    let was_cancelled = Arc::new(AtomicBool::new(false));
    let w = was_cancelled.clone();
    let f = cancelled::<i32>();
    f.add_done_callback(move |r| w.store(r == &Err(Error::Cancelled), Ordering::SeqCst));
    assert!(was_cancelled.load(Ordering::SeqCst));
}

/// A callback added to a done future runs at once; its panic is reported
/// (`tracing` feature) and does not reach the caller of
/// `add_done_callback`.
#[test]
fn test_done_callback_raises_already_succeeded() {
    let (f, c) = Future::<i32>::pending();
    c.set_result(5);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    f.add_done_callback(move |_| {
        r.store(true, Ordering::SeqCst);
        panic!("doh!");
    });
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(f.result(), Ok(5));
}

/// Upstream: `repr()` names the state (and the result's type). Here
/// `Debug` names the state.
#[test]
fn test_repr() {
    let (p, _pc) = pending::<i32>();
    let (r, _rc) = running::<i32>();
    assert_eq!(format!("{p:?}"), r#"Future { state: "pending" }"#);
    assert_eq!(format!("{r:?}"), r#"Future { state: "running" }"#);
    assert_eq!(
        format!("{:?}", cancelled::<i32>()),
        r#"Future { state: "cancelled" }"#
    );
    assert_eq!(
        format!("{:?}", exception::<i32>()),
        r#"Future { state: "finished" }"#
    );
    assert_eq!(
        format!("{:?}", successful(Val::Int(42))),
        r#"Future { state: "finished" }"#
    );
}

#[test]
fn test_cancel() {
    let (f1, _c1) = pending::<i32>();
    let (f2, _c2) = running::<i32>();
    let f3 = cancelled::<i32>();
    let f5 = exception::<i32>();
    let f6 = successful(Val::Int(5));

    assert!(f1.cancel());
    assert!(f1.is_cancelled());

    assert!(!f2.cancel());
    assert!(f2.is_running());

    // Cancelling again: still cancelled (upstream's f3 and f4).
    assert!(f3.cancel());
    assert!(f3.is_cancelled());

    assert!(!f5.cancel());
    assert!(f5.is_done() && !f5.is_cancelled());

    assert!(!f6.cancel());
    assert!(f6.is_done() && !f6.is_cancelled());
}

#[test]
fn test_cancelled() {
    let (p, _pc) = pending::<i32>();
    let (r, _rc) = running::<i32>();
    assert!(!p.is_cancelled());
    assert!(!r.is_cancelled());
    assert!(cancelled::<i32>().is_cancelled());
    assert!(!exception::<i32>().is_cancelled());
    assert!(!successful(Val::Int(42)).is_cancelled());
}

#[test]
fn test_done() {
    let (p, _pc) = pending::<i32>();
    let (r, _rc) = running::<i32>();
    assert!(!p.is_done());
    assert!(!r.is_done());
    assert!(cancelled::<i32>().is_done());
    assert!(exception::<i32>().is_done());
    assert!(successful(Val::Int(42)).is_done());
}

#[test]
fn test_running() {
    let (p, _pc) = pending::<i32>();
    let (r, _rc) = running::<i32>();
    assert!(!p.is_running());
    assert!(r.is_running());
    assert!(!cancelled::<i32>().is_running());
    assert!(!exception::<i32>().is_running());
    assert!(!successful(Val::Int(42)).is_running());
}

#[test]
fn test_result_with_timeout() {
    let (p, _pc) = pending::<i32>();
    let (r, _rc) = running::<i32>();
    let zero = Duration::ZERO;
    assert_eq!(p.result_timeout(zero), Err(Error::Timeout(zero)));
    assert_eq!(r.result_timeout(zero), Err(Error::Timeout(zero)));
    assert_eq!(
        cancelled::<i32>().result_timeout(zero),
        Err(Error::Cancelled)
    );
    assert!(matches!(
        exception::<i32>().result_timeout(zero),
        Err(Error::Panicked { .. })
    ));
    assert_eq!(
        successful(Val::Int(42)).result_timeout(zero),
        Ok(Val::Int(42))
    );
}

/// Upstream sleeps a second so that the main thread is (probably) waiting;
/// either order gives the same outcome.
#[test]
fn test_result_with_success() {
    let (f1, c) = pending::<i32>();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        c.set_result(42);
    });
    assert_eq!(f1.result_timeout(Duration::from_secs(5)), Ok(42));
    t.join().unwrap();
}

#[test]
fn test_result_with_cancel() {
    let (f1, c) = pending::<i32>();
    let g = f1.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        assert!(g.cancel());
        drop(c);
    });
    assert_eq!(f1.result_timeout(SHORT_TIMEOUT), Err(Error::Cancelled));
    t.join().unwrap();
}

#[test]
fn test_exception_with_timeout() {
    let (p, _pc) = pending::<i32>();
    let (r, _rc) = running::<i32>();
    let zero = Duration::ZERO;
    assert_eq!(p.exception_timeout(zero), Err(Error::Timeout(zero)));
    assert_eq!(r.exception_timeout(zero), Err(Error::Timeout(zero)));
    // Python raises CancelledError; here the cancellation is the error.
    assert_eq!(
        cancelled::<i32>().exception_timeout(zero),
        Ok(Some(Error::Cancelled))
    );
    assert!(matches!(
        exception::<i32>().exception_timeout(zero),
        Ok(Some(Error::Panicked { .. }))
    ));
    assert_eq!(successful(Val::Int(42)).exception_timeout(zero), Ok(None));
}

#[test]
fn test_exception_with_success() {
    let (f1, c) = pending::<i32>();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        c.set_error(Error::Panicked {
            message: "OSError".into(),
        });
    });
    assert!(matches!(
        f1.exception_timeout(SHORT_TIMEOUT),
        Ok(Some(Error::Panicked { .. }))
    ));
    t.join().unwrap();
}

/// Upstream: a second `set_result` raises `InvalidStateError`. Here
/// `set_result` consumes the completer, so a second one does not compile;
/// what remains to check is that the first outcome stays.
#[test]
fn test_multiple_set_result() {
    let (f, c) = pending::<i32>();
    assert!(c.set_result(1));
    assert!(f.is_done());
    assert_eq!(f.result(), Ok(1));
    // A completer of a cancelled future reports that it did nothing.
    let (g, c) = pending::<i32>();
    assert!(g.cancel());
    assert!(!c.set_result(2));
    assert_eq!(g.result(), Err(Error::Cancelled));
}

/// As `test_multiple_set_result`, for `set_error`.
#[test]
fn test_multiple_set_exception() {
    let (f, c) = pending::<i32>();
    let e = Error::Panicked {
        message: "ValueError".into(),
    };
    assert!(c.set_error(e.clone()));
    assert_eq!(f.exception(), Some(e));
}

/// Upstream's `_get_snapshot()` reads done, cancelled, result and
/// exception atomically; `try_result_ref` is that snapshot here (one
/// atomic load of the state, then the outcome it published).
#[test]
fn test_get_snapshot() {
    let snapshot = |f: &Future<i32>| {
        let done = f.is_done();
        match f.try_result_ref() {
            None => (done, false, None, None),
            Some(Ok(v)) => (true, false, Some(*v), None),
            Some(Err(Error::Cancelled)) => (true, true, None, None),
            Some(Err(e)) => (true, false, None, Some(e)),
        }
    };
    let (f, _c) = pending::<i32>();
    assert_eq!(snapshot(&f), (false, false, None, None));

    let (f, c) = pending::<i32>();
    c.set_result(42);
    assert_eq!(snapshot(&f), (true, false, Some(42), None));

    let (f, c) = pending::<i32>();
    let exc = Error::Panicked {
        message: "test error".into(),
    };
    c.set_error(exc.clone());
    assert_eq!(snapshot(&f), (true, false, None, Some(exc)));

    let (f, _c) = pending::<i32>();
    f.cancel();
    assert_eq!(snapshot(&f), (true, true, None, None));

    // Concurrent readers all see the same snapshot of a finished future.
    let (f, c) = pending::<i32>();
    c.set_result(100);
    let seen = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    assert_eq!(snapshot(&f), (true, false, Some(100), None));
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(seen.load(Ordering::Relaxed), 4000);
}
