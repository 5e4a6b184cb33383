//! gevent's `src/gevent/tests/test__queue.py`, ported one test per upstream
//! test, named after it with the upstream class as a prefix (the same test
//! runs on several queue kinds upstream, through mixins and subclasses).
//!
//! Upstream: repository gevent/gevent, file `src/gevent/tests/test__queue.py`,
//! read at revision 04752c48d92ffadb100fe3e8fac7d6e7a9524616 (gevent
//! 26.5.0+; last change to the file afb63b76); the timing checks of
//! `AbstractGenericGetTestCase` from `src/gevent/testing/timing.py` at the
//! same revision. Licence: MIT, Copyright (c) 2009-2015 Denis Bilenko and
//! the gevent contributors. `PARITY-sync.md` lists every upstream test.
//!
//! Kinds: gevent's `SimpleQueue` and `Queue` (the joinable one) are both
//! [`Queue`] here (it counts tasks); `LifoQueue`, `PriorityQueue` and
//! `Channel` have their own types. Upstream calls some methods "from the
//! hub" (`loop.run_callback`); a Rust program has no code on the hub, so
//! those calls run in the main green thread, which is what they check:
//! that the call does not block.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bingfa_green::sync::{AsyncResult, Channel, LifoQueue, PriorityQueue, PutError, Queue};
use bingfa_green::{joinall, run, sleep, spawn, with_timeout, Error, Timeout};

/// A bound no correct run comes near on a loaded machine.
const GENEROUS: Duration = Duration::from_secs(5);
const SMALL_TICK: Duration = Duration::from_millis(10);

/// What the tests need of a queue kind.
trait Kind: Sized + 'static {
    /// gevent's `_makeOne(maxsize)`; a channel takes none.
    fn make(maxsize: Option<usize>) -> Self;
    fn put(&self, v: i32) -> Result<(), PutError<i32>>;
    fn try_put(&self, v: i32) -> Result<(), PutError<i32>>;
    fn put_timeout(&self, v: i32, t: Duration) -> Result<(), PutError<i32>>;
    fn get(&self) -> Result<i32, Error>;
    fn try_get(&self) -> Result<i32, Error>;
    fn get_timeout(&self, t: Duration) -> Result<i32, Error>;
    fn is_full(&self) -> bool;
    fn is_empty(&self) -> bool;
    /// Whether a put can succeed with no getter waiting (gevent's
    /// `SUPPORTS_PUTTING_WITHOUT_GETTING`).
    const BUFFERS: bool = true;
}

macro_rules! kind {
    ($t:ident, $make:expr, $buffers:expr) => {
        impl Kind for $t<i32> {
            fn make(maxsize: Option<usize>) -> Self {
                ($make)(maxsize)
            }
            fn put(&self, v: i32) -> Result<(), PutError<i32>> {
                $t::put(self, v)
            }
            fn try_put(&self, v: i32) -> Result<(), PutError<i32>> {
                $t::try_put(self, v)
            }
            fn put_timeout(&self, v: i32, t: Duration) -> Result<(), PutError<i32>> {
                $t::put_timeout(self, v, t)
            }
            fn get(&self) -> Result<i32, Error> {
                $t::get(self)
            }
            fn try_get(&self) -> Result<i32, Error> {
                $t::try_get(self)
            }
            fn get_timeout(&self, t: Duration) -> Result<i32, Error> {
                $t::get_timeout(self, t)
            }
            fn is_full(&self) -> bool {
                $t::is_full(self)
            }
            fn is_empty(&self) -> bool {
                $t::is_empty(self)
            }
            const BUFFERS: bool = $buffers;
        }
    };
}

kind!(
    Queue,
    |m: Option<usize>| m.map_or_else(Queue::new, Queue::bounded),
    true
);
kind!(
    LifoQueue,
    |m: Option<usize>| m.map_or_else(LifoQueue::new, LifoQueue::bounded),
    true
);
kind!(
    PriorityQueue,
    |m: Option<usize>| m.map_or_else(PriorityQueue::new, PriorityQueue::bounded),
    true
);
kind!(Channel, |_| Channel::new(), false);

/// One `#[test]` per kind for a generic test body.
macro_rules! for_kinds {
    ($body:ident: $($test:ident => $kind:ty),* $(,)?) => {$(
        #[test]
        fn $test() {
            $body::<$kind>();
        }
    )*};
}

// ---- UsesOnlyOneItemMixin (TestSimpleQueue, TestQueue, TestChannel) ----

fn put_nowait_simple<Q: Kind>() {
    run(|| {
        let q = Q::make(Some(1));
        let r1 = q.try_put(2);
        let r2 = q.try_put(3);
        if Q::BUFFERS {
            assert!(r1.is_ok(), "{r1:?}");
        } else {
            assert!(r1.unwrap_err().is_full());
        }
        assert!(r2.unwrap_err().is_full());
    })
    .unwrap();
}
for_kinds!(put_nowait_simple:
    simple_queue_test_put_nowait_simple => Queue<i32>,
    queue_test_put_nowait_simple => Queue<i32>,
    channel_test_put_nowait_simple => Channel<i32>,
);

/// `put_nowait` wakes a blocked getter without blocking the putter.
fn put_nowait_unlock<Q: Kind>() {
    run(|| {
        let q = Rc::new(Q::make(None));
        let q2 = q.clone();
        let p = spawn(move || q2.get());
        assert!(q.is_empty());
        assert_eq!(q.is_full(), !Q::BUFFERS);
        sleep(Duration::from_millis(1));
        assert!(q.is_empty());
        assert_eq!(q.is_full(), !Q::BUFFERS);
        q.try_put(10).unwrap();
        assert!(!p.is_dead());
        sleep(Duration::from_millis(1));
        assert!(p.is_dead());
        assert_eq!(p.join().unwrap().unwrap(), 10);
        assert_eq!(q.is_full(), !Q::BUFFERS);
        assert!(q.is_empty());
    })
    .unwrap();
}
for_kinds!(put_nowait_unlock:
    simple_queue_test_put_nowait_unlock => Queue<i32>,
    queue_test_put_nowait_unlock => Queue<i32>,
    channel_test_put_nowait_unlock => Channel<i32>,
);

/// Upstream's `Timeout(0.1)` around the getter becomes a generous one.
fn send_last<Q: Kind>() {
    run(|| {
        let q = Rc::new(Q::make(None));
        let q2 = q.clone();
        let p = spawn(move || {
            Timeout::new(GENEROUS)
                .run(|| assert_eq!(q2.get().unwrap(), 42))
                .unwrap();
            "OK"
        });
        sleep(SMALL_TICK);
        q.put(42).unwrap();
        sleep(SMALL_TICK);
        assert!(p.is_dead());
        assert_eq!(p.join().unwrap(), "OK");
    })
    .unwrap();
}
for_kinds!(send_last:
    simple_queue_test_send_last => Queue<i32>,
    queue_test_send_last => Queue<i32>,
    channel_test_send_last => Channel<i32>,
);

// test_init_and_bottleneck_methods, test_subscript,
// test_subclass_assign_queue: n/a (Python subclass hooks and generic
// aliases), see PARITY-sync.md.

// ---- TestSimpleQueue (and TestQueue, which inherits it) ----

fn get_nowait_simple<Q: Kind>() {
    run(|| {
        let q = Q::make(Some(1));
        q.put(4).unwrap();
        assert_eq!(q.try_get().unwrap(), 4);
        assert!(matches!(q.try_get(), Err(Error::Empty)));
    })
    .unwrap();
}
for_kinds!(get_nowait_simple:
    simple_queue_test_get_nowait_simple => Queue<i32>,
    queue_test_get_nowait_simple => Queue<i32>,
);

/// `get_nowait` lets a blocked putter in.
fn get_nowait_unlock<Q: Kind>() {
    run(|| {
        let q = Rc::new(Q::make(Some(1)));
        let q2 = q.clone();
        let p = spawn(move || q2.put(5));
        assert!(q.is_empty());
        sleep(Duration::ZERO);
        assert!(q.is_full());
        assert_eq!(q.try_get().unwrap(), 5);
        sleep(Duration::ZERO);
        assert!(q.is_empty());
        assert!(p.is_dead());
        p.join().unwrap().unwrap();
    })
    .unwrap();
}
for_kinds!(get_nowait_unlock:
    simple_queue_test_get_nowait_unlock => Queue<i32>,
    queue_test_get_nowait_unlock => Queue<i32>,
);

fn send_first() {
    let q = Queue::new();
    q.put("hi").unwrap();
    assert_eq!(q.try_peek().unwrap(), "hi");
    assert_eq!(q.try_get().unwrap(), "hi");
}

#[test]
fn simple_queue_test_send_first() {
    send_first();
}

#[test]
fn queue_test_send_first() {
    send_first();
}

/// Upstream: a `peek` in the main greenlet with nobody to put raises
/// `LoopExit`; here the non-blocking `try_peek` reports `Empty` (a hub
/// with nothing left to wake its waiter is the hub's business, not the
/// queue's). A timed peek in another green thread fails after its
/// timeout.
fn peek_empty() {
    run(|| {
        let q: Rc<Queue<i32>> = Rc::new(Queue::new());
        assert!(matches!(q.try_peek(), Err(Error::Empty)));
        let q2 = q.clone();
        let g = spawn(move || {
            assert!(matches!(
                q2.peek_timeout(SMALL_TICK),
                Err(Error::Timeout(t)) if t == SMALL_TICK
            ));
        });
        sleep(Duration::from_millis(100));
        g.join().unwrap();
    })
    .unwrap();
}

#[test]
fn simple_queue_test_peek_empty() {
    peek_empty();
}

#[test]
fn queue_test_peek_empty() {
    peek_empty();
}

fn peek_multi_greenlet() {
    run(|| {
        let q: Rc<Queue<i32>> = Rc::new(Queue::new());
        let q2 = q.clone();
        let g = spawn(move || q2.peek());
        sleep(Duration::ZERO);
        q.put(1).unwrap();
        assert_eq!(g.join().unwrap().unwrap(), 1);
        assert_eq!(q.try_peek().unwrap(), 1);
        assert_eq!(q.len(), 1, "peek takes nothing");
    })
    .unwrap();
}

#[test]
fn simple_queue_test_peek_multi_greenlet() {
    peek_multi_greenlet();
}

#[test]
fn queue_test_peek_multi_greenlet() {
    peek_multi_greenlet();
}

fn max_size<Q: Kind>() {
    run(|| {
        let q = Rc::new(Q::make(Some(2)));
        let results = Rc::new(RefCell::new(Vec::new()));
        let (q2, r2) = (q.clone(), results.clone());
        let p = spawn(move || {
            for v in [1, 2, 3] {
                q2.put(v).unwrap();
                r2.borrow_mut().push(v);
            }
            "OK"
        });
        sleep(Duration::ZERO);
        assert_eq!(*results.borrow(), [1, 2]);
        assert_eq!(q.get().unwrap(), 1);
        sleep(Duration::ZERO);
        assert_eq!(*results.borrow(), [1, 2, 3]);
        assert_eq!(q.get().unwrap(), 2);
        assert_eq!(q.get().unwrap(), 3);
        assert!(p.is_dead());
        assert_eq!(p.join().unwrap(), "OK");
    })
    .unwrap();
}
for_kinds!(max_size:
    simple_queue_test_max_size => Queue<i32>,
    queue_test_max_size => Queue<i32>,
);

/// Four getters blocked; each put releases exactly one more of them.
fn multiple_waiters<Q: Kind>() {
    run(|| {
        let q = Rc::new(Q::make(None));
        let evts: Vec<Rc<AsyncResult<i32>>> = (0..4).map(|_| Rc::new(AsyncResult::new())).collect();
        for e in &evts {
            let (q, e) = (q.clone(), e.clone());
            spawn(move || e.set(q.get().unwrap()));
        }
        sleep(SMALL_TICK);
        let collect = || {
            sleep(Duration::from_millis(1));
            let mut got: Vec<i32> = evts.iter().filter_map(|e| e.value()).collect();
            got.sort_unstable();
            got
        };
        q.put(1).unwrap();
        assert_eq!(collect(), [1]);
        q.put(2).unwrap();
        assert_eq!(collect(), [1, 2]);
        q.put(3).unwrap();
        q.put(4).unwrap();
        assert_eq!(collect(), [1, 2, 3, 4]);
    })
    .unwrap();
}
for_kinds!(multiple_waiters:
    simple_queue_test_multiple_waiters => Queue<i32>,
    queue_test_multiple_waiters => Queue<i32>,
);

/// A getter under `Timeout(0)`: the timeout fires, and the get leaves
/// nothing behind that would eat the item put later.
fn do_receive<Q: Kind>(q: &Q) -> Result<i32, &'static str> {
    match Timeout::new(Duration::ZERO).run(|| q.get()) {
        Ok(Ok(v)) => Ok(v),
        Err(Error::Timeout(_)) => Err("timed out"),
        other => panic!("{other:?}"),
    }
}

fn waiters_that_cancel<Q: Kind>() {
    run(|| {
        let q = Rc::new(Q::make(None));
        let q2 = q.clone();
        let evt = spawn(move || do_receive(&*q2));
        assert_eq!(evt.join().unwrap(), Err("timed out"));
        q.try_put(7).unwrap();
        assert_eq!(q.get().unwrap(), 7);
    })
    .unwrap();
}
for_kinds!(waiters_that_cancel:
    simple_queue_test_waiters_that_cancel => Queue<i32>,
    queue_test_waiters_that_cancel => Queue<i32>,
);

fn senders_that_die<Q: Kind>() {
    run(|| {
        let q = Rc::new(Q::make(None));
        let q2 = q.clone();
        spawn(move || q2.put(8));
        assert_eq!(q.get().unwrap(), 8);
    })
    .unwrap();
}
for_kinds!(senders_that_die:
    simple_queue_test_senders_that_die => Queue<i32>,
    queue_test_senders_that_die => Queue<i32>,
);

fn two_waiters_one_dies<Q: Kind>() {
    run(|| {
        let q = Rc::new(Q::make(None));
        let q1 = q.clone();
        let dying = spawn(move || do_receive(&*q1));
        let q2 = q.clone();
        let waiting = spawn(move || q2.get());
        sleep(Duration::from_millis(100));
        q.put(9).unwrap();
        assert_eq!(dying.join().unwrap(), Err("timed out"));
        assert_eq!(waiting.join().unwrap().unwrap(), 9);
    })
    .unwrap();
}
for_kinds!(two_waiters_one_dies:
    simple_queue_test_two_waiters_one_dies => Queue<i32>,
    queue_test_two_waiters_one_dies => Queue<i32>,
);

fn two_bogus_waiters<Q: Kind>() {
    run(|| {
        let q = Rc::new(Q::make(None));
        let (q1, q2) = (q.clone(), q.clone());
        let e1 = spawn(move || do_receive(&*q1));
        let e2 = spawn(move || do_receive(&*q2));
        sleep(Duration::from_millis(100));
        q.put(10).unwrap();
        assert_eq!(e1.join().unwrap(), Err("timed out"));
        assert_eq!(e2.join().unwrap(), Err("timed out"));
        assert_eq!(q.get().unwrap(), 10);
    })
    .unwrap();
}
for_kinds!(two_bogus_waiters:
    simple_queue_test_two_bogus_waiters => Queue<i32>,
    queue_test_two_bogus_waiters => Queue<i32>,
);

// ---- TestChannel ----

/// `get_nowait` takes the item of a blocked putter, which then goes on.
#[test]
fn test_get_nowait_unlock_channel() {
    run(|| {
        let q = Rc::new(Channel::new());
        let q2 = q.clone();
        let p = spawn(move || q2.put(5));
        assert!(q.is_empty() && q.is_full());
        sleep(Duration::from_millis(1));
        assert!(q.is_empty() && q.is_full());
        assert_eq!(q.balance(), 1);
        assert_eq!(q.try_get().unwrap(), 5);
        sleep(Duration::from_millis(1));
        assert!(q.is_empty() && q.is_full());
        assert!(p.is_dead());
        p.join().unwrap().unwrap();
    })
    .unwrap();
}

#[test]
fn test_zero_max_size() {
    run(|| {
        let q = Rc::new(Channel::new());
        let (e1, e2): (Rc<AsyncResult<&str>>, Rc<AsyncResult<&str>>) =
            (Rc::new(AsyncResult::new()), Rc::new(AsyncResult::new()));
        let (qs, es) = (q.clone(), e1.clone());
        let p1 = spawn(move || {
            qs.put("hi").unwrap();
            es.set("done");
        });
        sleep(Duration::from_millis(1));
        assert!(!e1.ready(), "the put waits for a getter");
        let (qr, er) = (q.clone(), e2.clone());
        let p2 = spawn(move || er.set(qr.get().unwrap()));
        assert_eq!(e2.get().unwrap(), "hi");
        assert_eq!(e1.get().unwrap(), "done");
        Timeout::new(Duration::ZERO)
            .run(|| joinall([&p1, &p2]))
            .expect("both finished");
    })
    .unwrap();
}

#[test]
fn test_send() {
    run(|| {
        let channel = Rc::new(Channel::new());
        let events = Rc::new(RefCell::new(Vec::new()));
        let (c, ev) = (channel.clone(), events.clone());
        let g = spawn(move || {
            let a = c.get().unwrap();
            ev.borrow_mut().push(a);
            let b = c.get().unwrap();
            ev.borrow_mut().push(b);
        });
        events.borrow_mut().push("sending");
        channel.put("hello").unwrap();
        events.borrow_mut().push("sent hello");
        channel.put("world").unwrap();
        events.borrow_mut().push("sent world");
        assert_eq!(
            *events.borrow(),
            ["sending", "hello", "sent hello", "world", "sent world"]
        );
        g.join().unwrap();
    })
    .unwrap();
}

#[test]
fn test_wait() {
    run(|| {
        let channel = Rc::new(Channel::new());
        let events = Rc::new(RefCell::new(Vec::new()));
        let (c, ev) = (channel.clone(), events.clone());
        let g = spawn(move || {
            ev.borrow_mut().push("sending hello");
            c.put("hello").unwrap();
            ev.borrow_mut().push("sending world");
            c.put("world").unwrap();
            ev.borrow_mut().push("sent world");
        });
        events.borrow_mut().push("waiting");
        let a = channel.get().unwrap();
        events.borrow_mut().push(a);
        let b = channel.get().unwrap();
        events.borrow_mut().push(b);
        assert_eq!(
            *events.borrow(),
            [
                "waiting",
                "sending hello",
                "hello",
                "sending world",
                "world"
            ]
        );
        sleep(Duration::ZERO);
        assert_eq!(
            *events.borrow(),
            [
                "waiting",
                "sending hello",
                "hello",
                "sending world",
                "world",
                "sent world"
            ]
        );
        g.join().unwrap();
    })
    .unwrap();
}

/// Upstream ends the iteration by putting `StopIteration`; here by
/// closing the channel.
#[test]
fn test_iterable() {
    run(|| {
        let channel: Rc<Channel<i32>> = Rc::new(Channel::new());
        let c = channel.clone();
        spawn(move || c.close());
        let r: Vec<i32> = channel.iter().collect();
        assert!(r.is_empty());
    })
    .unwrap();
}

// ---- TestQueue ----

#[test]
fn test_task_done() {
    run(|| {
        let channel = Rc::new(Queue::new());
        let c = channel.clone();
        spawn(move || c.put("X"));
        assert_eq!(channel.get().unwrap(), "X");
        assert_eq!(channel.unfinished_tasks(), 1);
        channel.task_done().unwrap();
        assert_eq!(channel.unfinished_tasks(), 0);
    })
    .unwrap();
}

/// Python 3.13's `shutdown(immediate)` is `close()` / `close_immediate()`.
fn shutdown_all_methods_in_one_thread(immediate: bool) {
    run(move || {
        let q = Queue::new();
        q.put('L').unwrap();
        q.try_put('O').unwrap();
        let drained = if immediate {
            q.close_immediate()
        } else {
            q.close();
            Vec::new()
        };
        assert!(q.put('E').unwrap_err().is_closed());
        assert!(q.try_put('W').unwrap_err().is_closed());
        if immediate {
            assert_eq!(drained, ['L', 'O'], "handed back (Python drops them)");
            assert!(matches!(q.get(), Err(Error::Closed)));
            assert!(matches!(q.try_get(), Err(Error::Closed)));
            assert!(matches!(q.task_done(), Err(Error::TaskDone)));
            q.join();
        } else {
            assert!("LO".contains(q.get().unwrap()));
            q.task_done().unwrap();
            assert!("LO".contains(q.get().unwrap()));
            q.task_done().unwrap();
            q.join();
            assert!(matches!(q.get(), Err(Error::Closed)));
            assert!(matches!(q.try_get(), Err(Error::Closed)));
            assert!(matches!(
                q.get_timeout(Duration::from_secs(1)),
                Err(Error::Closed)
            ));
        }
    })
    .unwrap();
}

#[test]
fn test_shutdown_all_methods_in_one_thread() {
    shutdown_all_methods_in_one_thread(false);
}

#[test]
fn test_shutdown_immediate_all_methods_in_one_thread() {
    shutdown_all_methods_in_one_thread(true);
}

/// `join` returns at once when nothing was put.
#[test]
fn test_issue_45() {
    let q: Queue<i32> = Queue::new();
    q.join();
}

// ---- TestGetInterrupt* and TestPutInterrupt* (AbstractGenericGetTestCase) ----

/// Checks that `f(timeout)` took at least `timeout` and not absurdly long.
fn wait_and_check<R>(timeout: Duration, f: impl FnOnce(Duration) -> R) -> R {
    let start = Instant::now();
    let r = f(timeout);
    let took = start.elapsed();
    assert!(took >= timeout, "returned early: {took:?}");
    assert!(took < timeout + GENEROUS, "took {took:?}");
    r
}

/// The blocking call each interrupt class makes: a get on an empty queue,
/// or a put on a full one (upstream's `TestPutInterrupt.wait` fills the
/// queue first).
fn interrupt_wait<Q: Kind>(q: &Q, put: bool, timeout: Duration) -> Result<(), Error> {
    if put {
        while !q.is_full() {
            q.put(1).unwrap();
        }
        q.put_timeout(2, timeout).map_err(|e| e.error)
    } else {
        q.get_timeout(timeout).map(|_| ())
    }
}

fn make_interrupt<Q: Kind>(put: bool) -> Q {
    // Upstream's put tests use a queue of 1 (a channel takes none).
    Q::make(put.then_some(1))
}

fn outer_timeout_is_not_lost<Q: Kind>(put: bool) {
    run(move || {
        let q = make_interrupt::<Q>(put);
        let outer = Duration::from_millis(1);
        let r = Timeout::new(outer).run(|| interrupt_wait(&q, put, Duration::from_secs(1)));
        assert!(matches!(r, Err(Error::Timeout(d)) if d == outer), "{r:?}");
    })
    .unwrap();
}

fn raises_timeout_number<Q: Kind>(put: bool) {
    run(move || {
        let q = make_interrupt::<Q>(put);
        let r = wait_and_check(SMALL_TICK, |t| interrupt_wait(&q, put, t));
        assert!(
            matches!(r, Err(Error::Timeout(d)) if d == SMALL_TICK),
            "{r:?}"
        );
    })
    .unwrap();
}

/// The timeout given as a `Timeout` object around the call (upstream's
/// `_default_wait_timeout` for this class, `SMALL_TICK`).
fn raises_timeout_timeout<Q: Kind>(put: bool) {
    run(move || {
        let q = make_interrupt::<Q>(put);
        let r = wait_and_check(SMALL_TICK, |t| {
            Timeout::new(t).run(|| interrupt_wait(&q, put, Duration::from_secs(3600)))
        });
        assert!(
            matches!(r, Err(Error::Timeout(d)) if d == SMALL_TICK),
            "{r:?}"
        );
    })
    .unwrap();
}

/// Upstream's `Timeout(t, exception=error)`: the caller maps the timeout
/// to its own error.
fn raises_timeout_timeout_exc_customized<Q: Kind>(put: bool) {
    #[derive(Debug, PartialEq)]
    struct Expected;
    run(move || {
        let q = make_interrupt::<Q>(put);
        let r = wait_and_check(SMALL_TICK, |t| {
            with_timeout(t, || interrupt_wait(&q, put, Duration::from_secs(3600)))
                .map_err(|_| Expected)
        });
        assert_eq!(r.map(|_| ()), Err(Expected));
    })
    .unwrap();
}

macro_rules! interrupt_class {
    ($prefix:ident, $kind:ty, $put:expr) => {
        mod $prefix {
            use super::*;

            #[test]
            fn test_outer_timeout_is_not_lost() {
                outer_timeout_is_not_lost::<$kind>($put);
            }

            #[test]
            fn test_raises_timeout_number() {
                raises_timeout_number::<$kind>($put);
            }

            #[test]
            fn test_raises_timeout_timeout() {
                raises_timeout_timeout::<$kind>($put);
            }

            #[test]
            fn test_raises_timeout_timeout_exc_customized() {
                raises_timeout_timeout_exc_customized::<$kind>($put);
            }

            /// Upstream checks weak references work; `Rc`'s do.
            #[test]
            fn test_weak_reference() {
                let one = Rc::new(make_interrupt::<$kind>($put));
                let r = Rc::downgrade(&one);
                assert!(Rc::ptr_eq(&one, &r.upgrade().unwrap()));
            }
        }
    };
}

interrupt_class!(get_interrupt, Queue<i32>, false);
interrupt_class!(get_interrupt_joinable_queue, Queue<i32>, false);
interrupt_class!(get_interrupt_lifo_queue, LifoQueue<i32>, false);
interrupt_class!(get_interrupt_priority_queue, PriorityQueue<i32>, false);
interrupt_class!(get_interrupt_channel, Channel<i32>, false);
interrupt_class!(get_interrupt_simple_queue, Queue<i32>, false);
interrupt_class!(put_interrupt, Queue<i32>, true);
interrupt_class!(put_interrupt_joinable_queue, Queue<i32>, true);
interrupt_class!(put_interrupt_lifo_queue, LifoQueue<i32>, true);
interrupt_class!(put_interrupt_priority_queue, PriorityQueue<i32>, true);
interrupt_class!(put_interrupt_channel, Channel<i32>, true);
