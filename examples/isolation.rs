//! # Lesson 4: processes do not share memory, threads do
//!
//! `cargo xtask demo isolation [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003):
//!
//! ```python
//! from multiprocessing import Process
//! x = 100
//! def func():
//!     print('执行func函数')
//!     global x
//!     x = 200
//! if __name__ == '__main__':
//!     p = Process(target=func)
//!     p.start()
//!     print(x)          # 100: the child changed its own copy
//!     print('主进程')
//! ```
//!
//! Each process has its own memory ("名称空间", its own namespace): a child
//! starts with a copy of the parent's, and what it changes stays in the
//! copy. Threads of one process share one memory: a thread's change is the
//! parent's change. To share on purpose between processes, put the value in
//! shared memory (`bingfa::process::Value`, Python's `multiprocessing.Value`).

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::thread;

use bingfa::process::{Process, Value};
use bingfa::trace::{record, EventKind};
use common::Demo;

const PYTHON: &str = r#"
x = 100
def func():
    print('执行func函数')
    global x
    x = 200
p = Process(target=func)
p.start(); p.join()
print(x)              # 100
"#;

/// The course's global `x`. (An atomic, because Rust asks for one to let a
/// thread change a global; a process changes its own copy either way.)
static X: AtomicI64 = AtomicI64::new(100);

fn func(who: &str) {
    println!("    {who}: runs func (执行func函数), sets x = 200");
    record(EventKind::Mark, "x = 200");
    X.store(200, Ordering::SeqCst);
    println!("    {who}: now sees x = {}", X.load(Ordering::SeqCst));
}

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "isolation",
        "A child process changes a global: the parent still sees 100. A thread changes it: the\n\
         parent sees 200. A shared-memory Value crosses the process boundary on purpose.",
    );
    demo.intro(
        "Lesson 4: processes do not share memory, threads do",
        PYTHON,
    );
    demo.record();

    demo.section("1. A child process sets x = 200");
    let p = Process::builder()
        .name("child")
        .fork(|| {
            bingfa::trace::name_process("child process");
            func("child process")
        })
        .expect("fork");
    p.join().expect("join");
    let after_process = X.load(Ordering::SeqCst);
    record(EventKind::Mark, &format!("reads x = {after_process}"));
    println!("  parent: x = {after_process}   (the child changed its own copy)");

    demo.section("2. A thread sets x = 200");
    thread::Builder::new()
        .name("thread".into())
        .spawn(|| func("thread"))
        .expect("spawn")
        .join()
        .expect("join");
    let after_thread = X.load(Ordering::SeqCst);
    record(EventKind::Mark, &format!("reads x = {after_thread}"));
    println!("  parent: x = {after_thread}   (threads share the process's memory)");

    demo.section("3. Sharing on purpose: a Value in shared memory");
    let shared = Value::new(100i64).expect("shared memory");
    let child_view = shared.clone();
    let p = Process::builder()
        .name("child-with-value")
        .fork(move || {
            bingfa::trace::name_process("child with the Value");
            child_view.set(200);
            record(EventKind::Mark, "Value = 200");
            println!("    child: set the shared Value to 200");
        })
        .expect("fork");
    p.join().expect("join");
    let shared_after = shared.get();
    println!("  parent: the Value holds {shared_after}   (both processes map the same page)");
    let events = demo.show("who changed what");
    let me = std::process::id();
    let child_said = events
        .iter()
        .any(|e| e.pid != me && &*e.object == "x = 200");
    if child_said {
        demo.say(&format!(
            "The child process's \"x = 200\" is in its own lane group: the recorder hands a\n\
             child a file to write its events to, on purpose, as the Value is shared on purpose.\n\
             Its x was its own copy: right after, the parent read x = {after_process}. The thread\n\
             wrote into the parent's very memory, and the parent read x = {after_thread}."
        ));
    } else {
        demo.say(&format!(
            "The child process's \"x = 200\" did not reach the trace in this run. Its x was its\n\
             own copy: the parent read x = {after_process}; after the thread, x = {after_thread}."
        ));
    }

    demo.section("What to remember");
    demo.say(
        "A process is a unit of resources: its own memory, copied at fork. A thread is a unit\n\
         of execution inside one process: all threads see the same memory, which is why they\n\
         need locks (lesson 13) and processes need IPC (queues, pipes, shared Values).",
    );
    println!(
        "\nResult: after the child process x = {after_process}; after the thread x = {after_thread}; shared Value = {shared_after}."
    );
    demo.finish();
    if (after_process, after_thread, shared_after) != (100, 200, 200) {
        std::process::exit(1);
    }
}
