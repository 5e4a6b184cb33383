//! # Lesson 14: CPU-bound and IO-bound work under processes, threads and green threads
//!
//! `cargo xtask demo cpu-vs-io [--quick] [--trace FILE]`
//!
//! The course's Python (seed 003):
//!
//! ```python
//! from threading import Thread
//! from multiprocessing import Process
//! import time, os
//! def work1():                      # CPU-bound
//!     number = 0
//!     for line in range(100000000):
//!         number += 1
//! def work2():                      # IO-bound
//!     time.sleep(2)
//! if __name__ == '__main__':
//!     print(os.cpu_count())
//!     start = time.time()
//!     list1 = []
//!     for line in range(6):         # 6 CPU tasks in processes (or 100 IO tasks in threads)
//!         p = Process(target=work1)
//!         list1.append(p)
//!         p.start()
//!     for p in list1:
//!         p.join()
//!     end = time.time()
//!     print(f'程序执行时间{end - start}')
//! # 结论: 在计算密集型的情况下, 使用多进程; 在IO密集型的情况下, 使用多线程
//! ```
//!
//! In CPython the GIL lets one thread run Python code at a time, so CPU work
//! only runs in parallel in processes. Rust has no GIL: threads run CPU work
//! on every core, like processes, and cost less. Green threads share one OS
//! thread: no faster than serial on CPU work, but the cheapest way to wait
//! for many things at once. The demo times 6 CPU tasks and 100 IO tasks each
//! way on this machine.

mod common;

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use bingfa::green;
use bingfa::process::Process;
use bingfa::trace::{record, record_in, EventKind};
use common::Demo;

const PYTHON: &str = r#"
def work1():                          # CPU-bound: count to 100 million
    number = 0
    for line in range(100000000): number += 1
def work2():                          # IO-bound: wait 2 s
    time.sleep(2)
# 6 x work1 and 100 x work2, each with Process(...) and with Thread(...), timed
# 结论: 计算密集型用多进程, IO密集型用多线程 (CPU-bound: processes; IO-bound: threads)
"#;

const CPU_TASKS: usize = 6;
const IO_TASKS: usize = 100;

/// The CPU-bound task: `steps` additions the optimiser cannot remove.
fn work1(steps: u64) -> u64 {
    let mut number = 0u64;
    for _ in 0..steps {
        number = black_box(number + 1);
    }
    number
}

/// Steps that take about `target` on one core here.
fn calibrate(target: Duration) -> u64 {
    let probe = 2_000_000u64;
    let t = Instant::now();
    black_box(work1(probe));
    let took = t.elapsed().max(Duration::from_micros(50));
    ((probe as f64) * target.as_secs_f64() / took.as_secs_f64()) as u64
}

fn with_processes(n: usize, task: impl Fn() + Clone) -> Duration {
    let t = Instant::now();
    let children: Vec<Process> = (0..n)
        .map(|i| {
            let task = task.clone();
            Process::builder()
                .name(format!("p{i}"))
                .fork(task)
                .expect("fork")
        })
        .collect();
    for c in children {
        assert!(c.join().expect("join").success());
    }
    t.elapsed()
}

fn with_threads(n: usize, label: &str, task: impl Fn() + Clone + Send + 'static) -> Duration {
    let t = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let task = task.clone();
            thread::Builder::new()
                .name(format!("{label}-{i}"))
                .spawn(move || {
                    record(EventKind::Begin, "work");
                    task();
                    record(EventKind::End, "work");
                })
                .expect("spawn")
        })
        .collect();
    for h in handles {
        h.join().expect("join");
    }
    t.elapsed()
}

fn with_green(n: usize, label: &'static str, task: impl Fn() + Clone + 'static) -> Duration {
    green::run(move || {
        let t = Instant::now();
        let hs: Vec<_> = (0..n)
            .map(|i| {
                let task = task.clone();
                green::Builder::new()
                    .name(format!("{label}-{i}"))
                    .spawn(move || {
                        let lane = format!("{label}-{i}");
                        record_in(&lane, EventKind::Begin, "work");
                        task();
                        record_in(&lane, EventKind::End, "work");
                    })
                    .expect("spawn a green thread")
            })
            .collect();
        green::joinall(&hs);
        t.elapsed()
    })
    .expect("the hub ran")
}

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "cpu-vs-io",
        "Times 6 CPU-bound and 100 IO-bound tasks under processes, threads and green threads.",
    );
    demo.intro(
        "Lesson 14: CPU-bound and IO-bound work under processes, threads and green threads",
        PYTHON,
    );
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_alone = demo.pause(Duration::from_millis(400));
    let io_wait = demo.pause(Duration::from_millis(1000));
    let steps = calibrate(cpu_alone);
    println!("  os.cpu_count() = {cores}");
    println!("  work1 = {steps} additions, about {cpu_alone:?} on one core; work2 = a {io_wait:?} wait\n");

    demo.section(&format!("1. {CPU_TASKS} CPU-bound tasks"));
    let serial = {
        let t = Instant::now();
        for _ in 0..CPU_TASKS {
            black_box(work1(steps));
        }
        t.elapsed()
    };
    println!("  one after the other:   {serial:>8.2?}");
    let cpu_p = with_processes(CPU_TASKS, move || {
        black_box(work1(steps));
    });
    println!("  {CPU_TASKS} processes:           {cpu_p:>8.2?}");
    demo.record();
    let cpu_t = with_threads(CPU_TASKS, "cpu-thread", move || {
        black_box(work1(steps));
    });
    println!("  {CPU_TASKS} threads:             {cpu_t:>8.2?}   (no GIL: they use every core)");
    let cpu_g = with_green(CPU_TASKS, "cpu-green", move || {
        black_box(work1(steps));
    });
    println!("  {CPU_TASKS} green threads:       {cpu_g:>8.2?}   (one OS thread: one core)");
    demo.show("CPU-bound: threads, then green threads");
    demo.say(
        "The thread bars overlap: all six run at once, sharing the cores. The green bars run\n\
         one after the other: a green thread that computes never waits, so never switches.",
    );

    demo.section(&format!("2. {IO_TASKS} IO-bound tasks"));
    println!(
        "  one after the other:   would take {:.1?} ({IO_TASKS} x {io_wait:?}), skipped",
        io_wait * IO_TASKS as u32
    );
    let io_p = with_processes(IO_TASKS, move || thread::sleep(io_wait));
    println!("  {IO_TASKS} processes:         {io_p:>8.2?}");
    let io_t = with_threads(IO_TASKS, "io-thread", move || thread::sleep(io_wait));
    println!("  {IO_TASKS} threads:           {io_t:>8.2?}");
    let io_g = with_green(IO_TASKS, "io-green", move || green::sleep(io_wait));
    println!("  {IO_TASKS} green threads:     {io_g:>8.2?}   (one OS thread)");

    demo.section("Side by side");
    let speed = |d: Duration, base: Duration| base.as_secs_f64() / d.as_secs_f64();
    let io_serial = io_wait * IO_TASKS as u32;
    println!(
        "  {:<18} {:>12} {:>12} {:>12}",
        "", "processes", "threads", "green"
    );
    println!(
        "  {:<18} {:>11.1}x {:>11.1}x {:>11.1}x",
        format!("{CPU_TASKS} CPU tasks"),
        speed(cpu_p, serial),
        speed(cpu_t, serial),
        speed(cpu_g, serial)
    );
    println!(
        "  {:<18} {:>11.1}x {:>11.1}x {:>11.1}x",
        format!("{IO_TASKS} IO tasks"),
        speed(io_p, io_serial),
        speed(io_t, io_serial),
        speed(io_g, io_serial)
    );
    println!("  (speed-up over running the tasks one after the other)");

    if cores > 1 && speed(cpu_t, serial) < 1.5 {
        demo.say(&format!(
            "\n(The CPU speed-ups are low in this run: the machine is busy with other programs.\n\
             On an idle machine with {cores} cores, processes and threads reach about {cores}x.)"
        ));
    }

    demo.section("What to remember");
    demo.say(&format!(
        "CPU-bound work scales with cores ({cores} here): processes and, in Rust, threads too\n\
         (the course's rule \"CPU: processes\" comes from CPython's GIL). IO-bound work scales\n\
         with how many waits overlap: threads, or much cheaper, green threads, which waited\n\
         for {IO_TASKS} sleeps at once on one OS thread. Processes pay for their start."
    ));
    println!(
        "\nResult: CPU speed-up processes {:.1}x, threads {:.1}x, green {:.1}x; IO speed-up processes {:.0}x, threads {:.0}x, green {:.0}x.",
        speed(cpu_p, serial),
        speed(cpu_t, serial),
        speed(cpu_g, serial),
        speed(io_p, io_serial),
        speed(io_t, io_serial),
        speed(io_g, io_serial)
    );
    demo.finish();
    // Every way overlaps IO waits. (CPU speed-ups depend on how busy the
    // machine is, so they are shown, not checked.)
    let ok = speed(io_t, io_serial) > 10.0
        && speed(io_g, io_serial) > 10.0
        && speed(io_p, io_serial) > 5.0;
    if !ok {
        std::process::exit(1);
    }
}
