//! gevent's `Greenlet` tests, ported.
//!
//! Upstream: gevent/gevent, `src/gevent/tests/test__greenlet.py`
//! (revision 7cd6d6bacfa53a8d83a39d567f67067f4b4fb262, 2026-03-02), read
//! at gevent 26.5.0+ (04752c48), with the `AbstractGenericWaitTestCase` /
//! `AbstractGenericGetTestCase` tests it inherits from
//! `src/gevent/testing/timing.py`. MIT licence, Copyright (c) 2008-2009 AG
//! Projects, Author: Denis Bilenko.
//!
//! One Rust test per upstream test, in a module named after its class in
//! snake case (`TestLink` -> `test_link`); inherited tests are ported in
//! each subclass's module. Tests that do not apply, or differ by design,
//! are listed with the reason in `crates/bingfa-green/PARITY.md`.
//!
//! Translation: a `gevent.Greenlet` is a [`Handle`]; `g.get()` is `join`;
//! an `AsyncResult` linked to a greenlet is a callback that stores the
//! outcome ([`Outcome`] below; the green `AsyncResult` itself is tested
//! with the sync types); an exception is a typed panic payload; a killed
//! green thread's result is `Err(Error::Killed)` (gevent makes
//! `GreenletExit` its *value*, see PARITY.md).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bingfa_green::sync::{Event, Queue};
use bingfa_green::{
    killall, run, sleep, spawn, yield_now, Builder, Error, Finished, Handle, JoinAll, LinkId,
    Timeout,
};

/// A link callback, boxed.
type Cb<T> = Box<dyn FnOnce(&Finished<'_, T>)>;

/// gevent's `DELAY` (`timing.SMALL_TICK`).
const DELAY: Duration = Duration::from_millis(10);
/// `timing.LARGE_TICK`.
const LARGE_TICK: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, PartialEq)]
struct ExpectedError(&'static str);

/// How a green thread ended, as text: `value 25`, `GreenletExit`,
/// `ExpectedError(...)`, or the error's message.
fn describe<T: std::fmt::Debug>(end: &Finished<'_, T>) -> String {
    match end.result() {
        Ok(v) => format!("value {v:?}"),
        Err(Error::Killed) => "GreenletExit".to_owned(),
        Err(Error::Panicked {
            payload, message, ..
        }) => payload
            .with(|e: &ExpectedError| format!("{e:?}"))
            .unwrap_or_else(|| message.clone()),
        Err(e) => e.to_string(),
    }
}

/// What an `AsyncResult` linked to a green thread holds: its outcome once
/// it is set, and an event to wait for that.
#[derive(Default)]
struct Outcome {
    value: RefCell<Option<String>>,
    ready: Event,
}

impl Outcome {
    fn new() -> Rc<Outcome> {
        Rc::default()
    }

    /// A link callback that sets it.
    fn link<T: std::fmt::Debug>(self: &Rc<Self>) -> impl FnOnce(&Finished<'_, T>) + 'static {
        let me = self.clone();
        move |end| {
            *me.value.borrow_mut() = Some(describe(end));
            me.ready.set();
        }
    }

    /// `event.get()`: waits until it is set.
    fn get(&self) -> String {
        self.ready.wait();
        self.value.borrow().clone().unwrap()
    }

    /// `with_timeout(DELAY, event.get, timeout_value=X)`: `None` if it is
    /// not set within `DELAY`.
    fn get_within_delay(&self) -> Option<String> {
        self.ready
            .wait_timeout(DELAY)
            .then(|| self.value.borrow().clone().unwrap())
    }
}

/// A link callback that puts the outcome into `q`.
fn put_into<T: std::fmt::Debug>(q: &Rc<Queue<String>>) -> impl FnOnce(&Finished<'_, T>) + 'static {
    let q = q.clone();
    move |end| q.put(describe(end)).unwrap()
}

/// A green thread that raises `ExpectedError(msg)` (Python:
/// `getcurrent().throw(err)`).
fn raiser(msg: &'static str) -> Handle<u32> {
    spawn(move || -> u32 { std::panic::panic_any(ExpectedError(msg)) })
}

mod test_link {
    use super::*;

    #[test]
    fn test_link_to_asyncresult() {
        run(|| {
            let p = spawn(|| 100u32);
            let event = Outcome::new();
            p.link(event.link());
            assert_eq!(event.get(), "value 100");
            for _ in 0..3 {
                let event2 = Outcome::new();
                p.link(event2.link());
                assert_eq!(event2.get(), "value 100");
            }
        })
        .unwrap();
    }

    #[test]
    fn test_link_to_asyncresult_exception() {
        run(|| {
            let p = raiser("test_link_to_asyncresult_exception");
            let event = Outcome::new();
            p.link(event.link());
            assert_eq!(
                event.get(),
                "ExpectedError(\"test_link_to_asyncresult_exception\")"
            );
            for _ in 0..3 {
                let event2 = Outcome::new();
                p.link(event2.link());
                assert_eq!(
                    event2.get(),
                    "ExpectedError(\"test_link_to_asyncresult_exception\")"
                );
            }
        })
        .unwrap();
    }

    #[test]
    fn test_link_to_queue() {
        run(|| {
            let p = spawn(|| 100u32);
            let q = Rc::new(Queue::new());
            p.link(put_into(&q));
            assert_eq!(q.get().unwrap(), "value 100");
            for _ in 0..3 {
                p.link(put_into(&q));
                assert_eq!(q.get().unwrap(), "value 100");
            }
        })
        .unwrap();
    }

    #[test]
    fn test_link_to_channel() {
        // gevent's Channel (a put waits for a getter) is the sync types'
        // zero-capacity channel; a queue of one place makes the same
        // point: callbacks that block until the reader takes their value.
        run(|| {
            let q = Rc::new(Queue::bounded(1));
            let ps: Vec<Handle<u32>> = (101..=103).map(|v| spawn(move || v)).collect();
            for p in &ps {
                p.link(put_into(&q));
            }
            let mut results: Vec<String> = (0..3).map(|_| q.get().unwrap()).collect();
            results.sort();
            assert_eq!(results, ["value 101", "value 102", "value 103"]);
        })
        .unwrap();
    }
}

mod test_unlink {
    use super::*;

    type Link = fn(&Handle<()>, Cb<()>) -> LinkId;

    fn test_func(link: Link) {
        run(move || {
            let p = spawn(|| ());
            let id = link(&p, Box::new(|_| {}));
            assert!(p.has_links());
            assert!(p.unlink(id));
            assert!(!p.has_links());
            let id = link(&p, Box::new(|_| {}));
            assert!(p.has_links());
            assert!(p.unlink(id));
            assert!(!p.has_links());
            p.kill();
        })
        .unwrap();
    }

    #[test]
    fn test_func_link() {
        test_func(|p, f| p.link(f));
    }

    #[test]
    fn test_func_link_value() {
        test_func(|p, f| p.link_value(f));
    }

    #[test]
    fn test_func_link_exception() {
        test_func(|p, f| p.link_exception(f));
    }
}

/// gevent's `LinksTestCase`: links of every kind on one green thread.
mod links {
    use super::*;

    pub(super) type LinkFn = fn(&Handle<u32>, Cb<u32>) -> LinkId;

    pub(super) struct Links {
        pub(super) event: Rc<Outcome>,
        pub(super) queue: Rc<Queue<String>>,
        pub(super) callback_flag: Rc<RefCell<Vec<&'static str>>>,
    }

    /// `set_links`: an AsyncResult, a queue's put, a callback, and ten
    /// more of the first two, all linked with `link`.
    pub(super) fn set_links(p: &Handle<u32>, link: LinkFn) -> Links {
        let event = Outcome::new();
        link(p, Box::new(event.link()));
        let queue = Rc::new(Queue::bounded(1));
        link(p, Box::new(put_into(&queue)));
        let callback_flag = Rc::new(RefCell::new(vec!["initial"]));
        let f = callback_flag.clone();
        link(
            p,
            Box::new(move |_| {
                f.borrow_mut().retain(|s| *s != "initial");
            }),
        );
        for _ in 0..10 {
            link(p, Box::new(Outcome::new().link()));
            link(p, Box::new(put_into(&Rc::new(Queue::bounded(1)))));
        }
        Links {
            event,
            queue,
            callback_flag,
        }
    }

    /// `set_links_timeout`: an AsyncResult and a queue's put that the
    /// test expects never to be touched.
    pub(super) fn set_links_timeout(
        p: &Handle<u32>,
        link: LinkFn,
    ) -> (Rc<Outcome>, Rc<Queue<String>>) {
        let event = Outcome::new();
        link(p, Box::new(event.link()));
        let queue = Rc::new(Queue::new());
        link(p, Box::new(put_into(&queue)));
        (event, queue)
    }

    /// `check_timed_out`: neither was set within `DELAY`.
    pub(super) fn check_timed_out(x: (Rc<Outcome>, Rc<Queue<String>>)) {
        assert_eq!(x.0.get_within_delay(), None);
        assert!(x.1.get_timeout(DELAY).is_err());
    }

    /// `check_fired`: both were set, with `what` (where gevent expects
    /// them untouched; see the kill tests).
    pub(super) fn check_fired(x: (Rc<Outcome>, Rc<Queue<String>>), what: &str) {
        assert_eq!(x.0.get(), what);
        assert_eq!(x.1.get().unwrap(), what);
    }

    pub(super) fn link(p: &Handle<u32>, f: Cb<u32>) -> LinkId {
        p.link(f)
    }
    pub(super) fn link_value(p: &Handle<u32>, f: Cb<u32>) -> LinkId {
        p.link_value(f)
    }
    pub(super) fn link_exception(p: &Handle<u32>, f: Cb<u32>) -> LinkId {
        p.link_exception(f)
    }

    /// `TestReturn_link.test_return` with `link_method`.
    pub(super) fn check_return(method: LinkFn) {
        run(move || {
            let p = spawn(|| 25u32);
            for _ in 0..3 {
                let l = set_links(&p, method);
                // Nothing fails: these are never touched.
                let xxxxx = set_links_timeout(&p, link_exception);
                sleep(DELAY * 2);
                assert!(p.is_dead());
                assert_eq!(l.event.get(), "value 25");
                assert_eq!(l.queue.get().unwrap(), "value 25");
                sleep(DELAY);
                assert!(l.callback_flag.borrow().is_empty());
                check_timed_out(xxxxx);
            }
            p.kill();
        })
        .unwrap();
    }

    /// `TestRaise_link.test_raise` with `link_method`.
    pub(super) fn check_raise(method: LinkFn) {
        run(move || {
            let p = raiser("test_raise");
            for _ in 0..3 {
                let l = set_links(&p, method);
                let xxxxx = set_links_timeout(&p, link_value);
                sleep(DELAY);
                assert!(p.is_dead());
                assert_eq!(l.event.get(), "ExpectedError(\"test_raise\")");
                assert_eq!(l.queue.get().unwrap(), "ExpectedError(\"test_raise\")");
                sleep(DELAY);
                assert!(l.callback_flag.borrow().is_empty());
                check_timed_out(xxxxx);
            }
        })
        .unwrap();
    }
}

mod test_return_link {
    use super::links::*;
    use super::*;

    #[test]
    fn test_return() {
        check_return(link);
    }

    #[test]
    fn test_kill() {
        // Differs by design (PARITY.md): a killed green thread ends with
        // `Err(Killed)`, not a GreenletExit value, so the link_exception
        // links gevent expects untouched fire too.
        run(|| {
            let p = spawn(|| {
                sleep(DELAY);
                0u32
            });
            for _ in 0..3 {
                let l = set_links(&p, link);
                let xxxxx = set_links_timeout(&p, link_exception);
                p.kill();
                sleep(DELAY);
                assert!(p.is_dead());
                assert_eq!(l.event.get(), "GreenletExit");
                assert_eq!(l.queue.get().unwrap(), "GreenletExit");
                sleep(DELAY);
                assert!(l.callback_flag.borrow().is_empty());
                check_fired(xxxxx, "GreenletExit");
            }
        })
        .unwrap();
    }
}

mod test_return_link_value {
    use super::links::*;
    use super::*;

    #[test]
    fn test_return() {
        check_return(link_value);
    }

    #[test]
    fn test_kill() {
        // Differs by design (PARITY.md): killed is a failure here, so the
        // link_value links do not fire (gevent: they get the GreenletExit
        // value) and the link_exception ones do.
        run(|| {
            let p = spawn(|| {
                sleep(DELAY);
                0u32
            });
            for _ in 0..3 {
                let l = set_links(&p, link_value);
                let xxxxx = set_links_timeout(&p, link_exception);
                p.kill();
                sleep(DELAY);
                assert!(p.is_dead());
                assert_eq!(l.event.get_within_delay(), None);
                assert!(l.queue.get_timeout(DELAY).is_err());
                assert_eq!(*l.callback_flag.borrow(), ["initial"]);
                check_fired(xxxxx, "GreenletExit");
            }
        })
        .unwrap();
    }
}

mod test_raise_link {
    use super::links::*;

    #[test]
    fn test_raise() {
        check_raise(link);
    }
}

mod test_raise_link_exception {
    use super::links::*;

    #[test]
    fn test_raise() {
        check_raise(link_exception);
    }
}

mod test_stuff {
    use super::*;

    #[test]
    fn test_wait_noerrors() {
        run(|| {
            let hs = [spawn(|| 1u32), spawn(|| 2), spawn(|| 3)];
            JoinAll::new().raise_error(true).wait(&hs).unwrap();
            let values: Vec<u32> = hs.iter().map(|h| h.value().unwrap()).collect();
            assert_eq!(values, [1, 2, 3]);
            let e = Outcome::new();
            let id = hs[0].link(e.link());
            assert_eq!(e.get(), "value 1");
            assert!(!hs[0].unlink(id), "it already ran");
            let e = Outcome::new();
            hs[0].link(e.link());
            assert_eq!(e.get(), "value 1");
        })
        .unwrap();
    }

    #[test]
    fn test_wait_error() {
        run(|| {
            let x = spawn(|| {
                sleep(DELAY);
                1u32
            });
            let y = raiser("test_wait_error");
            let hs = [x, y];
            let r = JoinAll::new().raise_error(true).wait(&hs);
            assert!(
                matches!(r, Err(Error::JoinFailed { index: 1, .. })),
                "{r:?}"
            );
            let r = JoinAll::new().raise_error(true).wait(&hs[1..]);
            assert!(
                matches!(r, Err(Error::JoinFailed { index: 0, .. })),
                "{r:?}"
            );
            let [x, _] = hs;
            x.join().unwrap();
        })
        .unwrap();
    }

    #[test]
    fn test_joinall_exception_order() {
        // If several fail, the earliest one is raised.
        run(|| {
            let a = spawn(|| -> u32 {
                sleep(Duration::from_millis(100));
                std::panic::panic_any(ExpectedError("first"))
            });
            let b = raiser("second");
            let hs = [a, b];
            match JoinAll::new().raise_error(true).wait(&hs) {
                Err(Error::JoinFailed { index, .. }) => {
                    assert_eq!(index, 1, "the second one failed first");
                }
                other => panic!("unexpected {other:?}"),
            }
            JoinAll::new().wait(&hs).unwrap();
        })
        .unwrap();
    }

    #[test]
    fn test_joinall_count_raise_error() {
        run(|| {
            let sleeper = spawn(|| -> u32 {
                loop {
                    sleep(Duration::from_millis(100));
                }
            });
            let raiser = raiser("count");
            let hs = [sleeper, raiser];
            JoinAll::new()
                .raise_error(false)
                .count(1)
                .wait(&hs)
                .unwrap();
            assert!(hs[1].is_dead());
            assert!(!hs[0].is_dead());
            hs[0].kill();
            assert!(hs[0].is_dead());
        })
        .unwrap();
    }

    #[test]
    fn test_multiple_listeners_error() {
        // A failing callback does not keep the others from running.
        run(|| {
            for p in [spawn(|| 5u32), raiser("test_multiple_listeners_error")] {
                let results = Rc::new(RefCell::new(Vec::new()));
                let r = results.clone();
                p.link(move |_| {
                    r.borrow_mut().push(10);
                    std::panic::panic_any(ExpectedError("listener1"));
                });
                let r = results.clone();
                p.link(move |_| {
                    r.borrow_mut().push(20);
                    std::panic::panic_any(ExpectedError("listener2"));
                });
                p.link(|_| std::panic::panic_any(ExpectedError("listener3")));
                sleep(DELAY * 10);
                assert_eq!(*results.borrow(), [10, 20]);
            }
        })
        .unwrap();
    }

    /// `_test_multiple_listeners_error_unlink`: listener 1 unlinks
    /// listener 2 and listener 2 unlinks listener 1: notification must not
    /// happen after unlink even though it has already started.
    fn multiple_listeners_error_unlink(link: fn(&Handle<u32>, Cb<u32>) -> LinkId) {
        run(move || {
            let p = spawn(|| 5u32);
            let results = Rc::new(RefCell::new(Vec::new()));
            let ids: Rc<RefCell<Vec<LinkId>>> = Rc::default();
            let (r, i) = (results.clone(), ids.clone());
            let l1 = link(
                &p,
                Box::new(move |end| {
                    end.unlink(i.borrow()[1]);
                    r.borrow_mut().push(5);
                    std::panic::panic_any(ExpectedError("listener1"));
                }),
            );
            let (r, i) = (results.clone(), ids.clone());
            let l2 = link(
                &p,
                Box::new(move |end| {
                    end.unlink(i.borrow()[0]);
                    r.borrow_mut().push(5);
                    std::panic::panic_any(ExpectedError("listener2"));
                }),
            );
            *ids.borrow_mut() = vec![l1, l2];
            link(
                &p,
                Box::new(|_| std::panic::panic_any(ExpectedError("listener3"))),
            );
            sleep(DELAY * 10);
            assert_eq!(*results.borrow(), [5]);
            p.kill();
        })
        .unwrap();
    }

    #[test]
    fn test_multiple_listeners_error_unlink_greenlet_link() {
        multiple_listeners_error_unlink(|p, f| p.link(f));
    }

    #[test]
    fn test_multiple_listeners_error_unlink_greenlet_rawlink() {
        multiple_listeners_error_unlink(|p, f| p.rawlink(f));
    }
}

/// gevent's `_DelayWaitMixin` / `AbstractGenericWaitTestCase` /
/// `AbstractGenericGetTestCase` tests, for a wait given as a closure that
/// takes the timeout.
mod generic_wait {
    use super::*;

    /// `test_outer_timeout_is_not_lost`: a Timeout started around a wait
    /// with a longer timeout of its own comes out of that wait.
    pub(super) fn test_outer_timeout_is_not_lost(wait: impl FnOnce(Duration) + 'static) {
        run(move || {
            let timeout = Timeout::start_new(Duration::from_millis(5)).unwrap();
            let r = timeout.catch(|| wait(Duration::from_secs(1)));
            assert!(
                matches!(r, Err(Error::Timeout(d)) if d == Duration::from_millis(5)),
                "{r:?}"
            );
        })
        .unwrap();
    }

    /// `_wait_and_check`: the wait returns after about `LARGE_TICK`
    /// (gevent's bounds are -LARGE_TICK/2..+2 s here, the machine being
    /// loaded), giving what it returned.
    pub(super) fn wait_and_check<R>(wait: impl FnOnce(Duration) -> R) -> R {
        let start = Instant::now();
        let r = wait(LARGE_TICK);
        let took = start.elapsed();
        assert!(took >= LARGE_TICK / 2, "returned too early: {took:?}");
        assert!(
            took < LARGE_TICK + Duration::from_secs(2),
            "too late: {took:?}"
        );
        r
    }
}

mod test_join {
    use super::generic_wait::*;
    use super::*;

    /// `g = spawn(sleep, 10); g.join(timeout)`.
    fn wait(timeout: Duration) -> Result<(), Error> {
        let g = spawn(|| sleep(Duration::from_secs(10)));
        let r = g.join_timeout(timeout);
        g.kill();
        r
    }

    #[test]
    fn test_outer_timeout_is_not_lost() {
        generic_wait::test_outer_timeout_is_not_lost(|t| {
            let _ = wait(t);
        });
    }

    #[test]
    fn test_returns_none_after_timeout() {
        // gevent's join returns None after its timeout; join_timeout
        // says so with Err(Timeout).
        run(|| {
            let r = wait_and_check(wait);
            assert!(matches!(r, Err(Error::Timeout(_))));
        })
        .unwrap();
    }
}

mod test_get {
    use super::generic_wait::*;
    use super::*;

    /// `g = spawn(sleep, 10); g.get(timeout=timeout)`.
    fn wait(timeout: Duration) -> Result<(), Error> {
        let g = spawn(|| sleep(Duration::from_secs(10)));
        let r = g.join_timeout(timeout);
        g.kill();
        r
    }

    #[test]
    fn test_outer_timeout_is_not_lost() {
        generic_wait::test_outer_timeout_is_not_lost(|t| {
            let _ = wait(t);
        });
    }

    #[test]
    fn test_raises_timeout_number() {
        run(|| {
            let start = Instant::now();
            assert!(matches!(wait(DELAY), Err(Error::Timeout(d)) if d == DELAY));
            assert!(start.elapsed() >= DELAY);
        })
        .unwrap();
    }

    #[test]
    fn test_raises_timeout_timeout() {
        // `g.get(timeout=Timeout(t))`: the Timeout object's own expiry.
        run(|| {
            let timeout = Timeout::new(LARGE_TICK);
            let r = wait_and_check(|_| timeout.run(|| wait(Duration::from_secs(3600))));
            assert!(
                matches!(r, Err(Error::Timeout(d)) if d == LARGE_TICK),
                "{r:?}"
            );
        })
        .unwrap();
    }
}

mod test_join_all0 {
    use super::generic_wait::*;
    use super::*;

    /// `joinall([g], timeout)` for a green thread that never finishes
    /// (gevent: one never started).
    fn wait(timeout: Duration) -> Vec<usize> {
        let g = spawn(|| bingfa_green::block_on(std::future::pending::<()>()));
        let r = JoinAll::new().timeout(timeout).wait([&g]).unwrap();
        g.kill();
        r
    }

    #[test]
    fn test_outer_timeout_is_not_lost() {
        generic_wait::test_outer_timeout_is_not_lost(|t| {
            wait(t);
        });
    }

    #[test]
    fn test_returns_none_after_timeout() {
        run(|| assert!(wait_and_check(wait).is_empty())).unwrap();
    }
}

mod test_join_all {
    use super::generic_wait::*;
    use super::*;

    /// `g = spawn(sleep, 10); joinall([g], timeout)`.
    fn wait(timeout: Duration) -> Vec<usize> {
        let g = spawn(|| sleep(Duration::from_secs(10)));
        let r = JoinAll::new().timeout(timeout).wait([&g]).unwrap();
        g.kill();
        r
    }

    #[test]
    fn test_outer_timeout_is_not_lost() {
        generic_wait::test_outer_timeout_is_not_lost(|t| {
            wait(t);
        });
    }

    #[test]
    fn test_returns_none_after_timeout() {
        run(|| assert!(wait_and_check(wait).is_empty())).unwrap();
    }
}

mod test_basic {
    use super::*;

    #[test]
    fn test_simple_exit() {
        run(|| {
            let link_test = Rc::new(RefCell::new(Vec::new()));
            let g = spawn(|| {
                sleep(DELAY);
                5u32
            });
            let l = link_test.clone();
            g.rawlink(move |end| l.borrow_mut().push(end.name().to_owned()));
            // (spawn starts it: gevent's not-started states do not exist.)
            assert!(!g.is_dead());
            assert!(!g.successful());
            assert_eq!(g.value(), None);
            sleep(Duration::from_millis(1));
            assert!(!g.is_dead());
            assert!(!g.successful());
            assert_eq!(g.value(), None);
            assert!(link_test.borrow().is_empty());
            sleep(DELAY * 2);
            assert!(g.is_dead());
            assert!(g.successful());
            assert_eq!(g.value(), Some(5));
            assert_eq!(*link_test.borrow(), [g.name()]);
        })
        .unwrap();
    }

    #[test]
    fn test_error_exit() {
        #[derive(Debug)]
        struct WithAttr {
            myattr: u32,
        }
        run(|| {
            let link_test = Rc::new(RefCell::new(Vec::new()));
            let g = spawn(|| -> u32 {
                sleep(Duration::from_millis(1));
                std::panic::panic_any(WithAttr { myattr: 5 })
            });
            let l = link_test.clone();
            g.rawlink(move |end| l.borrow_mut().push(end.name().to_owned()));
            yield_now();
            sleep(LARGE_TICK);
            assert!(g.is_dead());
            assert!(!g.successful());
            assert_eq!(g.value(), None);
            assert_eq!(*link_test.borrow(), [g.name()]);
            match g.join() {
                Err(Error::Panicked { payload, .. }) => {
                    assert_eq!(payload.with(|e: &WithAttr| e.myattr), Some(5));
                }
                other => panic!("unexpected {other:?}"),
            }
        })
        .unwrap();
    }
}

/// gevent's `TestKill` and its subclasses: `_do_test(block, killall, exc)`.
mod kill {
    use super::*;

    /// When the green thread is killed.
    #[derive(Clone, Copy)]
    pub(super) enum When {
        /// Before it first runs (gevent: not started, started, or started
        /// later: `spawn` starts it, and it has not run yet).
        BeforeItRuns,
        /// While it sleeps.
        WhileRunning,
    }

    /// What the kill raises.
    #[derive(Clone, Copy)]
    pub(super) enum Raises {
        /// `GreenletExit`, the default.
        Exit,
        /// `Exception()`.
        Exception,
        /// `42`, not an exception at all (any payload is fine here).
        NotAnException,
    }

    #[derive(Debug, PartialEq)]
    struct AnException;

    pub(super) fn do_test(when: When, block: bool, killall_: bool, exc: Raises) {
        run(move || {
            let result = Rc::new(RefCell::new(Vec::new()));
            let link_test = Rc::new(RefCell::new(Vec::new()));
            let r = result.clone();
            let g = Builder::new()
                .name("victim")
                .spawn(move || {
                    if matches!(when, When::WhileRunning) {
                        sleep(Duration::from_secs(10));
                    }
                    r.borrow_mut().push(1);
                })
                .unwrap();
            let l = link_test.clone();
            g.link(move |end| l.borrow_mut().push(describe(end)));
            if matches!(when, When::WhileRunning) {
                yield_now();
            }
            let killer = || match (exc, killall_, block) {
                (Raises::Exit, false, true) => g.kill(),
                (Raises::Exit, false, false) => g.kill_nowait(),
                (Raises::Exit, true, true) => killall([&g]),
                (Raises::Exit, true, false) => g.kill_nowait(),
                (Raises::Exception, false, true) => g.kill_with(AnException),
                (Raises::NotAnException, false, true) => g.kill_with(42u32),
                // gevent's killall(exception=...): a kill_with each.
                (Raises::Exception, true, true) => {
                    g.kill_nowait_with(AnException);
                    JoinAll::new().wait([&g]).unwrap();
                }
                (Raises::NotAnException, true, true) => {
                    g.kill_nowait_with(42u32);
                    JoinAll::new().wait([&g]).unwrap();
                }
                (Raises::Exception, _, false) => g.kill_nowait_with(AnException),
                (Raises::NotAnException, _, false) => g.kill_nowait_with(42u32),
            };
            killer();
            if !block {
                // Must spin the loop to take effect.
                sleep(Duration::from_millis(1));
            }
            let assert_killed = || {
                assert!(g.is_dead());
                assert!(!g.successful(), "killed: Err, whatever the error");
                assert_eq!(g.value(), None);
            };
            assert_killed();
            sleep(DELAY); // spin the loop to make sure it does not run
            assert_killed();
            // A second kill must not hurt.
            killer();
            assert_killed();
            assert!(result.borrow().is_empty(), "it never got past its start");
            let expected = match exc {
                Raises::Exit => "GreenletExit".to_owned(),
                _ => "killed with".to_owned(),
            };
            assert_eq!(link_test.borrow().len(), 1, "linked once");
            assert!(
                link_test.borrow()[0].starts_with(&expected),
                "{:?}",
                link_test.borrow()
            );
            match (exc, g.join()) {
                (Raises::Exit, Err(Error::Killed)) => {}
                (Raises::Exception, Err(Error::Panicked { payload, .. })) => {
                    assert!(payload.is::<AnException>());
                }
                (Raises::NotAnException, Err(Error::Panicked { payload, .. })) => {
                    assert_eq!(payload.downcast::<u32>().unwrap(), 42);
                }
                (_, other) => panic!("unexpected {other:?}"),
            }
        })
        .unwrap();
    }
}

macro_rules! kill_tests {
    ($module:ident, $when:expr) => {
        mod $module {
            use super::kill::{do_test, Raises, When};

            #[test]
            fn test_block() {
                do_test($when, true, false, Raises::Exit);
            }
            #[test]
            fn test_non_block() {
                do_test($when, false, false, Raises::Exit);
            }
            #[test]
            fn test_block_killall() {
                do_test($when, true, true, Raises::Exit);
            }
            #[test]
            fn test_non_block_killal() {
                do_test($when, false, true, Raises::Exit);
            }
            #[test]
            fn test_non_type_exception() {
                do_test($when, true, false, Raises::Exception);
            }
            #[test]
            fn test_non_type_exception_non_block() {
                do_test($when, false, false, Raises::Exception);
            }
            #[test]
            fn test_non_type_exception_killall() {
                do_test($when, true, true, Raises::Exception);
            }
            #[test]
            fn test_non_type_exception_killall_non_block() {
                do_test($when, false, true, Raises::Exception);
            }
            #[test]
            fn test_non_exc_exception() {
                do_test($when, true, false, Raises::NotAnException);
            }
            #[test]
            fn test_non_exc_exception_non_block() {
                do_test($when, false, false, Raises::NotAnException);
            }
            #[test]
            fn test_non_exc_exception_killall() {
                do_test($when, true, true, Raises::NotAnException);
            }
            #[test]
            fn test_non_exc_exception_killall_non_block() {
                do_test($when, false, true, Raises::NotAnException);
            }
        }
    };
}

kill_tests!(test_kill, When::BeforeItRuns);
kill_tests!(test_kill_after_start, When::BeforeItRuns);
kill_tests!(test_kill_after_start_later, When::BeforeItRuns);
kill_tests!(test_kill_while_running, When::WhileRunning);

mod test_killall_raw_greenlet {
    use super::*;

    #[test]
    fn test_killall_raw() {
        run(|| {
            let g = spawn(|| 1u32);
            yield_now();
            killall([&g]);
            assert_eq!(g.join().unwrap(), 1, "a finished one is left as it is");
        })
        .unwrap();
    }
}

mod test_ref {
    use super::*;

    #[test]
    fn test_kill_scheduled() {
        run(|| spawn(|| sleep(LARGE_TICK)).kill()).unwrap();
    }

    #[test]
    fn test_kill_started() {
        run(|| {
            let g = spawn(|| sleep(LARGE_TICK));
            sleep(Duration::from_millis(1));
            g.kill();
            assert!(matches!(g.join(), Err(Error::Killed)));
        })
        .unwrap();
    }
}
