//! Condvar: Python's `threading.Condition(lock)`, over a Mutex, an RLock
//! or a Lock, several conditions on one lock.

use bingfa_sync::{Condvar, Lock, Mutex, RLock};
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[test]
fn debug_name_and_no_waiters() {
    let c = Condvar::named("not_empty");
    assert_eq!(c.name(), kept("not_empty"));
    assert_eq!(
        format!("{c:?}"),
        debug(r#"Condvar { name: "not_empty", waiters: 0 }"#)
    );
    assert_eq!(c.notify_all(), 0);
}

/// `queue.Queue` built as Python builds it: one lock, three conditions.
struct PyQueue {
    mutex: Mutex<(VecDeque<u32>, usize)>, // items, unfinished tasks
    not_empty: Condvar,
    not_full: Condvar,
    all_tasks_done: Condvar,
    maxsize: usize,
}

impl PyQueue {
    fn put(&self, x: u32) {
        let mut g = self.mutex.lock();
        self.not_full
            .wait_while(&mut g, |g| g.0.len() >= self.maxsize);
        g.0.push_back(x);
        g.1 += 1;
        self.not_empty.notify_one();
    }
    fn get(&self) -> u32 {
        let mut g = self.mutex.lock();
        self.not_empty.wait_while(&mut g, |g| g.0.is_empty());
        let x = g.0.pop_front().unwrap();
        self.not_full.notify_one();
        x
    }
    fn task_done(&self) {
        let mut g = self.mutex.lock();
        g.1 -= 1;
        if g.1 == 0 {
            self.all_tasks_done.notify_all();
        }
    }
    fn join(&self) {
        let mut g = self.mutex.lock();
        self.all_tasks_done.wait_while(&mut g, |g| g.1 != 0);
    }
}

#[test]
fn three_conditions_on_one_lock_as_queue_queue() {
    let q = PyQueue {
        mutex: Mutex::new((VecDeque::new(), 0)),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
        all_tasks_done: Condvar::new(),
        maxsize: 2,
    };
    let n = if cfg!(miri) { 10 } else { 2_000 };
    let sum = Mutex::new(0u64);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let x = q.get();
                if x == u32::MAX {
                    q.task_done();
                    return;
                }
                *sum.lock() += u64::from(x);
                q.task_done();
            });
        }
        for x in 0..n {
            q.put(x);
        }
        q.join();
        assert_eq!(*sum.lock(), (0..u64::from(n)).sum::<u64>());
        q.put(u32::MAX);
        q.put(u32::MAX);
    });
    q.join();
}

#[test]
fn a_wait_on_an_rlock_releases_and_restores_every_level() {
    let lock = RLock::new(Cell::new(0));
    let cv = Condvar::new();
    let outer = lock.lock();
    let mid = lock.lock();
    let mut inner = lock.lock();
    assert_eq!(lock.count(), 3);
    std::thread::scope(|s| {
        s.spawn(|| {
            // Only possible if all three levels were released.
            let g = lock.lock();
            g.set(1);
            cv.notify_one();
        });
        cv.wait_while(&mut inner, |g| g.get() == 0);
    });
    assert_eq!(lock.count(), 3);
    assert!(lock.is_owned_by_current_thread());
    drop(inner);
    drop(mid);
    assert_eq!(lock.count(), 1);
    drop(outer);
    assert!(!lock.is_locked());
}

#[test]
fn a_wait_with_a_lock_guard() {
    let lock = Lock::new();
    let cv = Condvar::new();
    let ready = AtomicBool::new(false);
    let mut g = lock.acquire();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = lock.acquire();
            ready.store(true, Ordering::SeqCst);
            cv.notify_all();
        });
        cv.wait_while(&mut g, |_| !ready.load(Ordering::SeqCst));
    });
    assert!(lock.is_locked());
    drop(g);
    assert!(!lock.is_locked());
}

#[test]
fn timeouts() {
    let m = Mutex::new(0);
    let cv = Condvar::new();
    let mut g = m.lock();
    // Zero: releases and retakes without sleeping.
    assert!(!cv.wait_timeout(&mut g, Duration::ZERO));
    assert!(m.is_locked());
    let t = Duration::from_millis(30);
    let start = Instant::now();
    assert!(!cv.wait_timeout(&mut g, t));
    assert!(start.elapsed() >= t);
    assert!(!cv.wait_while_timeout(&mut g, t, |v| **v == 0));
    assert!(cv.wait_while_timeout(&mut g, Duration::ZERO, |v| **v != 0));
    assert!(!cv.wait_while_timeout(&mut g, Duration::ZERO, |v| **v == 0));
}

/// The name a primitive reports: kept only when `detect` or `trace` is
/// compiled in (names exist for reports and traces).
fn kept(name: &str) -> Option<&str> {
    cfg!(any(feature = "detect", feature = "trace")).then_some(name)
}

/// A `Debug` string as this build prints it: without the `name` field when
/// names are not kept (neither `detect` nor `trace` compiled in).
fn debug(full: &str) -> String {
    if cfg!(any(feature = "detect", feature = "trace")) {
        return full.to_string();
    }
    let mut out = full.to_string();
    while let Some(at) = out.find("name: \"") {
        let end = out[at + 7..].find('"').expect("a closed name") + at + 7;
        out.replace_range(at..end + 3, "");
    }
    out
}
