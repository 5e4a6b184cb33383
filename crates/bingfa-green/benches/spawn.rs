//! green/spawn-join: spawn a green thread (task, coroutine) that returns a
//! number, and join it, one at a time. bingfa on one hub; may (one
//! worker); tokio's current_thread runtime.
//!
//! green/spawn-100k: spawn 100 000 green threads (tasks) that each return
//! a number, then join them all, in spawn order; one element is one green
//! thread (spawned and joined). bingfa on one hub, tokio's current_thread
//! runtime. (may is left out: each of its coroutines maps a stack of its
//! own at spawn, some 70 us each here, so one iteration would take
//! seconds.)

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("green/spawn-join");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bingfa", |b| {
        b.iter_custom(|n| {
            bingfa_green::run(move || {
                let start = Instant::now();
                for i in 0..n {
                    let h = bingfa_green::spawn(move || i);
                    std::hint::black_box(h.join().unwrap());
                }
                start.elapsed()
            })
            .unwrap()
        });
    });
    g.bench_function("tokio-current-thread", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        b.iter_custom(|n| {
            rt.block_on(async move {
                let start = Instant::now();
                for i in 0..n {
                    let h = tokio::spawn(async move { i });
                    std::hint::black_box(h.await.unwrap());
                }
                start.elapsed()
            })
        });
    });
    may::config().set_workers(1);
    g.bench_function("may", |b| {
        b.iter_custom(|n| {
            let start = Instant::now();
            for i in 0..n {
                // SAFETY (may's contract for `go!`): the closure uses no
                // thread-local storage and does not block the OS thread.
                let h = unsafe { may::coroutine::spawn(move || i) };
                std::hint::black_box(h.join().unwrap());
            }
            start.elapsed()
        });
    });
    g.finish();
}

/// Green threads spawned before the first join, per iteration.
const MASS: u64 = 100_000;

fn spawn_mass(c: &mut Criterion) {
    let mut g = c.benchmark_group("green/spawn-100k");
    g.throughput(Throughput::Elements(MASS));
    g.sample_size(10);
    g.bench_function("bingfa", |b| {
        b.iter_custom(|iters| {
            bingfa_green::run(move || {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let hs: Vec<_> = (0..MASS).map(|i| bingfa_green::spawn(move || i)).collect();
                    for h in hs {
                        std::hint::black_box(h.join().unwrap());
                    }
                    total += start.elapsed();
                }
                total
            })
            .unwrap()
        });
    });
    g.bench_function("tokio-current-thread", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let hs: Vec<_> = (0..MASS).map(|i| tokio::spawn(async move { i })).collect();
                    for h in hs {
                        std::hint::black_box(h.await.unwrap());
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2));
    targets = spawn_join, spawn_mass
}
criterion_main!(benches);
