//! Ported from CPython's `Lib/test/_test_multiprocessing.py`, class
//! `_TestQueue` (CPython main, commit
//! 00811485ee5ffa6d719cd4058ba3651ee9cd207b, the 3.15 development branch).
//! Copyright (c) 2001-2025 Python Software Foundation; licensed under the
//! PSF License Agreement, version 2 (PSF-2.0).
//!
//! One Rust test per upstream test, named after it; see the crate's
//! `PARITY.md` for the ones not ported and why. Python's `put(x, False)` /
//! `put_nowait` are `try_put` here, `put(x, True, t)` is `put_timeout`,
//! `shutdown()` is `close`, `shutdown(immediate=True)` is
//! `close_immediate`, and `queue.ShutDown` / `ValueError('Queue is
//! closed')` are `Error::Closed`. Upstream's queues are unbounded unless
//! given a size; these always have a capacity, chosen larger than the test
//! needs. Timing checks are loose (upstream checks none by default).

use std::time::{Duration, Instant};

use bingfa_process::{Error, Event, ExitStatus, JoinableQueue, Process, Queue};
use serde::{Serialize, Serializer};

const LONG: Duration = Duration::from_secs(60);
const TIMEOUT1: Duration = Duration::from_millis(100);
const TIMEOUT3: Duration = Duration::from_millis(100);
const DELTA: Duration = Duration::from_millis(100);

/// Upstream's `_TestQueue`.
mod _test_queue {
    use super::*;

    fn ok(p: &Process) {
        assert_eq!(
            p.join().unwrap(),
            ExitStatus::Code(0),
            "{:?}",
            p.panic_message()
        );
    }

    /// Runs `f`; returns its result and how long it took.
    fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
        let t = Instant::now();
        let r = f();
        (r, t.elapsed())
    }

    #[test]
    fn test_put() {
        const MAXSIZE: usize = 6;
        let queue = Queue::<u32>::new(MAXSIZE).unwrap();
        let child_can_start = Event::new().unwrap();
        let parent_can_continue = Event::new().unwrap();
        let proc = bingfa_process::Builder::new()
            .daemon(true)
            .fork(|| {
                child_can_start.wait();
                for _ in 0..6 {
                    queue.get().unwrap();
                }
                parent_can_continue.set();
            })
            .unwrap();

        assert!(queue.is_empty());
        assert!(!queue.is_full());

        queue.put(1).unwrap();
        queue.put(2).unwrap(); // put(2, True)
        queue.put(3).unwrap(); // put(3, True, None)
        queue.try_put(4).unwrap(); // put(4, False)
        queue.try_put(5).unwrap(); // put(5, False, None)
        queue.try_put(6).unwrap(); // put_nowait(6)

        // (No feeder thread: the items are in the queue already.)
        assert!(!queue.is_empty());
        assert!(queue.is_full());

        for _ in 0..3 {
            // put(7, False), put(7, False, None), put_nowait(7)
            let (r, elapsed) = timed(|| queue.try_put(7));
            assert!(r.unwrap_err().is_full());
            assert!(elapsed < Duration::from_secs(5));
        }
        let (r, elapsed) = timed(|| queue.put_timeout(7, TIMEOUT1));
        assert!(r.unwrap_err().is_timeout());
        assert!(elapsed >= TIMEOUT1 - Duration::from_millis(5));
        // put(7, False, TIMEOUT2): non-blocking, the timeout ignored.
        assert!(queue.try_put(7).unwrap_err().is_full());
        let (r, elapsed) = timed(|| queue.put_timeout(7, TIMEOUT3));
        assert!(r.unwrap_err().is_timeout());
        assert!(elapsed >= TIMEOUT3 - Duration::from_millis(5));

        child_can_start.set();
        assert!(parent_can_continue.wait_timeout(LONG));

        assert!(queue.is_empty());
        assert!(!queue.is_full());
        ok(&proc);
    }

    #[test]
    fn test_get() {
        let queue = Queue::<u32>::new(16).unwrap();
        let child_can_start = Event::new().unwrap();
        let parent_can_continue = Event::new().unwrap();
        let proc = bingfa_process::Builder::new()
            .daemon(true)
            .fork(|| {
                child_can_start.wait();
                for i in 2..=5 {
                    queue.put(i).unwrap();
                }
                parent_can_continue.set();
            })
            .unwrap();

        assert!(queue.is_empty());
        child_can_start.set();
        assert!(parent_can_continue.wait_timeout(LONG));
        assert!(!queue.is_empty());

        assert_eq!(queue.get().unwrap(), 2); // get(True, None)
        assert_eq!(queue.get().unwrap(), 3); // get(True)
        assert_eq!(queue.get_timeout(Duration::from_secs(1)).unwrap(), 4);
        assert_eq!(queue.try_get().unwrap(), 5); // get_nowait()

        assert!(queue.is_empty());

        for _ in 0..3 {
            // get(False), get(False, None), get_nowait()
            assert!(matches!(queue.try_get(), Err(Error::Empty)));
        }
        let (r, elapsed) = timed(|| queue.get_timeout(TIMEOUT1));
        assert!(matches!(r, Err(Error::Timeout)));
        assert!(elapsed >= TIMEOUT1 - Duration::from_millis(5));
        // get(False, TIMEOUT2): non-blocking, the timeout ignored.
        assert!(matches!(queue.try_get(), Err(Error::Empty)));
        let (r, elapsed) = timed(|| queue.get_timeout(TIMEOUT3));
        assert!(matches!(r, Err(Error::Timeout)));
        assert!(elapsed >= TIMEOUT3 - Duration::from_millis(5));

        ok(&proc);
    }

    #[test]
    fn test_fork() {
        // Items put before the fork and by the child all come out, in order.
        let queue = Queue::<u32>::new(32).unwrap();
        for i in 0..10 {
            queue.put(i).unwrap();
        }
        std::thread::sleep(DELTA);
        let p = bingfa_process::Builder::new()
            .daemon(true)
            .fork(|| {
                for i in 10..20 {
                    queue.put(i).unwrap();
                }
            })
            .unwrap();
        for i in 0..20 {
            assert_eq!(queue.get_timeout(LONG).unwrap(), i);
        }
        assert!(matches!(queue.try_get(), Err(Error::Empty)));
        ok(&p);
    }

    #[test]
    fn test_qsize() {
        let q = Queue::<u32>::new(8).unwrap();
        assert_eq!(q.len(), 0);
        q.put(1).unwrap();
        assert_eq!(q.len(), 1);
        q.put(5).unwrap();
        assert_eq!(q.len(), 2);
        q.get().unwrap();
        assert_eq!(q.len(), 1);
        q.get().unwrap();
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn test_task_done() {
        let queue = JoinableQueue::<Option<u32>>::new(16).unwrap();
        let workers: Vec<_> = (0..4)
            .map(|_| {
                bingfa_process::Builder::new()
                    .daemon(true)
                    .fork(|| {
                        while let Some(_obj) = queue.get().unwrap() {
                            std::thread::sleep(DELTA);
                            queue.task_done().unwrap();
                        }
                    })
                    .unwrap()
            })
            .collect();
        for i in 0..10 {
            queue.put(Some(i)).unwrap();
        }
        queue.join();
        for _ in &workers {
            queue.put(None).unwrap();
        }
        for p in &workers {
            ok(p);
        }
    }

    #[test]
    fn test_timeout() {
        let q = Queue::<u32>::new(1).unwrap();
        let start = Instant::now();
        assert!(matches!(
            q.get_timeout(Duration::from_millis(200)),
            Err(Error::Timeout)
        ));
        assert!(start.elapsed() >= Duration::from_millis(100));
    }

    /// An item whose serialization fails (upstream: `__reduce__` raises).
    #[derive(Debug, PartialEq, serde::Deserialize)]
    enum Item {
        NotSerializable,
        Value(bool),
    }

    impl Serialize for Item {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Item::NotSerializable => Err(serde::ser::Error::custom("cannot serialize this")),
                Item::Value(b) => s.serialize_newtype_variant("Item", 1, "Value", b),
            }
        }
    }

    #[test]
    fn test_queue_feeder_donot_stop_onexc() {
        // A put whose item cannot be serialized fails (with the item back),
        // and the queue goes on working. (No feeder thread: the error reaches
        // the caller of put.)
        let q = Queue::<Item>::new(4).unwrap();
        let e = q.put(Item::NotSerializable).unwrap_err();
        assert!(matches!(e.error, Error::Encode(_)), "{:?}", e.error);
        assert_eq!(e.item, Item::NotSerializable);
        q.put(Item::Value(true)).unwrap();
        assert_eq!(q.get_timeout(LONG).unwrap(), Item::Value(true));

        // The size stays right after the error.
        let q = Queue::<Item>::new(1).unwrap();
        assert!(q.put(Item::NotSerializable).is_err());
        q.put(Item::Value(true)).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q.get_timeout(LONG).unwrap(), Item::Value(true));
        assert!(q.is_empty());
    }

    #[test]
    fn test_closed_queue_put_get_exceptions() {
        let q = Queue::<String>::new(4).unwrap();
        q.close();
        assert!(q.put("foo".into()).unwrap_err().is_closed());
        assert!(matches!(q.get(), Err(Error::Closed)));
        let q = JoinableQueue::<String>::new(4).unwrap();
        q.close();
        assert!(q.put("foo".into()).unwrap_err().is_closed());
        assert!(matches!(q.get(), Err(Error::Closed)));
    }

    /// Upstream's `ProcessFuture.run`: `f` runs in a child process; its
    /// assertions are the test's.
    fn in_child(f: impl FnOnce()) {
        ok(&bingfa_process::fork(f).unwrap());
    }

    /// Either queue kind, for the shutdown tests that run on both.
    enum AnyQueue {
        Plain(Queue<String>),
        Joinable(JoinableQueue<String>),
    }

    impl AnyQueue {
        fn both(capacity: usize) -> [AnyQueue; 2] {
            [
                AnyQueue::Plain(Queue::new(capacity).unwrap()),
                AnyQueue::Joinable(JoinableQueue::new(capacity).unwrap()),
            ]
        }
        fn put(&self, s: &str) -> Result<(), Error> {
            match self {
                AnyQueue::Plain(q) => q.put(s.into()).map_err(|e| e.error),
                AnyQueue::Joinable(q) => q.put(s.into()).map_err(|e| e.error),
            }
        }
        fn try_put(&self, s: &str) -> Result<(), Error> {
            match self {
                AnyQueue::Plain(q) => q.try_put(s.into()).map_err(|e| e.error),
                AnyQueue::Joinable(q) => q.try_put(s.into()).map_err(|e| e.error),
            }
        }
        fn get(&self) -> Result<String, Error> {
            match self {
                AnyQueue::Plain(q) => q.get(),
                AnyQueue::Joinable(q) => q.get(),
            }
        }
        fn try_get(&self) -> Result<String, Error> {
            match self {
                AnyQueue::Plain(q) => q.try_get(),
                AnyQueue::Joinable(q) => q.try_get(),
            }
        }
        fn len(&self) -> usize {
            match self {
                AnyQueue::Plain(q) => q.len(),
                AnyQueue::Joinable(q) => q.len(),
            }
        }
        fn close(&self) {
            match self {
                AnyQueue::Plain(q) => q.close(),
                AnyQueue::Joinable(q) => q.close(),
            }
        }
        fn close_immediate(&self) {
            match self {
                AnyQueue::Plain(q) => {
                    q.close_immediate();
                }
                AnyQueue::Joinable(q) => {
                    q.close_immediate();
                }
            }
        }
        /// A child that joins the queue, for a joinable one.
        fn joiner(&self) -> Option<Process> {
            match self {
                AnyQueue::Plain(_) => None,
                AnyQueue::Joinable(q) => {
                    let q = q.clone();
                    Some(bingfa_process::fork(move || q.join()).unwrap())
                }
            }
        }
        /// The puts and gets after a shutdown, in children and here.
        fn assert_shut_down(&self) {
            in_child(|| assert!(matches!(self.put("data"), Err(Error::Closed))));
            assert!(matches!(self.try_put("data"), Err(Error::Closed)));
            in_child(|| assert!(matches!(self.get(), Err(Error::Closed))));
            assert!(matches!(self.try_get(), Err(Error::Closed)));
        }
    }

    /// Upstream's `_wait`: a crude pause.
    fn wait() {
        std::thread::sleep(Duration::from_millis(10));
    }

    fn ended(p: &Process) {
        assert!(
            p.join_timeout(LONG).unwrap().is_some(),
            "the joiner did not end"
        );
        ok(p);
    }

    fn still_running(p: &Process) {
        assert!(p.join_timeout(Duration::from_millis(50)).unwrap().is_none());
    }

    #[test]
    fn test_shutdown_empty() {
        for q in AnyQueue::both(4) {
            let join = q.joiner();
            q.close(); // unfinished tasks: 0 -> 0
            wait();
            assert_eq!(q.len(), 0);
            if let Some(join) = &join {
                ended(join);
            }
            q.assert_shut_down();
        }
    }

    #[test]
    fn test_shutdown_nonempty() {
        for q in AnyQueue::both(1) {
            q.put("data").unwrap();
            let join = q.joiner();
            q.close(); // unfinished tasks: 1 -> 1
            wait();
            assert_eq!(q.len(), 1);
            in_child(|| assert_eq!(q.get().unwrap(), "data"));
            if let Some(join) = &join {
                still_running(join);
            }
            q.assert_shut_down();
            if let AnyQueue::Joinable(j) = &q {
                j.task_done().unwrap();
            }
            if let Some(join) = &join {
                ended(join);
            }
        }
    }

    #[test]
    fn test_shutdown_immediate() {
        for q in AnyQueue::both(4) {
            q.put("data").unwrap();
            let join = q.joiner();
            q.close_immediate();
            wait();
            assert_eq!(q.len(), 0);
            if let Some(join) = &join {
                ended(join);
            }
            q.assert_shut_down();
            if let AnyQueue::Joinable(j) = &q {
                // Every task was marked done by the immediate shutdown.
                assert!(matches!(j.task_done(), Err(Error::Invalid(_))));
            }
        }
    }

    #[test]
    fn test_shutdown_immediate_with_unfinished() {
        let q = JoinableQueue::<String>::new(4).unwrap();
        q.put("data".into()).unwrap();
        q.put("data".into()).unwrap();
        let join = bingfa_process::fork(|| q.join()).unwrap();
        in_child(|| assert_eq!(q.get().unwrap(), "data"));
        q.close_immediate();
        wait();
        assert_eq!(q.len(), 0);
        still_running(&join);
        let any = AnyQueue::Joinable(q.clone());
        any.assert_shut_down();
        q.task_done().unwrap();
        assert!(matches!(q.task_done(), Err(Error::Invalid(_))));
        ended(&join);
    }
}
