//! LoopExit: a blocking call that nothing can ever end returns an error
//! naming what it waited on (gevent raises `LoopExit`, "This operation
//! would block forever") instead of hanging the hub for ever; and it is
//! never raised while a timer, a socket or another OS thread can still
//! end a wait.
//!
//! The waits on `Send + Sync` primitives that other OS threads could end
//! are checked in `loop_exit_alone.rs`, a test binary without libtest's
//! threads.

use std::cell::RefCell;
use std::future::pending;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bingfa_green::{block_on, run, sleep, spawn, Builder, Error, Hub};

/// A hub whose only green thread waits on a future nobody can complete.
/// (Before, `run` never returned.)
#[test]
fn main_waiting_for_nothing_gets_loop_exit() {
    let r = run(|| block_on(pending::<()>()));
    match r {
        Err(Error::LoopExit { waited_on, waiting }) => {
            assert_eq!(waited_on, "block_on");
            assert_eq!(waiting, "'main' in block_on");
        }
        other => panic!("expected LoopExit, got {other:?}"),
    }
}

/// The main green thread joins one that waits for nothing: the join
/// returns the error, which names both waits.
#[test]
fn a_join_that_can_never_end_returns_loop_exit() {
    let r = run(|| {
        let stuck = Builder::new()
            .name("stuck")
            .spawn(|| block_on(pending::<u32>()))
            .unwrap();
        stuck.join()
    })
    .unwrap();
    let err = r.unwrap_err();
    assert!(
        matches!(&err, Error::LoopExit { waited_on: "Handle::join", waiting }
            if waiting == "'main' in Handle::join, 'stuck' in block_on"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.starts_with("Handle::join would block forever"), "{msg}");
}

/// A deadlock of joins: two green threads each wait for the other, main
/// waits for one of them.
#[test]
fn a_cycle_of_joins_is_reported() {
    let r = run(|| {
        type Slot = Rc<RefCell<Option<bingfa_green::Handle<()>>>>;
        let (to_a, to_b): (Slot, Slot) = Default::default();
        let (ta, tb) = (to_a.clone(), to_b.clone());
        let a = Builder::new()
            .name("a")
            .spawn(move || {
                bingfa_green::yield_now();
                let b = tb.borrow_mut().take().unwrap();
                let _ = b.join();
            })
            .unwrap();
        let b = Builder::new()
            .name("b")
            .spawn(move || {
                bingfa_green::yield_now();
                // Waits for `c`, which waits for nothing.
                let c = ta.borrow_mut().take().unwrap();
                let _ = c.join();
            })
            .unwrap();
        *to_b.borrow_mut() = Some(b);
        *to_a.borrow_mut() = Some(spawn(|| block_on(pending::<()>())));
        a.join()
    })
    .unwrap();
    match r {
        Err(Error::LoopExit { waiting, .. }) => {
            for part in [
                "'main' in Handle::join",
                "'a' in Handle::join",
                "'b' in Handle::join",
                "in block_on",
            ] {
                assert!(waiting.contains(part), "{part} not in {waiting}");
            }
        }
        other => panic!("expected LoopExit, got {other:?}"),
    }
}

/// A timer still armed is a way out: no LoopExit before it fires.
#[test]
fn no_loop_exit_while_a_timer_is_armed() {
    run(|| {
        let stuck = spawn(|| block_on(pending::<()>()));
        let start = Instant::now();
        assert!(matches!(
            stuck.join_timeout(Duration::from_millis(50)),
            Err(Error::Timeout(_))
        ));
        assert!(start.elapsed() >= Duration::from_millis(50));
        // A sleeper is a timer too: the join waits for it.
        let sleeper = spawn(|| sleep(Duration::from_millis(30)));
        sleeper.join().unwrap();
        // Now only the stuck one and main's join are left.
        assert!(matches!(stuck.join(), Err(Error::LoopExit { .. })));
    })
    .unwrap();
}

/// A green thread waiting on a socket can be woken from outside the
/// process: no LoopExit while it waits.
#[test]
fn no_loop_exit_while_a_green_thread_waits_on_a_socket() {
    run(|| {
        let sock = bingfa_green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let reader = spawn(move || {
            let mut buf = [0u8; 8];
            sock.recv_from(&mut buf).unwrap().0
        });
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.send_to(b"hello", addr).unwrap();
        });
        assert_eq!(reader.join().unwrap(), 5);
        sender.join().unwrap();
    })
    .unwrap();
}

/// A future whose waker another OS thread holds may still complete: no
/// LoopExit while that thread lives (it completes it here).
#[test]
fn no_loop_exit_while_another_thread_holds_the_waker() {
    use std::sync::{Arc, Mutex};
    use std::task::{Poll, Waker};
    let r = run(|| {
        let state: Arc<Mutex<(bool, Option<Waker>)>> = Arc::default();
        let s2 = state.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(60));
            let mut g = s2.lock().unwrap();
            g.0 = true;
            if let Some(w) = g.1.take() {
                w.wake();
            }
        });
        let v = block_on(std::future::poll_fn(|cx| {
            let mut g = state.lock().unwrap();
            if g.0 {
                Poll::Ready(7)
            } else {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }));
        t.join().unwrap();
        v
    });
    assert_eq!(r.unwrap(), 7);
}

/// Once main has returned, the hub kills the leftovers; waits that then
/// can never end (here two green threads, started by a destructor during
/// that kill, that join each other) get LoopExit too (every stuck wait
/// does, main being gone), so `run` returns.
#[test]
fn after_main_every_stuck_wait_gets_loop_exit() {
    type Log = Rc<RefCell<Vec<String>>>;
    type Slot = Rc<RefCell<Option<bingfa_green::Handle<()>>>>;
    fn joiner(take: Slot, log: Log) -> impl FnOnce() {
        move || {
            bingfa_green::yield_now();
            let other = take.borrow_mut().take().unwrap();
            let r = match other.join() {
                Err(Error::LoopExit { waited_on, .. }) => format!("LoopExit in {waited_on}"),
                r => format!("{r:?}"),
            };
            log.borrow_mut().push(r);
        }
    }
    let log: Log = Rc::default();
    let l = log.clone();
    Hub::new()
        .run(move || {
            struct SpawnOnDrop(Log);
            impl Drop for SpawnOnDrop {
                fn drop(&mut self) {
                    let (to_x, to_y): (Slot, Slot) = Default::default();
                    let x = spawn(joiner(to_y.clone(), self.0.clone()));
                    let y = spawn(joiner(to_x.clone(), self.0.clone()));
                    *to_x.borrow_mut() = Some(x);
                    *to_y.borrow_mut() = Some(y);
                }
            }
            spawn(move || {
                let _s = SpawnOnDrop(l);
                sleep(Duration::from_secs(3600));
            });
            bingfa_green::yield_now();
        })
        .unwrap();
    assert_eq!(
        *log.borrow(),
        ["LoopExit in Handle::join", "LoopExit in Handle::join"]
    );
}

/// A LoopExit caught by main: the hub goes on, and later waits work.
#[test]
fn the_hub_goes_on_after_a_loop_exit() {
    let r = run(|| {
        let stuck = spawn(|| block_on(pending::<()>()));
        let first = stuck.join();
        assert!(matches!(first, Err(Error::LoopExit { .. })));
        let h = spawn(|| {
            sleep(Duration::from_millis(5));
            3
        });
        h.join().unwrap()
    });
    assert_eq!(r.unwrap(), 3);
}
