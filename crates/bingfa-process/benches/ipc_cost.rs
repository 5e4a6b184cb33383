//! The instructions a put and a get cost, without contention: one process
//! puts `K` 64-byte messages into a `Queue`, then gets them, `ROUNDS`
//! times; the same with the Lamport ring. Each side runs in its own
//! never-inlined function, so that callgrind's inclusive counts divide into
//! instructions per message:
//!
//! ```text
//! cargo bench -p bingfa-process --bench ipc_cost --no-run
//! valgrind --tool=callgrind --callgrind-out-file=cg.out target/release/deps/ipc_cost-HASH
//! callgrind_annotate --inclusive=yes cg.out | grep ipc_cost::
//! ```
//!
//! (Each function is called `ROUNDS` times with `K` messages: divide by
//! `ROUNDS * K`.) Run plainly, it prints the figures it measured by itself
//! (wall time, which on a loaded machine means little).

mod common;

use std::hint::black_box;
use std::time::Instant;

use bingfa_process::Queue;
use common::*;

const K: u64 = 512;
const ROUNDS: u64 = 200;

#[inline(never)]
fn queue_puts(q: &Queue<Msg>, base: u64) {
    for i in 0..K {
        q.put(msg(base + i)).unwrap();
    }
}

#[inline(never)]
fn queue_gets(q: &Queue<Msg>) {
    for _ in 0..K {
        black_box(q.get().unwrap());
    }
}

#[inline(never)]
fn lamport_puts(tx: &mut Producer<'_>, base: u64) {
    for i in 0..K {
        tx.push(&msg(base + i).0);
    }
    tx.flush();
}

#[inline(never)]
fn lamport_gets(rx: &mut Consumer<'_>) {
    for _ in 0..K {
        black_box(rx.pop());
    }
}

/// A frame's payload as the queue checksums it: 65 bytes for a `Msg`.
const FRAME: usize = MSG_ENCODED;
const SUMS: u64 = 200_000;

#[inline(never)]
fn sum_home_made(b: &[[u8; FRAME]]) -> u32 {
    b.iter()
        .fold(0, |a, x| a ^ bingfa_process::codec::checksum(black_box(x)))
}

#[inline(never)]
fn sum_xxh3(b: &[[u8; FRAME]]) -> u32 {
    b.iter().fold(0, |a, x| {
        a ^ xxhash_rust::xxh3::xxh3_64(black_box(x)) as u32
    })
}

#[inline(never)]
fn sum_crc32fast(b: &[[u8; FRAME]]) -> u32 {
    b.iter().fold(0, |a, x| a ^ crc32fast::hash(black_box(x)))
}

/// The checksums, over `SUMS` frames of `FRAME` bytes (in cache): wall
/// time per frame, in one run, interleaved.
fn checksums() {
    let frames: Vec<[u8; FRAME]> = (0..64u8).map(|i| [i.wrapping_mul(37); FRAME]).collect();
    let mut best = [f64::INFINITY; 3];
    for _ in 0..5 {
        for (k, f) in [sum_home_made, sum_xxh3, sum_crc32fast].iter().enumerate() {
            let t = Instant::now();
            for _ in 0..SUMS / 64 {
                black_box(f(&frames));
            }
            let ns = t.elapsed().as_nanos() as f64 / SUMS as f64;
            best[k] = best[k].min(ns);
        }
    }
    println!(
        "checksum of a {FRAME}-byte payload (best of 5): home-made {:.1} ns, xxh3 {:.1} ns, \
         crc32fast {:.1} ns",
        best[0], best[1], best[2]
    );
}

fn main() {
    checksums();
    let q = Queue::<Msg>::with_max_message(CAP as usize, MSG_ENCODED).unwrap();
    let (mut puts, mut gets) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for r in 0..ROUNDS {
        let t = Instant::now();
        queue_puts(&q, r * K);
        puts += t.elapsed();
        let t = Instant::now();
        queue_gets(&q);
        gets += t.elapsed();
    }
    let queue = puts + gets;
    let ring = LamportRing::new();
    let (mut tx, mut rx) = (ring.producer(), ring.consumer());
    let t = Instant::now();
    for r in 0..ROUNDS {
        lamport_puts(&mut tx, r * K);
        lamport_gets(&mut rx);
    }
    let lamport = t.elapsed();
    let per = |d: std::time::Duration| d.as_nanos() as f64 / (ROUNDS * K) as f64;
    println!(
        "one process, put then get, per message: queue {:.1} ns (put {:.1}, get {:.1}), \
         lamport ring {:.1} ns (CPU: {})",
        per(queue),
        per(puts),
        per(gets),
        per(lamport),
        cpu_model()
    );
}
