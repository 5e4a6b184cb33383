//! No false reports: RLock re-entry, Condition waits, semaphores used as
//! pools or signals, and many threads that take their locks in one global
//! order (randomised, with fixed seeds) are never reported.
//!
//! Each test checks both channels: the deadlock search run by the test
//! itself while threads are busy or blocked (`check_now`) and the handler,
//! which also receives what the watchdog finds on its own.
#![cfg(feature = "detect")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use bingfa_sync::deadlock::{self, Report};
use bingfa_sync::{Condition, Mutex, RLock, Semaphore};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` alone with a fresh detector (watchdog every millisecond) and
/// returns every report made during it.
fn run(f: impl FnOnce()) -> Vec<Report> {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    deadlock::enable();
    deadlock::reset();
    deadlock::set_watchdog_interval(Duration::from_millis(1));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    deadlock::set_handler(move |r: &Report| s.lock().unwrap().push(r.clone()));
    f();
    let found = deadlock::check_now();
    assert!(found.is_empty(), "{found:?}");
    deadlock::reset_handler();
    deadlock::set_watchdog_interval(Duration::from_millis(100));
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    seen
}

fn assert_none(reports: Vec<Report>) {
    assert!(
        reports.is_empty(),
        "false reports:\n{}",
        reports
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// xorshift64*: a small deterministic generator for the randomised runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn rlock_reentry_is_not_a_deadlock() {
    assert_none(run(|| {
        let r = Arc::new(RLock::named("R", 0u32));
        let other = Arc::new(Mutex::named("M", ()));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (r, other) = (r.clone(), other.clone());
                thread::spawn(move || {
                    for _ in 0..200 {
                        let _a = r.lock();
                        let _m = other.lock();
                        // Re-entry while holding M: not "M then R".
                        let _b = r.lock();
                        let _c = r.lock();
                    }
                })
            })
            .collect();
        for _ in 0..50 {
            let found = deadlock::check_now();
            assert!(found.is_empty(), "{found:?}");
        }
        for h in handles {
            h.join().unwrap();
        }
    }));
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn condition_waits_are_not_deadlocks() {
    assert_none(run(|| {
        let c = Arc::new(Condition::named("items", Vec::<u32>::new()));
        let outer = Arc::new(Mutex::named("outer", ()));
        let waiting = Arc::new(AtomicBool::new(false));
        let consumer = {
            let (c, outer, waiting) = (c.clone(), outer.clone(), waiting.clone());
            thread::spawn(move || {
                let mut got = 0;
                while got < 100 {
                    // Always "outer" before the condition's lock.
                    let _o = outer.lock();
                    drop(_o);
                    let mut g = c.lock();
                    while g.is_empty() {
                        waiting.store(true, Ordering::Release);
                        c.wait(&mut g);
                    }
                    got += g.drain(..).count();
                }
                got
            })
        };
        // Let the consumer block on the condition, then search: a thread in
        // `wait` is not stuck.
        while !waiting.load(Ordering::Acquire) {
            thread::yield_now();
        }
        let found = deadlock::check_now();
        assert!(found.is_empty(), "{found:?}");
        for i in 0..100 {
            let _o = outer.lock();
            let mut g = c.lock();
            g.push(i);
            c.notify_one();
        }
        assert_eq!(consumer.join().unwrap(), 100);
    }));
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn semaphores_as_pool_and_signal() {
    assert_none(run(|| {
        // As many permits as threads: taking "pool" never blocks, so the
        // two orders below cannot deadlock (with fewer, they could).
        let pool = Arc::new(Semaphore::named("pool", 4));
        let other = Arc::new(Semaphore::named("other", 1));
        let signal = Arc::new(Semaphore::named("signal", 0));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (pool, other, signal) = (pool.clone(), other.clone(), signal.clone());
                thread::spawn(move || {
                    for _ in 0..100 {
                        // Both orders of two semaphores: not an inversion.
                        if i % 2 == 0 {
                            let _p = pool.acquire();
                            let _o = other.acquire();
                        } else {
                            let _o = other.acquire();
                            let _p = pool.acquire();
                        }
                    }
                    // Released by a thread that never acquired it.
                    signal.release().unwrap();
                })
            })
            .collect();
        for _ in 0..4 {
            signal.acquire().forget();
        }
        for h in handles {
            h.join().unwrap();
        }
    }));
}

#[test]
#[cfg_attr(miri, ignore)] // the deadlock watchdog thread outlives the test
fn randomised_runs_with_one_global_order_report_nothing() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 300;
    assert_none(run(|| {
        let locks: Arc<Vec<Mutex<u64>>> =
            Arc::new((0..5).map(|i| Mutex::named(format!("L{i}"), 0)).collect());
        let rl = Arc::new(RLock::named("R", 0u64));
        let start = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (locks, rl, start) = (locks.clone(), rl.clone(), start.clone());
                thread::Builder::new()
                    .name(format!("order-{t}"))
                    .spawn(move || {
                        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
                        start.wait();
                        for _ in 0..ROUNDS {
                            let subset = rng.next() & 0b11111;
                            // Always by index; the RLock last, re-entered.
                            let guards: Vec<_> = (0..5)
                                .filter(|i| subset & (1 << i) != 0)
                                .map(|i| locks[i].lock())
                                .collect();
                            if rng.next() & 3 == 0 {
                                let _r = rl.lock();
                                let _r2 = rl.lock();
                            }
                            drop(guards);
                            if rng.next() & 7 == 0 {
                                thread::yield_now();
                            }
                        }
                    })
                    .unwrap()
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }));
}
