//! IPC benchmarks, one criterion group per comparison:
//!
//! - `process/queue-spsc-64B`: one producer process -> one consumer
//!   process, 64-byte messages: bingfa's `Queue`, a socket pipe with the
//!   same serialization (bingfa's `Pipe`), `ipc-channel` 0.22 (Servo's IPC
//!   channels: a Unix socket per channel, postcard as well; the sender is
//!   forked into the child, as ipc-channel's own tests do), and a bare
//!   shared-memory SPSC ring of raw 64-byte slots with spinning waits (the
//!   floor: no serialization, no checksum, no crash safety, no blocking).
//!
//!   The consumer (this process) and the producer (a forked child) are
//!   pinned to two different CPUs for every member alike, when there are
//!   two: otherwise the scheduler now and then puts the child on its
//!   parent's CPU, and the group measures time-sharing one core (where the
//!   bare ring batches a whole lap per time slice) instead of moving
//!   messages between cores: the same code then takes about twice as long.
//! - `process/pingpong-64B`: one round trip between two processes, bingfa
//!   `Queue` pair against a `Pipe`.
//! - `process/fork-join`: `fork(|| {}).join()` against a bare
//!   `fork` + `_exit` + `waitpid`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bingfa_process::{Pipe, Queue};
use criterion::{criterion_group, Criterion, Throughput};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 64-byte message, serialized as one byte string (what `serde_bytes`
/// does): postcard writes a one-byte length and copies the bytes, instead
/// of 64 separate `u8` elements (several times slower, for every peer
/// alike).
#[derive(Clone, Copy)]
struct Msg([u8; 64]);

impl Serialize for Msg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Msg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Msg;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("64 bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Msg, E> {
                v.try_into()
                    .map(Msg)
                    .map_err(|_| E::invalid_length(v.len(), &self))
            }
        }
        d.deserialize_bytes(V)
    }
}

fn msg(i: u64) -> Msg {
    let mut a = [7u8; 64];
    a[..8].copy_from_slice(&i.to_le_bytes());
    Msg(a)
}

const N: u64 = 200_000;

/// Pins this thread to the first CPU it may use and tells which CPU the
/// producer child should pin itself to (`None` with a single CPU);
/// restores the old affinity when dropped.
struct Pinned {
    old: libc::cpu_set_t,
    child: Option<usize>,
}

impl Pinned {
    fn new() -> Pinned {
        // The first fork starts bingfa's reaper thread, which would inherit
        // this thread's pinning for good: start it before pinning.
        bingfa_process::fork(|| {}).unwrap().join().unwrap();
        // SAFETY: a zeroed cpu_set_t is a valid (empty) set; the calls
        // fill and read it within its size.
        unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            let cpus: Vec<usize> = if libc::sched_getaffinity(
                0,
                std::mem::size_of::<libc::cpu_set_t>(),
                &mut old,
            ) == 0
            {
                (0..libc::CPU_SETSIZE as usize)
                    .filter(|&c| libc::CPU_ISSET(c, &old))
                    .collect()
            } else {
                Vec::new()
            };
            // Two CPUs of the set (on some machines two hyperthreads of
            // one core).
            let pinned = cpus.len() >= 2 && pin(cpus[0]);
            if !pinned {
                eprintln!("process/queue-spsc-64B: not pinned (fewer than two CPUs usable)");
            }
            Pinned {
                old,
                child: cpus.get(1).copied().filter(|_| pinned),
            }
        }
    }

    /// For the child: pins it to its own CPU.
    fn child(&self) {
        if let Some(c) = self.child {
            pin(c);
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: restoring the set read in `new`.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.old) };
    }
}

/// Pins the calling thread to CPU `c`; whether that worked.
fn pin(c: usize) -> bool {
    // SAFETY: as in `Pinned::new`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(c, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Tells a ping-pong child to stop.
const STOP: Msg = Msg([0xff; 64]);

fn bench_spsc(c: &mut Criterion) {
    let mut g = c.benchmark_group("process/queue-spsc-64B");
    let cpus = Pinned::new();
    let cpus = &cpus;
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("bingfa", |b| {
        let q = Queue::<Msg>::with_max_message(1024, 72).unwrap();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let p = bingfa_process::fork(|| {
                    cpus.child();
                    for i in 0..N {
                        q.put(msg(i)).unwrap();
                    }
                })
                .unwrap();
                let t = Instant::now();
                for _ in 0..N {
                    black_box(q.get().unwrap());
                }
                total += t.elapsed();
                p.join().unwrap();
            }
            total
        });
    });
    g.bench_function("pipe", |b| {
        let (tx, rx) = Pipe::<Msg>::new().unwrap();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let p = bingfa_process::fork(|| {
                    cpus.child();
                    for i in 0..N {
                        tx.send(&msg(i)).unwrap();
                    }
                })
                .unwrap();
                let t = Instant::now();
                for _ in 0..N {
                    black_box(rx.recv().unwrap());
                }
                total += t.elapsed();
                p.join().unwrap();
            }
            total
        });
    });
    g.bench_function("ipc-channel", |b| {
        let (tx, rx) = ipc_channel::ipc::channel::<Msg>().unwrap();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let p = bingfa_process::fork(|| {
                    cpus.child();
                    for i in 0..N {
                        tx.send(msg(i)).unwrap();
                    }
                })
                .unwrap();
                let t = Instant::now();
                for _ in 0..N {
                    black_box(rx.recv().unwrap());
                }
                total += t.elapsed();
                p.join().unwrap();
            }
            total
        });
    });
    g.bench_function("bare-ring", |b| {
        let ring = BareRing::new();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let p = bingfa_process::fork(|| {
                    cpus.child();
                    for i in 0..N {
                        ring.push(&msg(i).0);
                    }
                })
                .unwrap();
                let t = Instant::now();
                for _ in 0..N {
                    black_box(ring.pop());
                }
                total += t.elapsed();
                p.join().unwrap();
            }
            total
        });
    });
    g.finish();
}

fn bench_pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("process/pingpong-64B");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bingfa", |b| {
        let ping = Queue::<Msg>::with_max_message(4, 72).unwrap();
        let pong = Queue::<Msg>::with_max_message(4, 72).unwrap();
        let p = bingfa_process::fork(|| {
            while let Ok(m) = ping.get() {
                pong.put(m).unwrap();
            }
        })
        .unwrap();
        b.iter(|| {
            ping.put(msg(1)).unwrap();
            black_box(pong.get().unwrap());
        });
        ping.close();
        p.join().unwrap();
    });
    g.bench_function("pipe", |b| {
        let (a, z) = Pipe::<Msg>::new().unwrap();
        // The forked child holds a copy of `a` too (fork copies every
        // descriptor), so it would never see end-of-stream: stop it with a
        // sentinel message instead.
        let p = bingfa_process::fork(|| loop {
            let m = z.recv().unwrap();
            if m.0 == STOP.0 {
                break;
            }
            z.send(&m).unwrap();
        })
        .unwrap();
        b.iter(|| {
            a.send(&msg(1)).unwrap();
            black_box(a.recv().unwrap());
        });
        a.send(&STOP).unwrap();
        p.join().unwrap();
    });
    g.finish();
}

fn bench_fork(c: &mut Criterion) {
    let mut g = c.benchmark_group("process/fork-join");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bingfa", |b| {
        b.iter(|| bingfa_process::fork(|| {}).unwrap().join().unwrap());
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

/// The floor: a single-producer single-consumer ring of raw 64-byte slots
/// in anonymous shared memory, no serialization, no checksum, no crash
/// safety, waiting by spinning (then yielding).
struct BareRing {
    mem: *mut u8,
}

const CAP: u64 = 1024;

// Header: head at 0, tail at 64; slots from 128.
impl BareRing {
    fn new() -> BareRing {
        let len = 128 + CAP as usize * 64;
        // SAFETY: an anonymous shared mapping, zero-filled.
        let mem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(mem, libc::MAP_FAILED);
        BareRing { mem: mem.cast() }
    }

    fn head(&self) -> &AtomicU64 {
        // SAFETY: aligned, inside the mapping, only used atomically.
        unsafe { &*self.mem.cast::<AtomicU64>() }
    }

    fn tail(&self) -> &AtomicU64 {
        // SAFETY: as above.
        unsafe { &*self.mem.add(64).cast::<AtomicU64>() }
    }

    fn slot(&self, pos: u64) -> *mut u8 {
        // SAFETY: inside the mapping.
        unsafe { self.mem.add(128 + (pos % CAP) as usize * 64) }
    }

    fn push(&self, m: &[u8; 64]) {
        let tail = self.tail().load(Ordering::Relaxed);
        let mut spins = 0u32;
        while tail - self.head().load(Ordering::Acquire) == CAP {
            spin(&mut spins);
        }
        // SAFETY: the slot is free (the consumer is past it) and ours.
        unsafe { std::ptr::copy_nonoverlapping(m.as_ptr(), self.slot(tail), 64) };
        self.tail().store(tail + 1, Ordering::Release);
    }

    fn pop(&self) -> [u8; 64] {
        let head = self.head().load(Ordering::Relaxed);
        let mut spins = 0u32;
        while self.tail().load(Ordering::Acquire) == head {
            spin(&mut spins);
        }
        let mut m = [0u8; 64];
        // SAFETY: the slot was published by the producer's Release store.
        unsafe { std::ptr::copy_nonoverlapping(self.slot(head), m.as_mut_ptr(), 64) };
        self.head().store(head + 1, Ordering::Release);
        m
    }
}

fn spin(n: &mut u32) {
    *n += 1;
    if *n < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

criterion_group!(benches, bench_spsc, bench_pingpong, bench_fork);

fn main() {
    // Not needed by fork-only benchmarks, but this is where a program that
    // uses spawn calls it.
    bingfa_process::init();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
