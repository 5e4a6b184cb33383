//! bingfa-sync against its peers, in one run (`cargo xtask bench bingfa-sync`).
//!
//! Groups (one comparison each; the `bingfa` member is the reference):
//! - `sync/mutex-uncontended`: one lock+unlock pair; bingfa, parking_lot, std.
//! - `sync/mutex-contended-2`: two threads, 10 000 lock+increment+unlock each,
//!   started together (see `contended_on`); the time is from the first
//!   thread's start to the last one's end.
//! - `sync/mutex-contended-2-one-cpu`: the same with both threads pinned to
//!   one CPU (as under `taskset -c 0`; Linux only): every hand-over is a
//!   context switch, so what counts is how long a waiter spins before it
//!   yields or parks.
//! - `sync/rlock-uncontended`: one lock+unlock; bingfa RLock,
//!   parking_lot::ReentrantMutex.
//! - `sync/rlock-nested`: lock, lock again, unlock twice.
//! - `sync/semaphore-uncontended`: acquire+release of one permit; bingfa,
//!   a Mutex+Condvar semaphore, and two parking_lot lock+unlock pairs (the
//!   goal: no slower than that).
//! - `sync/semaphore-contended-4`: 4 threads through a Semaphore(2).
//! - `sync/event-set-wait`: set, wait (returns at once), clear; bingfa and a
//!   Mutex<bool>+Condvar event.
//! - `sync/detection-cost`: one bingfa lock+unlock with deadlock detection
//!   off (`bingfa`) and on (`bingfa-detect`), and with the recorder on;
//!   the last two only with the `detect` and `trace` features. Run with
//!   `--no-default-features` for `bingfa` with both compiled out.

use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const CONTENDED_OPS: u64 = 10_000;

/// A counting semaphore the textbook way: a count under a mutex and a
/// condition variable.
struct CondvarSemaphore {
    count: parking_lot::Mutex<usize>,
    cv: parking_lot::Condvar,
}

impl CondvarSemaphore {
    fn new(n: usize) -> Self {
        Self {
            count: parking_lot::Mutex::new(n),
            cv: parking_lot::Condvar::new(),
        }
    }
    fn acquire(&self) {
        let mut c = self.count.lock();
        while *c == 0 {
            self.cv.wait(&mut c);
        }
        *c -= 1;
    }
    fn release(&self) {
        *self.count.lock() += 1;
        self.cv.notify_one();
    }
}

/// An event the textbook way: a flag under a mutex and a condition variable.
struct CondvarEvent {
    flag: parking_lot::Mutex<bool>,
    cv: parking_lot::Condvar,
}

impl CondvarEvent {
    fn new() -> Self {
        Self {
            flag: parking_lot::Mutex::new(false),
            cv: parking_lot::Condvar::new(),
        }
    }
    fn set(&self) {
        *self.flag.lock() = true;
        self.cv.notify_all();
    }
    fn clear(&self) {
        *self.flag.lock() = false;
    }
    fn wait(&self) {
        let mut f = self.flag.lock();
        while !*f {
            self.cv.wait(&mut f);
        }
    }
}

/// Runs `threads` threads that each call `op` `CONTENDED_OPS` times, `iters`
/// times over; returns the total time.
fn contended<S: Send + Sync + 'static>(
    iters: u64,
    threads: usize,
    shared: Arc<S>,
    op: fn(&S),
) -> Duration {
    contended_on(iters, threads, shared, op, None)
}

/// The first CPU this process may run on (Linux).
#[cfg(target_os = "linux")]
fn first_cpu() -> Option<usize> {
    let set = rustix::thread::sched_getaffinity(None).ok()?;
    (0..rustix::thread::CpuSet::MAX_CPU).find(|&c| set.is_set(c))
}

/// Pins the calling thread to CPU `cpu`.
#[cfg(target_os = "linux")]
fn pin(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        panic!("could not pin a thread to CPU {cpu}: {e}");
    }
}

#[cfg(not(target_os = "linux"))]
fn pin(_cpu: usize) {
    unreachable!("the one-CPU group runs on Linux only")
}

/// [`contended`], with every thread pinned to CPU `cpu` when given.
///
/// The threads start together: each one, once running, waits (yielding)
/// until all of them run, and the time counted is from the first one's
/// start to the last one's end. A parking barrier is not enough: in a VM a
/// thread it wakes may start 150-250 us after the others, by when one
/// thread has done its 10 000 operations alone. Such runs, with two owner
/// changes instead of about a thousand, measured no contention at all, and
/// made std's `Mutex` look twice as fast as it is in whole criterion runs
/// (BENCHMARKS.md's notes, "std's two modes").
fn contended_on<S: Send + Sync + 'static>(
    iters: u64,
    threads: usize,
    shared: Arc<S>,
    op: fn(&S),
    cpu: Option<usize>,
) -> Duration {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let running = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (shared, running) = (shared.clone(), running.clone());
                thread::spawn(move || {
                    if let Some(cpu) = cpu {
                        pin(cpu);
                    }
                    running.fetch_add(1, Ordering::SeqCst);
                    while running.load(Ordering::SeqCst) < threads {
                        // Yield, not spin: pinned to one CPU, the others
                        // need it to arrive.
                        thread::yield_now();
                    }
                    let start = Instant::now();
                    for _ in 0..CONTENDED_OPS {
                        op(&shared);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        let spans: Vec<(Instant, Instant)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        let first = spans.iter().map(|s| s.0).min().expect("threads > 0");
        let last = spans.iter().map(|s| s.1).max().expect("threads > 0");
        total += last - first;
    }
    total
}

fn mutex(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync/mutex-uncontended");
    g.throughput(Throughput::Elements(1));
    let m = bingfa_sync::Mutex::new(0u64);
    g.bench_function("bingfa", |b| b.iter(|| *black_box(&m).lock() += 1));
    let m = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot", |b| b.iter(|| *black_box(&m).lock() += 1));
    let m = std::sync::Mutex::new(0u64);
    g.bench_function("std", |b| b.iter(|| *black_box(&m).lock().unwrap() += 1));
    g.finish();

    let mut g = c.benchmark_group("sync/mutex-contended-2");
    g.throughput(Throughput::Elements(2 * CONTENDED_OPS));
    g.sample_size(20);
    g.bench_function("bingfa", |b| {
        let m = Arc::new(bingfa_sync::Mutex::new(0u64));
        b.iter_custom(|n| contended(n, 2, m.clone(), |m| *m.lock() += 1))
    });
    g.bench_function("parking_lot", |b| {
        let m = Arc::new(parking_lot::Mutex::new(0u64));
        b.iter_custom(|n| contended(n, 2, m.clone(), |m| *m.lock() += 1))
    });
    g.bench_function("std", |b| {
        let m = Arc::new(std::sync::Mutex::new(0u64));
        b.iter_custom(|n| contended(n, 2, m.clone(), |m| *m.lock().unwrap() += 1))
    });
    g.finish();

    #[cfg(target_os = "linux")]
    if let Some(cpu) = first_cpu() {
        let mut g = c.benchmark_group("sync/mutex-contended-2-one-cpu");
        g.throughput(Throughput::Elements(2 * CONTENDED_OPS));
        g.sample_size(20);
        g.bench_function("bingfa", |b| {
            let m = Arc::new(bingfa_sync::Mutex::new(0u64));
            b.iter_custom(|n| contended_on(n, 2, m.clone(), |m| *m.lock() += 1, Some(cpu)))
        });
        g.bench_function("parking_lot", |b| {
            let m = Arc::new(parking_lot::Mutex::new(0u64));
            b.iter_custom(|n| contended_on(n, 2, m.clone(), |m| *m.lock() += 1, Some(cpu)))
        });
        g.bench_function("std", |b| {
            let m = Arc::new(std::sync::Mutex::new(0u64));
            b.iter_custom(|n| contended_on(n, 2, m.clone(), |m| *m.lock().unwrap() += 1, Some(cpu)))
        });
        g.finish();
    }
}

fn rlock(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync/rlock-uncontended");
    g.throughput(Throughput::Elements(1));
    let m = bingfa_sync::RLock::new(0u64);
    g.bench_function("bingfa", |b| b.iter(|| black_box(*black_box(&m).lock())));
    let m = parking_lot::ReentrantMutex::new(0u64);
    g.bench_function("parking_lot", |b| {
        b.iter(|| black_box(*black_box(&m).lock()))
    });
    g.finish();

    let mut g = c.benchmark_group("sync/rlock-nested");
    g.throughput(Throughput::Elements(1));
    let m = bingfa_sync::RLock::new(0u64);
    g.bench_function("bingfa", |b| {
        b.iter(|| {
            let a = black_box(&m).lock();
            let b2 = black_box(&m).lock();
            black_box(*a + *b2)
        })
    });
    let m = parking_lot::ReentrantMutex::new(0u64);
    g.bench_function("parking_lot", |b| {
        b.iter(|| {
            let a = black_box(&m).lock();
            let b2 = black_box(&m).lock();
            black_box(*a + *b2)
        })
    });
    g.finish();
}

fn semaphore(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync/semaphore-uncontended");
    g.throughput(Throughput::Elements(1));
    let s = bingfa_sync::Semaphore::new(4);
    g.bench_function("bingfa", |b| b.iter(|| drop(black_box(&s).acquire())));
    let s = CondvarSemaphore::new(4);
    g.bench_function("mutex-condvar", |b| {
        b.iter(|| {
            black_box(&s).acquire();
            s.release();
        })
    });
    let m = parking_lot::Mutex::new(0u64);
    g.bench_function("2x-parking_lot-lock", |b| {
        b.iter(|| {
            *black_box(&m).lock() += 1;
            *black_box(&m).lock() += 1;
        })
    });
    g.finish();

    let mut g = c.benchmark_group("sync/semaphore-contended-4");
    g.throughput(Throughput::Elements(4 * CONTENDED_OPS));
    g.sample_size(20);
    g.bench_function("bingfa", |b| {
        let s = Arc::new(bingfa_sync::Semaphore::new(2));
        b.iter_custom(|n| contended(n, 4, s.clone(), |s| drop(s.acquire())))
    });
    g.bench_function("mutex-condvar", |b| {
        let s = Arc::new(CondvarSemaphore::new(2));
        b.iter_custom(|n| {
            contended(n, 4, s.clone(), |s| {
                s.acquire();
                s.release();
            })
        })
    });
    g.finish();
}

fn event(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync/event-set-wait");
    g.throughput(Throughput::Elements(1));
    let e = bingfa_sync::Event::new();
    g.bench_function("bingfa", |b| {
        b.iter(|| {
            let e = black_box(&e);
            e.set();
            e.wait();
            e.clear();
        })
    });
    let e = CondvarEvent::new();
    g.bench_function("mutex-condvar", |b| {
        b.iter(|| {
            let e = black_box(&e);
            e.set();
            e.wait();
            e.clear();
        })
    });
    g.finish();
}

fn detection_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync/detection-cost");
    g.throughput(Throughput::Elements(1));
    let m = bingfa_sync::Mutex::named("bench", 0u64);
    g.bench_function("bingfa", |b| b.iter(|| *black_box(&m).lock() += 1));
    #[cfg(feature = "detect")]
    {
        bingfa_sync::deadlock::enable();
        g.bench_function("bingfa-detect", |b| b.iter(|| *black_box(&m).lock() += 1));
        bingfa_sync::deadlock::disable();
    }
    #[cfg(feature = "trace")]
    g.bench_function("bingfa-record", |b| {
        b.iter_custom(|n| {
            bingfa_trace::start();
            let t = Instant::now();
            for _ in 0..n {
                *black_box(&m).lock() += 1;
            }
            let took = t.elapsed();
            drop(bingfa_trace::stop());
            took
        })
    });
    g.finish();
}

criterion_group!(benches, mutex, rlock, semaphore, event, detection_cost);
criterion_main!(benches);
