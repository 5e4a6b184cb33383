//! gevent's `src/gevent/tests/test__event.py`, ported one test per upstream
//! test (named after it; a class prefix where names repeat).
//!
//! Upstream: repository gevent/gevent, file `src/gevent/tests/test__event.py`,
//! read at revision 04752c48d92ffadb100fe3e8fac7d6e7a9524616 (gevent
//! 26.5.0+, last change to the file d08803d2). Licence: MIT, Copyright (c)
//! 2009-2015 Denis Bilenko and the gevent contributors. See
//! `PARITY-sync.md` for every upstream test and what became of it.

use std::rc::Rc;
use std::time::Duration;

use bingfa_green::sync::Event;
use bingfa_green::{run, sleep, spawn};

/// `TestEvent_SetThenClear.test` with `N` waiters: waiters blocked before a
/// `set()` are released by it even though `clear()` follows at once.
fn set_then_clear(n: usize) {
    run(move || {
        let e = Rc::new(Event::new());
        let waiters: Vec<_> = (0..n)
            .map(|_| {
                let e = e.clone();
                spawn(move || e.wait())
            })
            .collect();
        sleep(Duration::from_millis(1));
        assert_eq!(e.waiters(), n);
        e.set();
        e.clear();
        for w in &waiters {
            // Generous: they are released at once; the bug left them
            // blocked for good.
            w.join_timeout(Duration::from_secs(10))
                .expect("a waiter released by set() stayed blocked after clear()");
        }
        assert!(waiters.iter().all(|w| w.successful()));
    })
    .unwrap();
}

#[test]
fn test_set_then_clear() {
    set_then_clear(1);
}

#[test]
fn test_set_then_clear_100() {
    set_then_clear(100);
}

#[test]
fn test_set_then_clear_1000() {
    set_then_clear(1000);
}
