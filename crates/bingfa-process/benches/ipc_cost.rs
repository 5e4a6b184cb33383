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
//! (wall time, which on a loaded machine means little), and then what
//! each side costs alone against lines the other side touched last
//! ([`alone`]): a put and a get with the two sides on two CPUs, and on
//! one, for the queue with a 64-byte item (a frame over two cache lines),
//! with a `u64` (a frame within the slot's first line), and for the
//! Lamport ring carrying the same 64-byte frames. That is how the cost
//! of a line the producer takes back from the consumer was found on an
//! AMD EPYC (`NOTES.md`, "a fifth session"); with `BINGFA_WRITE_BACK=0`
//! or `=1` it shows what the consumer's write-back does on this CPU.

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

/// Each side alone against the lines the other side touched last: a
/// producer thread puts `PHASE` items, then a consumer thread gets them,
/// in turns, each phase timed alone (the first three turns warm up).
/// With `apart` the two threads run on two CPUs (every line of a slot
/// then comes from the other CPU's cache), else both on the first one.
/// Returns what a put and a get cost, in ns (NaN without two CPUs).
/// `put(n)` gets the item's number; both sides are told when a phase
/// ends (`put`'s `n + 1` a multiple of `PHASE`; `get`'s own count), so
/// that a ring that publishes in batches can flush.
fn alone(apart: bool, mut put: impl FnMut(u64) + Send, mut get: impl FnMut() + Send) -> (f64, f64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    const TURNS: u64 = 60;
    const WARM: u64 = 3;
    let cpus = usable_cpus();
    if apart && cpus.len() < 2 {
        return (f64::NAN, f64::NAN);
    }
    let (c0, c1) = (cpus[0], if apart { cpus[1] } else { cpus[0] });
    let turn = AtomicU64::new(0);
    let wait = |t: u64| {
        let mut n = 0;
        while turn.load(Ordering::Acquire) != t {
            spin(&mut n);
        }
    };
    // Both sides on threads of their own: the main thread keeps its
    // affinity for the next measure.
    let (puts, gets) = std::thread::scope(|s| {
        let (turn, wait, get) = (&turn, &wait, &mut get);
        let consumer = s.spawn(move || {
            pin(c1);
            let mut ns = 0;
            for r in 0..TURNS {
                wait(2 * r + 1);
                let t = Instant::now();
                for _ in 0..PHASE {
                    get();
                }
                if r >= WARM {
                    ns += t.elapsed().as_nanos();
                }
                turn.store(2 * r + 2, Ordering::Release);
            }
            ns
        });
        let put = &mut put;
        let producer = s.spawn(move || {
            pin(c0);
            let mut ns = 0;
            for r in 0..TURNS {
                wait(2 * r);
                let t = Instant::now();
                for i in 0..PHASE {
                    put(r * PHASE + i);
                }
                if r >= WARM {
                    ns += t.elapsed().as_nanos();
                }
                turn.store(2 * r + 1, Ordering::Release);
            }
            ns
        });
        (producer.join().unwrap(), consumer.join().unwrap())
    });
    let per = ((TURNS - WARM) * PHASE) as f64;
    (puts as f64 / per, gets as f64 / per)
}

/// Items a side handles in one turn of [`alone`] (less than a ring's
/// `CAP`, so that a turn never waits for the other side).
const PHASE: u64 = 1000;

/// [`alone`] for the queue, the Lamport ring carrying bingfa's frames,
/// and the queue with a one-line frame; each on two CPUs, then one.
fn each_side_alone() {
    use bingfa_process::codec::{decode_frame, encode_frame_into, frame_len};
    for apart in [true, false] {
        let q = Queue::<Msg>::with_max_message(CAP as usize, MSG_ENCODED).unwrap();
        let (qp, qg) = alone(
            apart,
            |n| q.put(msg(n)).unwrap(),
            || {
                black_box(q.get().unwrap());
            },
        );
        let small = Queue::<u64>::with_max_message(CAP as usize, 16).unwrap();
        let (sp, sg) = alone(
            apart,
            |n| small.put(black_box(n)).unwrap(),
            || {
                black_box(small.get().unwrap());
            },
        );
        let ring = LamportRing::<128>::new();
        let (mut tx, mut rx) = (ring.producer(), ring.consumer());
        let mut got = 0u64;
        let (fp, fg) = alone(
            apart,
            |n| {
                tx.push_with(|slot| {
                    encode_frame_into(&msg(n), &mut slot[..]).unwrap();
                });
                if (n + 1).is_multiple_of(PHASE) {
                    tx.flush();
                }
            },
            || {
                black_box(rx.pop_with(|slot| {
                    let len = frame_len(slot).unwrap();
                    decode_frame::<Msg>(&slot[..len]).unwrap()
                }));
                got += 1;
                if got.is_multiple_of(PHASE) {
                    rx.flush();
                }
            },
        );
        println!(
            "each side alone, {}: queue put {qp:.1} get {qg:.1} ns; one-line frames (u64) \
             put {sp:.1} get {sg:.1}; lamport ring with the same frames put {fp:.1} get {fg:.1}",
            if apart { "two CPUs" } else { "one CPU" }
        );
    }
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
    each_side_alone();
}
