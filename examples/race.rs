//! # Lesson 13: a race on shared data, and the lock that ends it
//!
//! `cargo xtask demo race [--quick] [--threads N] [--explore] [--trace FILE]`
//!
//! The course's Python (seed 003):
//!
//! ```python
//! from threading import Thread, Lock
//! import time
//! mutex = Lock()
//! n = 100
//! def task(i):
//!     print(f'线程{i} 启动')
//!     global n
//!     mutex.acquire()
//!     temp = n
//!     time.sleep(0.1)
//!     n = temp - 1
//!     print(n)
//!     mutex.release()
//! if __name__ == '__main__':
//!     t_l = []
//!     for i in range(100):
//!         t = Thread(target=task, args=(i,))
//!         t_l.append(t)
//!         t.start()
//!     for t in t_l:
//!         t.join()
//!     print(n)
//! ```
//!
//! Threads share memory: every thread reads the same `n`. Without the lock,
//! all of them read 100 during the 0.1 s nap and all write 99: ninety-nine
//! decrements are lost. With the lock, read-nap-write is one step that no
//! other thread can cut into, and `n` ends at 0.
//!
//! Safe Rust refuses a plain data race at compile time, so the unguarded run
//! keeps `n` in an atomic integer and splits the decrement into a separate
//! load and store: the same lost update, without undefined behaviour.

mod common;
#[path = "common/explore.rs"]
mod explore;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bingfa::sync::Mutex;
use bingfa::trace::{record, Event, EventKind};
use common::Demo;

const PYTHON: &str = r#"
mutex = Lock()
n = 100
def task(i):
    global n
    mutex.acquire()          # the run without the lock skips this line...
    temp = n
    time.sleep(0.1)
    n = temp - 1
    mutex.release()          # ...and this one
for i in range(100):
    Thread(target=task, args=(i,)).start()   # then join them all
print(n)
"#;

/// Only the first lanes go into the terminal timeline (all go to the trace).
const LANES_SHOWN: usize = 10;

fn first_lanes(events: &[Event], lanes: usize) -> Vec<Event> {
    let keep: Vec<String> = (0..lanes).map(|i| format!("task-{i}")).collect();
    events
        .iter()
        .filter(|e| keep.iter().any(|k| **k == *e.lane))
        .cloned()
        .collect()
}

fn main() {
    let mut demo = Demo::from_args(
        "race",
        "Decrements n = 100 from 100 threads, first without a lock (n ends above 0),\n\
         then with one (n ends at 0).\n  --threads N    how many threads (default 100)\n  \
         --explore      let a model checker (loom) try every schedule of two threads instead",
    );
    if demo.rest.iter().any(|a| a == "--explore") {
        explore_race(demo);
        return;
    }
    let threads: i64 = match demo.rest.as_slice() {
        [] => 100,
        [flag, n] if flag == "--threads" => n
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .unwrap_or_else(|| common::fail("race", "--threads takes a number from 1 to 1000")),
        other => common::fail("race", &format!("unknown arguments {other:?}; try --help")),
    };
    demo.intro(
        "Lesson 13: a race on shared data, and the lock that ends it",
        PYTHON,
    );
    // The course naps 0.1 s; with the lock the naps run one after another,
    // so we nap 10 ms (1 ms with --quick) to keep the locked run short.
    let nap = demo.pause(Duration::from_millis(10));

    demo.section("1. Without a lock");
    demo.say(&format!(
        "{threads} threads each read n, nap {nap:?}, and write back n - 1.\n"
    ));
    let n = Arc::new(AtomicI64::new(threads));
    demo.record();
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let n = n.clone();
            thread::Builder::new()
                .name(format!("task-{i}"))
                .spawn(move || {
                    record(EventKind::Begin, "read, nap, write");
                    let temp = n.load(Ordering::SeqCst); // temp = n
                    record(EventKind::Mark, &format!("read n = {temp}"));
                    thread::sleep(nap); // time.sleep(0.1)
                    n.store(temp - 1, Ordering::SeqCst); // n = temp - 1
                    record(EventKind::Mark, &format!("wrote n = {}", temp - 1));
                    record(EventKind::End, "read, nap, write");
                })
                .expect("spawn")
        })
        .collect();
    for h in handles {
        h.join().expect("a task panicked");
    }
    let unguarded = n.load(Ordering::SeqCst);
    let took = t.elapsed();
    let events = bingfa::trace::stop();
    demo.show_events(
        &format!("without a lock (first {LANES_SHOWN} of {threads} threads)"),
        first_lanes(&events, LANES_SHOWN),
    );
    demo.say(&format!(
        "n = {unguarded} after {threads} decrements of {threads} (took {took:.1?}).\n\
         The spans overlap: the threads read n while others were still napping on their\n\
         own copy, so {} of the {threads} updates were lost.",
        unguarded
    ));

    demo.section("2. With bingfa::sync::Mutex (Python's Lock)");
    demo.say("The same work, but read-nap-write happens while holding the lock.\n");
    let n = Arc::new(Mutex::named("mutex", threads));
    demo.record();
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let n = n.clone();
            thread::Builder::new()
                .name(format!("task-{i}"))
                .spawn(move || {
                    let mut guard = n.lock(); // mutex.acquire()
                    let temp = *guard;
                    thread::sleep(nap);
                    *guard = temp - 1;
                    // mutex.release() when the guard is dropped
                })
                .expect("spawn")
        })
        .collect();
    for h in handles {
        h.join().expect("a task panicked");
    }
    let guarded = *n.lock();
    let took = t.elapsed();
    let events = bingfa::trace::stop();
    demo.show_events(
        &format!("with the lock (first {LANES_SHOWN} of {threads} threads)"),
        first_lanes(&events, LANES_SHOWN),
    );
    demo.say(&format!(
        "n = {guarded} (took {took:.1?}: the naps ran one after another, about {threads} x {nap:?}).\n\
         The timeline shows one holder at a time; everybody else waits."
    ));

    demo.section("What to remember");
    demo.say(
        "Threads share memory. A read-modify-write that another thread can cut into loses\n\
         updates. A lock makes it one step: correct, at the price of running those steps\n\
         one at a time. Keep the part under the lock short.",
    );
    println!("\nResult: without a lock n = {unguarded}; with the lock n = {guarded}.");
    demo.finish();
    if guarded != 0 || (threads > 1 && unguarded == 0) {
        std::process::exit(1);
    }
}

/// The unguarded decrement, two threads, n = 2: `temp = n; n = temp - 1`.
/// Each read and each write is atomic on its own (as one bytecode is under
/// CPython's GIL; here a tiny lock around the single access), but nothing
/// keeps them together. Whether n ended at 0.
fn unguarded() -> bool {
    use loom::sync::Mutex;
    let n = loom::sync::Arc::new(Mutex::new(2i64));
    let n2 = n.clone();
    explore::two_threads(move |me| {
        let temp = {
            let cell = n2.lock().expect("not poisoned");
            explore::log(me, explore::Act::Read(*cell));
            *cell
        }; // temp = n
        let mut cell = n2.lock().expect("not poisoned");
        *cell = temp - 1; // n = temp - 1
        explore::log(me, explore::Act::Write(temp - 1));
    });
    let left = *n.lock().expect("not poisoned");
    left == 0
}

/// The same under a lock: `with mutex: temp = n; n = temp - 1`.
fn guarded() -> bool {
    use loom::sync::Mutex;
    let n = loom::sync::Arc::new(Mutex::new(2i64));
    let n2 = n.clone();
    explore::two_threads(move |me| {
        let mut g = n2.lock().expect("not poisoned");
        explore::log(me, explore::Act::Lock);
        let temp = *g;
        explore::log(me, explore::Act::Read(temp));
        *g = temp - 1;
        explore::log(me, explore::Act::Write(temp - 1));
        explore::log(me, explore::Act::Unlock);
    });
    let left = *n.lock().expect("not poisoned");
    left == 0
}

/// `--explore`: the race found by loom, replayed, then the lock checked.
fn explore_race(mut demo: Demo) {
    demo.intro(
        "Lesson 13, explored: every schedule of the race, tried by a model checker",
        PYTHON,
    );
    demo.say(
        "A run of threads shows one schedule, the one the machine happened to pick. loom, a\n\
         model checker, runs the code once for every way two threads can interleave their\n\
         steps, on its own scheduler, and checks the result each time.\n\n\
         The model: n = 2; two threads each do temp = n; n = temp - 1, each read and each\n\
         write atomic on its own (as a bytecode is under CPython's GIL). Invariant: n ends at 0.",
    );
    demo.section("1. Without a lock");
    let key = explore::key_path("race");
    let found = explore::explore(unguarded, &key);
    println!(
        "  loom ran {} schedules: {} ended with n != 0.",
        found.schedules, found.failing
    );
    let who = |t: usize| format!("thread {t}");
    if let (Some(steps), Some(key), Some(which)) = (&found.replayed, &found.key, found.which) {
        let size = std::fs::metadata(key).map(|m| m.len()).unwrap_or(0);
        println!(
            "  The first failing one, schedule {which} of {}, replayed from the schedule loom saved\n  \
             (replay key: {}, {size} bytes; loom::model::Builder::checkpoint_file replays it):\n",
            found.schedules,
            key.display()
        );
        let (lines, events) = explore::tell(steps, "n", &who);
        for l in &lines {
            println!("{l}");
        }
        let end = steps
            .iter()
            .rev()
            .find_map(|s| match s.what {
                explore::Act::Write(v) => Some(v),
                _ => None,
            })
            .unwrap_or(2);
        demo.show_events("the failing schedule, step by step (1 ms = 1 step)", events);
        demo.say(&format!(
            "Two decrements, yet n = {end}: one update was lost, in {} of {} schedules.",
            found.failing, found.schedules
        ));
    }
    demo.section("2. With a lock");
    let checked = explore::explore(guarded, &key);
    println!(
        "  loom ran {} schedules of the locked version (loom's model of a mutex): {} failing;\n  \
         n ended at 0 in every one.",
        checked.schedules, checked.failing
    );
    std::fs::remove_file(&key).ok();
    println!(
        "\nResult: without a lock {} of {} schedules lose an update; with the lock {} of {} do.",
        found.failing, found.schedules, checked.failing, checked.schedules
    );
    demo.finish();
    if found.failing == 0 || checked.failing != 0 {
        std::process::exit(1);
    }
}
