//! `Timeout` as an object (gevent's `start`, `cancel`, `pending`), whose
//! expiry comes out only of its own `run`/`catch`; nested timeouts.

use std::time::{Duration, Instant};

use bingfa_green::{run, sleep, spawn, yield_now, Error, Timeout};

const SHORT: Duration = Duration::from_millis(10);
const LONG: Duration = Duration::from_secs(30);

#[test]
fn start_pending_cancel() {
    run(|| {
        let t = Timeout::new(SHORT);
        assert!(!t.pending(), "not started");
        t.start().unwrap();
        assert!(t.pending());
        t.cancel();
        assert!(!t.pending());
        // Cancelled: it never fires.
        sleep(SHORT * 3);
        assert!(!t.pending());
        // Started again, it fires again, each time.
        for _ in 0..2 {
            t.start().unwrap();
            let r = t.catch(|| sleep(LONG));
            assert!(matches!(r, Err(Error::Timeout(d)) if d == SHORT));
            assert!(!t.pending(), "expired");
        }
    })
    .unwrap();
}

#[test]
fn start_outside_a_green_thread_is_an_error() {
    assert!(matches!(
        Timeout::new(SHORT).start(),
        Err(Error::NotInHub(_))
    ));
}

#[test]
fn an_outer_expiry_is_never_swallowed_by_an_inner_timeout() {
    run(|| {
        let outer = Timeout::start_new(SHORT).unwrap();
        let r = outer.catch(|| {
            // The inner one is longer: the outer one expires inside it
            // and goes through it.
            let inner = Timeout::new(LONG).run(|| sleep(LONG));
            unreachable!("the inner run never returns: {inner:?}");
        });
        assert!(matches!(r, Err(Error::Timeout(d)) if d == SHORT));
        // And around a call with a timeout of its own (gevent's
        // test_outer_timeout_is_not_lost): the call's own timeout would be
        // `Ok(Err(Timeout(LONG)))`.
        let slow = spawn(|| sleep(LONG));
        let outer = Timeout::start_new(SHORT).unwrap();
        let r = outer.catch(|| slow.join_timeout(LONG));
        assert!(matches!(r, Err(Error::Timeout(d)) if d == SHORT), "{r:?}");
        slow.kill();
    })
    .unwrap();
}

#[test]
fn an_inner_expiry_is_handled_inside_and_the_outer_goes_on() {
    run(|| {
        let outer = Timeout::start_new(LONG).unwrap();
        let r = outer.catch(|| {
            let inner = Timeout::new(SHORT).run(|| sleep(LONG));
            assert!(matches!(inner, Err(Error::Timeout(d)) if d == SHORT));
            "outer goes on"
        });
        assert_eq!(r.unwrap(), "outer goes on");
        assert!(outer.pending());
    })
    .unwrap();
}

#[test]
fn when_both_are_due_the_outer_one_wins() {
    run(|| {
        let outer = Timeout::start_new(SHORT).unwrap();
        let r = outer.catch(|| {
            Timeout::new(SHORT).run(|| {
                // No switch until both deadlines passed.
                let until = Instant::now() + SHORT * 3;
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                yield_now();
            })
        });
        assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
        // The inner one was closed on the way out: nothing is left to fire.
        sleep(SHORT * 2);
    })
    .unwrap();
}

#[test]
fn a_started_timeout_nobody_catches_ends_its_green_thread() {
    run(|| {
        let h = spawn(|| {
            let _t = Timeout::start_new(SHORT).unwrap();
            sleep(LONG);
        });
        assert!(matches!(h.join(), Err(Error::Timeout(d)) if d == SHORT));
        // Dropped before it fired: cancelled.
        let h = spawn(|| {
            drop(Timeout::start_new(SHORT).unwrap());
            sleep(SHORT * 3);
            "not interrupted"
        });
        assert_eq!(h.join().unwrap(), "not interrupted");
    })
    .unwrap();
}
