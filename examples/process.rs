//! # Lesson 3: creating processes, two ways, and join
//!
//! `cargo xtask demo process [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003):
//!
//! ```python
//! from multiprocessing import Process
//! import time
//! def task(name):
//!     print(f'{name} 的任务开始执行')
//!     time.sleep(1)
//!     print(f'{name} 的任务已经结束')
//! if __name__ == '__main__':
//!     p = Process(target=task, args=('cwz',))
//!     p.start()
//!     print('主进程')
//! # 主进程 / cwz的任务开始执行 / cwz的任务已经结束
//!
//! class MyProcess(Process):
//!     def run(self):
//!         print('开始执行任务')
//!         time.sleep(1)
//!         print('结束执行任务')
//! if __name__ == '__main__':
//!     p = MyProcess()
//!     p.start()
//!     p.join()        # wait for the child before going on
//!     print('主进程')
//! ```
//!
//! `bingfa::process` starts a child two ways: **fork** runs a closure in a
//! copy of this process (Linux's default in Python), **spawn** starts this
//! program again and runs a registered function with serde arguments (what
//! Windows and macOS do; `bingfa::process::init()` must be the first line of
//! `main`). Python's "subclass with `run`" is a type with a `run` method
//! moved into the child.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bingfa::process::{self, Process};
use bingfa::trace::{record, EventKind};
use common::Demo;

const PYTHON: &str = r#"
def task(name):
    print(f'{name} 的任务开始执行'); time.sleep(1); print(f'{name} 的任务已经结束')
p = Process(target=task, args=('cwz',))    # way 1: a function
p.start()
print('主进程')                             # printed first: start() does not wait
class MyProcess(Process):                  # way 2: a subclass with run()
    def run(self): ...
p = MyProcess(); p.start(); p.join()       # join: wait for the child
"#;

/// The course's `task(name)`, run in a child.
fn task(name: &str, nap: Duration) {
    // Recorded into the parent's trace when it records: a lane group per
    // child process.
    bingfa::trace::name_process(&format!("child {name}"));
    record(EventKind::Begin, "task");
    println!(
        "    [{name}, pid {}] task starts   ({name} 的任务开始执行)",
        std::process::id()
    );
    thread::sleep(nap);
    println!(
        "    [{name}, pid {}] task ends     ({name} 的任务已经结束)",
        std::process::id()
    );
    record(EventKind::End, "task");
}

/// The spawn start method's entry point: a plain `fn` with serde arguments.
fn spawned_task((name, nap_ms): (String, u64)) {
    // A spawned child is a new program: it joins the parent's recording.
    bingfa::trace::attach(std::os::unix::process::parent_id());
    task(&name, Duration::from_millis(nap_ms));
}

/// Python's `class MyProcess(Process): def run(self)`.
trait Run {
    fn run(&self);
}

struct MyProcess {
    nap: Duration,
}

impl Run for MyProcess {
    fn run(&self) {
        bingfa::trace::name_process("child MyProcess-1");
        record(EventKind::Begin, "run()");
        println!(
            "    [MyProcess, pid {}] run() starts (开始执行任务)",
            std::process::id()
        );
        thread::sleep(self.nap);
        println!(
            "    [MyProcess, pid {}] run() ends   (结束执行任务)",
            std::process::id()
        );
        record(EventKind::End, "run()");
    }
}

/// Watches `p` from a thread of the parent: the lane shows the child alive
/// from start to exit (the parent cannot see inside the child's memory).
fn watch(p: Arc<Process>, lane: String) -> thread::JoinHandle<(String, Instant)> {
    thread::spawn(move || {
        let status = p.join().expect("join the child");
        assert!(status.success(), "{lane} failed: {status:?}");
        (lane, Instant::now())
    })
}

fn main() {
    process::init(); // a spawned child runs its entry point here and exits
    let mut demo = Demo::from_args(
        "process",
        "Starts children with fork (a closure, a type with run()) and with spawn; join;\n\
         start order vs finish order.",
    );
    demo.intro("Lesson 3: creating processes, two ways, and join", PYTHON);
    let nap = demo.pause(Duration::from_millis(500));

    demo.record();
    demo.section("1. A function as the target (fork)");
    let p = Process::builder()
        .name("cwz")
        .fork(move || task("cwz", nap))
        .expect("fork");
    println!(
        "  main: started {} (pid {}), goes on at once   (主进程)",
        p.name(),
        p.pid()
    );
    let status = p.join().expect("join");
    println!(
        "  main: join() returned; exitcode = {}",
        status.python_exitcode()
    );

    demo.section("2. A type with run(), Python's subclass of Process (fork)");
    let obj: Box<dyn Run> = Box::new(MyProcess { nap });
    let p = Process::builder()
        .name("MyProcess-1")
        .fork(move || obj.run())
        .expect("fork");
    println!("  main: waits in join() before printing");
    let status = p.join().expect("join");
    println!(
        "  main: child ended with exitcode {}, now main goes on   (主进程)",
        status.python_exitcode()
    );

    demo.section("3. The spawn start method: this program, started again");
    let p = Process::builder()
        .name("neo")
        .spawn(spawned_task, ("neo".to_string(), nap.as_millis() as u64))
        .expect("spawn");
    println!(
        "  main: spawned {} (pid {}); it re-runs this binary and calls spawned_task",
        p.name(),
        p.pid()
    );
    let status = p.join().expect("join");
    println!(
        "  main: join() returned; exitcode = {}",
        status.python_exitcode()
    );

    demo.show("fork a function, fork a type with run(), spawn");
    demo.say(
        "Each child recorded its own lane group, under its own pid: the spawned one too,\n\
         which joined the recording from a fresh copy of the program (trace::attach).",
    );

    demo.section("4. Start order is not finish order");
    demo.say("Three children start in the order A, B, C; they nap 3, 1 and 2 units.\n");
    demo.record();
    let unit = nap / 2;
    let watchers: Vec<_> = [("A", 3u32), ("B", 1), ("C", 2)]
        .into_iter()
        .map(|(name, units)| {
            let p = Process::builder()
                .name(name)
                .fork(move || task(name, unit * units))
                .expect("fork");
            println!("  main: started {name} (pid {})", p.pid());
            watch(Arc::new(p), format!("child {name}"))
        })
        .collect();
    let mut finished: Vec<(String, Instant)> = watchers
        .into_iter()
        .map(|w| w.join().expect("watcher"))
        .collect();
    finished.sort_by_key(|(_, t)| *t);
    let order: Vec<&str> = finished
        .iter()
        .map(|(l, _)| l.trim_start_matches("child "))
        .collect();
    demo.show("three children");
    demo.say(&format!(
        "They finished in the order {}: each child runs on its own, and the OS schedules\n\
         them independently. join() is how the parent waits for one of them.",
        order.join(", ")
    ));
    demo.section("What to remember");
    demo.say(
        "A process has its own memory and its own pid. fork copies the running program (fast;\n\
         safe when the parent has no other threads holding locks), spawn starts it afresh (safe\n\
         always; arguments travel with serde). start does not wait; join does.",
    );
    println!("\nResult: finish order {}.", order.join(", "));
    demo.finish();
    if order != ["B", "C", "A"] {
        std::process::exit(1);
    }
}
