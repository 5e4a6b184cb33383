//! `process/fork-start-join`: bingfa's fork start method, start and join
//! (`fork(|| {}).join()`), against a bare `fork` + `_exit` + `waitpid`, in
//! a program that has **no other thread**: the floor a user compares with.
//!
//! A second thread in the parent makes `fork` itself slower (the kernel
//! must shoot down the TLB of every CPU that thread ran on when it write-
//! protects the parent's pages), so a bare fork measured beside a library
//! thread is not the floor. This bench checks that the process is
//! single-threaded before and after every round of either member, and
//! fails (after printing its figures) if bingfa left a thread behind.
//!
//! The members are measured interleaved, round after round, so that the
//! machine's load (other programs on a shared machine) falls on both
//! alike: each round times `PER_ROUND` iterations of one member, then of
//! the other (the order alternates). The figure of a member is the median
//! of its rounds; the ratio printed is also the median of the per-round
//! ratios (each from two neighbouring time slices), the figure to trust on
//! a loaded machine.
//!
//! Prints the CPU model, then `bingfa-bench:` lines (see
//! `xtask/src/extra.rs`) that `cargo xtask bench` puts in BENCHMARKS.md.
//! `FORK_BENCH_ROUNDS` sets the number of rounds (default 201).

use std::hint::black_box;
use std::time::Instant;

const PER_ROUND: u32 = 10;

/// The threads of this process now.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn bare_fork_waitpid() {
    // SAFETY: the program is single-threaded (checked); the child only
    // calls _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child, with a valid out pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    black_box(status);
}

fn bingfa_fork_join() {
    // SAFETY: this bench has no other thread (checked every round).
    let p = unsafe { bingfa_process::fork(|| {}) }.unwrap();
    black_box(p.join().unwrap());
}

/// Mean nanoseconds per iteration of `f` over `n` iterations.
fn time(n: u32, f: fn()) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    // libtest-style arguments (`--bench`, criterion's options from `cargo
    // xtask bench`) are ignored: this bench has no options of its own.
    let rounds: usize = std::env::var("FORK_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(201);
    println!("process/fork-start-join on {}", cpu_model());
    assert_eq!(threads(), 1, "the bench must start single-threaded");

    let members: [(&str, fn()); 2] = [
        ("bare-fork-waitpid", bare_fork_waitpid),
        ("bingfa", bingfa_fork_join),
    ];
    // Warm up both (page faults of the first forks, the crate's lazy
    // set-up).
    for (_, f) in members {
        time(PER_ROUND, f);
    }
    let mut leftover_threads = 0;
    let mut per: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let mut this = [0.0; 2];
        for k in 0..2 {
            // Alternate which member goes first.
            let i = if round % 2 == 0 { k } else { 1 - k };
            this[i] = time(PER_ROUND, members[i].1);
            let n = threads();
            if n != 1 {
                leftover_threads = leftover_threads.max(n);
            }
        }
        per[0].push(this[0]);
        per[1].push(this[1]);
        ratios.push(this[1] / this[0]);
    }
    let bare = median(&mut per[0]);
    let bingfa = median(&mut per[1]);
    let ratio = median(&mut ratios);
    ratios.sort_by(f64::total_cmp);
    let q = |p: f64| ratios[((ratios.len() - 1) as f64 * p).round() as usize];
    println!(
        "  {rounds} rounds of {PER_ROUND}: bare {:.1} us, bingfa {:.1} us; \
         bingfa/bare per round: median {ratio:.3}x (quartiles {:.3}x..{:.3}x)",
        bare / 1e3,
        bingfa / 1e3,
        q(0.25),
        q(0.75),
    );
    println!(
        "bingfa-bench: process/fork-start-join bingfa {:.2} us lower",
        bingfa / 1e3
    );
    println!(
        "bingfa-bench: process/fork-start-join bare-fork-waitpid {:.2} us lower",
        bare / 1e3
    );
    assert_eq!(
        leftover_threads, 0,
        "the process had {leftover_threads} threads after a round: a thread was started behind \
         the user's back"
    );
}
