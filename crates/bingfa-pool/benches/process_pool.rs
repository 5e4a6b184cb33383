//! ProcessPool throughput on trivial tasks (`fn(u64) -> u64`), against
//! procspawn's process pool.
//!
//! `pool/process-trivial/*`: 1000 tasks per iteration on 2 worker processes,
//! submitted and then collected in order:
//! - `bingfa`: one `submit` per task (fork start method);
//! - `bingfa-chunked-100`: `map_chunked` with 100 items per message;
//! - `procspawn`: `procspawn::Pool::spawn` per task, then `join` each.
//!
//! Run: `cargo bench -p bingfa-pool --bench process_pool`.

use std::hint::black_box;

use bingfa_pool::ProcessPool;
use criterion::{BenchmarkId, Criterion, Throughput};

const TASKS: u64 = 1000;
const WORKERS: usize = 2;

fn inc(x: u64) -> u64 {
    x + 1
}

fn process_trivial(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/process-trivial");
    g.throughput(Throughput::Elements(TASKS));
    g.sample_size(10);

    let pool = ProcessPool::new(WORKERS);
    g.bench_function(BenchmarkId::from_parameter("bingfa"), |b| {
        b.iter(|| {
            let futures: Vec<_> = (0..TASKS).map(|i| pool.submit(inc, i).unwrap()).collect();
            let sum: u64 = futures.into_iter().map(|f| f.result().unwrap()).sum();
            black_box(sum)
        })
    });
    g.bench_function(BenchmarkId::from_parameter("bingfa-chunked-100"), |b| {
        b.iter(|| {
            let sum: u64 = pool
                .map_chunked(inc, 0..TASKS, 100)
                .unwrap()
                .map(Result::unwrap)
                .sum();
            black_box(sum)
        })
    });
    drop(pool);

    let pool = procspawn::Pool::new(WORKERS).unwrap();
    g.bench_function(BenchmarkId::from_parameter("procspawn"), |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..TASKS).map(|i| pool.spawn(i, inc)).collect();
            let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            black_box(sum)
        })
    });
    pool.shutdown();
    g.finish();
}

fn main() {
    // Workers (and the fork server) of both pools are runs of this binary:
    // they stop here.
    bingfa_pool::init();
    procspawn::init();
    let mut c = Criterion::default().configure_from_args();
    process_trivial(&mut c);
    c.final_summary();
}
