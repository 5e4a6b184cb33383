//! The hub: spawn, join, value, joinall, sleep, yield_now, panics, kill,
//! timeouts, thread-locals, several hubs side by side.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bingfa_green::{
    joinall, joinall_timeout, run, sleep, spawn, with_timeout, yield_now, Builder, Error, Hub,
    Timeout,
};

#[test]
fn three_sleeps_overlap() {
    // The course's lesson 22: sleeping 1, 3 and 5 s together takes 5 s,
    // not 9; here 100, 300 and 500 ms take well under 900 ms.
    let elapsed = run(|| {
        let start = Instant::now();
        let hs: Vec<_> = [100u64, 300, 500]
            .into_iter()
            .map(|ms| {
                spawn(move || {
                    sleep(Duration::from_millis(ms));
                    ms
                })
            })
            .collect();
        joinall(&hs);
        let values: Vec<u64> = hs.iter().map(|h| h.value().unwrap()).collect();
        assert_eq!(values, [100, 300, 500]);
        start.elapsed()
    })
    .unwrap();
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(800), "{elapsed:?}");
}

#[test]
fn spawn_join_value_and_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run(move || {
        let l1 = l.clone();
        let g1 = spawn(move || {
            l1.borrow_mut().push("test1");
            sleep(Duration::from_millis(20));
            l1.borrow_mut().push("test11");
            1
        });
        let l2 = l.clone();
        let g2 = spawn(move || {
            l2.borrow_mut().push("test2");
            sleep(Duration::from_millis(20));
            l2.borrow_mut().push("test22");
            2
        });
        assert!(!g1.is_dead());
        assert_eq!(g1.value(), None);
        joinall([&g1, &g2]);
        assert!(g1.is_dead() && g1.successful());
        assert_eq!(g1.value(), Some(1));
        assert_eq!(g2.join().unwrap(), 2);
    })
    .unwrap();
    // Python's gevent prints test1 test2 test11 test22.
    assert_eq!(*log.borrow(), ["test1", "test2", "test11", "test22"]);
}

#[test]
fn yield_now_round_robins() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run(move || {
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let l = l.clone();
                spawn(move || {
                    for round in 0..2 {
                        l.borrow_mut().push((round, i));
                        yield_now();
                    }
                })
            })
            .collect();
        joinall(&hs);
    })
    .unwrap();
    assert_eq!(
        *log.borrow(),
        [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    );
}

#[test]
fn a_panic_fails_its_join_and_the_others_go_on() {
    run(|| {
        let bad = Builder::new()
            .name("bad")
            .spawn(|| -> u32 { panic!("boom {}", 7) })
            .unwrap();
        let good = spawn(|| {
            sleep(Duration::from_millis(10));
            5
        });
        match bad.join() {
            Err(Error::Panicked { name, message, .. }) => {
                assert_eq!(name, "bad");
                assert_eq!(message, "boom 7");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(good.join().unwrap(), 5);
    })
    .unwrap();
    // A panic in main comes back from run.
    let r = run(|| panic!("main fails"));
    assert!(matches!(r, Err(Error::Panicked { message, .. }) if message == "main fails"));
}

#[test]
fn kill_unwinds_a_blocked_green_thread() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    run(|| {
        let dropped = Rc::new(Cell::new(false));
        let d = dropped.clone();
        let h = spawn(move || {
            let _f = Flag(d);
            sleep(Duration::from_secs(60));
            "never"
        });
        sleep(Duration::from_millis(5));
        let start = Instant::now();
        h.kill();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(h.is_dead());
        assert!(dropped.get(), "destructors ran");
        assert!(matches!(h.join(), Err(Error::Killed)));
        // Killed before it ever ran: it never runs.
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let h = spawn(move || r.set(true));
        h.kill();
        assert!(!ran.get());
        assert!(matches!(h.join(), Err(Error::Killed)));
    })
    .unwrap();
}

#[test]
fn join_timeout_and_timeout_scopes() {
    run(|| {
        let h = spawn(|| sleep(Duration::from_millis(200)));
        let start = Instant::now();
        assert!(matches!(
            h.join_timeout(Duration::from_millis(20)),
            Err(Error::Timeout(_))
        ));
        assert!(start.elapsed() < Duration::from_millis(150));
        assert!(h.join_timeout(Duration::from_secs(5)).is_ok());
        assert!(h.is_dead());

        // Timeout around a blocking call interrupts it.
        let start = Instant::now();
        let r = Timeout::new(Duration::from_millis(30)).run(|| {
            sleep(Duration::from_secs(5));
            1
        });
        assert!(matches!(r, Err(Error::Timeout(_))));
        assert!(start.elapsed() < Duration::from_secs(1));
        // A block that finishes in time gives its value.
        assert_eq!(with_timeout(Duration::from_secs(5), || 7).unwrap(), 7);
        // Nested: the inner, shorter one fires and the outer goes on.
        let r = with_timeout(Duration::from_secs(5), || {
            let inner = with_timeout(Duration::from_millis(10), || sleep(Duration::from_secs(5)));
            assert!(inner.is_err());
            "outer ok"
        });
        assert_eq!(r.unwrap(), "outer ok");
        // Around a join.
        let slow = spawn(|| sleep(Duration::from_secs(5)));
        let r = with_timeout(Duration::from_millis(10), || {
            slow.join_timeout(Duration::from_secs(10))
        });
        assert!(matches!(r, Err(Error::Timeout(_))));
        assert_eq!(joinall_timeout([&slow], Duration::from_millis(1)), 0);
        slow.kill();
    })
    .unwrap();
}

#[test]
fn thread_locals_are_stable_across_switches() {
    thread_local! {
        static ID: Cell<u64> = const { Cell::new(0) };
    }
    let main_thread = std::thread::current().id();
    run(move || {
        ID.with(|c| c.set(42));
        let hs: Vec<_> = (0..50)
            .map(|_| {
                spawn(move || {
                    for _ in 0..10 {
                        assert_eq!(std::thread::current().id(), main_thread);
                        assert_eq!(ID.with(|c| c.get()), 42);
                        yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    })
    .unwrap();
}

#[test]
fn several_hubs_run_side_by_side() {
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            std::thread::spawn(move || {
                Hub::new()
                    .run(move || {
                        let hs: Vec<_> = (0..100u64)
                            .map(|i| {
                                spawn(move || {
                                    sleep(Duration::from_millis(1));
                                    t * 1000 + i
                                })
                            })
                            .collect();
                        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                    })
                    .unwrap()
            })
        })
        .collect();
    let sums: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(sums, [4950, 104_950, 204_950]);
}

#[test]
fn leftover_green_threads_are_killed_when_main_returns() {
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    struct Count(Rc<Cell<i32>>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    run(move || {
        for _ in 0..5 {
            let c = Count(d.clone());
            spawn(move || {
                let _c = c;
                sleep(Duration::from_secs(3600));
            });
        }
        yield_now();
    })
    .unwrap();
    assert_eq!(dropped.get(), 5);
}

#[test]
fn outside_a_hub_spawn_is_an_error() {
    assert!(matches!(
        Builder::new().spawn(|| 1),
        Err(Error::NotInHub(_))
    ));
    assert!(!bingfa_green::in_green_thread());
}

#[test]
fn stack_size_per_spawn() {
    run(|| {
        // A green thread that needs about 600 KiB of stack runs with a
        // 1 MiB stack.
        let h = Builder::new()
            .stack_size(1024 * 1024)
            .spawn(|| {
                let buf = [7u8; 600 * 1024];
                std::hint::black_box(&buf);
                buf.iter().map(|&b| b as u64).sum::<u64>()
            })
            .unwrap();
        assert_eq!(h.join().unwrap(), 7 * 600 * 1024);
    })
    .unwrap();
}

/// While a killed green thread unwinds (by `Handle::kill`, and by the
/// hub's end killing the leftovers), it is still the current green thread:
/// `current_name` names it and blocking calls in its destructors work.
#[test]
fn current_during_a_kill_is_the_dying_green_thread() {
    struct Probe(Rc<RefCell<Vec<String>>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            let name = bingfa_green::current_name();
            let green = bingfa_green::in_green_thread();
            // A switch in a destructor during the unwind still works.
            yield_now();
            self.0.borrow_mut().push(format!("{name:?} {green}"));
        }
    }
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let l = log.clone();
    run(move || {
        let l2 = l.clone();
        let h = Builder::new()
            .name("victim")
            .spawn(move || {
                let _p = Probe(l2);
                sleep(Duration::from_secs(3600));
            })
            .unwrap();
        yield_now();
        h.kill();
        assert!(matches!(h.join(), Err(Error::Killed)));
        Builder::new()
            .name("leftover")
            .spawn(move || {
                let _p = Probe(l);
                sleep(Duration::from_secs(3600));
            })
            .unwrap();
        yield_now();
    })
    .unwrap();
    assert_eq!(
        *log.borrow(),
        ["Some(\"victim\") true", "Some(\"leftover\") true"]
    );
}

/// A typed panic payload survives to `join`, downcastable, instead of
/// becoming the message "<non-string panic payload>" only (gevent keeps
/// the exception object: `g.exception`).
#[test]
fn a_typed_panic_payload_survives_to_join() {
    #[derive(Debug, PartialEq)]
    struct Overdrawn {
        account: u32,
        by: i64,
    }
    run(|| {
        let h = spawn(|| -> u32 {
            std::panic::panic_any(Overdrawn {
                account: 7,
                by: -20,
            })
        });
        match h.join() {
            Err(Error::Panicked {
                message, payload, ..
            }) => {
                assert_eq!(message, "<non-string panic payload>");
                assert!(payload.is::<Overdrawn>());
                assert_eq!(payload.with(|o: &Overdrawn| o.by), Some(-20));
                let payload = payload.downcast::<String>().unwrap_err();
                assert_eq!(
                    payload.downcast::<Overdrawn>().unwrap(),
                    Overdrawn {
                        account: 7,
                        by: -20
                    }
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        // A string panic keeps its payload too.
        let n = std::hint::black_box(1);
        let h = spawn(move || -> u32 { panic!("plain {n}") });
        let Err(Error::Panicked { payload, .. }) = h.join() else {
            panic!("expected a panic")
        };
        assert_eq!(payload.downcast::<String>().unwrap(), "plain 1");
    })
    .unwrap();
    // And from main, out of `run`.
    let r = run(|| std::panic::panic_any(42u8));
    let Err(Error::Panicked { payload, .. }) = r else {
        panic!("expected a panic")
    };
    assert_eq!(payload.downcast::<u8>().unwrap(), 42);
}

/// The crate's error stays `Send + Sync` (for `?` into `Box<dyn Error +
/// Send + Sync>`, anyhow...), payload and all.
#[test]
fn the_error_is_send_and_sync() {
    fn check<T: Send + Sync + std::error::Error + 'static>() {}
    check::<Error>();
}

/// Regression: a kill (or an expired `Timeout`) that arrived while a
/// green thread was already unwinding from a kill, and waited in a
/// destructor, unwound it a second time from inside that destructor,
/// which aborts the process. It now waits until the first unwind is over
/// (the green thread then dies of the first).
#[test]
fn a_kill_or_timeout_during_a_kill_unwind_is_held() {
    struct SlowDrop(Rc<Cell<u32>>);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            // A switch point inside a destructor that runs during a kill.
            sleep(Duration::from_millis(20));
            self.0.set(self.0.get() + 1);
        }
    }
    run(|| {
        let n = Rc::new(Cell::new(0));
        let n2 = n.clone();
        let h = spawn(move || {
            let _d = SlowDrop(n2);
            sleep(Duration::from_secs(3600));
        });
        yield_now();
        h.kill_nowait();
        yield_now(); // it starts unwinding and sleeps in its destructor
        h.kill(); // a second kill, while it does
        assert!(matches!(h.join(), Err(Error::Killed)));
        assert_eq!(n.get(), 1, "the destructor ran to its end once");

        // A Timeout scope that expires during the kill's unwind.
        let n2 = n.clone();
        let h = spawn(move || {
            Timeout::new(Duration::from_millis(5)).run(move || {
                let _d = SlowDrop(n2);
                sleep(Duration::from_secs(3600));
            })
        });
        yield_now();
        h.kill();
        assert!(matches!(h.join(), Err(Error::Killed)));
        assert_eq!(n.get(), 2);
    })
    .unwrap();
}

/// `kill_with` raises the chosen error in the green thread (gevent's
/// `kill(exception)`): it may catch it and go on; uncaught, `join` gives
/// it back downcastable; not yet started, it never runs and ends with it.
#[test]
fn kill_with_raises_the_chosen_error() {
    #[derive(Debug, PartialEq)]
    struct Shutdown(u32);
    run(|| {
        // Uncaught.
        let h = Builder::new()
            .name("server")
            .spawn(|| sleep(Duration::from_secs(3600)))
            .unwrap();
        yield_now();
        h.kill_with(Shutdown(1));
        match h.join() {
            Err(Error::Panicked {
                name,
                message,
                payload,
            }) => {
                assert_eq!(name, "server");
                assert!(message.starts_with("killed with "), "{message}");
                assert!(message.ends_with("Shutdown"), "{message}");
                assert_eq!(payload.downcast::<Shutdown>().unwrap(), Shutdown(1));
            }
            other => panic!("unexpected {other:?}"),
        }
        // Caught: the green thread goes on and returns.
        let h = spawn(|| {
            let r = std::panic::catch_unwind(|| sleep(Duration::from_secs(3600)));
            r.unwrap_err().downcast::<Shutdown>().unwrap().0 + 1
        });
        yield_now();
        h.kill_nowait_with(Shutdown(41));
        assert_eq!(h.join().unwrap(), 42);
        // Not yet started.
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let h = spawn(move || r.set(true));
        h.kill_with(Shutdown(2));
        assert!(!ran.get());
        let Err(Error::Panicked { payload, .. }) = h.join() else {
            panic!("expected the kill's error")
        };
        assert_eq!(payload.downcast::<Shutdown>().unwrap(), Shutdown(2));
        // The first kill's error wins; a plain kill after it keeps it.
        let h = spawn(|| sleep(Duration::from_secs(3600)));
        yield_now();
        h.kill_nowait_with(Shutdown(7));
        h.kill_nowait_with(Shutdown(8));
        h.kill();
        let Err(Error::Panicked { payload, .. }) = h.join() else {
            panic!("expected the kill's error")
        };
        assert_eq!(payload.downcast::<Shutdown>().unwrap(), Shutdown(7));
        // A plain kill is still Killed (GreenletExit).
        let h = spawn(|| sleep(Duration::from_secs(3600)));
        yield_now();
        h.kill();
        assert!(matches!(h.join(), Err(Error::Killed)));
    })
    .unwrap();
}
