//! # Lesson 19: thread pools, futures and done-callbacks
//!
//! `cargo xtask demo pool [--quick] [--trace FILE]`
//!
//! (The course shows `ThreadPoolExecutor`; `ProcessPoolExecutor` has the same
//! API with worker processes, shown in part 3.)
//!
//! The course's Python (seed 003):
//!
//! ```python
//! from concurrent.futures import ThreadPoolExecutor
//! import time
//! pool = ThreadPoolExecutor(5)
//! def task():
//!     print('线程任务开始了...')
//!     time.sleep(1)
//!     print('线程任务结束了...')
//!     return 123
//! def call_back(res):
//!     print(type(res))
//!     res2 = res.result()
//!     print(res2)
//! for line in range(5):
//!     pool.submit(task).add_done_callback(call_back)
//! pool.shutdown()   # waits until every task of the pool is done
//! ```
//!
//! A pool keeps a fixed number of workers and feeds them tasks: it bounds how
//! many run at once ("to create as many threads as the hardware allows").
//! `submit` returns a future at once; a done-callback runs when the task
//! ends; `shutdown` waits for the queued work.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bingfa::pool::{Error, ProcessPool, ThreadPool};
use bingfa::trace::{record, EventKind};
use common::Demo;

const PYTHON: &str = r#"
pool = ThreadPoolExecutor(5)
def task():
    print('线程任务开始了...'); time.sleep(1); print('线程任务结束了...')
    return 123
def call_back(res):
    print(type(res)); print(res.result())
for line in range(5):
    pool.submit(task).add_done_callback(call_back)
pool.shutdown()
"#;

/// A task for the process pool: the square, and the pid that computed it.
fn square_in_worker(x: u64) -> (u64, u32) {
    // Recorded into the demo's trace when the pool was forked while it
    // recorded: a lane group per worker process.
    record(EventKind::Begin, &format!("square {x}"));
    thread::sleep(Duration::from_millis(2));
    record(EventKind::End, &format!("square {x}"));
    (x * x, std::process::id())
}

/// A task whose worker process dies (as if killed) in the middle.
fn die_in_worker((): ()) -> u64 {
    // SAFETY: raise() only sends a signal to this very process.
    unsafe { libc::raise(libc::SIGKILL) };
    0
}

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "pool",
        "A thread pool runs the course's tasks with done-callbacks; then 12 tasks on 3 workers\n\
         show the pool bounding how many run at once.",
    );
    demo.intro(
        "Lesson 19: thread pools, futures and done-callbacks",
        PYTHON,
    );
    let nap = demo.pause(Duration::from_millis(500));

    demo.section("1. The course: 5 tasks on ThreadPoolExecutor(5), each with a callback");
    let pool = ThreadPool::builder()
        .max_workers(5)
        .thread_name_prefix("worker")
        .build()
        .expect("start the pool");
    let callbacks = Arc::new(AtomicUsize::new(0));
    demo.record();
    let futures: Vec<_> = (0..5)
        .map(|_| {
            let f = pool
                .submit(move || {
                    println!(
                        "  {}: task starts (线程任务开始了...)",
                        thread::current().name().unwrap_or("?")
                    );
                    record(EventKind::Begin, "task");
                    thread::sleep(nap);
                    record(EventKind::End, "task");
                    println!(
                        "  {}: task ends (线程任务结束了...)",
                        thread::current().name().unwrap_or("?")
                    );
                    123
                })
                .expect("the pool is running");
            let callbacks = callbacks.clone();
            f.add_done_callback(move |outcome| {
                record(EventKind::Mark, "callback");
                let shown = match outcome {
                    Ok(v) => v.to_string(),
                    Err(e) => format!("raised {e}"),
                };
                println!(
                    "  callback on {}: the future is done, result() = {shown}",
                    thread::current().name().unwrap_or("?")
                );
                callbacks.fetch_add(1, Ordering::SeqCst);
            });
            f
        })
        .collect();
    println!("  main: 5 futures submitted at once; shutdown(wait=true) waits for them");
    pool.shutdown(true, false);
    let results: Vec<i32> = futures
        .iter()
        .map(|f| f.result().expect("task ok"))
        .collect();
    demo.show("five tasks, five workers");
    let ran = callbacks.load(Ordering::SeqCst);
    demo.say(&format!(
        "results: {results:?}; {ran} callbacks ran, each on the worker that finished its task."
    ));

    demo.section("2. The pool bounds concurrency: 12 tasks on 3 workers");
    let pool = ThreadPool::builder()
        .max_workers(3)
        .thread_name_prefix("pool3")
        .build()
        .expect("start the pool");
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let short = nap / 3;
    demo.record();
    let t = Instant::now();
    let squares = pool
        .map(
            {
                let (running, most) = (running.clone(), most.clone());
                move |x: u64| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    record(EventKind::Begin, &format!("task {x}"));
                    thread::sleep(short);
                    record(EventKind::End, &format!("task {x}"));
                    running.fetch_sub(1, Ordering::SeqCst);
                    x * x
                }
            },
            1..=12u64,
        )
        .expect("the pool is running")
        .collect::<Result<Vec<u64>, _>>()
        .expect("every task succeeds");
    let took = t.elapsed();
    drop(pool);
    let events = demo.show_counted("twelve tasks, three workers", "task", "running");
    let most = most.load(Ordering::SeqCst);
    // Which task each worker began with, in the order they began.
    let mut firsts: Vec<(String, String)> = Vec::new();
    for e in events.iter().filter(|e| e.kind == EventKind::Begin) {
        if !firsts.iter().any(|f| f.0 == *e.lane) {
            firsts.push((e.lane.to_string(), e.object.replace("task ", "")));
        }
    }
    let firsts_text: Vec<String> = firsts
        .iter()
        .map(|(w, t)| format!("{w} task {t}"))
        .collect();
    let mut first_tasks: Vec<u64> = firsts.iter().filter_map(|f| f.1.parse().ok()).collect();
    first_tasks.sort_unstable();
    let why = if first_tasks == [1, 2, 3] {
        "tasks 1, 2 and 3, in input order."
    } else {
        "not tasks 1, 2 and 3: a worker takes a batch of up to half of what is queued and runs\n\
         it in order, and idle workers steal from the others' batches."
    };
    demo.say(&format!(
        "map() returned {squares:?} in input order,\n\
         after {took:.1?} ({:.1} times a task's {short:.0?}). At most {most} tasks ran at once (the\n\
         counting row). The workers began with\n  {}:\n{why}",
        took.as_secs_f64() / short.as_secs_f64(),
        firsts_text.join(", ")
    ));

    demo.section("3. ProcessPoolExecutor: the same API, worker processes");
    demo.say(
        "Tasks are plain functions with serde arguments and results; each runs in one of the\n\
         pool's worker processes (pids below). A worker killed in the middle of a task fails\n\
         only that task's future, and the pool replaces it (Python breaks the whole pool).\n",
    );
    demo.record();
    let ppool = ProcessPool::builder()
        .max_workers(2)
        .build()
        .expect("start the process pool");
    let pids = ppool.worker_pids();
    let f = ppool
        .submit(square_in_worker, 12)
        .expect("the pool is running");
    let (x, pid) = f.result().expect("the task ran");
    println!("  submit(square, 12) -> {x}, computed in worker pid {pid} (workers: {pids:?})");
    let squares: Vec<u64> = ppool
        .map(|n: u64| square_in_worker(n).0, 1..=6u64)
        .expect("the pool is running")
        .collect::<Result<_, _>>()
        .expect("every task ran");
    println!("  map(square, 1..=6) -> {squares:?}");
    let doomed = ppool
        .submit(die_in_worker, ())
        .expect("the pool is running");
    let died = doomed.result();
    let died_text = match &died {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("raises: {e}"),
    };
    println!("  a task whose worker is killed (SIGKILL) -> {died_text}");
    let after = ppool
        .submit(square_in_worker, 5)
        .expect("the pool is running")
        .result()
        .expect("the replaced pool still works");
    println!(
        "  the next task still runs: square(5) = {} in worker pid {}",
        after.0, after.1
    );
    drop(ppool);
    let events = demo.show("the process pool's workers");
    let worker_groups: std::collections::BTreeSet<u32> = events
        .iter()
        .filter(|e| e.kind == EventKind::Begin)
        .map(|e| e.pid)
        .collect();
    demo.say(&format!(
        "Each worker process recorded its own tasks: {} lane group(s), one per process that\n\
         ran a task.",
        worker_groups.len()
    ));
    let worker_died = matches!(died, Err(Error::WorkerDied { .. }));

    demo.section("What to remember");
    demo.say(
        "submit() hands back a Future at once; result() waits for it; add_done_callback() runs\n\
         when it is done (at once if it already is). The pool's size bounds how many tasks run\n\
         at the same time; shutdown(wait) lets the queued tasks finish; dropping the pool does\n\
         the same. A panicking task fails only its own future.",
    );
    println!(
        "\nResult: {ran} of 5 callbacks ran; results {results:?}; at most {most} of 3 workers busy at once."
    );
    println!(
        "Result: process pool squares {squares:?}; killed worker failed only its task = {worker_died}; pool went on = {}.",
        after.0 == 25
    );
    demo.finish();
    if ran != 5 || results != [123; 5] || most > 3 || !worker_died || after.0 != 25 {
        std::process::exit(1);
    }
}
