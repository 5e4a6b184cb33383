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
//! on every core, like processes, and cost less. To show the difference
//! rather than tell it, the demo also runs the threads under an imitation
//! GIL: one global lock taken around each unit of work (about a millisecond,
//! as CPython hands the GIL over every few milliseconds), which brings them
//! back to about 1x. Green threads share one OS thread: no faster than
//! serial on CPU work, but the cheapest way to wait for many things at once.
//! The demo times 6 CPU tasks and 100 IO tasks each way on this machine and
//! says what the machine allowed (cores, load).

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bingfa::green;
use bingfa::process::Process;
use bingfa::sync::Mutex;
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
                .fork(move || {
                    // The child records into the parent's trace.
                    bingfa::trace::name_process(&format!("process p{i}"));
                    record(EventKind::Begin, "work");
                    task();
                    record(EventKind::End, "work");
                })
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

/// The 1-minute load average, where the system tells it.
fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// What the CPU-bound threads' speed-up says about this run, in words.
fn verdict(speed: f64, cores: usize, tasks: usize) -> String {
    let best = cores.min(tasks) as f64;
    if speed > best * 1.15 {
        format!("{speed:.1}x, more than {best:.0} cores allow: the machine was busier when the baseline ran; timings are noisy here")
    } else if cores == 1 {
        format!("{speed:.1}x: this machine has one core, so nothing runs in parallel")
    } else if speed >= 0.75 * best {
        format!("{speed:.1}x of a possible {best:.0}x: they used every core")
    } else if speed >= 1.3 {
        format!("{speed:.1}x of a possible {best:.0}x: in parallel, but other programs had part of the cores")
    } else {
        format!("{speed:.1}x of a possible {best:.0}x: no speed-up in this run, the cores were busy with other programs")
    }
}

/// The speed-up of a way that runs one task at a time, in words.
fn one_at_a_time(speed: f64, why: &str) -> String {
    if speed > 1.15 {
        format!("{speed:.1}x ({why}: above 1x only because the baseline ran on a busier machine)")
    } else {
        format!("{speed:.1}x ({why})")
    }
}

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "cpu-vs-io",
        "Times 6 CPU-bound and 100 IO-bound tasks under processes, threads (with and without an\n\
         imitation GIL) and green threads.",
    );
    demo.intro(
        "Lesson 14: CPU-bound and IO-bound work under processes, threads and green threads",
        PYTHON,
    );
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_alone = demo.pause(Duration::from_millis(400));
    let io_wait = demo.pause(Duration::from_millis(1000));
    let steps = calibrate(cpu_alone);
    print!("  os.cpu_count() = {cores}");
    match load_average() {
        Some(l) => {
            println!(", load average {l:.2} (programs wanting a core, over the last minute)")
        }
        None => println!(),
    }
    println!("  work1 = {steps} additions, about {cpu_alone:?} on one core; work2 = a {io_wait:?} wait\n");

    demo.section(&format!("1. {CPU_TASKS} CPU-bound tasks"));
    // The baseline: one task alone, the best of three runs (the least
    // disturbed by other programs), times the number of tasks.
    let one = (0..3)
        .map(|_| {
            let t = Instant::now();
            black_box(work1(steps));
            t.elapsed()
        })
        .min()
        .expect("three runs");
    let serial = one * CPU_TASKS as u32;
    let speed = |d: Duration, base: Duration| base.as_secs_f64() / d.as_secs_f64();
    println!("  one after the other:   {serial:>8.2?}   ({CPU_TASKS} x {one:.1?}, one task alone at its best of 3)");
    demo.record();
    let cpu_p = with_processes(CPU_TASKS, move || {
        black_box(work1(steps));
    });
    println!(
        "  {CPU_TASKS} processes:           {cpu_p:>8.2?}   {}",
        verdict(speed(cpu_p, serial), cores, CPU_TASKS)
    );
    let cpu_t = with_threads(CPU_TASKS, "thread", move || {
        black_box(work1(steps));
    });
    println!(
        "  {CPU_TASKS} threads:             {cpu_t:>8.2?}   {}",
        verdict(speed(cpu_t, serial), cores, CPU_TASKS)
    );
    demo.show("CPU-bound: processes, then threads (no GIL)");
    demo.say(
        "Each process is a lane group of its own: the children recorded into the same trace.\n\
         Bars that overlap in time ran at once; how much faster that made them depends on\n\
         the cores free at that moment.",
    );

    // Python's GIL, imitated: one global lock around each unit of work.
    let units = (cpu_alone.as_millis() as u64).max(4);
    let gil = Arc::new(Mutex::named("GIL", ()));
    demo.record();
    let g = gil.clone();
    let cpu_gil = with_threads(CPU_TASKS, "py-thread", move || {
        for _ in 0..units {
            let _held = g.lock(); // the interpreter runs a bytecode slice...
            black_box(work1(steps / units));
        } // ...and hands the GIL over
    });
    let cpu_g = with_green(CPU_TASKS, "green", move || {
        black_box(work1(steps));
    });
    let (s_gil, s_t, s_g) = (
        speed(cpu_gil, serial),
        speed(cpu_t, serial),
        speed(cpu_g, serial),
    );
    println!(
        "  {CPU_TASKS} threads with a GIL:  {cpu_gil:>8.2?}   {}",
        one_at_a_time(
            s_gil,
            "one global lock around each unit of work, like CPython"
        )
    );
    println!(
        "  {CPU_TASKS} green threads:       {cpu_g:>8.2?}   {}",
        one_at_a_time(s_g, "one OS thread, so one core")
    );
    demo.show("CPU-bound: threads under an imitation GIL, then green threads");
    demo.say(&format!(
        "Under the GIL the thread lanes take turns: G (holds the GIL) in one lane while the\n\
         others wait for it. That is why the course says \"CPU-bound: processes\" for Python:\n\
         here the GIL run gave {s_gil:.1}x, Rust's own threads {s_t:.1}x. The green lanes run one after\n\
         the other: a green thread that computes never waits, so never switches."
    ));

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
    let io_serial = io_wait * IO_TASKS as u32;
    println!(
        "  {:<14} {:>10} {:>10} {:>12} {:>10}",
        "", "processes", "threads", "GIL threads", "green"
    );
    println!(
        "  {:<14} {:>9.1}x {:>9.1}x {:>11.1}x {:>9.1}x",
        format!("{CPU_TASKS} CPU tasks"),
        speed(cpu_p, serial),
        s_t,
        s_gil,
        s_g
    );
    println!(
        "  {:<14} {:>9.1}x {:>9.1}x {:>12} {:>9.1}x",
        format!("{IO_TASKS} IO tasks"),
        speed(io_p, io_serial),
        speed(io_t, io_serial),
        "",
        speed(io_g, io_serial)
    );
    println!("  (speed-up over running the tasks one after the other)");

    demo.section("What to remember");
    let parallel = s_t >= 1.3 && s_t > s_gil * 1.2;
    if parallel {
        demo.say(&format!(
            "CPU-bound work scales with cores ({cores} here): processes and, in Rust, threads too\n\
             ({s_t:.1}x against {s_gil:.1}x under the imitation GIL; the course's rule \"CPU: processes\"\n\
             comes from CPython's GIL)."
        ));
    } else {
        demo.say(&format!(
            "CPU-bound work scales with cores, but this run could not show it: threads gave\n\
             {s_t:.1}x and the imitation GIL {s_gil:.1}x, not the gap of up to {}x the lesson is about,\n\
             because {}. Run it again on an idle machine with more than one core.",
            cores.min(CPU_TASKS),
            if cores == 1 { "this machine has one core" } else { "the cores were busy with other programs" }
        ));
    }
    demo.say(&format!(
        "IO-bound work scales with how many waits overlap: threads, or much cheaper, green\n\
         threads, which waited for {IO_TASKS} sleeps at once on one OS thread. Processes pay for\n\
         their start."
    ));
    println!(
        "\nResult: CPU speed-up processes {:.1}x, threads {:.1}x, GIL threads {:.1}x, green {:.1}x; IO speed-up processes {:.0}x, threads {:.0}x, green {:.0}x.",
        speed(cpu_p, serial),
        s_t,
        s_gil,
        s_g,
        speed(io_p, io_serial),
        speed(io_t, io_serial),
        speed(io_g, io_serial)
    );
    demo.finish();
    // Every way overlaps IO waits. (CPU speed-ups depend on how busy the
    // machine is, so they are shown and judged in words, not checked.)
    let ok = speed(io_t, io_serial) > 10.0
        && speed(io_g, io_serial) > 10.0
        && speed(io_p, io_serial) > 5.0;
    if !ok {
        std::process::exit(1);
    }
}
