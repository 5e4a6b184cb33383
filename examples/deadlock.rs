//! # Lesson 15: deadlock, detected, explained and fixed
//!
//! `cargo xtask demo deadlock [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003/004), ten threads and two locks:
//!
//! ```python
//! from threading import Thread, Lock
//! import time
//! mutex_a = Lock()
//! mutex_b = Lock()
//! class MyThread(Thread):
//!     def run(self):
//!         self.func1()
//!         self.func2()
//!     def func1(self):
//!         mutex_a.acquire(); print(f'用户{self.name} 抢到锁a')
//!         mutex_b.acquire(); print(f'用户{self.name} 抢到锁b')
//!         mutex_b.release(); print(f'用户{self.name} 释放锁b')
//!         mutex_a.release(); print(f'用户{self.name} 释放锁a')
//!     def func2(self):
//!         mutex_b.acquire(); print(f'用户{self.name} 抢到锁b')
//!         time.sleep(1)
//!         mutex_a.acquire(); print(f'用户{self.name} 抢到锁a')
//!         mutex_a.release(); print(f'用户{self.name} 释放锁a')
//!         mutex_b.release(); print(f'用户{self.name} 释放锁b')
//! for line in range(10):
//!     t = MyThread()
//!     t.start()
//! ```
//!
//! and its fix, `mutex_a = mutex_b = RLock()`.
//!
//! What the demo does: it runs that program for real with bingfa's `Mutex`,
//! with the deadlock detector on. The program really hangs; the detector's
//! watchdog finds the cycle in the wait-for graph and reports it (threads,
//! locks, source lines); the demo prints the report and the timeline, leaves
//! the stuck threads behind and runs the two fixes to the end: one `RLock`
//! under both names (the course's fix) and one lock order everywhere (the
//! general fix).

mod common;

use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use bingfa::sync::deadlock::{self, Report};
use bingfa::sync::{Mutex, RLock};
use common::Demo;

const PYTHON: &str = r#"
mutex_a = Lock()
mutex_b = Lock()
class MyThread(Thread):
    def run(self):
        self.func1()
        self.func2()
    def func1(self):                 # takes A, then B
        mutex_a.acquire(); print(f'用户{self.name} 抢到锁a')
        mutex_b.acquire(); print(f'用户{self.name} 抢到锁b')
        mutex_b.release(); ...
        mutex_a.release(); ...
    def func2(self):                 # takes B, sleeps, then A
        mutex_b.acquire(); print(f'用户{self.name} 抢到锁b')
        time.sleep(1)
        mutex_a.acquire(); print(f'用户{self.name} 抢到锁a')
        mutex_a.release(); ...
        mutex_b.release(); ...
for line in range(10):
    MyThread().start()
"#;

const THREADS: usize = 10;

fn say(text: String) {
    println!("  {text}");
}

/// Starts the course's ten threads, `Thread-1` ... `Thread-10`, each running
/// `body(name)`.
fn start_threads(body: impl Fn(&str) + Send + Sync + 'static) -> Vec<thread::JoinHandle<()>> {
    let body = Arc::new(body);
    (1..=THREADS)
        .map(|i| {
            let body = body.clone();
            let name = format!("Thread-{i}");
            thread::Builder::new()
                .name(name.clone())
                .spawn(move || body(&name))
                .expect("spawn a thread")
        })
        .collect()
}

fn main() {
    let mut demo = Demo::from_args(
        "deadlock",
        "Runs the course's deadlock (ten threads, two locks taken in opposite orders),\n\
         reports it with the deadlock detector, then runs the RLock fix and the lock-order fix.",
    );
    demo.intro("Lesson 15: deadlock, detected, explained and fixed", PYTHON);
    let nap = demo.pause(Duration::from_millis(1000));
    let short_nap = demo.pause(Duration::from_millis(200));

    // The detector: on, with a handler that hands reports to this thread.
    let (tx, rx) = mpsc::channel::<Report>();
    deadlock::set_handler(move |r| {
        let _ = tx.send(r.clone());
    });
    deadlock::enable();

    // ---------------------------------------------------------------
    demo.section("1. The course's program: func1 takes A then B, func2 takes B then A");
    demo.say(&format!(
        "Ten threads start. Each runs func1 (A, then B), then func2 (B, sleep {nap:?}, then A).\n\
         The trap: one thread holds B in func2 and sleeps; meanwhile another takes A in func1\n\
         and waits for B. When the first wakes it waits for A. Nobody can go on.\n"
    ));
    let mutex_a = Arc::new(Mutex::named("mutex_a", ()));
    let mutex_b = Arc::new(Mutex::named("mutex_b", ()));
    demo.record();
    let started = Instant::now();
    let (a, b) = (mutex_a.clone(), mutex_b.clone());
    // These threads will never finish: we keep no handle and leave them stuck.
    drop(start_threads(move |me| {
        // func1
        let ga = a.lock();
        say(format!("{me} got mutex_a   (用户{me} 抢到锁a)"));
        let gb = b.lock();
        say(format!("{me} got mutex_b   (用户{me} 抢到锁b)"));
        drop(gb);
        say(format!("{me} released mutex_b"));
        drop(ga);
        say(format!("{me} released mutex_a"));
        // func2
        let gb = b.lock();
        say(format!("{me} got mutex_b   (用户{me} 抢到锁b), sleeps"));
        thread::sleep(nap);
        let ga = a.lock();
        say(format!("{me} got mutex_a"));
        drop(ga);
        drop(gb);
    }));

    let mut deadlock_report = None;
    let mut inversion = None;
    while deadlock_report.is_none() {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(r @ Report::LockOrderInversion(_)) => inversion = Some(r),
            Ok(r) if r.is_deadlock() => deadlock_report = Some(r),
            Ok(_) => {}
            Err(_) => common::fail(
                "deadlock",
                "no deadlock was reported within 10 s; the detector did not see the cycle",
            ),
        }
    }
    let hung_after = started.elapsed();
    let events = bingfa::trace::stop();
    println!();
    if let Some(inv) = &inversion {
        demo.say(
            "Even before the hang, the lock-order checker (like Linux's lockdep) saw the two\n\
             orders A->B and B->A, and warned, as it would in a run that got lucky:\n",
        );
        println!("{inv}\n");
    }
    demo.say(&format!(
        "The program hangs. {hung_after:.1?} after the start the watchdog found a cycle in the\n\
         wait-for graph and reported it:\n"
    ));
    println!("{}", deadlock_report.as_ref().expect("reported"));
    demo.show_events("the deadlock", events);
    if let Some(Report::Deadlock(d)) = &deadlock_report {
        // Who fell into the trap in this run, from the detector's cycle.
        let holds =
            |t: &deadlock::StuckThread, lock: &str| t.holds.iter().any(|h| &*h.lock.name == lock);
        let sleeper = d
            .cycle
            .iter()
            .find(|t| holds(t, "mutex_b") && &*t.waits_for.lock.name == "mutex_a");
        let taker = d
            .cycle
            .iter()
            .find(|t| holds(t, "mutex_a") && &*t.waits_for.lock.name == "mutex_b");
        if let (Some(s), Some(t)) = (sleeper, taker) {
            demo.say(&format!(
                "In this run {s} held mutex_b in func2 and slept; {t} took mutex_a in func1 and\n\
                 waited for mutex_b; {s} woke and waited for mutex_a. In the timeline: {s}'s and\n\
                 {t}'s solid bars (held) and shaded bars (waiting) both run to the right edge.",
                s = s.thread,
                t = t.thread,
            ));
        }
        let others = d.also_stuck.len();
        if others > 0 {
            demo.say(&format!(
                "The {others} other thread(s) wait behind them, for a lock that will never be free."
            ));
        }
        demo.say("Those threads are stuck for good: the demo leaves them behind and goes on.");
    }

    // ---------------------------------------------------------------
    demo.section("2. The course's fix: mutex_a = mutex_b = RLock()");
    demo.say(&format!(
        "Both names now point to ONE re-entrant lock. A thread that holds it may take it again\n\
         (func1's second acquire just counts up), and no other thread can hold \"the other\" lock,\n\
         because there is none. It works by making the locking coarser: one thread at a time.\n\
         (func2 sleeps {short_nap:?} here instead of {nap:?}.)\n"
    ));
    let rlock = Arc::new(RLock::named("rlock_ab", ()));
    demo.record();
    let t = Instant::now();
    let (ra, rb) = (rlock.clone(), rlock.clone());
    for h in start_threads(move |me| {
        let ga = ra.lock();
        let gb = rb.lock();
        let count = rb.count();
        drop(gb);
        drop(ga);
        let gb = rb.lock();
        thread::sleep(short_nap);
        let ga = ra.lock();
        let count2 = ra.count();
        drop(ga);
        drop(gb);
        if me == "Thread-1" {
            say(format!(
                "{me}: func1 held rlock_ab with count {count}, func2 with count {count2}"
            ));
        }
    }) {
        h.join().expect("an RLock thread panicked");
    }
    let took = t.elapsed();
    demo.show("fix 1: one RLock");
    let fix1_reports: Vec<Report> = rx.try_iter().collect();
    demo.say(&format!(
        "All ten threads finished in {took:.1?}, the time of {:.1} sleeps of {short_nap:?}: one\n\
         thread at a time held the lock through its sleep. The detector reported {} problem(s).",
        took.as_secs_f64() / short_nap.as_secs_f64(),
        fix1_reports.len()
    ));

    // ---------------------------------------------------------------
    demo.section("3. The general fix: one lock order everywhere");
    demo.say(
        "Keep two locks (threads that need only one of them still run in parallel), but make\n\
         func2 take them in func1's order: A, then B. A cycle needs someone to take them the\n\
         other way round; nobody does.\n",
    );
    let mutex_a = Arc::new(Mutex::named("mutex_a", ()));
    let mutex_b = Arc::new(Mutex::named("mutex_b", ()));
    demo.record();
    let t = Instant::now();
    let (a, b) = (mutex_a.clone(), mutex_b.clone());
    for h in start_threads(move |_me| {
        let ga = a.lock();
        let gb = b.lock();
        drop(gb);
        drop(ga);
        let ga = a.lock();
        let gb = b.lock();
        thread::sleep(short_nap);
        drop(gb);
        drop(ga);
    }) {
        h.join().expect("a lock-order thread panicked");
    }
    let took = t.elapsed();
    demo.show("fix 2: one order");
    let fix2_reports: Vec<Report> = rx.try_iter().collect();
    demo.say(&format!(
        "All ten threads finished in {took:.1?} ({:.1} sleeps of {short_nap:?}: func2 sleeps holding\n\
         both locks). The detector reported {} problem(s).",
        took.as_secs_f64() / short_nap.as_secs_f64(),
        fix2_reports.len()
    ));

    demo.section("What to remember");
    demo.say(
        "* A deadlock needs a cycle: each thread holds something the next one waits for.\n\
         * bingfa_sync::deadlock finds the cycle while it happens (the wait-for graph) and\n  \
         warns of inverted lock orders even when a run gets lucky (lockdep).\n\
         * Fix it by taking locks in one global order, or, as the course does, by guarding\n  \
         both resources with one RLock (simpler, but less parallel).",
    );
    let clean = fix1_reports.is_empty() && fix2_reports.is_empty();
    if clean {
        demo.say(
            "\nResult: deadlock reproduced and reported; both fixes ran to the end with no report.",
        );
    } else {
        for r in fix1_reports.iter().chain(&fix2_reports) {
            println!("unexpected report: {r}");
            eprintln!("deadlock: unexpected report during a fix: {r}");
        }
    }
    demo.finish();
    if !clean {
        std::process::exit(1);
    }
}
