//! The `Future` / `Completer` pair on its own: waiting, timeouts, reading
//! the result by clone, by reference and by move.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bingfa_pool::{Error, Future};

#[test]
fn result_timeout_times_out_then_succeeds() {
    let (f, c) = Future::<u32>::pending();
    let t0 = Instant::now();
    assert_eq!(
        f.result_timeout(Duration::from_millis(30)),
        Err(Error::Timeout(Duration::from_millis(30)))
    );
    assert!(t0.elapsed() >= Duration::from_millis(30));
    assert!(!f.wait_timeout(Duration::ZERO));
    assert_eq!(f.try_result(), None);
    c.set_result(8);
    assert_eq!(f.result_timeout(Duration::ZERO), Ok(8));
    assert!(f.wait_timeout(Duration::ZERO));
}

#[test]
fn every_waiter_sees_the_result() {
    let (f, c) = Future::<Vec<u8>>::pending();
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || f.result_ref().unwrap().clone())
        })
        .collect();
    c.set_result(vec![1, 2, 3]);
    for w in waiters {
        assert_eq!(w.join().unwrap(), [1, 2, 3]);
    }
}

#[test]
fn into_result_moves_out_of_the_last_handle_only() {
    // A value that is not Clone.
    struct NotClone(u8);
    let (f, c) = Future::<NotClone>::pending();
    let g = f.clone();
    c.set_result(NotClone(4));
    assert_eq!(g.result_ref().unwrap().0, 4);
    assert!(f.into_result().is_none(), "another handle still exists");
    assert_eq!(g.into_result().unwrap().unwrap().0, 4);
}

#[test]
fn into_result_from_racing_handles_gives_exactly_one_value() {
    for _ in 0..100 {
        let (f, c) = Future::<String>::pending();
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let f = f.clone();
                std::thread::spawn(move || f.into_result())
            })
            .collect();
        drop(f);
        c.set_result("v".into());
        let got: Vec<_> = hs.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert_eq!(got, [Ok("v".to_owned())]);
    }
}

#[test]
fn into_result_waits_for_callbacks_that_read_the_value() {
    let (f, c) = Future::<String>::pending();
    let (in_cb_tx, in_cb_rx) = crossbeam_channel::bounded(0);
    let gate = Arc::new(common::Gate::new());
    let g = gate.clone();
    f.add_done_callback(move |r| {
        in_cb_tx.send(()).unwrap();
        g.pass();
        assert_eq!(r.as_deref(), Ok("held"));
    });
    let completer = std::thread::spawn(move || c.set_result("held".into()));
    in_cb_rx.recv_timeout(common::PATIENCE).unwrap();
    // The callback is running: the future is done but not released.
    assert!(f.is_done());
    let taker = std::thread::spawn(move || f.into_result());
    gate.open();
    assert_eq!(taker.join().unwrap(), Some(Ok("held".to_owned())));
    completer.join().unwrap();
}

#[test]
fn errors_and_exception() {
    let (f, c) = Future::<u8>::pending();
    c.set_error(Error::WorkerDied {
        pid: 12,
        signal: Some(9),
        exit_code: None,
    });
    let e = Error::WorkerDied {
        pid: 12,
        signal: Some(9),
        exit_code: None,
    };
    assert_eq!(f.exception(), Some(e.clone()));
    assert_eq!(f.result_ref().unwrap_err(), e);
    let (ok, c) = Future::<u8>::pending();
    c.set_result(1);
    assert_eq!(ok.exception(), None);
    assert!(!ok.is_running() && ok.is_done() && !ok.is_cancelled());
    assert_eq!(format!("{ok:?}"), "Future { state: \"finished\" }");
}

#[test]
fn futures_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Future<String>>();
    check::<bingfa_pool::Completer<Vec<u8>>>();
    check::<bingfa_pool::ThreadPool>();
}
