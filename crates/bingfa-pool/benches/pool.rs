//! bingfa's `ThreadPool` against its peers, in one run.
//!
//! Groups (one per comparison; functions `bingfa`, `bingfa-submit-drop`,
//! `bingfa-execute`, `threadpool`, `rayon`, `crossbeam-pool`):
//! - `pool/1m-trivial`: many tasks that do nothing. The issue asks for
//!   1 000 000; one iteration here runs [`TRIVIAL`] (100 000) so that
//!   criterion can take several samples, and throughput is per task.
//! - `pool/1us-tasks`: [`SPIN_TASKS`] tasks that each spin for about 1 µs.
//!
//! Every pool has as many workers as the machine has CPUs. Three ways to use
//! bingfa:
//! - `bingfa`: `submit` every task, keep the futures, then wait on each
//!   (Python's "submit all, then wait all");
//! - `bingfa-submit-drop`: `submit` and drop the future at once (fire and
//!   forget through `submit`, legitimate in Python too); the tasks count
//!   their completions as crossbeam-pool's do;
//! - `bingfa-execute`: `ThreadPool::execute`, no future at all, the same
//!   completion count.
//!
//! Every variant runs every task and learns when all have run. The peers
//! have no futures, so they count completions (threadpool: its `join`;
//! rayon: the end of its scope; crossbeam-pool: the same count as bingfa's
//! fire-and-forget variants).

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Tasks per iteration in `pool/1m-trivial`.
const TRIVIAL: usize = 100_000;
/// Tasks per iteration in `pool/1us-tasks`.
const SPIN_TASKS: usize = 20_000;

fn workers() -> usize {
    thread::available_parallelism().map_or(2, |n| n.get())
}

/// Busy work of about `d`.
fn spin_for(d: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The 20-line pool: workers receive boxed closures from one crossbeam
/// channel.
struct CrossbeamPool {
    tx: Option<crossbeam_channel::Sender<Box<dyn FnOnce() + Send>>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl CrossbeamPool {
    fn new(n: usize) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded::<Box<dyn FnOnce() + Send>>();
        let threads = (0..n)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || rx.iter().for_each(|job| job()))
            })
            .collect();
        CrossbeamPool {
            tx: Some(tx),
            threads,
        }
    }

    fn execute(&self, f: impl FnOnce() + Send + 'static) {
        self.tx.as_ref().unwrap().send(Box::new(f)).unwrap();
    }
}

impl Drop for CrossbeamPool {
    fn drop(&mut self) {
        drop(self.tx.take());
        self.threads.drain(..).for_each(|t| t.join().unwrap());
    }
}

/// How the fire-and-forget variants learn that all their tasks ran: a
/// count of tasks left, and a flag the last one raises. It lives for the
/// whole bench (leaked), so that a task refers to it without cloning an
/// `Arc` or a channel sender, which would add shared-counter traffic per
/// task that is the harness's, not the pool's.
struct Countdown {
    left: AtomicUsize,
    done: Mutex<bool>,
    cv: Condvar,
}

impl Countdown {
    fn new() -> &'static Countdown {
        Box::leak(Box::new(Countdown {
            left: AtomicUsize::new(0),
            done: Mutex::new(false),
            cv: Condvar::new(),
        }))
    }

    /// Arms the count for `n` tasks; call before submitting them.
    fn reset(&self, n: usize) {
        *self.done.lock().unwrap() = false;
        self.left.store(n, Ordering::Release);
    }

    /// Called by each task once it has run.
    fn count_down(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.done.lock().unwrap() = true;
            self.cv.notify_one();
        }
    }

    /// Blocks until every task counted down.
    fn wait(&self) {
        let mut done = self.done.lock().unwrap();
        while !*done {
            done = self.cv.wait(done).unwrap();
        }
    }
}

/// Runs `n` copies of `work` on each pool, waiting for all of them.
fn compare(c: &mut Criterion, group: &str, n: usize, work: fn(usize)) {
    let w = workers();
    let left = Countdown::new();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(n as u64));

    let pool = bingfa_pool::ThreadPool::new(w);
    // The futures' vector is reused: its allocation is the bench's, not the
    // pool's.
    let mut futures = Vec::with_capacity(n);
    g.bench_function("bingfa", |b| {
        b.iter(|| {
            futures.extend((0..n).map(|i| pool.submit(move || work(i)).unwrap()));
            for f in futures.drain(..) {
                f.wait();
            }
        })
    });
    g.bench_function("bingfa-submit-drop", |b| {
        b.iter(|| {
            left.reset(n);
            for i in 0..n {
                drop(pool.submit(move || {
                    work(i);
                    left.count_down();
                }));
            }
            left.wait();
        })
    });
    g.bench_function("bingfa-execute", |b| {
        b.iter(|| {
            left.reset(n);
            for i in 0..n {
                pool.execute(move || {
                    work(i);
                    left.count_down();
                })
                .unwrap();
            }
            left.wait();
        })
    });
    drop(pool);

    let pool = threadpool::ThreadPool::new(w);
    g.bench_function("threadpool", |b| {
        b.iter(|| {
            for i in 0..n {
                pool.execute(move || work(i));
            }
            pool.join();
        })
    });
    drop(pool);

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(w)
        .build()
        .unwrap();
    g.bench_function("rayon", |b| {
        b.iter(|| {
            pool.scope(|s| {
                for i in 0..n {
                    s.spawn(move |_| work(i));
                }
            })
        })
    });
    drop(pool);

    let pool = CrossbeamPool::new(w);
    g.bench_function("crossbeam-pool", |b| {
        b.iter(|| {
            left.reset(n);
            for i in 0..n {
                pool.execute(move || {
                    work(i);
                    left.count_down();
                });
            }
            left.wait();
        })
    });
    drop(pool);
    g.finish();
}

fn trivial(c: &mut Criterion) {
    compare(c, "pool/1m-trivial", TRIVIAL, |i| {
        black_box(i);
    });
}

fn one_us(c: &mut Criterion) {
    compare(c, "pool/1us-tasks", SPIN_TASKS, |i| {
        black_box(i);
        spin_for(Duration::from_micros(1));
    });
}

criterion_group!(benches, trivial, one_us);
criterion_main!(benches);
