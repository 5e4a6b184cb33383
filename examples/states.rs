//! # Lesson 2: process states; sync and async, blocking and non-blocking
//!
//! `cargo xtask demo states [--quick] [--trace FILE]`
//!
//! The course (seed 003), in words:
//!
//! ```text
//! 进程的三个状态:
//!   就绪态: 所有程序创建时都会进入就绪态, 准备调度                  (ready)
//!   运行态: 调度后的进程, 进入运行态                                (running)
//!   阻塞态: 凡是遇到IO操作的进程, 都会进入阻塞态; 若IO结束必须重新进入就绪态 (blocked)
//! 同步与异步 指的是提交任务的方式:
//!   同步: 提交第一个任务时, 必须等待该任务执行结束后, 才能继续提交并执行第二个任务
//!   异步: 提交第一个任务时, 不需要原地等待, 立即可以提交并执行第二个任务
//! 阻塞与非阻塞: 阻塞: 遇到IO一定会阻塞; 非阻塞: 指的是就绪态、运行态
//! ```
//!
//! The demo starts two child processes pinned to one CPU core, so that only
//! one can run at a time: "worker" computes, then waits for IO (a pipe),
//! then computes again; "rival" computes all along. The parent watches both
//! in the kernel's own accounting (`/proc/PID/stat` for blocked, and
//! `/proc/PID/schedstat`: time on the CPU versus time waiting for it) and
//! draws their states: running, ready (waiting for the CPU), blocked.
//! Then it shows sync vs async submission and blocking vs non-blocking calls.

mod common;

use std::fs;
use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use bingfa::pool::ThreadPool;
use bingfa::process::{Pipe, Process};
use bingfa::trace::{Event, EventKind};
use common::Demo;

const COURSE: &str = r#"
就绪态 ready:    created or woken, waiting for the CPU
运行态 running:  on the CPU
阻塞态 blocked:  waiting for IO; when the IO ends it becomes ready again
同步 sync: submit a task and wait for it   异步 async: submit and go on at once
阻塞 blocking: waiting for IO               非阻塞 non-blocking: ready or running
"#;

/// What the kernel says of a process over one sampling interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Ready,
    Blocked,
    Gone,
}

/// The columns of the chart of section 1.
const COLUMNS: u32 = 60;

/// The looks of `timeline` (when each process's state changed) redrawn on
/// `columns` columns of equal time: in each column a process is in the
/// state it spent most of that column in, and when both spent most of it
/// running (they took turns within it), the one that ran longer is
/// running and the other is in its next most frequent state. So a column
/// never shows both running, as the one core never ran both. The chart's
/// end is rounded up to a whole number of nanoseconds per column, and
/// every change falls on a column's first instant, so that the timeline's
/// columns are exactly these.
fn on_columns(
    timeline: &[(Duration, usize, State)],
    columns: u32,
) -> Vec<(Duration, usize, State)> {
    let cols = u128::from(columns);
    let Some(last) = timeline.last().map(|e| e.0.as_nanos()) else {
        return Vec::new();
    };
    let end = last.div_ceil(cols).max(1) * cols;
    // Each process's states as (from, state), until its next change.
    let lanes: [Vec<(u128, State)>; 2] = [0, 1].map(|i| {
        timeline
            .iter()
            .filter(|e| e.1 == i)
            .map(|e| (e.0.as_nanos(), e.2))
            .collect()
    });
    // How long lane `i` spent in each state during [from, to) (Gone
    // before its first look).
    let time_in = |i: usize, from: u128, to: u128| -> [u128; 4] {
        let mut t = [0u128; 4];
        let lane = &lanes[i];
        let first = lane.first().map_or(to, |e| e.0).clamp(from, to);
        t[State::Gone as usize] += first - from;
        for (k, &(s, state)) in lane.iter().enumerate() {
            let e = lane.get(k + 1).map_or(end, |n| n.0);
            let (a, b) = (s.max(from), e.min(to));
            if b > a {
                t[state as usize] += b - a;
            }
        }
        t
    };
    let most = |t: &[u128; 4], but: Option<State>| -> State {
        [State::Running, State::Ready, State::Blocked, State::Gone]
            .into_iter()
            .filter(|&s| Some(s) != but)
            .max_by_key(|&s| t[s as usize])
            .expect("four states")
    };
    let mut out = Vec::new();
    let mut shown: [Option<State>; 2] = [None, None];
    for c in 0..cols {
        let (from, to) = (end * c / cols, end * (c + 1) / cols);
        let t = [time_in(0, from, to), time_in(1, from, to)];
        let mut states = [most(&t[0], None), most(&t[1], None)];
        if states == [State::Running; 2] {
            let run = |i: usize| t[i][State::Running as usize];
            let loser = if run(0) >= run(1) { 1 } else { 0 };
            states[loser] = most(&t[loser], Some(State::Running));
        }
        for i in 0..2 {
            if shown[i] != Some(states[i]) && !(shown[i].is_none() && states[i] == State::Gone) {
                out.push((Duration::from_nanos(from as u64), i, states[i]));
                shown[i] = Some(states[i]);
            }
        }
    }
    // The chart ends at `end`: a last change there.
    for (i, shown) in shown.iter().enumerate() {
        if shown.is_some_and(|s| s != State::Gone) {
            out.push((Duration::from_nanos(end as u64), i, State::Gone));
        }
    }
    out
}

/// (state letter, ns on the CPU, ns waiting for the CPU).
fn sample(pid: i32) -> Option<(char, u64, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()?;
    let sched = fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    let mut it = sched.split_whitespace().map(|x| x.parse::<u64>().ok());
    Some((state, it.next()??, it.next()??))
}

/// Pins the calling process to the first CPU it may run on (CPU 0 on most
/// machines): the two processes then share one core.
fn pin_to_one_core() {
    let Ok(allowed) = rustix::thread::sched_getaffinity(None) else {
        return;
    };
    let Some(first) = (0..rustix::thread::CpuSet::MAX_CPU).find(|&c| allowed.is_set(c)) else {
        return;
    };
    let mut one = rustix::thread::CpuSet::new();
    one.set(first);
    let _ = rustix::thread::sched_setaffinity(None, &one);
}

fn compute_for(d: Duration) {
    let t = Instant::now();
    let mut x = 0u64;
    while t.elapsed() < d {
        for _ in 0..10_000 {
            x = black_box(x.wrapping_add(1));
        }
    }
}

fn main() {
    bingfa::process::init();
    let mut demo = Demo::from_args(
        "states",
        "Two processes on one core, watched through the kernel: running, ready, blocked.\n\
         Then sync vs async submission and blocking vs non-blocking calls.",
    );
    demo.intro(
        "Lesson 2: process states; sync and async, blocking and non-blocking",
        COURSE,
    );
    let unit = demo.pause(Duration::from_millis(300));

    demo.section("1. Ready, running, blocked, as the kernel sees them");
    let (parent_end, child_end) = Pipe::<u8>::new().expect("pipe");
    // SAFETY: section 1 runs before this example starts any thread (the
    // ThreadPool and the feeder come later): the child may do anything.
    let worker = unsafe {
        Process::builder().name("worker").fork(move || {
            pin_to_one_core();
            compute_for(unit * 2); // running, or ready while the rival has the core
            let _ = child_end.recv(); // blocked: waits for IO from the parent
            compute_for(unit); // ready, then running again
        })
    }
    .expect("fork the worker");
    // SAFETY: section 1 runs before this example starts any thread (the
    // ThreadPool and the feeder come later): the child may do anything.
    let rival = unsafe {
        Process::builder().name("rival").fork(move || {
            pin_to_one_core();
            compute_for(unit * 5);
        })
    }
    .expect("fork the rival");
    let procs = [
        ("worker", worker.pid() as i32),
        ("rival", rival.pid() as i32),
    ];
    let start = Instant::now();
    let mut last: Vec<Option<(char, u64, u64)>> = procs.iter().map(|(_, p)| sample(*p)).collect();
    let mut timeline: Vec<(Duration, usize, State)> = Vec::new();
    let mut sent = false;
    let tick = unit / 15;
    let mut seen = [[false; 3]; 2];
    let mut shared = 0;
    while start.elapsed() < unit * 40 {
        thread::sleep(tick);
        let t = start.elapsed();
        // The IO the worker waits for arrives once it has been seen blocked
        // for a while (or after a long time, on a very busy machine).
        let blocked_for = timeline
            .iter()
            .rev()
            .find(|e| e.1 == 0)
            .filter(|e| e.2 == State::Blocked)
            .map(|e| t - e.0);
        if !sent && (blocked_for.is_some_and(|b| b > unit) || t > unit * 20) {
            parent_end.send(&1).expect("send");
            sent = true;
        }
        let mut all_gone = true;
        let now: Vec<Option<(char, u64, u64)>> = procs.iter().map(|(_, p)| sample(*p)).collect();
        let ran: Vec<u64> = (0..2)
            .map(|i| match (last[i], now[i]) {
                (Some((_, r0, _)), Some((_, r1, _))) => r1.saturating_sub(r0),
                _ => 0,
            })
            .collect();
        let mut states = [State::Gone; 2];
        for i in 0..2 {
            let now = now[i];
            states[i] = match (last[i], now) {
                (_, None) | (_, Some(('Z', _, _))) | (_, Some(('X', _, _))) => State::Gone,
                (_, Some(('S', _, _))) | (_, Some(('D', _, _))) => State::Blocked,
                (Some((_, run0, wait0)), Some((_, run1, wait1))) => {
                    let (ran, waited) = (run1 - run0, wait1 - wait0);
                    if ran >= waited || ran as u128 * 2 >= tick.as_nanos() {
                        State::Running
                    } else {
                        State::Ready
                    }
                }
                (None, Some(_)) => State::Ready,
            };
        }
        // One core runs one process at a time: when both ran during this
        // sample (they took turns), the one that had the core longer is
        // shown running and the other ready.
        if states == [State::Running; 2] {
            let loser = if ran[0] >= ran[1] { 1 } else { 0 };
            states[loser] = State::Ready;
            shared += 1;
        }
        for i in 0..2 {
            let state = states[i];
            if state != State::Gone {
                all_gone = false;
                seen[i][state as usize] = true;
            }
            if timeline.iter().rev().find(|e| e.1 == i).map(|e| e.2) != Some(state) {
                timeline.push((t, i, state));
            }
            last[i] = now[i];
        }
        if all_gone {
            break;
        }
    }
    worker.join().expect("join");
    rival.join().expect("join");

    // The samples on the chart's columns (a column spans more than one
    // look), then as recorder events: the CPU is "held" while running and
    // "waited for" while ready; blocked is a span.
    let timeline = on_columns(&timeline, COLUMNS);
    let mut events = Vec::new();
    let mut push = |t: Duration, lane: &str, kind: EventKind, object: &str| {
        events.push(Event::new(t, lane, kind, object))
    };
    let mut prev: [Option<State>; 2] = [None, None];
    for &(t, i, s) in &timeline {
        let lane = procs[i].0;
        match prev[i] {
            Some(State::Running) => push(t, lane, EventKind::Released, "CPU"),
            Some(State::Ready) => push(t, lane, EventKind::Unblocked, "CPU"),
            Some(State::Blocked) => push(t, lane, EventKind::End, "blocked on IO"),
            _ => {}
        }
        match s {
            State::Running => push(t, lane, EventKind::Acquired, "CPU"),
            State::Ready => push(t, lane, EventKind::Blocked, "CPU"),
            State::Blocked => push(t, lane, EventKind::Begin, "blocked on IO"),
            State::Gone => {}
        }
        prev[i] = Some(s);
    }
    demo.show_with("two processes on one core", events, |tl| {
        tl.width(COLUMNS as usize)
    });
    demo.say(&format!(
        "Both processes are pinned to CPU 0. Solid: running (holds the CPU). Shaded: ready\n\
         (waits for the CPU while the other one runs). A span: blocked, the worker waiting\n\
         for the pipe; when the data came it was ready again, and ran when the scheduler gave\n\
         it the core. The parent looked every {tick:.1?}; in {shared} of those looks both had run\n\
         for part of it (the scheduler swapped them within the look): each column shows the\n\
         one that had the core longer, so never both at once."
    ));
    let names = ["running", "ready", "blocked"];
    let worker_states: Vec<&str> = (0..3).filter(|&s| seen[0][s]).map(|s| names[s]).collect();
    println!("  the worker was seen: {}", worker_states.join(", "));

    demo.section("2. Sync and async: how a task is submitted");
    let pool = ThreadPool::new(2);
    let task_time = unit;
    let task = move || {
        thread::sleep(task_time);
        42
    };
    let t = Instant::now();
    let a = pool.submit(task).expect("submit").result().expect("a");
    let b = pool.submit(task).expect("submit").result().expect("b");
    let sync_took = t.elapsed();
    println!(
        "  sync: submit, wait for the result, then submit the next: {a}, {b} in {sync_took:.1?}"
    );
    let t = Instant::now();
    let fa = pool.submit(task).expect("submit");
    let fb = pool.submit(task).expect("submit");
    let submitted = t.elapsed();
    println!("  async: both submitted after {submitted:.1?}; the caller went on at once");
    let (a, b) = (fa.result().expect("a"), fb.result().expect("b"));
    let async_took = t.elapsed();
    println!("         results {a}, {b} collected after {async_took:.1?}");

    demo.section("3. Blocking and non-blocking calls");
    let q: bingfa::queue::Queue<u8> = bingfa::queue::Queue::unbounded();
    let t = Instant::now();
    let nb = q.try_get();
    println!(
        "  non-blocking: try_get() on an empty queue returned {} after {:.1?}",
        match &nb {
            Ok(v) => format!("{v}"),
            Err(e) => format!("at once: {e:?} (get_nowait raises queue.Empty)"),
        },
        t.elapsed()
    );
    let q2 = q.clone();
    let feeder = thread::spawn(move || {
        thread::sleep(unit / 3);
        q2.put(7).expect("open");
    });
    let t = Instant::now();
    let got = q.get().expect("open");
    println!(
        "  blocking: get() waited {:.1?} until another thread put {got}",
        t.elapsed()
    );
    feeder.join().expect("feeder");

    demo.section("What to remember");
    demo.say(
        "A process is ready (wants the CPU), running (has it) or blocked (waits for IO, and\n\
         does not compete for the CPU until the IO ends). Sync vs async is about submitting:\n\
         wait for each task, or hand it over and go on. Blocking vs non-blocking is about a\n\
         call: wait until it can be done, or return at once and say so.",
    );
    println!(
        "\nResult: worker states seen: {}; async submit returned before the task ran = {}.",
        worker_states.join(", "),
        submitted < task_time
    );
    demo.finish();
    // (Whole-run times are shown, not checked: they depend on how busy the
    // machine is. That an async submit does not wait for its task does not.)
    let _ = async_took;
    if worker_states.len() != 3 || submitted >= task_time || sync_took < task_time * 2 {
        std::process::exit(1);
    }
}
