//! Loom models of the future's state machine. They run the real code:
//! under `--cfg bingfa_loom` every atomic, cell and park in `future.rs` is
//! loom's.
//!
//! `RUSTFLAGS="--cfg bingfa_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release
//! -p bingfa-pool -- loom`

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use crate::{Error, Future};

/// A worker completes the future while another thread cancels it: exactly
/// one wins, the callback added beforehand runs once with the winner's
/// outcome, and the waiter sees that same outcome.
#[test]
fn loom_completion_races_cancel() {
    loom::model(|| {
        let (f, c) = Future::<usize>::pending();
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicUsize::new(0));
        {
            let (calls, seen) = (calls.clone(), seen.clone());
            f.add_done_callback(move |r| {
                calls.fetch_add(1, Ordering::SeqCst);
                seen.store(
                    match r {
                        Ok(v) => *v,
                        Err(Error::Cancelled) => 99,
                        Err(_) => 100,
                    },
                    Ordering::SeqCst,
                );
            });
        }
        let worker = thread::spawn(move || {
            if c.set_running() {
                assert!(c.set_result(7));
                true
            } else {
                // Dropping the completer of a cancelled future does nothing.
                false
            }
        });
        let f2 = f.clone();
        let canceller = thread::spawn(move || f2.cancel());
        let ran = worker.join().unwrap();
        let cancelled = canceller.join().unwrap();
        assert_ne!(ran, cancelled, "exactly one of run and cancel wins");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(f.is_done());
        assert_eq!(f.is_cancelled(), cancelled);
        if cancelled {
            assert_eq!(f.result(), Err(Error::Cancelled));
            assert_eq!(seen.load(Ordering::SeqCst), 99);
        } else {
            assert_eq!(f.result(), Ok(7));
            assert_eq!(seen.load(Ordering::SeqCst), 7);
        }
    });
}

/// A callback added while the worker completes runs exactly once (on the
/// worker or on the adding thread) and sees the result; into_result then
/// takes the value without racing the callback's read of it.
#[test]
fn loom_callback_added_while_completing_runs_once() {
    loom::model(|| {
        let (f, c) = Future::<String>::pending();
        let calls = Arc::new(AtomicUsize::new(0));
        let worker = thread::spawn(move || {
            c.set_result("done".to_owned());
        });
        let adder = {
            let f = f.clone();
            let calls = calls.clone();
            thread::spawn(move || {
                f.add_done_callback(move |r| {
                    assert_eq!(r.as_deref(), Ok("done"));
                    calls.fetch_add(1, Ordering::SeqCst);
                });
            })
        };
        adder.join().unwrap();
        // The only handle left: moves the value out, after the callback
        // (wherever it runs) has finished reading it.
        let v = f.into_result().expect("last handle");
        assert_eq!(v.as_deref(), Ok("done"));
        worker.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

/// Two waiters park on the future; the completion wakes both and both see
/// the value written before it.
#[test]
fn loom_result_visible_to_every_waiter() {
    loom::model(|| {
        let (f, c) = Future::<Box<usize>>::pending();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let f = f.clone();
                thread::spawn(move || **f.result_ref().unwrap())
            })
            .collect();
        c.set_result(Box::new(42));
        for w in waiters {
            assert_eq!(w.join().unwrap(), 42);
        }
    });
}

/// A timed wait either sees the result or times out (when the model's
/// clock fires); after a timeout the future still completes normally.
#[test]
fn loom_timeout_races_completion() {
    loom::model(|| {
        let (f, c) = Future::<usize>::pending();
        let waiter = {
            let f = f.clone();
            thread::spawn(move || f.result_timeout(std::time::Duration::from_secs(1)))
        };
        let clock = thread::spawn(bingfa_sync::raw::clock::advance);
        c.set_result(5);
        match waiter.join().unwrap() {
            Ok(v) => assert_eq!(v, 5),
            Err(e) => assert!(matches!(e, Error::Timeout(_))),
        }
        clock.join().unwrap();
        assert_eq!(f.result(), Ok(5));
    });
}

/// A completer dropped without completing cancels a pending future and
/// wakes its waiter.
#[test]
fn loom_dropped_completer_wakes_waiter() {
    loom::model(|| {
        let (f, c) = Future::<usize>::pending();
        let waiter = thread::spawn(move || f.result());
        drop(c);
        assert_eq!(waiter.join().unwrap(), Err(Error::Cancelled));
    });
}

/// `future.await` racing with the completion: either the poll sees the
/// future done, or the waker it left is woken (no lost wake-up), and the
/// next poll gives the value.
#[test]
fn loom_await_is_woken_by_a_racing_completion() {
    use std::future::{Future as _, IntoFuture};
    use std::pin::Pin;
    use std::task::{Context, Poll, Wake, Waker};

    use loom::sync::atomic::AtomicBool;

    struct Flag(Arc<AtomicBool>);

    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    loom::model(|| {
        let (f, c) = Future::<usize>::pending();
        let worker = thread::spawn(move || {
            assert!(c.set_result(5));
        });
        let woken = Arc::new(AtomicBool::new(false));
        let waker = Waker::from(std::sync::Arc::new(Flag(woken.clone())));
        let mut cx = Context::from_waker(&waker);
        let mut aw = f.into_future();
        let first = Pin::new(&mut aw).poll(&mut cx);
        worker.join().unwrap();
        match first {
            Poll::Ready(v) => assert_eq!(v, Ok(5)),
            Poll::Pending => {
                assert!(woken.load(Ordering::SeqCst), "a lost wake-up");
                assert_eq!(Pin::new(&mut aw).poll(&mut cx), Poll::Ready(Ok(5)));
            }
        }
    });
}
