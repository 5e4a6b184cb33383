//! The IPC loads of `ipc.rs`, measured in interleaved rounds: each round
//! runs every member of a group once (in a rotating order), so that a
//! load that comes and goes on a shared machine falls on every member
//! alike, and each round gives a ratio of its own. Prints, per group, the
//! CPU model, the median rate of each member, and the median and range of
//! the per-round ratios to bingfa; and one `bingfa-bench:` line per member
//! (see `xtask/src/extra.rs`) for `cargo xtask bench`. A group whose two
//! processes are pinned apart also gives the cache-line round trip between
//! the CPUs before and after its rounds, and runs again (up to three times
//! in all) when that moved by more than half: the host changed state in
//! the middle, and the rounds would mix its states (the header then says
//! which attempt it is, or that every attempt mixed them).
//!
//! `cargo bench -p bingfa-process --bench ipc_rounds [-- FILTER]`;
//! `BINGFA_ROUNDS` sets the rounds per group (default 7).
//!
//! Loads (64-byte messages, serialized for bingfa's `Queue` and `Pipe` and
//! for ipc-channel, raw for the floors and the kernel queues):
//!
//! - `process/queue-spsc-64B`: one producer process -> one consumer, on
//!   two different CPUs: bingfa's `Queue` sized for the message, the same
//!   with `Queue::new`'s 1 KiB slots, with the `Raw` codec (the item's
//!   own bytes, no serde: `bingfa-raw`), the Lamport ring (the SPSC floor:
//!   cached indices, batched publication), the same ring with 128-byte
//!   slots (two lines a message, as bingfa's cells) and with bingfa's
//!   frames in them (serialization and checksum: what the queue would
//!   reach with Lamport indices; see `spsc_lamport_framed`), bingfa's
//!   `Pipe`, ipc-channel.
//! - `process/queue-mpmc-2x2-64B`, `-4x4-`: producers -> consumers, all
//!   separate processes, not pinned: bingfa's `Queue` (serde, and
//!   `bingfa-raw`), Vyukov's bounded
//!   MPMC ring (the floor), a POSIX message queue (the kernel's MPMC
//!   queue).
//! - `process/pingpong-64B` (two CPUs) and `process/pingpong-64B-one-cpu`
//!   (both processes pinned to one CPU, as `taskset -c 0` would): one round
//!   trip, bingfa `Queue` pair, bingfa `Pipe`, two bare `pipe(2)`s.

mod common;

use std::time::Duration;

use bingfa_process::{Queue, Raw};
use common::*;

type Run<'a> = Box<dyn FnMut() -> Duration + 'a>;

struct Member<'a> {
    name: &'static str,
    /// Messages (or round trips) per sample.
    n: u64,
    run: Run<'a>,
    rates: Vec<f64>,
}

fn member<'a>(name: &'static str, n: u64, run: impl FnMut(u64) -> Duration + 'a) -> Member<'a> {
    let mut run = run;
    Member {
        name,
        n,
        run: Box::new(move || run(n)),
        rates: Vec::new(),
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Runs `members` for `rounds` interleaved rounds and reports.
fn group(
    name: &str,
    unit: &str,
    rounds: usize,
    cpus: Option<&Pinned>,
    mut members: Vec<Member<'_>>,
) {
    // One untimed warm-up of each.
    for m in &mut members {
        (m.run)();
    }
    // A pinned group probes the host before and after its rounds; if the
    // probe moved by more than half (a virtual machine's host can change
    // state in the middle of a run: on the AMD EPYC of NOTES.md the round
    // trip read 64-73, 305-345 or 32 ns), the rounds mix states and the
    // group runs again, up to `ATTEMPTS` times in all.
    const ATTEMPTS: usize = 3;
    let mut trips = String::new();
    for attempt in 1..=ATTEMPTS {
        for m in &mut members {
            m.rates.clear();
        }
        let trip = cpus.map(line_round_trip_ns);
        for r in 0..rounds {
            let k = members.len();
            for j in 0..k {
                let m = &mut members[(r + j) % k];
                let d = (m.run)();
                m.rates.push(m.n as f64 / d.as_secs_f64());
            }
        }
        let (Some(a), Some(b)) = (trip, cpus.map(line_round_trip_ns)) else {
            break;
        };
        trips = format!("; cache-line round trip {a:.0} ns before, {b:.0} ns after");
        let moved = a.max(b) > 1.5 * a.min(b);
        if moved && attempt < ATTEMPTS {
            eprintln!(
                "{name}: the host changed state during the rounds ({a:.0} then {b:.0} ns): again"
            );
            continue;
        }
        if moved {
            trips += &format!(", the host changed state in each of {ATTEMPTS} attempts: these figures mix its states");
        } else if attempt > 1 {
            trips += &format!(" (attempt {attempt})");
        }
        break;
    }
    println!(
        "\n{name} ({rounds} interleaved rounds; CPU: {}{trips}; load average {})",
        cpu_model(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let base = &members[0].rates.clone();
    for m in &members {
        // Per round: the member's rate over bingfa's (above 1: faster).
        let ratios: Vec<f64> = m.rates.iter().zip(base).map(|(a, b)| a / b).collect();
        let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "  {:<20} {:>12.0} {unit} (median)   x bingfa: median {:.2}, range {:.2}-{:.2}",
            m.name,
            median(&m.rates),
            median(&ratios),
            lo,
            hi
        );
    }
    for m in &members {
        println!(
            "bingfa-bench: {name} {} {:.0} {unit} higher",
            m.name,
            median(&m.rates)
        );
    }
}

fn main() {
    bingfa_process::init();
    // `cargo bench` passes `--bench`, and `cargo xtask bench` criterion's
    // options with their values (`--measurement-time 3`): a filter is a
    // word that is neither.
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .unwrap_or_default();
    let rounds: usize = std::env::var("BINGFA_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let want = |g: &str| g.contains(&filter);

    if want("process/queue-spsc-64B") {
        let cpus = Pinned::apart();
        let sized = Queue::<Msg>::with_max_message(CAP as usize, MSG_ENCODED).unwrap();
        let kib = Queue::<Msg>::new(CAP as usize).unwrap();
        let raw = Queue::<Msg, Raw>::raw(CAP as usize).unwrap();
        let ring = LamportRing::new();
        let framed = LamportRing::<128>::new();
        let cpus = &cpus;
        group(
            "process/queue-spsc-64B",
            "msg/s",
            rounds,
            Some(cpus),
            vec![
                member("bingfa", 200_000, |n| spsc_queue(cpus, &sized, n)),
                member("bingfa-1KiB-slots", 200_000, |n| spsc_queue(cpus, &kib, n)),
                member("bingfa-raw", 200_000, |n| spsc_queue(cpus, &raw, n)),
                member("lamport-ring", 200_000, |n| spsc_lamport(cpus, &ring, n)),
                member("lamport-ring-128B", 200_000, |n| {
                    spsc_lamport_framed(cpus, &framed, n, false)
                }),
                member("lamport-ring-codec", 200_000, |n| {
                    spsc_lamport_framed(cpus, &framed, n, true)
                }),
                member("pipe", 20_000, |n| spsc_pipe(cpus, n)),
                member("ipc-channel", 20_000, |n| spsc_ipc_channel(cpus, n)),
            ],
        );
    }
    for (p, c) in [(2, 2), (4, 4)] {
        let name = format!("process/queue-mpmc-{p}x{c}-64B");
        if !want(&name) {
            continue;
        }
        let q = Queue::<Msg>::with_max_message(CAP as usize, MSG_ENCODED).unwrap();
        let raw = Queue::<Msg, Raw>::raw(CAP as usize).unwrap();
        let ring = VyukovRing::new();
        let mut members = vec![
            member("bingfa", 200_000, |n| mpmc_queue(&q, p, c, n)),
            member("bingfa-raw", 200_000, |n| mpmc_queue(&raw, p, c, n)),
            member("vyukov-ring", 200_000, |n| mpmc_vyukov(&ring, p, c, n)),
        ];
        match PosixMq::new(CAP as i64) {
            Some(mq) => {
                eprintln!("{name}: posix-mq holds {} messages", mq.capacity());
                let mq = Box::leak(Box::new(mq));
                members.push(member("posix-mq", 40_000, |n| mpmc_mq(mq, p, c, n)));
            }
            None => eprintln!("{name}: no POSIX message queue here, member left out"),
        }
        group(&name, "msg/s", rounds, None, members);
    }
    for (name, together) in [
        ("process/pingpong-64B", false),
        ("process/pingpong-64B-one-cpu", true),
    ] {
        if !want(name) {
            continue;
        }
        let cpus = if together {
            Pinned::together()
        } else {
            Pinned::apart()
        };
        let cpus = &cpus;
        group(
            name,
            "rt/s",
            rounds,
            Some(cpus),
            vec![
                member("bingfa", 20_000, |n| pingpong_queue(cpus, n)),
                member("pipe", 5_000, |n| pingpong_pipe(cpus, n)),
                member("os-pipe", 5_000, |n| pingpong_os_pipe(cpus, n)),
            ],
        );
    }
}
