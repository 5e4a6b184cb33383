//! green/switch: one switch into a green context and back.
//! bingfa: `yield_now` in a hub (green thread -> hub loop -> green thread);
//! bingfa-generator: `Generator` resume + yield; corosensei: bare
//! `Coroutine::resume` + `Yielder::suspend` on its default stack.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("green/switch");
    g.throughput(Throughput::Elements(1));
    g.bench_function("corosensei", |b| {
        let mut co = corosensei::Coroutine::new(|y: &corosensei::Yielder<(), ()>, ()| loop {
            y.suspend(());
        });
        b.iter(|| co.resume(()));
    });
    g.bench_function("bingfa-generator", |b| {
        let mut gen: bingfa_green::Generator<(), (), ()> =
            bingfa_green::Generator::new(|co| loop {
                co.yield_(());
            });
        b.iter(|| gen.resume());
    });
    // Criterion's closures are not 'static: run the measurement on a hub
    // through iter_custom, timing `n` yields inside the green thread.
    g.bench_function("bingfa", |b| {
        b.iter_custom(|n| {
            bingfa_green::run(move || {
                let start = std::time::Instant::now();
                for _ in 0..n {
                    bingfa_green::yield_now();
                }
                start.elapsed()
            })
            .unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, switch);
criterion_main!(benches);
