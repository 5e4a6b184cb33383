//! # Lesson 1: multiprogramming and CPU scheduling
//!
//! `cargo xtask demo scheduling [--quick] [--trace FILE] [--quantum N]`
//!
//! The course (seed 003) describes, without code, how an OS shares one CPU:
//!
//! ```text
//! 时间上的复用: 切换 + 保存状态              (multiplexing in time: switch + save state)
//! 进程调度: 当代操作系统使用的是: 时间片轮转法 + 分级反馈队列
//! 1、先来先服务调度: a, b程序, 若a程序先来, 先占用CPU           (first come, first served)
//!    缺点: 程序a先使用, 程序b必须等待程序a使用CPU结束后才能使用
//! 2、短作业优先调度: a, b程序, 谁的用时短, 先优先调度使用cpu     (shortest job first)
//!    缺点: 若程序a使用时间最长, 有N个程序使用时间短, 必须等待所有用时短的程序结束后才能使用
//! 3、时间片轮转法: CPU执行的时间1秒中, 加载N个程序. 要将1秒钟等分N个时间片   (round robin)
//! 4、分级反馈队列: 将执行优先分为多层级别                      (multilevel feedback queue)
//! ```
//!
//! The demo runs one set of five jobs through the four policies on a
//! simulated CPU (one time unit = one tick), draws a Gantt chart for each
//! (a lane per job: solid while it has the CPU, shaded while it is ready and
//! waits for it), and prints waiting and turnaround times side by side.
//!
//! Definitions: turnaround = finish - arrival; waiting = turnaround - burst
//! (time spent ready but not running).

mod common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bingfa::trace::{Event, EventKind};
use common::Demo;

const COURSE: &str = r#"
进程调度: 当代操作系统使用的是: 时间片轮转法 + 分级反馈队列
1、先来先服务调度 (FCFS): 若a程序先来, 先占用CPU
2、短作业优先调度 (SJF): 谁的用时短, 先优先调度使用cpu
3、时间片轮转法 (round robin): 将1秒钟等分N个时间片
4、分级反馈队列 (multilevel feedback queue): 将执行优先分为多层级别
"#;

/// A job: when it arrives and how much CPU it needs, in ticks.
#[derive(Debug, Clone, Copy)]
struct Job {
    name: &'static str,
    arrival: u32,
    burst: u32,
}

/// The job set every policy runs.
const JOBS: [Job; 5] = [
    Job {
        name: "P1",
        arrival: 0,
        burst: 8,
    },
    Job {
        name: "P2",
        arrival: 1,
        burst: 4,
    },
    Job {
        name: "P3",
        arrival: 2,
        burst: 9,
    },
    Job {
        name: "P4",
        arrival: 3,
        burst: 5,
    },
    Job {
        name: "P5",
        arrival: 4,
        burst: 2,
    },
];

/// Job `job` had the CPU from `start` to `end`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slice {
    job: usize,
    start: u32,
    end: u32,
}

/// Appends `job` running from `start` for `len` ticks, merging with the
/// previous slice when the same job simply goes on.
fn run(slices: &mut Vec<Slice>, job: usize, start: u32, len: u32) {
    match slices.last_mut() {
        Some(s) if s.job == job && s.end == start => s.end += len,
        _ => slices.push(Slice {
            job,
            start,
            end: start + len,
        }),
    }
}

/// First come, first served: in arrival order, each to the end.
fn fcfs(jobs: &[Job]) -> Vec<Slice> {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| (jobs[i].arrival, i));
    let (mut t, mut out) = (0, Vec::new());
    for i in order {
        t = t.max(jobs[i].arrival);
        run(&mut out, i, t, jobs[i].burst);
        t += jobs[i].burst;
    }
    out
}

/// Shortest job first, non-preemptive: when the CPU is free, the arrived job
/// with the smallest burst runs to the end.
fn sjf(jobs: &[Job]) -> Vec<Slice> {
    let mut left: Vec<usize> = (0..jobs.len()).collect();
    let (mut t, mut out) = (0, Vec::new());
    while !left.is_empty() {
        let ready = left.iter().copied().filter(|&i| jobs[i].arrival <= t);
        match ready.min_by_key(|&i| (jobs[i].burst, jobs[i].arrival, i)) {
            Some(i) => {
                run(&mut out, i, t, jobs[i].burst);
                t += jobs[i].burst;
                left.retain(|&j| j != i);
            }
            None => t = left.iter().map(|&i| jobs[i].arrival).min().unwrap_or(t),
        }
    }
    out
}

/// Moves jobs that arrived by `t` from `pending` (sorted by arrival) into `queue`.
fn admit(jobs: &[Job], pending: &mut VecDeque<usize>, queue: &mut VecDeque<usize>, t: u32) {
    while let Some(&i) = pending.front() {
        if jobs[i].arrival > t {
            break;
        }
        queue.push_back(i);
        pending.pop_front();
    }
}

fn by_arrival(jobs: &[Job]) -> VecDeque<usize> {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| (jobs[i].arrival, i));
    order.into()
}

/// Round robin with a time slice of `quantum` ticks; a job that arrives
/// during a slice queues before the preempted job.
fn round_robin(jobs: &[Job], quantum: u32) -> Vec<Slice> {
    let mut pending = by_arrival(jobs);
    let mut queue = VecDeque::new();
    let mut left: Vec<u32> = jobs.iter().map(|j| j.burst).collect();
    let (mut t, mut out) = (0, Vec::new());
    loop {
        admit(jobs, &mut pending, &mut queue, t);
        let Some(i) = queue.pop_front() else {
            match pending.front() {
                Some(&i) => {
                    t = jobs[i].arrival;
                    continue;
                }
                None => return out,
            }
        };
        let len = quantum.min(left[i]);
        run(&mut out, i, t, len);
        t += len;
        left[i] -= len;
        admit(jobs, &mut pending, &mut queue, t);
        if left[i] > 0 {
            queue.push_back(i);
        }
    }
}

/// Multilevel feedback queue: new jobs enter the top level; a job that uses
/// its level's whole slice drops one level; the CPU always serves the
/// highest non-empty level; the last level is round robin.
fn mlfq(jobs: &[Job], quanta: &[u32]) -> Vec<Slice> {
    let mut pending = by_arrival(jobs);
    let mut levels: Vec<VecDeque<usize>> = vec![VecDeque::new(); quanta.len()];
    let mut left: Vec<u32> = jobs.iter().map(|j| j.burst).collect();
    let (mut t, mut out) = (0, Vec::new());
    loop {
        admit(jobs, &mut pending, &mut levels[0], t);
        let Some(level) = levels.iter().position(|q| !q.is_empty()) else {
            match pending.front() {
                Some(&i) => {
                    t = jobs[i].arrival;
                    continue;
                }
                None => return out,
            }
        };
        let i = levels[level].pop_front().expect("non-empty level");
        let len = quanta[level].min(left[i]);
        run(&mut out, i, t, len);
        t += len;
        left[i] -= len;
        admit(jobs, &mut pending, &mut levels[0], t);
        if left[i] > 0 {
            let next = (level + 1).min(quanta.len() - 1);
            levels[next].push_back(i);
        }
    }
}

/// Per job: (finish, turnaround, waiting).
fn times(jobs: &[Job], slices: &[Slice]) -> Vec<(u32, u32, u32)> {
    jobs.iter()
        .enumerate()
        .map(|(i, j)| {
            let finish = slices
                .iter()
                .filter(|s| s.job == i)
                .map(|s| s.end)
                .max()
                .unwrap_or(0);
            let turnaround = finish - j.arrival;
            (finish, turnaround, turnaround - j.burst)
        })
        .collect()
}

/// Per job: response time, from arrival to its first tick on the CPU.
fn response(jobs: &[Job], slices: &[Slice]) -> Vec<u32> {
    jobs.iter()
        .enumerate()
        .map(|(i, j)| {
            slices
                .iter()
                .filter(|s| s.job == i)
                .map(|s| s.start)
                .min()
                .unwrap_or(0)
                - j.arrival
        })
        .collect()
}

/// The slices as recorder events (1 tick = 1 ms): a job waits for "CPU"
/// from its arrival, holds it while it runs, waits again when preempted.
fn events(jobs: &[Job], slices: &[Slice]) -> Vec<Event> {
    let ms = |t: u32| Duration::from_millis(u64::from(t));
    let cpu: Arc<str> = Arc::from("CPU");
    let mut out = Vec::new();
    let mut push = |t: u32, job: usize, kind: EventKind| {
        out.push(Event::new(ms(t), jobs[job].name, kind, &cpu))
    };
    for (i, j) in jobs.iter().enumerate() {
        push(j.arrival, i, EventKind::Blocked);
    }
    let mut done = vec![0u32; jobs.len()];
    for s in slices {
        push(s.start, s.job, EventKind::Acquired);
        push(s.end, s.job, EventKind::Released);
        done[s.job] += s.end - s.start;
        if done[s.job] < jobs[s.job].burst {
            push(s.end, s.job, EventKind::Blocked);
        }
    }
    out.sort_by_key(|e| e.t);
    out
}

/// One line: `|P1 0-8|P2 8-12|...`.
fn gantt_line(jobs: &[Job], slices: &[Slice]) -> String {
    let mut s = String::from("|");
    for sl in slices {
        s.push_str(&format!("{} {}-{}|", jobs[sl.job].name, sl.start, sl.end));
    }
    s
}

fn main() {
    let mut demo = Demo::from_args(
        "scheduling",
        "Runs five jobs through FCFS, SJF, round robin and a multilevel feedback queue,\n\
         with a Gantt chart each and waiting/turnaround times side by side.\n\
         \x20 --quantum N    round robin's time slice in ticks (default 2)",
    );
    let quantum: u32 = match demo.rest.as_slice() {
        [] => 2,
        [flag, n] if flag == "--quantum" => n
            .parse()
            .ok()
            .filter(|n| (1..=20).contains(n))
            .unwrap_or_else(|| common::fail("scheduling", "--quantum takes a number from 1 to 20")),
        other => common::fail(
            "scheduling",
            &format!("unknown arguments {other:?}; try --help"),
        ),
    };
    demo.intro("Lesson 1: multiprogramming and CPU scheduling", COURSE);
    demo.say(
        "One CPU, five jobs. Multiprogramming = switch + save state: when a job leaves the CPU\n\
         its state is saved, and it resumes later where it stopped. Which job runs next is the\n\
         scheduler's choice. The jobs (time in ticks):\n",
    );
    println!("  job  arrives  needs");
    for j in &JOBS {
        println!("  {:<4} {:>7}  {:>5}", j.name, j.arrival, j.burst);
    }

    let mlfq_quanta = [1, 2, 4];
    let policies: Vec<(String, &str, Vec<Slice>)> = vec![
        (
            "FCFS".into(),
            "First come, first served: each job runs to the end in arrival order. Short jobs\n\
             that arrive behind a long one wait for all of it (P5 needs 2 ticks and waits 22).",
            fcfs(&JOBS),
        ),
        (
            "SJF".into(),
            "Shortest job first (non-preemptive): when the CPU is free, the shortest ready job\n\
             runs. Lowest average waiting time, but a long job can starve behind short ones.",
            sjf(&JOBS),
        ),
        (
            format!("RR q={quantum}"),
            "Round robin: each ready job gets a time slice in turn, then goes to the back of the\n\
             queue. Every job makes progress soon; the switches cost time on a real CPU.",
            round_robin(&JOBS, quantum),
        ),
        (
            "MLFQ 1/2/4".into(),
            "Multilevel feedback queue (what modern OSes do, with round robin): new jobs start in\n\
             the top level with a 1-tick slice; a job that uses its whole slice drops a level\n\
             (2 ticks, then 4). Short and interactive jobs finish fast, long ones sink.",
            mlfq(&JOBS, &mlfq_quanta),
        ),
    ];

    let mut table = Vec::new();
    for (k, (name, explain, slices)) in policies.iter().enumerate() {
        demo.section(name);
        demo.say(explain);
        println!("\n  Gantt: {}", gantt_line(&JOBS, slices));
        // One legend, under the first chart: the four are drawn alike.
        demo.show_with(
            &format!("{name} (1 ms = 1 tick)"),
            events(&JOBS, slices),
            |tl| tl.legend(k == 0),
        );
        table.push((name.clone(), times(&JOBS, slices)));
    }

    demo.section("Waiting, turnaround and response times, side by side (ticks)");
    let n = JOBS.len() as f64;
    let names: Vec<&str> = JOBS.iter().map(|j| j.name).collect();
    println!(
        "  {:<11} | {:>8} | {:>10} | {:>9} | waiting per job ({})",
        "policy",
        "avg wait",
        "avg turn.",
        "avg resp.",
        names.join(" ")
    );
    let mut summary = Vec::new();
    let mut best = (f64::MAX, String::new());
    let mut worst = (f64::MIN, String::new());
    for ((name, t), (_, _, slices)) in table.iter().zip(&policies) {
        let wait = t.iter().map(|x| f64::from(x.2)).sum::<f64>() / n;
        let turn = t.iter().map(|x| f64::from(x.1)).sum::<f64>() / n;
        let resp = response(&JOBS, slices)
            .iter()
            .map(|&r| f64::from(r))
            .sum::<f64>()
            / n;
        let per_job: Vec<String> = t.iter().map(|x| x.2.to_string()).collect();
        println!(
            "  {name:<11} | {wait:>8.1} | {turn:>10.1} | {resp:>9.1} | {}",
            per_job.join(" ")
        );
        summary.push(format!("{name} {wait:.1}"));
        if wait < best.0 {
            best = (wait, name.clone());
        }
        if wait > worst.0 {
            worst = (wait, name.clone());
        }
    }
    demo.say(&format!(
        "\n{} has the lowest average waiting time on this job set, {} the highest.\n\
         Averages are not everything: round robin and MLFQ give every job the CPU soon after\n\
         it arrives (low response time), which is what interactive programs need.",
        best.1, worst.1
    ));
    println!("\nResult: average waiting time: {}.", summary.join(", "));
    demo.finish();
}
