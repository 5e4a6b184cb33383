//! # Lesson 10: a queue between processes
//!
//! `cargo xtask demo queue [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003):
//!
//! ```python
//! from multiprocessing import Queue
//! q = Queue(5)
//! q.put(1); print('进入数据1')
//! q.put(2); print('进入数据2')
//! q.put(3); print('进入数据3')
//! q.put(4); print('进入数据4')
//! q.put(5); print('进入数据5')
//! print(q.full())            # True
//! q.put_nowait(6)            # queue.Full
//! print(q.get())             # 1 ... 5
//! print(q.get_nowait())      # queue.Empty
//! print(q.empty())
//!
//! # 进程间通信 IPC: processes do not share memory, so they talk through a queue
//! def task1(q):
//!     data = 'hello 你好'
//!     q.put(data)
//!     print('进程1添加数据到队列')
//! def task2(q):
//!     print(q.get())
//!     print('进程2从队列中获取数据')
//! ```
//!
//! `bingfa::process::Queue` lives in shared memory: a bounded ring that any
//! number of processes put into and get from, with items encoded by serde.
//! Every call of the course appears below, with what it returns, and the
//! same queue then carries data from one process to another.

mod common;

use std::thread;
use std::time::Duration;

use bingfa::process::{Error, Process, Queue};
use bingfa::trace::{record, EventKind};
use common::Demo;

const PYTHON: &str = r#"
q = Queue(5)
q.put(1) ... q.put(5)     # 进入数据1..5
q.full()                  # True
q.put_nowait(6)           # raises queue.Full
q.get() x 5               # 1, 2, 3, 4, 5 (first in, first out)
q.get_nowait()            # raises queue.Empty
q.empty()                 # True
# then: process 1 puts 'hello 你好', process 2 gets it
"#;

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "queue",
        "Every call of multiprocessing.Queue and its Full / Empty error, then a queue carrying\n\
         data between two processes.",
    );
    demo.intro("Lesson 10: a queue between processes", PYTHON);
    let nap = demo.pause(Duration::from_millis(300));
    let mut calls = Vec::new();

    demo.section("1. Queue(5): put, full, put_nowait, get, get_nowait, empty");
    let q: Queue<i32> = Queue::new(5).expect("a queue in shared memory");
    // The puts happen in a child process: the queue lives in shared memory.
    let qc = q.clone();
    let putter = Process::builder()
        .name("putter")
        .fork(move || {
            for i in 1..=5 {
                qc.put(i).expect("room for 5");
                println!("    putter: put({i})   (进入数据{i})");
            }
        })
        .expect("fork");
    putter.join().expect("join");
    let full = q.is_full();
    println!("  parent: is_full() = {full}   (q.full())");
    calls.push(format!("full={full}"));
    match q.try_put(6) {
        Err(e) if e.is_full() => {
            println!(
                "  parent: try_put(6) -> Full (put_nowait raises queue.Full), and the 6 comes back: {}",
                e.into_inner()
            );
            calls.push("put_nowait=Full".into());
        }
        other => println!("  parent: try_put(6) -> {other:?} (unexpected)"),
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        let v = q.get().expect("an item");
        println!("  parent: get() -> {v}");
        got.push(v);
    }
    match q.try_get() {
        Err(Error::Empty) => {
            println!("  parent: try_get() -> Empty   (q.get_nowait() raises queue.Empty)");
            calls.push("get_nowait=Empty".into());
        }
        other => println!("  parent: try_get() -> {other:?} (unexpected)"),
    }
    let empty = q.is_empty();
    println!("  parent: is_empty() = {empty}");
    calls.push(format!("empty={empty}"));
    match q.get_timeout(nap / 3) {
        Err(Error::Timeout) => {
            println!(
                "  parent: get_timeout({:?}) -> Timeout   (q.get(timeout=...) raises queue.Empty)",
                nap / 3
            );
            calls.push("get_timeout=Timeout".into());
        }
        other => println!("  parent: get_timeout -> {other:?} (unexpected)"),
    }

    demo.section("2. IPC: process 1 puts, process 2 gets");
    let q: Queue<String> = Queue::new(4).expect("a queue in shared memory");
    demo.record();
    let q2 = q.clone();
    // Recording is on before the forks: each child records its own wait and
    // put into this trace, under its own pid.
    let p2 = Process::builder()
        .name("process-2")
        .fork(move || {
            bingfa::trace::name_process("process 2");
            record(EventKind::Blocked, "queue");
            let data = q2.get().expect("a message");
            record(EventKind::Unblocked, "queue");
            record(EventKind::Mark, &format!("got {data:?}"));
            println!("    process 2: got {data:?}   (进程2从队列中获取数据)");
        })
        .expect("fork");
    thread::sleep(nap); // process 2 is (most likely) already waiting in get()
    let q1 = q.clone();
    let p1 = Process::builder()
        .name("process-1")
        .fork(move || {
            bingfa::trace::name_process("process 1");
            record(EventKind::Begin, "put");
            q1.put("hello 你好".to_string()).expect("room");
            record(EventKind::End, "put");
            println!("    process 1: put \"hello 你好\"   (进程1添加数据到队列)");
        })
        .expect("fork");
    p1.join().expect("join process 1");
    p2.join().expect("join process 2");
    println!("  parent: 主进程 (both children done)");
    let events = demo.show("two processes and a queue");
    let at = |pid: u32, kind: EventKind| {
        events
            .iter()
            .find(|e| e.pid == pid && e.kind == kind)
            .map(|e| e.t)
    };
    let (waited_from, waited_to) = (
        at(p2.pid(), EventKind::Blocked),
        at(p2.pid(), EventKind::Unblocked),
    );
    let put_at = at(p1.pid(), EventKind::Begin);
    if let (Some(from), Some(to), Some(put)) = (waited_from, waited_to, put_at) {
        demo.say(&format!(
            "Both children recorded their own lanes (their own pids). Process 2 waited in get()\n\
             for {:.1?} (shaded), until process 1's put, begun at {put:.1?}, arrived through shared\n\
             memory ({:.1?} later); the wait is a futex sleep in the kernel, not a busy loop.",
            to.saturating_sub(from),
            to.saturating_sub(put)
        ));
    }

    demo.section("What to remember");
    demo.say(
        "put blocks while the queue is full, get while it is empty; try_put and try_get\n\
         (put_nowait, get_nowait) return Full or Empty at once, and a failed put hands the\n\
         item back. is_full and is_empty are snapshots: another process may change the\n\
         queue right after. The queue is the way processes, which share no memory, talk.",
    );
    println!("\nResult: got {got:?}; {}.", calls.join(", "));
    demo.finish();
    let expected = [
        "full=true",
        "put_nowait=Full",
        "get_nowait=Empty",
        "empty=true",
        "get_timeout=Timeout",
    ];
    if got != [1, 2, 3, 4, 5] || calls != expected {
        std::process::exit(1);
    }
}
