//! # Lesson 12: threads, two ways to create them, names and is_alive
//!
//! `cargo xtask demo threads [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003):
//!
//! ```python
//! from threading import Thread, current_thread
//! import time
//! # 1. a function as the target
//! def task():
//!     print('线程开启')
//!     time.sleep(1)
//!     print('线程结束')
//! t = Thread(target=task)
//! t.start()
//! # 2. a subclass with run()
//! class MyThread(Thread):
//!     def run(self):
//!         print('线程开启...')
//!         time.sleep(1)
//!         print('线程结束...')
//! t = MyThread()
//! t.start()
//! # attributes
//! def task():
//!     print(f'线程开启{current_thread().name}')
//!     time.sleep(1)
//!     print(f'线程结束{current_thread().name}')
//! t = Thread(target=task)
//! print(t.isAlive())
//! t.start()
//! print(t.isAlive())
//! ```
//!
//! In Rust a thread runs a closure (`std::thread::spawn` or
//! `std::thread::Builder` for a name); Python's "subclass with `run`" becomes
//! a type that implements a small trait and is moved into the thread.
//! `JoinHandle::is_finished` is the opposite of Python's `is_alive` once the
//! thread started; before `start` there is no handle at all, which is the
//! Rust way of saying "not alive".

mod common;

use std::thread;
use std::time::Duration;

use bingfa::trace::{record, EventKind};
use common::Demo;

const PYTHON: &str = r#"
def task():
    print(f'线程开启{current_thread().name}')
    time.sleep(1)
    print(f'线程结束{current_thread().name}')
t = Thread(target=task)          # way 1: a function
print(t.is_alive())              # False: not started
t.start()
print(t.is_alive())              # True
class MyThread(Thread):          # way 2: a subclass with run()
    def run(self): ...
MyThread().start()
"#;

/// Python's "subclass of Thread with a `run` method", in Rust: a type that
/// knows its work, moved into the thread that runs it.
trait Run: Send + 'static {
    fn run(self);
}

struct MyThread {
    nap: Duration,
}

impl Run for MyThread {
    fn run(self) {
        let me = thread::current();
        println!("  {} started (线程开启...)", me.name().unwrap_or("?"));
        record(EventKind::Begin, "run()");
        thread::sleep(self.nap);
        record(EventKind::End, "run()");
        println!("  {} finished (线程结束...)", me.name().unwrap_or("?"));
    }
}

/// Python's `t.join(); t.is_alive()`: waits until the thread has finished,
/// asks it whether it is alive (`!is_finished()`), then takes its result.
fn join<T>(t: thread::JoinHandle<T>) -> (T, bool) {
    while !t.is_finished() {
        thread::sleep(Duration::from_millis(1));
    }
    let alive = !t.is_finished();
    (t.join().expect("the thread panicked"), alive)
}

/// `Thread(...).start()` for anything that implements [`Run`].
fn start(name: &str, work: impl Run) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name(name.into())
        .spawn(move || work.run())
        .expect("spawn")
}

fn main() {
    let mut demo = Demo::from_args(
        "threads",
        "Creates threads two ways, prints current_thread().name and is_alive before and after.",
    );
    demo.intro(
        "Lesson 12: threads, two ways to create them, names and is_alive",
        PYTHON,
    );
    let nap = demo.pause(Duration::from_millis(500));
    demo.record();

    demo.section("1. A function (closure) as the target, with a name");
    let builder = thread::Builder::new().name("Thread-1".into());
    println!("  before start: is_alive = false (there is only a Builder, no thread yet)");
    // The task also waits until main has asked is_alive: on a busy machine
    // main may not run again before a short sleep is over.
    let asked = std::sync::Arc::new(std::sync::Barrier::new(2));
    let asked2 = asked.clone();
    let t = builder
        .spawn(move || {
            let name = thread::current().name().unwrap_or("?").to_string();
            println!("  {name} started (线程开启{name})");
            record(EventKind::Begin, "task()");
            thread::sleep(nap);
            asked2.wait();
            record(EventKind::End, "task()");
            println!("  {name} finished (线程结束{name})");
            name.len()
        })
        .expect("spawn");
    let alive_after_start = !t.is_finished();
    println!("  after start:  is_alive = {alive_after_start}");
    asked.wait();
    let name = t.thread().name().map(str::to_string);
    let (len, alive_after_join) = join(t);
    println!(
        "  after join:   is_alive = {alive_after_join} (join returned {len}, the closure's result)"
    );

    demo.section("2. A type with run(), Python's subclass of Thread");
    let t2 = start("MyThread-1", MyThread { nap });
    let t3 = start("MyThread-2", MyThread { nap });
    println!(
        "  both started; alive: {} and {}",
        !t2.is_finished(),
        !t3.is_finished()
    );
    let (_, alive2) = join(t2);
    let (_, alive3) = join(t3);
    println!("  both joined: is_alive = {alive2} and {alive3}");

    demo.section("3. current_thread() in the main thread");
    println!(
        "  main thread's name: {:?} (Python: MainThread)",
        thread::current().name().unwrap_or("?")
    );
    let events = demo.show("three threads");
    let span = |lane: &str| {
        let t: Vec<_> = events
            .iter()
            .filter(|e| &*e.lane == lane)
            .map(|e| e.t)
            .collect();
        (
            t.first().copied().unwrap_or_default(),
            t.last().copied().unwrap_or_default(),
        )
    };
    let ((b1, e1), (b2, e2)) = (span("MyThread-1"), span("MyThread-2"));
    if b1 < e2 && b2 < e1 {
        demo.say(
            "The two MyThread lanes overlap: the threads ran at the same time, and the main\n\
             thread waited for both in join().",
        );
    } else {
        demo.say(
            "The two MyThread lanes did not overlap in this run: the machine ran one after the\n\
             other (a busy machine, or one core). Run it again to see them side by side.",
        );
    }
    demo.section("What to remember");
    demo.say(
        "thread::Builder::new().name(..).spawn(closure) is Python's Thread(target=..., name=...)\n\
         plus start(); join() waits and hands back the closure's result; is_finished() tells\n\
         whether it ended. A type with a run() method moved into the closure is the subclass way.",
    );
    println!(
        "\nResult: name {:?}, alive after start = {alive_after_start}, alive after join = {alive_after_join}.",
        name.as_deref().unwrap_or("?")
    );
    demo.finish();
    if !alive_after_start || alive_after_join || name.as_deref() != Some("Thread-1") {
        std::process::exit(1);
    }
}
