//! How fast each start method starts worker processes, in one run: the fork
//! server (the default, `bingfa`), spawn, and fork.
//!
//! - `pool/process-start`: build a pool of 2 workers, run one trivial task
//!   on each (so both are ready), shut it down (workers exit and are
//!   reaped). The fork server itself is started once, before measuring
//!   (the first pool of a program pays for it: one spawn).
//! - `pool/worker-restart`: a pool of 1 worker with `max_tasks_per_child(1)`
//!   runs 8 tasks one after the other: 8 worker starts and exits per
//!   iteration, which is what a pool pays to replace workers.
//!
//! The ratio column compares each method to the fork server. The CPU model
//! is printed first (`cpu:`); `cargo xtask bench` records it with the
//! figures in BENCHMARKS.md.
//!
//! Run: `cargo bench -p bingfa-pool --bench process_start`.

use std::hint::black_box;

use bingfa_pool::{ProcessPool, StartMethod};
use criterion::{BenchmarkId, Criterion, Throughput};

const RESTARTS: u64 = 8;

fn inc(x: u64) -> u64 {
    x + 1
}

const METHODS: [(&str, StartMethod); 3] = [
    ("bingfa", StartMethod::ForkServer),
    ("fork", StartMethod::Fork),
    ("spawn", StartMethod::Spawn),
];

fn process_start(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/process-start");
    g.sample_size(10);
    for (name, method) in METHODS {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let pool = ProcessPool::builder()
                    .max_workers(2)
                    .start_method(method)
                    .build()
                    .unwrap();
                let sum: u64 = pool
                    .map_chunked(inc, 0..2, 1)
                    .unwrap()
                    .map(Result::unwrap)
                    .sum();
                pool.shutdown(true, false);
                black_box(sum)
            })
        });
    }
    g.finish();
}

fn worker_restart(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool/worker-restart");
    g.sample_size(10);
    g.throughput(Throughput::Elements(RESTARTS));
    for (name, method) in METHODS {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .max_tasks_per_child(1)
            .start_method(method)
            .build()
            .unwrap();
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let mut sum = 0;
                for i in 0..RESTARTS {
                    sum += pool.submit(inc, i).unwrap().result().unwrap();
                }
                black_box(sum)
            })
        });
    }
    g.finish();
}

/// The CPU model, from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    // Workers and the fork server are runs of this binary: they stop here.
    bingfa_pool::init();
    eprintln!(
        "cpu: {} ({} CPUs available)",
        cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // Start the fork server before measuring.
    drop(ProcessPool::new(1));
    let mut c = Criterion::default().configure_from_args();
    process_start(&mut c);
    worker_restart(&mut c);
    c.final_summary();
}
