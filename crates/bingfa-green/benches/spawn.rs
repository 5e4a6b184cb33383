//! green/spawn-join: spawn a green thread (task, coroutine) that returns a
//! number, and join it. bingfa on one hub; may (one worker); tokio's
//! current_thread runtime.

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

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2));
    targets = spawn_join
}
criterion_main!(benches);
