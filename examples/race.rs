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
use explore::Shared;

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
         --explore      let a model checker (loom) try every schedule of two threads instead;\n                        with --threads N (3 to 8), a randomized scheduler (shuttle) tries\n                        1000 schedules of N threads",
    );
    if let Some(n) = explore::explore_count(&demo, "race", "--threads") {
        if n == 2 {
            explore_race(demo);
        } else {
            explore_race_random(demo, n);
        }
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

/// One thread's unguarded decrement: `temp = n; n = temp - 1`, the read
/// and the write each atomic on its own, nothing keeping them together.
fn racy_decrement(n: &impl Shared, me: usize) {
    let temp = n.access(|cell| {
        explore::log(me, explore::Act::Read(*cell));
        *cell
    }); // temp = n
    n.access(|cell| {
        *cell = temp - 1; // n = temp - 1
        explore::log(me, explore::Act::Write(temp - 1));
    });
}

/// The same under a lock: `with mutex: temp = n; n = temp - 1`, one
/// atomic step.
fn locked_decrement(n: &impl Shared, me: usize) {
    n.access(|g| {
        explore::log(me, explore::Act::Lock);
        let temp = *g;
        explore::log(me, explore::Act::Read(temp));
        *g = temp - 1;
        explore::log(me, explore::Act::Write(temp - 1));
        explore::log(me, explore::Act::Unlock);
    });
}

/// The unguarded decrement under loom, two threads, n = 2. Whether n ended
/// at 0.
fn unguarded() -> bool {
    let n = loom::sync::Arc::new(loom::sync::Mutex::new(2i64));
    let n2 = n.clone();
    explore::two_threads(move |me| racy_decrement(&*n2, me));
    n.access(|n| *n) == 0
}

/// The locked decrement under loom, two threads, n = 2.
fn guarded() -> bool {
    let n = loom::sync::Arc::new(loom::sync::Mutex::new(2i64));
    let n2 = n.clone();
    explore::two_threads(move |me| locked_decrement(&*n2, me));
    n.access(|n| *n) == 0
}

/// How many threads the shuttle models run (`--explore --threads N`).
static MODEL_THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(3);

/// The unguarded decrement under shuttle, N threads, n = N. Whether n
/// ended at 0.
fn unguarded_n() -> bool {
    let threads = MODEL_THREADS.load(std::sync::atomic::Ordering::SeqCst);
    let n = std::sync::Arc::new(shuttle::sync::Mutex::new(threads as i64));
    let n2 = n.clone();
    explore::shuttle_threads(threads, move |me| racy_decrement(&*n2, me));
    n.access(|n| *n) == 0
}

/// The locked decrement under shuttle, N threads, n = N.
fn guarded_n() -> bool {
    let threads = MODEL_THREADS.load(std::sync::atomic::Ordering::SeqCst);
    let n = std::sync::Arc::new(shuttle::sync::Mutex::new(threads as i64));
    let n2 = n.clone();
    explore::shuttle_threads(threads, move |me| locked_decrement(&*n2, me));
    n.access(|n| *n) == 0
}

/// Schedules shuttle tries, and the seed of its choices (fixed: the same
/// run, and the same replay, every time).
const RANDOM_SCHEDULES: usize = 1000;
const SEED: u64 = 13;

/// `--explore --threads N`: the race with N threads found by shuttle's
/// randomized scheduler, replayed from the file it saved, then the lock
/// tried on as many schedules.
fn explore_race_random(mut demo: Demo, threads: usize) {
    MODEL_THREADS.store(threads, std::sync::atomic::Ordering::SeqCst);
    demo.intro(
        &format!("Lesson 13, explored: the race with {threads} threads, on a randomized scheduler"),
        PYTHON,
    );
    demo.say(&format!(
        "With two threads loom can run every schedule (--explore alone). With {threads}, the\n\
         schedules are too many to try them all, so shuttle, a randomized scheduler, runs\n\
         {RANDOM_SCHEDULES} of them, chosen by PCT (probabilistic concurrency testing: random thread\n\
         priorities, changed at a few random steps), from a fixed seed, {SEED}: the same\n\
         schedules every run.\n\n\
         The model: n = {threads}; {threads} threads each do temp = n; n = temp - 1, each read and\n\
         each write atomic on its own. Invariant: n ends at 0."
    ));
    demo.section("1. Without a lock");
    let dir = std::env::temp_dir().join(format!("bingfa-race-schedules-{}", std::process::id()));
    let found = explore::explore_random(unguarded_n, RANDOM_SCHEDULES, SEED, &dir);
    println!(
        "  shuttle ran {} schedules: {} ended with n != 0.",
        found.schedules, found.failing
    );
    let failing = explore::show_failing(
        &mut demo,
        &found,
        ("shuttle", "shuttle::replay_from_file"),
        ("n", &|t| format!("thread {t}")),
        "the failing schedule, step by step (1 ms = 1 step)",
    );
    if let Some(end) = failing.and_then(explore::last_write) {
        demo.say(&format!(
            "{threads} decrements, yet n = {end}: {} lost, in {} of {} schedules tried.",
            if end == 1 {
                "one update was".to_string()
            } else {
                format!("{end} updates were")
            },
            found.failing,
            found.schedules
        ));
    }
    demo.section("2. With a lock");
    let checked = explore::explore_random(guarded_n, RANDOM_SCHEDULES, SEED, &dir);
    explore::print_locked_random(&checked, "n ended at 0", "threads");
    std::fs::remove_dir_all(&dir).ok();
    explore::finish(demo, &found, &checked, "lose an update");
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
    let failing = explore::show_failing(
        &mut demo,
        &found,
        ("loom", "loom::model::Builder::checkpoint_file"),
        ("n", &|t| format!("thread {t}")),
        "the failing schedule, step by step (1 ms = 1 step)",
    );
    if let Some(end) = failing.and_then(explore::last_write) {
        demo.say(&format!(
            "Two decrements, yet n = {end}: one update was lost, in {} of {} schedules.",
            found.failing, found.schedules
        ));
    }
    demo.section("2. With a lock");
    let checked = explore::explore(guarded, &key);
    println!(
        "  loom ran {} schedules of the locked version (loom's model of a mutex): {} failing{}.",
        checked.schedules,
        checked.failing,
        if checked.failing == 0 {
            ";\n  n ended at 0 in every one"
        } else {
            ""
        }
    );
    std::fs::remove_file(&key).ok();
    explore::finish(demo, &found, &checked, "lose an update");
}
