//! bingfa-queue against its peers, in one run.
//!
//! One criterion group per comparison, named `queue/<load>`, with a
//! function `bingfa` and one per peer (`crossbeam-channel`, `std-mpsc`,
//! `mutex-condvar`); `cargo xtask bench` reads the ratios off that shape.
//! Each iteration moves `ITEMS` `u64`s from P producer threads to C consumer
//! threads (each consumer takes exactly `ITEMS / C`).
//!
//! `std-mpsc` only appears in 1 -> 1 loads: its receiver cannot be shared.
//! The `mutex-condvar` baseline is a `Mutex<VecDeque | Vec | BinaryHeap>`
//! with two `Condvar`s, the textbook queue.

use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use bingfa_queue::{LifoQueue, PriorityQueue, Queue};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ITEMS: u64 = 100_000;
const CAP: usize = 1024;

/// Runs one transfer: every producer closure puts its share, every consumer
/// closure gets its share; returns when all threads are done.
fn transfer<P, C>(producers: Vec<P>, consumers: Vec<C>)
where
    P: FnMut(u64) + Send,
    C: FnMut() -> u64 + Send,
{
    let per_p = ITEMS / producers.len() as u64;
    let per_c = ITEMS / consumers.len() as u64;
    thread::scope(|s| {
        for (i, mut put) in producers.into_iter().enumerate() {
            s.spawn(move || {
                let base = i as u64 * per_p;
                for x in base..base + per_p {
                    put(x);
                }
            });
        }
        for mut get in consumers {
            s.spawn(move || {
                let mut sum = 0u64;
                for _ in 0..per_c {
                    sum = sum.wrapping_add(get());
                }
                std::hint::black_box(sum);
            });
        }
    });
}

/// The textbook queue: one mutex, two condition variables.
struct Baseline<S> {
    store: Mutex<S>,
    not_empty: Condvar,
    not_full: Condvar,
    cap: usize,
}

trait Store: Send {
    fn push(&mut self, x: u64);
    fn pop(&mut self) -> Option<u64>;
    fn len(&self) -> usize;
}
impl Store for VecDeque<u64> {
    fn push(&mut self, x: u64) {
        self.push_back(x)
    }
    fn pop(&mut self) -> Option<u64> {
        self.pop_front()
    }
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
}
impl Store for Vec<u64> {
    fn push(&mut self, x: u64) {
        Vec::push(self, x)
    }
    fn pop(&mut self) -> Option<u64> {
        Vec::pop(self)
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}
/// Min-heap through `Reverse`, as Python's heapq.
impl Store for BinaryHeap<std::cmp::Reverse<u64>> {
    fn push(&mut self, x: u64) {
        BinaryHeap::push(self, std::cmp::Reverse(x))
    }
    fn pop(&mut self) -> Option<u64> {
        BinaryHeap::pop(self).map(|r| r.0)
    }
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }
}

impl<S: Store> Baseline<S> {
    fn new(store: S, cap: usize) -> Arc<Self> {
        Arc::new(Baseline {
            store: Mutex::new(store),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            cap,
        })
    }
    fn put(&self, x: u64) {
        let mut s = self.store.lock().unwrap();
        while self.cap != 0 && s.len() >= self.cap {
            s = self.not_full.wait(s).unwrap();
        }
        s.push(x);
        drop(s);
        self.not_empty.notify_one();
    }
    fn get(&self) -> u64 {
        let mut s = self.store.lock().unwrap();
        loop {
            if let Some(x) = s.pop() {
                drop(s);
                self.not_full.notify_one();
                return x;
            }
            s = self.not_empty.wait(s).unwrap();
        }
    }
}

fn baseline<S: Store + 'static>(make: impl Fn() -> S, cap: usize, p: usize, c: usize) {
    let q = Baseline::new(make(), cap);
    transfer(
        (0..p)
            .map(|_| {
                let q = q.clone();
                move |x| q.put(x)
            })
            .collect(),
        (0..c)
            .map(|_| {
                let q = q.clone();
                move || q.get()
            })
            .collect(),
    );
}

fn fifo_group(c: &mut Criterion, name: &str, cap: usize, p: usize, n: usize) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(ITEMS));
    g.sample_size(10);
    g.bench_function("bingfa", |b| {
        b.iter(|| {
            let q = Queue::new(cap);
            transfer(
                (0..p)
                    .map(|_| {
                        let q = q.clone();
                        move |x| q.put(x).unwrap()
                    })
                    .collect(),
                (0..n)
                    .map(|_| {
                        let q = q.clone();
                        move || q.get().unwrap()
                    })
                    .collect(),
            )
        })
    });
    g.bench_function("crossbeam-channel", |b| {
        b.iter(|| {
            let (tx, rx) = if cap == 0 {
                crossbeam_channel::unbounded()
            } else {
                crossbeam_channel::bounded(cap)
            };
            transfer(
                (0..p)
                    .map(|_| {
                        let tx = tx.clone();
                        move |x| tx.send(x).unwrap()
                    })
                    .collect(),
                (0..n)
                    .map(|_| {
                        let rx = rx.clone();
                        move || rx.recv().unwrap()
                    })
                    .collect(),
            )
        })
    });
    if n == 1 {
        g.bench_function("std-mpsc", |b| {
            b.iter(|| {
                let rx;
                let producers: Vec<Box<dyn FnMut(u64) + Send>> = if cap == 0 {
                    let (tx, r) = std::sync::mpsc::channel();
                    rx = r;
                    (0..p)
                        .map(|_| {
                            let tx = tx.clone();
                            Box::new(move |x| tx.send(x).unwrap()) as Box<dyn FnMut(u64) + Send>
                        })
                        .collect()
                } else {
                    let (tx, r) = std::sync::mpsc::sync_channel(cap);
                    rx = r;
                    (0..p)
                        .map(|_| {
                            let tx = tx.clone();
                            Box::new(move |x| tx.send(x).unwrap()) as Box<dyn FnMut(u64) + Send>
                        })
                        .collect()
                };
                transfer(producers, vec![move || rx.recv().unwrap()])
            })
        });
    }
    g.bench_function("mutex-condvar", |b| {
        b.iter(|| baseline(VecDeque::new, cap, p, n))
    });
    g.finish();
}

fn fifo(c: &mut Criterion) {
    fifo_group(c, "queue/spsc-bounded-1024", CAP, 1, 1);
    fifo_group(c, "queue/spsc-unbounded", 0, 1, 1);
    fifo_group(c, "queue/mpmc-2x2-bounded-1024", CAP, 2, 2);
    fifo_group(c, "queue/mpmc-2x2-unbounded", 0, 2, 2);
}

fn lifo_priority(c: &mut Criterion) {
    for (name, p, n) in [("spsc", 1, 1), ("mpmc-2x2", 2, 2)] {
        let mut g = c.benchmark_group(format!("queue/lifo-{name}-bounded-1024"));
        g.throughput(Throughput::Elements(ITEMS));
        g.sample_size(10);
        g.bench_function("bingfa", |b| {
            b.iter(|| {
                let q = LifoQueue::new(CAP);
                transfer(
                    (0..p)
                        .map(|_| {
                            let q = q.clone();
                            move |x| q.put(x).unwrap()
                        })
                        .collect(),
                    (0..n)
                        .map(|_| {
                            let q = q.clone();
                            move || q.get().unwrap()
                        })
                        .collect(),
                )
            })
        });
        g.bench_function("mutex-condvar", |b| {
            b.iter(|| baseline(Vec::new, CAP, p, n))
        });
        g.finish();

        let mut g = c.benchmark_group(format!("queue/priority-{name}-bounded-1024"));
        g.throughput(Throughput::Elements(ITEMS));
        g.sample_size(10);
        g.bench_function("bingfa", |b| {
            b.iter(|| {
                let q = PriorityQueue::new(CAP);
                transfer(
                    (0..p)
                        .map(|_| {
                            let q = q.clone();
                            move |x| q.put(x).unwrap()
                        })
                        .collect(),
                    (0..n)
                        .map(|_| {
                            let q = q.clone();
                            move || q.get().unwrap()
                        })
                        .collect(),
                )
            })
        });
        g.bench_function("mutex-condvar", |b| {
            b.iter(|| baseline(BinaryHeap::new, CAP, p, n))
        });
        g.finish();
    }
}

/// What `task_done` costs: the same 1 -> 1 bounded load with and without a
/// `task_done` after each `get` (and a `join` at the end).
fn task_done(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue/task-done-spsc-bounded-1024");
    g.throughput(Throughput::Elements(ITEMS));
    g.sample_size(10);
    g.bench_function("bingfa", |b| {
        b.iter(|| {
            let q = Queue::new(CAP);
            transfer(
                vec![{
                    let q = q.clone();
                    move |x| q.put(x).unwrap()
                }],
                vec![{
                    let q = q.clone();
                    move || {
                        let x = q.get().unwrap();
                        q.task_done().unwrap();
                        x
                    }
                }],
            );
            q.join();
        })
    });
    g.bench_function("bingfa-without-task-done", |b| {
        b.iter(|| {
            let q = Queue::new(CAP);
            transfer(
                vec![{
                    let q = q.clone();
                    move |x| q.put(x).unwrap()
                }],
                vec![{
                    let q = q.clone();
                    move || q.get().unwrap()
                }],
            )
        })
    });
    g.finish();
}

criterion_group!(benches, fifo, lifo_priority, task_done);
criterion_main!(benches);
