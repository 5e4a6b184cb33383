//! IPC benchmarks, one criterion group per comparison (the loads and
//! their members are in `common/mod.rs`; `ipc_rounds.rs` runs the same
//! loads in interleaved rounds, which is what `NOTES.md` quotes):
//!
//! - `process/queue-spsc-64B`: one producer process -> one consumer
//!   process, 64-byte messages: bingfa's `Queue` (serde, and `bingfa-raw`
//!   with the `Raw` codec: the item's own bytes), a socket pipe with the
//!   same serialization (bingfa's `Pipe`), `ipc-channel` 0.22 (Servo's IPC
//!   channels: a Unix socket per channel, postcard as well; the sender is
//!   forked into the child, as ipc-channel's own tests do), and the floor:
//!   a Lamport ring of raw 64-byte slots in shared memory with cached
//!   indices and batched publication (no serialization, no checksum, no
//!   crash safety, no blocking).
//!
//!   The consumer (this process) and the producer (a forked child) are
//!   pinned to two different CPUs for every member alike, when there are
//!   two: otherwise the scheduler now and then puts the child on its
//!   parent's CPU, and the group measures time-sharing one core instead of
//!   moving messages between cores.
//! - `process/queue-mpmc-2x2-64B`, `process/queue-mpmc-4x4-64B`: that many
//!   producer and consumer processes on one queue: bingfa's `Queue` (and
//!   with `Raw`),
//!   Vyukov's bounded MPMC ring in shared memory (the floor), a POSIX
//!   message queue (the kernel's MPMC queue of whole messages).
//! - `process/pingpong-64B`: one round trip between two processes on two
//!   CPUs, bingfa `Queue` pair against a `Pipe` and two bare `pipe(2)`s;
//!   `process/pingpong-64B-one-cpu`: the same with both processes pinned to
//!   one CPU.
//! - `process/fork-join`: `fork(|| {}).join()` against a bare
//!   `fork` + `_exit` + `waitpid`.

mod common;

use std::hint::black_box;
use std::time::Duration;

use bingfa_process::{Queue, Raw};
use common::*;
use criterion::{criterion_group, Criterion, Throughput};

const N: u64 = 200_000;

/// A criterion `iter_custom` body: `iters` samples of `run`.
fn samples(iters: u64, mut run: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| run()).sum()
}

fn bench_spsc(c: &mut Criterion) {
    let mut g = c.benchmark_group("process/queue-spsc-64B");
    let cpus = Pinned::apart();
    let cpus = &cpus;
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("bingfa", |b| {
        let q = Queue::<Msg>::with_max_message(CAP as usize, MSG_ENCODED).unwrap();
        b.iter_custom(|iters| samples(iters, || spsc_queue(cpus, &q, N)));
    });
    g.bench_function("bingfa-raw", |b| {
        let q = Queue::<Msg, Raw>::raw(CAP as usize).unwrap();
        b.iter_custom(|iters| samples(iters, || spsc_queue(cpus, &q, N)));
    });
    g.bench_function("pipe", |b| {
        b.iter_custom(|iters| samples(iters, || spsc_pipe(cpus, N)));
    });
    g.bench_function("ipc-channel", |b| {
        b.iter_custom(|iters| samples(iters, || spsc_ipc_channel(cpus, N)));
    });
    g.bench_function("lamport-ring", |b| {
        let ring = LamportRing::new();
        b.iter_custom(|iters| samples(iters, || spsc_lamport(cpus, &ring, N)));
    });
    g.finish();
}

fn bench_mpmc(c: &mut Criterion) {
    for (p, n) in [(2, 2), (4, 4)] {
        let mut g = c.benchmark_group(format!("process/queue-mpmc-{p}x{n}-64B"));
        g.throughput(Throughput::Elements(N));
        g.sample_size(10);
        g.bench_function("bingfa", |b| {
            let q = Queue::<Msg>::with_max_message(CAP as usize, MSG_ENCODED).unwrap();
            b.iter_custom(|iters| samples(iters, || mpmc_queue(&q, p, n, N)));
        });
        g.bench_function("bingfa-raw", |b| {
            let q = Queue::<Msg, Raw>::raw(CAP as usize).unwrap();
            b.iter_custom(|iters| samples(iters, || mpmc_queue(&q, p, n, N)));
        });
        g.bench_function("vyukov-ring", |b| {
            let ring = VyukovRing::new();
            b.iter_custom(|iters| samples(iters, || mpmc_vyukov(&ring, p, n, N)));
        });
        if let Some(mq) = PosixMq::new(CAP as i64) {
            g.bench_function("posix-mq", |b| {
                b.iter_custom(|iters| samples(iters, || mpmc_mq(&mq, p, n, N)));
            });
        }
        g.finish();
    }
}

fn bench_pingpong(c: &mut Criterion) {
    for (name, together) in [
        ("process/pingpong-64B", false),
        ("process/pingpong-64B-one-cpu", true),
    ] {
        let mut g = c.benchmark_group(name);
        let cpus = if together {
            Pinned::together()
        } else {
            Pinned::apart()
        };
        let cpus = &cpus;
        g.throughput(Throughput::Elements(1));
        g.bench_function("bingfa", |b| {
            b.iter_custom(|iters| pingpong_queue(cpus, iters));
        });
        g.bench_function("pipe", |b| {
            b.iter_custom(|iters| pingpong_pipe(cpus, iters));
        });
        g.bench_function("os-pipe", |b| {
            b.iter_custom(|iters| pingpong_os_pipe(cpus, iters));
        });
        g.finish();
    }
}

fn bench_fork(c: &mut Criterion) {
    let mut g = c.benchmark_group("process/fork-join");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bingfa", |b| {
        // SAFETY: this bench program starts no thread of its own (criterion
        // measures on the main thread), so the child may do anything.
        b.iter(|| {
            unsafe { bingfa_process::fork(|| {}) }
                .unwrap()
                .join()
                .unwrap()
        });
    });
    g.bench_function("bare-fork-waitpid", |b| {
        b.iter(|| {
            // SAFETY: the child only calls _exit.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(0) };
            }
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            black_box(status)
        });
    });
    g.finish();
}

criterion_group!(benches, bench_spsc, bench_mpmc, bench_pingpong, bench_fork);

fn main() {
    eprintln!("ipc bench: CPU {}", cpu_model());
    // Not needed by fork-only benchmarks, but this is where a program that
    // uses spawn calls it.
    bingfa_process::init();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
