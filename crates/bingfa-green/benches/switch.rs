//! green/switch: the cost of one switch into a green context and back, and
//! of one `yield_now` through a hub, each against a bare corosensei floor
//! doing the same work with nothing else around it.
//!
//! Group `green/switch` (one element = one round trip):
//! - `corosensei`: bare `Coroutine::resume` + `Yielder::suspend` on
//!   corosensei's default stack, the same coroutine every time: two
//!   context switches, nothing else. The floor of any switch.
//! - `bingfa-generator`: [`Generator`](bingfa_green::Generator) resume +
//!   yield: the same two switches through bingfa's fiber (pooled stack,
//!   overflow bookkeeping). Compare with `corosensei`.
//! - `corosensei-rr`: a minimal round-robin scheduler written here, the
//!   floor of a hub's `yield_now`: a table of corosensei coroutines (one
//!   here) and a `VecDeque` run queue of their indices; each iteration
//!   pops the front index, resumes that coroutine, it suspends, and the
//!   loop pushes the index to the back. Two context switches plus a
//!   run-queue pop and push, and nothing else: no IO, no timers, no
//!   kill/timeout checks, no cross-thread wake-ups, no watchdog, no
//!   overflow bookkeeping. The floor the hub's goal is measured against.
//! - `corosensei-rr-move`: the same with the coroutines themselves in the
//!   `VecDeque`, moved out to be resumed and moved back. Slower than
//!   `corosensei-rr` (moving a `Coroutine` out and back costs more than
//!   the switch), so it is shown but is not the floor.
//! - `bingfa`: `yield_now` in a hub with one green thread (green thread ->
//!   hub loop -> the same green thread): the same two switches and queue
//!   operations, plus what a hub must keep doing: the checks that a call
//!   is made from a green thread and not from a generator inside one, kill
//!   and `Timeout` checks at the switch point, the task's state, the
//!   overflow handler's record of what runs, and, every `POLL_EVERY` (61)
//!   resumes, a look at expired timers and the cross-thread wake-up queue
//!   (so yielders never starve them). No socket is registered, so that
//!   look makes no system call. Compare with `corosensei-rr`.
//! - `bingfa-io`: as `bingfa` with an idle UDP socket registered with the
//!   hub: every `POLL_EVERY` resumes the loop also polls epoll with a zero
//!   timeout (one system call per 61 yields), as any hub serving sockets
//!   does.
//!
//! Group `green/switch/2` (one element = one `yield_now` / one resume):
//! - `corosensei-rr/2`, `corosensei-rr-move/2`: the round-robin floors
//!   with two coroutines alternating.
//! - `bingfa/2`: two green threads ping-ponging through `yield_now`
//!   (each yield switches to the other one through the hub).

use std::collections::VecDeque;

use corosensei::{Coroutine, Yielder};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn coroutines(n: usize) -> Vec<Coroutine<(), (), ()>> {
    (0..n)
        .map(|_| {
            Coroutine::new(|y: &Yielder<(), ()>, ()| loop {
                y.suspend(());
            })
        })
        .collect()
}

/// The bare round-robin floor: `n` coroutines that suspend forever, a run
/// queue of their indices into a table, and `iters` scheduling steps (pop
/// the front index, resume that coroutine, push the index back).
fn round_robin(n: usize) -> impl FnMut(u64) -> std::time::Duration {
    let mut table = coroutines(n);
    let mut queue: VecDeque<usize> = (0..n).collect();
    move |iters| {
        let start = std::time::Instant::now();
        for _ in 0..iters {
            let i = queue.pop_front().expect("the queue is never empty");
            // Every coroutine suspends forever: never returns.
            let _ = table[i].resume(());
            queue.push_back(i);
        }
        start.elapsed()
    }
}

/// As [`round_robin`], with the coroutines themselves in the queue, moved
/// out to be resumed and moved back.
fn round_robin_move(n: usize) -> impl FnMut(u64) -> std::time::Duration {
    let mut queue: VecDeque<Coroutine<(), (), ()>> = coroutines(n).into();
    move |iters| {
        let start = std::time::Instant::now();
        for _ in 0..iters {
            let mut co = queue.pop_front().expect("the queue is never empty");
            let _ = co.resume(());
            queue.push_back(co);
        }
        start.elapsed()
    }
}

/// `iters` yields in total, by `threads` green threads of one hub.
/// With `socket`, an idle UDP socket is registered with the hub meanwhile,
/// so its loop pays a zero-timeout `epoll_wait` every `POLL_EVERY` resumes.
fn hub_yields(threads: u64, iters: u64, socket: bool) -> std::time::Duration {
    bingfa_green::run(move || {
        let _socket = socket.then(|| bingfa_green::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let each = (iters / threads).max(1);
        let partners: Vec<_> = (1..threads)
            .map(|_| {
                bingfa_green::spawn(move || {
                    for _ in 0..each {
                        bingfa_green::yield_now();
                    }
                })
            })
            .collect();
        // Let the partners start (their first resume enters a fresh
        // stack), so the timed part is steady-state switching.
        bingfa_green::yield_now();
        let start = std::time::Instant::now();
        for _ in 0..each {
            bingfa_green::yield_now();
        }
        let t = start.elapsed();
        for p in partners {
            p.join().unwrap();
        }
        t
    })
    .unwrap()
}

fn switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("green/switch");
    g.throughput(Throughput::Elements(1));
    g.bench_function("corosensei", |b| {
        let mut co = Coroutine::new(|y: &Yielder<(), ()>, ()| loop {
            y.suspend(());
        });
        b.iter(|| co.resume(()));
    });
    g.bench_function("corosensei-rr", |b| b.iter_custom(round_robin(1)));
    g.bench_function("corosensei-rr-move", |b| b.iter_custom(round_robin_move(1)));
    g.bench_function("bingfa-generator", |b| {
        let mut gen: bingfa_green::Generator<(), (), ()> =
            bingfa_green::Generator::new(|co| loop {
                co.yield_(());
            });
        b.iter(|| gen.resume());
    });
    // Criterion's closures are not 'static: run the measurement on a hub
    // through iter_custom, timing `n` yields inside the green thread.
    g.bench_function("bingfa", |b| b.iter_custom(|n| hub_yields(1, n, false)));
    g.bench_function("bingfa-io", |b| b.iter_custom(|n| hub_yields(1, n, true)));
    g.bench_function(BenchmarkId::new("corosensei-rr", 2), |b| {
        b.iter_custom(round_robin(2))
    });
    g.bench_function(BenchmarkId::new("corosensei-rr-move", 2), |b| {
        b.iter_custom(round_robin_move(2))
    });
    g.bench_function(BenchmarkId::new("bingfa", 2), |b| {
        b.iter_custom(|n| hub_yields(2, n, false))
    });
    g.finish();
}

criterion_group!(benches, switch);
criterion_main!(benches);
